package sim

import (
	"strconv"
	"strings"
	"time"
)

// The configuration keys a simulated charger has (OCPP 1.6 §9 and the
// security extension), for GetConfiguration and ChangeConfiguration.

type keyKind uint8

const (
	kindString keyKind = iota
	kindInt
	kindBool
	kindMeasurands // comma-separated measurand list
)

type keyDef struct {
	name     string
	readonly bool
	kind     keyKind
	def      string
	// defFn computes the default when it depends on the charger.
	defFn func(c *Charger) string
}

const measurandListMax = 7

// keyDefs is the charger's key table, in the order GetConfiguration lists it.
// It is never modified.
var keyDefs = []keyDef{
	{name: "AllowOfflineTxForUnknownId", kind: kindBool, def: "false"},
	{name: "AuthorizationCacheEnabled", kind: kindBool, def: "true"},
	{name: "AuthorizeRemoteTxRequests", kind: kindBool, def: "false"},
	{name: "BlinkRepeat", kind: kindInt, def: "3"},
	{name: "ClockAlignedDataInterval", kind: kindInt, def: "0"},
	{name: "ConnectionTimeOut", kind: kindInt, def: "60"},
	{name: "ConnectorPhaseRotation", kind: kindString, defFn: func(c *Charger) string {
		var b strings.Builder
		for i := range c.connectors {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(i) + ".RST")
		}
		return b.String()
	}},
	{name: "ConnectorPhaseRotationMaxLength", readonly: true, kind: kindInt, defFn: func(c *Charger) string { return strconv.Itoa(len(c.connectors)) }},
	{name: "GetConfigurationMaxKeys", readonly: true, kind: kindInt, def: "64"},
	{name: "HeartbeatInterval", kind: kindInt, defFn: func(c *Charger) string { return strconv.Itoa(c.hbInterval) }},
	{name: "LightIntensity", kind: kindInt, def: "80"},
	{name: "LocalAuthorizeOffline", kind: kindBool, def: "true"},
	{name: "LocalPreAuthorize", kind: kindBool, def: "false"},
	{name: "MaxEnergyOnInvalidId", kind: kindInt, def: "0"},
	{name: "MeterValuesAlignedData", kind: kindMeasurands, def: "Energy.Active.Import.Register"},
	{name: "MeterValuesAlignedDataMaxLength", readonly: true, kind: kindInt, def: strconv.Itoa(measurandListMax)},
	{name: "MeterValuesSampledData", kind: kindMeasurands, def: "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"},
	{name: "MeterValuesSampledDataMaxLength", readonly: true, kind: kindInt, def: strconv.Itoa(measurandListMax)},
	{name: "MeterValueSampleInterval", kind: kindInt, defFn: func(c *Charger) string {
		if c.cfg.MeterInterval <= 0 {
			return "0"
		}
		return strconv.Itoa(max(int((c.cfg.MeterInterval+c.cfg.IntervalUnit-1)/c.cfg.IntervalUnit), 1))
	}},
	{name: "MinimumStatusDuration", kind: kindInt, def: "0"},
	{name: "NumberOfConnectors", readonly: true, kind: kindInt, defFn: func(c *Charger) string { return strconv.Itoa(len(c.connectors) - 1) }},
	{name: "ResetRetries", kind: kindInt, def: "3"},
	{name: "StopTransactionOnEVSideDisconnect", kind: kindBool, def: "true"},
	{name: "StopTransactionOnInvalidId", kind: kindBool, def: "true"},
	{name: "StopTxnAlignedData", kind: kindMeasurands, def: ""},
	{name: "StopTxnAlignedDataMaxLength", readonly: true, kind: kindInt, def: strconv.Itoa(measurandListMax)},
	{name: "StopTxnSampledData", kind: kindMeasurands, def: "Energy.Active.Import.Register,SoC"},
	{name: "StopTxnSampledDataMaxLength", readonly: true, kind: kindInt, def: strconv.Itoa(measurandListMax)},
	{name: "SupportedFeatureProfiles", readonly: true, kind: kindString, def: "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"},
	{name: "SupportedFeatureProfilesMaxLength", readonly: true, kind: kindInt, def: "6"},
	{name: "TransactionMessageAttempts", kind: kindInt, def: "3"},
	{name: "TransactionMessageRetryInterval", kind: kindInt, def: "60"},
	{name: "UnlockConnectorOnEVSideDisconnect", kind: kindBool, def: "true"},
	{name: "WebSocketPingInterval", kind: kindInt, def: "0"},
	{name: "LocalAuthListEnabled", kind: kindBool, def: "true"},
	{name: "LocalAuthListMaxLength", readonly: true, kind: kindInt, def: "100"},
	{name: "SendLocalListMaxLength", readonly: true, kind: kindInt, def: "100"},
	{name: "ReserveConnectorZeroSupported", readonly: true, kind: kindBool, def: "false"},
	{name: "ChargeProfileMaxStackLevel", readonly: true, kind: kindInt, def: strconv.Itoa(maxStackLevel)},
	{name: "ChargingScheduleAllowedChargingRateUnit", readonly: true, kind: kindString, def: "Current,Power"},
	{name: "ChargingScheduleMaxPeriods", readonly: true, kind: kindInt, def: strconv.Itoa(maxPeriods)},
	{name: "ConnectorSwitch3to1PhaseSupported", readonly: true, kind: kindBool, def: "false"},
	{name: "MaxChargingProfilesInstalled", readonly: true, kind: kindInt, def: strconv.Itoa(maxProfilesTotal)},
	{name: "SupportedFileTransferProtocols", readonly: true, kind: kindString, def: "FTP,FTPS,HTTP,HTTPS"},
	{name: "AdditionalRootCertificateCheck", readonly: true, kind: kindBool, def: "false"},
	{name: "CertificateSignedMaxChainSize", readonly: true, kind: kindInt, def: "10000"},
	{name: "CertificateStoreMaxLength", readonly: true, kind: kindInt, def: "10"},
	{name: "CpoName", kind: kindString, def: ""},
	{name: "SecurityProfile", kind: kindInt, def: "0"},
}

func findKey(name string) *keyDef {
	for i := range keyDefs {
		if keyDefs[i].name == name {
			return &keyDefs[i]
		}
	}
	return nil
}

// keyStore holds a charger's configuration: the keys the central system
// changed (a charger that was never configured keeps no map) and values the
// charger reads often, decoded.
type keyStore struct {
	c       *Charger
	changed map[string]string

	meterEvery  time.Duration
	sampledMask measurandSet
	stopTxnMask measurandSet
}

func (k *keyStore) init(c *Charger) {
	k.c = c
	k.meterEvery = c.cfg.MeterInterval
	k.sampledMask, _ = parseMeasurands(k.get("MeterValuesSampledData"))
	k.stopTxnMask, _ = parseMeasurands(k.get("StopTxnSampledData"))
}

// get returns a key's value; the key must exist.
func (k *keyStore) get(name string) string {
	if v, ok := k.changed[name]; ok {
		return v
	}
	d := findKey(name)
	if d == nil {
		panic("sim: unknown configuration key " + name)
	}
	if d.defFn != nil {
		return d.defFn(k.c)
	}
	return d.def
}

func (k *keyStore) int(name string) int {
	n, _ := strconv.Atoi(k.get(name))
	return n
}

func (k *keyStore) bool(name string) bool { return k.get(name) == "true" }

// set changes a key as ChangeConfiguration does and returns the status to
// answer: Accepted, Rejected (read-only or a bad value) or NotSupported.
func (k *keyStore) set(name, value string) string {
	d := findKey(name)
	if d == nil {
		return "NotSupported"
	}
	if d.readonly {
		return "Rejected"
	}
	c := k.c
	switch d.kind {
	case kindInt:
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil || n < 0 {
			return "Rejected"
		}
		if name == "SecurityProfile" && (n > 3 || n < k.int(name)) {
			return "Rejected" // a charger never lowers its security profile
		}
		value = strconv.Itoa(n)
	case kindBool:
		switch strings.ToLower(strings.TrimSpace(value)) {
		case "true":
			value = "true"
		case "false":
			value = "false"
		default:
			return "Rejected"
		}
	case kindMeasurands:
		if _, ok := parseMeasurands(value); !ok {
			return "Rejected"
		}
	}
	if k.changed == nil {
		k.changed = make(map[string]string)
	}
	k.changed[name] = value
	switch name {
	case "HeartbeatInterval":
		n, _ := strconv.Atoi(value)
		c.hbInterval = n
		delete(k.changed, name) // hbInterval is the one place it lives
		if c.registered {
			c.scheduleHeartbeat()
		}
	case "MeterValueSampleInterval":
		n, _ := strconv.Atoi(value)
		k.meterEvery = time.Duration(n) * c.cfg.IntervalUnit
		now := time.Now()
		for _, cn := range c.connectors[1:] {
			if s := cn.sess; s.charging() && !c.cfg.Saturate {
				s.nextMeter = time.Time{}
				if k.meterEvery > 0 {
					s.nextMeter = now.Add(k.meterEvery)
				}
				c.scheduleTick(cn, s)
			}
		}
	case "MeterValuesSampledData":
		k.sampledMask, _ = parseMeasurands(value)
	case "StopTxnSampledData":
		k.stopTxnMask, _ = parseMeasurands(value)
	}
	return "Accepted"
}

// parseMeasurands decodes a comma-separated measurand list of at most
// measurandListMax supported measurands.
func parseMeasurands(s string) (measurandSet, bool) {
	var set measurandSet
	if strings.TrimSpace(s) == "" {
		return 0, true
	}
	parts := strings.Split(s, ",")
	if len(parts) > measurandListMax {
		return 0, false
	}
	for _, p := range parts {
		p = strings.TrimSpace(p)
		found := false
		for _, m := range measurandNames {
			if m.name == p {
				set |= m.bit
				found = true
			}
		}
		if !found {
			return 0, false
		}
	}
	return set, true
}
