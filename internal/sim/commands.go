package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// handleCall answers a CALL of the central system the way a charge point
// does, then carries out what it accepted.
func (c *Charger) handleCall(f ocpp.Frame) {
	if c.bootStatus == "Rejected" && !c.registered {
		// OCPP 1.6 §4.2.1: while rejected, the charger answers nothing.
		c.log.Debug("ignoring a call while the boot is rejected", "action", f.Action)
		return
	}
	dispatch := c.dispatch
	if c.v201 {
		dispatch = c.dispatch201
	}
	resp, then, rpcErr := dispatch(f.Action, f.Payload)
	bp := getBuf()
	var frame []byte
	if rpcErr != nil {
		c.log.Info("answering a call with an error", "action", f.Action, "code", rpcErr.Code, "desc", rpcErr.Description)
		frame = ocpp.AppendCallError((*bp)[:0], f.ID, rpcErr)
	} else {
		frame = ocpp.AppendCallResult((*bp)[:0], f.ID, marshal(resp))
	}
	c.reply(frame)
	*bp = frame
	putBuf(bp)
	if rpcErr == nil && then != nil && !c.stopped {
		then()
	}
}

// dispatch decodes and handles one command; the returned function, if any,
// runs after the answer is written.
func (c *Charger) dispatch(action string, payload json.RawMessage) (any, func(), *ocpp.Error) {
	switch action {
	case "RemoteStartTransaction":
		return c.onRemoteStart(payload)
	case "RemoteStopTransaction":
		return c.onRemoteStop(payload)
	case "Reset":
		return c.onReset(payload)
	case "UnlockConnector":
		return c.onUnlock(payload)
	case "ChangeAvailability":
		return c.onChangeAvailability(payload)
	case "GetConfiguration":
		return c.onGetConfiguration(payload)
	case "ChangeConfiguration":
		return c.onChangeConfiguration(payload)
	case "ClearCache":
		return statusOnly{"Accepted"}, nil, nil
	case "DataTransfer":
		var r dataTransferReq
		if e := decode(payload, &r); e != nil {
			return nil, nil, e
		}
		if r.VendorID == "" {
			return nil, nil, missing("vendorId")
		}
		return statusOnly{"UnknownVendorId"}, nil, nil
	case "TriggerMessage":
		return c.onTrigger(payload, false)
	case "ExtendedTriggerMessage":
		return c.onTrigger(payload, true)
	case "ReserveNow":
		return c.onReserveNow(payload)
	case "CancelReservation":
		return c.onCancelReservation(payload)
	case "SendLocalList":
		return c.onSendLocalList(payload)
	case "GetLocalListVersion":
		return getLocalListVersionConf{ListVersion: c.listVersion}, nil, nil
	case "SetChargingProfile":
		return c.onSetChargingProfile(payload)
	case "ClearChargingProfile":
		return c.onClearChargingProfile(payload)
	case "GetCompositeSchedule":
		return c.onGetCompositeSchedule(payload)
	case "UpdateFirmware":
		return c.onUpdateFirmware(payload)
	case "GetDiagnostics":
		return c.onGetDiagnostics(payload)
	case "GetLog":
		return c.onGetLog(payload)
	case "SignedUpdateFirmware":
		return c.onSignedUpdateFirmware(payload)
	case "CertificateSigned":
		return c.onCertificateSigned(payload)
	case "InstallCertificate":
		return c.onInstallCertificate(payload)
	case "DeleteCertificate":
		return c.onDeleteCertificate(payload)
	case "GetInstalledCertificateIds":
		return c.onGetInstalledCertificateIDs(payload)
	}
	return nil, nil, ocpp.Errorf(ocpp.NotImplemented, "action %q is not implemented", action)
}

func decode(payload json.RawMessage, v any) *ocpp.Error {
	if err := json.Unmarshal(payload, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return ocpp.Errorf(ocpp.TypeConstraintViolation, "field %s: want %s, got %s", te.Field, te.Type, te.Value)
		}
		return ocpp.Errorf(ocpp.FormationViolation, "%v", err)
	}
	return nil
}

func missing(field string) *ocpp.Error {
	return ocpp.Errorf(ocpp.OccurenceConstraintViolation, "%s is required", field)
}

func tooLong(field string, n int) *ocpp.Error {
	return ocpp.Errorf(ocpp.PropertyConstraintViolation, "%s is longer than %d characters", field, n)
}

func badValue(field, value string) *ocpp.Error {
	return ocpp.Errorf(ocpp.PropertyConstraintViolation, "%s: %q is not allowed", field, value)
}

var (
	accepted = statusOnly{"Accepted"}
	rejected = statusOnly{"Rejected"}
)

// connectorAt returns connector id, or nil when out of range (0 counts only if
// zeroOK).
func (c *Charger) connectorAt(id int, zeroOK bool) *connector {
	if id < 0 || id >= len(c.connectors) || (id == 0 && !zeroOK) {
		return nil
	}
	return c.connectors[id]
}

func (c *Charger) onRemoteStart(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r remoteStartReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.IDTag == "" {
		return nil, nil, missing("idTag")
	}
	if len(r.IDTag) > 20 {
		return nil, nil, tooLong("idTag", 20)
	}
	var cn *connector
	if r.ConnectorID != nil {
		cn = c.connectorAt(*r.ConnectorID, false)
		if cn == nil || !c.free(cn, r.IDTag) {
			return rejected, nil, nil
		}
	} else {
		for _, x := range c.connectors[1:] {
			if c.free(x, r.IDTag) {
				cn = x
				break
			}
		}
		if cn == nil {
			return rejected, nil, nil
		}
	}
	p := r.ChargingProfile
	if p != nil && p.ChargingProfilePurpose != "TxProfile" {
		return rejected, nil, nil
	}
	return accepted, func() {
		if !c.free(cn, r.IDTag) {
			return
		}
		if p != nil {
			cn.dropProfiles(func(q *chargingProfile) bool {
				return q.ChargingProfileID == p.ChargingProfileID || q.ChargingProfilePurpose == "TxProfile"
			})
			cn.profiles = append(cn.profiles, p)
		}
		c.beginSession(cn, r.IDTag, true)
	}, nil
}

func (c *Charger) onRemoteStop(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r remoteStopReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.TransactionID == nil {
		return nil, nil, missing("transactionId")
	}
	for _, cn := range c.connectors[1:] {
		if s := cn.sess; s.charging() && s.txKnown && s.txID == *r.TransactionID {
			return accepted, func() { c.endSession(cn, s, "Remote") }, nil
		}
	}
	return rejected, nil, nil
}

func (c *Charger) onReset(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r resetReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	switch r.Type {
	case "Soft":
		return accepted, c.softReset, nil
	case "Hard":
		return accepted, func() { c.reboot(false) }, nil
	case "":
		return nil, nil, missing("type")
	}
	return nil, nil, badValue("type", r.Type)
}

// softReset stops every transaction with reason SoftReset and reboots once
// the StopTransactions are delivered (or CallTimeout has passed).
func (c *Charger) softReset() {
	for _, cn := range c.connectors[1:] {
		s := cn.sess
		switch {
		case s.charging():
			c.endSession(cn, s, "SoftReset")
		case s != nil && !s.started:
			c.abandon(cn, s)
		}
	}
	c.resetPending = true
	c.resetDeadline = time.Now().Add(c.cfg.CallTimeout)
	c.at(c.resetDeadline, func() { c.maybeReset(true) })
}

func (c *Charger) onUnlock(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r connectorReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.ConnectorID == nil {
		return nil, nil, missing("connectorId")
	}
	cn := c.connectorAt(*r.ConnectorID, false)
	if cn == nil {
		return statusOnly{"NotSupported"}, nil, nil
	}
	return statusOnly{"Unlocked"}, func() {
		s := cn.sess
		switch {
		case s.charging():
			c.endSession(cn, s, "UnlockCommand")
		case s != nil && !s.started:
			c.abandon(cn, s)
		}
	}, nil
}

func (c *Charger) onChangeAvailability(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r changeAvailabilityReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.ConnectorID == nil {
		return nil, nil, missing("connectorId")
	}
	if r.Type != "Operative" && r.Type != "Inoperative" {
		return nil, nil, badValue("type", r.Type)
	}
	cn := c.connectorAt(*r.ConnectorID, true)
	if cn == nil {
		return rejected, nil, nil
	}
	targets := []*connector{cn}
	if cn.id == 0 {
		targets = c.connectors
	}
	inop := r.Type == "Inoperative"
	busy := false
	for _, t := range targets {
		busy = busy || (t.id != 0 && t.sess != nil)
	}
	answer := accepted
	if inop && busy {
		answer = statusOnly{"Scheduled"}
	}
	return answer, func() {
		for _, t := range targets {
			if !inop {
				t.operative, t.pendingInoperative = true, false
				continue
			}
			if (t.id == 0 && busy) || (t.id != 0 && t.sess != nil) {
				t.pendingInoperative = true
				continue
			}
			t.operative = false
		}
		for _, t := range targets {
			if t.id == 0 || t.sess == nil {
				c.setStatus(t, c.idleStatus(t))
			}
		}
		for _, t := range c.connectors[1:] {
			if t.sess == nil {
				if !inop {
					c.setStatus(t, c.idleStatus(t))
				}
				c.scheduleIdle(t)
			}
		}
	}, nil
}

func (c *Charger) onGetConfiguration(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r getConfigurationReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	var conf getConfigurationConf
	add := func(d *keyDef) {
		v := c.keys.get(d.name)
		conf.ConfigurationKey = append(conf.ConfigurationKey, configurationKey{Key: d.name, Readonly: d.readonly, Value: &v})
	}
	if len(r.Key) == 0 {
		for i := range keyDefs {
			add(&keyDefs[i])
		}
		return conf, nil, nil
	}
	for _, k := range r.Key {
		if d := findKey(k); d != nil {
			add(d)
		} else {
			conf.UnknownKey = append(conf.UnknownKey, k)
		}
	}
	return conf, nil, nil
}

func (c *Charger) onChangeConfiguration(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r changeConfigurationReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.Key == nil {
		return nil, nil, missing("key")
	}
	if r.Value == nil {
		return nil, nil, missing("value")
	}
	if len(*r.Key) > 50 {
		return nil, nil, tooLong("key", 50)
	}
	if len(*r.Value) > 500 {
		return nil, nil, tooLong("value", 500)
	}
	if *r.Key == "AuthorizationKey" {
		return c.onAuthorizationKey(*r.Value)
	}
	return statusOnly{c.keys.set(*r.Key, *r.Value)}, nil, nil
}

var (
	coreTriggers     = []string{"BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StatusNotification"}
	extendedTriggers = []string{"BootNotification", "LogStatusNotification", "FirmwareStatusNotification", "Heartbeat", "MeterValues", "SignChargePointCertificate", "StatusNotification"}
)

func (c *Charger) onTrigger(payload json.RawMessage, extended bool) (any, func(), *ocpp.Error) {
	var r triggerMessageReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.RequestedMessage == "" {
		return nil, nil, missing("requestedMessage")
	}
	known := coreTriggers
	if extended {
		known = extendedTriggers
	}
	if !contains(known, r.RequestedMessage) {
		return statusOnly{"NotImplemented"}, nil, nil
	}
	var targets []*connector
	if r.ConnectorID != nil {
		cn := c.connectorAt(*r.ConnectorID, true)
		if cn == nil {
			return rejected, nil, nil
		}
		targets = []*connector{cn}
	}
	return accepted, func() { c.trigger(r.RequestedMessage, targets, extended) }, nil
}

// trigger sends the message a TriggerMessage asked for.
func (c *Charger) trigger(msg string, targets []*connector, extended bool) {
	switch msg {
	case "BootNotification":
		c.enqueue(c.bootCall(true))
	case "Heartbeat":
		c.enqueue(c.heartbeatCall(true))
	case "StatusNotification":
		if targets == nil {
			targets = c.connectors
		}
		for _, cn := range targets {
			c.sendStatus(cn, true)
		}
	case "MeterValues":
		if targets == nil || targets[0].id == 0 {
			targets = c.connectors[1:]
		}
		for _, cn := range targets {
			s := cn.sess
			if s.charging() {
				c.advance(cn, s, time.Now())
			} else {
				s = nil
			}
			mv := c.sample(cn, s, "Trigger", c.keys.sampledMask)
			c.enqueue(c.meterValuesCall(cn, s, mv, true))
		}
	case "DiagnosticsStatusNotification":
		c.enqueue(&outCall{action: "DiagnosticsStatusNotification", triggered: true, payload: marshal(statusOnly{c.diagStatus})})
	case "FirmwareStatusNotification":
		if extended {
			c.enqueue(&outCall{action: "SignedFirmwareStatusNotification", triggered: true,
				payload: marshal(firmwareStatusReq{Status: c.signedFwStatus(), RequestID: c.sfwRequestIDPtr()})})
			return
		}
		c.enqueue(&outCall{action: "FirmwareStatusNotification", triggered: true, payload: marshal(statusOnly{c.fwStatus})})
	case "LogStatusNotification":
		req := firmwareStatusReq{Status: c.logStatus}
		if c.logStatus != "Idle" {
			id := c.logRequestID
			req.RequestID = &id
		}
		c.enqueue(&outCall{action: "LogStatusNotification", triggered: true, payload: marshal(req)})
	case "SignChargePointCertificate":
		c.sendSignCertificate()
	}
}

func (c *Charger) onReserveNow(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r reserveNowReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	switch {
	case r.ConnectorID == nil:
		return nil, nil, missing("connectorId")
	case r.ReservationID == nil:
		return nil, nil, missing("reservationId")
	case r.IDTag == "":
		return nil, nil, missing("idTag")
	case r.ExpiryDate == "":
		return nil, nil, missing("expiryDate")
	case len(r.IDTag) > 20:
		return nil, nil, tooLong("idTag", 20)
	case len(r.ParentIDTag) > 20:
		return nil, nil, tooLong("parentIdTag", 20)
	}
	expiry, ok := parseTime(r.ExpiryDate)
	if !ok {
		return nil, nil, ocpp.Errorf(ocpp.TypeConstraintViolation, "expiryDate %q is not an RFC 3339 date-time", r.ExpiryDate)
	}
	cn := c.connectorAt(*r.ConnectorID, false)
	if cn == nil { // ReserveConnectorZeroSupported is false
		return rejected, nil, nil
	}
	switch {
	case c.idleStatus(cn) == "Unavailable":
		return statusOnly{"Unavailable"}, nil, nil
	case cn.status == "Faulted":
		return statusOnly{"Faulted"}, nil, nil
	case cn.sess != nil || (cn.res != nil && cn.res.id != *r.ReservationID):
		return statusOnly{"Occupied"}, nil, nil
	}
	res := &reservation{id: *r.ReservationID, idTag: r.IDTag, parentIDTag: r.ParentIDTag, expiry: expiry}
	return accepted, func() {
		for _, o := range c.connectors[1:] { // a reservation id moves, not doubles
			if o.res != nil && o.res.id == res.id && o != cn {
				o.res = nil
				if o.sess == nil {
					c.setStatus(o, c.idleStatus(o))
				}
			}
		}
		cn.res = res
		c.setStatus(cn, "Reserved")
		cn.idleGen++
		until := res.expiry.Sub(c.now())
		c.after(max(until, 0), func() {
			if cn.res != res {
				return
			}
			cn.res = nil
			if cn.sess == nil {
				c.setStatus(cn, c.idleStatus(cn))
				c.scheduleIdle(cn)
			}
		})
		// Most drivers who reserve turn up before the reservation expires.
		if !c.cfg.NoAutoStart && !c.cfg.Saturate && until > 0 && c.rng.Float64() < 0.8 {
			gen := cn.idleGen
			c.after(time.Duration((0.1+0.5*c.rng.Float64())*float64(until)), func() {
				if cn.res == res && cn.sess == nil && gen == cn.idleGen {
					c.beginSession(cn, res.idTag, false)
				}
			})
		}
	}, nil
}

func (c *Charger) onCancelReservation(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r cancelReservationReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.ReservationID == nil {
		return nil, nil, missing("reservationId")
	}
	for _, cn := range c.connectors[1:] {
		if cn.res != nil && cn.res.id == *r.ReservationID {
			return accepted, func() {
				cn.res = nil
				if cn.sess == nil {
					c.setStatus(cn, c.idleStatus(cn))
					c.scheduleIdle(cn)
				}
			}, nil
		}
	}
	return rejected, nil, nil
}

func (c *Charger) onSendLocalList(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r sendLocalListReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.ListVersion == nil {
		return nil, nil, missing("listVersion")
	}
	if r.UpdateType != "Full" && r.UpdateType != "Differential" {
		return nil, nil, badValue("updateType", r.UpdateType)
	}
	if !c.keys.bool("LocalAuthListEnabled") {
		return statusOnly{"NotSupported"}, nil, nil
	}
	if len(r.LocalAuthorizationList) > c.keys.int("SendLocalListMaxLength") {
		return statusOnly{"Failed"}, nil, nil
	}
	if r.UpdateType == "Differential" && *r.ListVersion <= c.listVersion {
		return statusOnly{"VersionMismatch"}, nil, nil
	}
	list := make(map[string]idTagInfo)
	if r.UpdateType == "Differential" {
		for k, v := range c.localList {
			list[k] = v
		}
	}
	for _, e := range r.LocalAuthorizationList {
		if e.IDTag == "" || len(e.IDTag) > 20 {
			return statusOnly{"Failed"}, nil, nil
		}
		if e.IDTagInfo == nil {
			delete(list, e.IDTag)
			continue
		}
		list[e.IDTag] = *e.IDTagInfo
	}
	if len(list) > c.keys.int("LocalAuthListMaxLength") {
		return statusOnly{"Failed"}, nil, nil
	}
	c.localList = list
	if len(list) == 0 {
		c.localList = nil
	}
	c.listVersion = *r.ListVersion
	return accepted, nil, nil
}

func (c *Charger) onSetChargingProfile(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r setChargingProfileReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.ConnectorID == nil {
		return nil, nil, missing("connectorId")
	}
	p := r.CSChargingProfiles
	if p == nil {
		return nil, nil, missing("csChargingProfiles")
	}
	if e := checkProfile(p); e != nil {
		return nil, nil, e
	}
	if c.cfg.RejectChargingProfiles {
		return rejected, nil, nil
	}
	cn := c.connectorAt(*r.ConnectorID, true)
	if cn == nil || p.StackLevel > maxStackLevel || len(p.ChargingSchedule.ChargingSchedulePeriod) > maxPeriods {
		return rejected, nil, nil
	}
	switch p.ChargingProfilePurpose {
	case "ChargePointMaxProfile":
		if cn.id != 0 {
			return rejected, nil, nil
		}
	case "TxProfile":
		s := cn.sess
		if cn.id == 0 || !s.charging() || (p.TransactionID != nil && (!s.txKnown || *p.TransactionID != s.txID)) {
			return rejected, nil, nil
		}
	}
	replaces := func(q *chargingProfile) bool {
		return q.ChargingProfileID == p.ChargingProfileID ||
			(q.ChargingProfilePurpose == p.ChargingProfilePurpose && q.StackLevel == p.StackLevel)
	}
	total := 0
	for _, o := range c.connectors {
		for _, q := range o.profiles {
			if !(o == cn && replaces(q)) && q.ChargingProfileID != p.ChargingProfileID {
				total++
			}
		}
	}
	if total >= maxProfilesTotal {
		return rejected, nil, nil
	}
	return accepted, func() {
		c.ctr.profilesSet.Add(1)
		for _, o := range c.connectors {
			o.dropProfiles(func(q *chargingProfile) bool { return q.ChargingProfileID == p.ChargingProfileID })
		}
		cn.dropProfiles(replaces)
		cn.profiles = append(cn.profiles, p)
	}, nil
}

func checkProfile(p *chargingProfile) *ocpp.Error {
	switch p.ChargingProfilePurpose {
	case "ChargePointMaxProfile", "TxDefaultProfile", "TxProfile":
	default:
		return badValue("chargingProfilePurpose", p.ChargingProfilePurpose)
	}
	switch p.ChargingProfileKind {
	case "Absolute", "Relative":
	case "Recurring":
		if p.RecurrencyKind != "Daily" && p.RecurrencyKind != "Weekly" {
			return badValue("recurrencyKind", p.RecurrencyKind)
		}
		if _, ok := parseTime(p.ChargingSchedule.StartSchedule); !ok {
			return missing("startSchedule of a recurring profile")
		}
	default:
		return badValue("chargingProfileKind", p.ChargingProfileKind)
	}
	if u := p.ChargingSchedule.ChargingRateUnit; u != "A" && u != "W" {
		return badValue("chargingRateUnit", u)
	}
	if len(p.ChargingSchedule.ChargingSchedulePeriod) == 0 {
		return missing("chargingSchedulePeriod")
	}
	if p.StackLevel < 0 {
		return badValue("stackLevel", strconv.Itoa(p.StackLevel))
	}
	return nil
}

func (c *Charger) onClearChargingProfile(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r clearChargingProfileReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	match := func(cn *connector, q *chargingProfile) bool {
		if r.ID != nil {
			return q.ChargingProfileID == *r.ID
		}
		return (r.ConnectorID == nil || *r.ConnectorID == cn.id) &&
			(r.ChargingProfilePurpose == "" || r.ChargingProfilePurpose == q.ChargingProfilePurpose) &&
			(r.StackLevel == nil || *r.StackLevel == q.StackLevel)
	}
	n := 0
	for _, cn := range c.connectors {
		n += cn.dropProfiles(func(q *chargingProfile) bool { return match(cn, q) })
	}
	if n == 0 {
		return statusOnly{"Unknown"}, nil, nil
	}
	return accepted, nil, nil
}

func (c *Charger) onGetCompositeSchedule(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r getCompositeScheduleReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.ConnectorID == nil {
		return nil, nil, missing("connectorId")
	}
	if r.Duration == nil {
		return nil, nil, missing("duration")
	}
	unit := r.ChargingRateUnit
	if unit == "" {
		unit = "W"
	}
	if unit != "W" && unit != "A" {
		return nil, nil, badValue("chargingRateUnit", unit)
	}
	cn := c.connectorAt(*r.ConnectorID, true)
	if cn == nil || *r.Duration <= 0 {
		return rejected, nil, nil
	}
	start, cs := c.compositeSchedule(cn, time.Duration(*r.Duration)*time.Second, unit)
	id := cn.id
	return getCompositeScheduleConf{Status: "Accepted", ConnectorID: &id, ScheduleStart: c.stamp(start), ChargingSchedule: cs}, nil, nil
}

// sendFirmwareStatus reports a step of a firmware update.
func (c *Charger) sendFirmwareStatus(status string) {
	c.fwStatus = status
	c.enqueue(&outCall{action: "FirmwareStatusNotification", payload: marshal(statusOnly{status})})
}

func (c *Charger) sendSignedFirmwareStatus(status string, requestID int) {
	c.sfwStatus = status
	c.sfwRequestID = requestID
	c.enqueue(&outCall{action: "SignedFirmwareStatusNotification", payload: marshal(firmwareStatusReq{Status: status, RequestID: &requestID})})
}

func (c *Charger) signedFwStatus() string {
	if c.sfwStatus == "" {
		return "Idle"
	}
	return c.sfwStatus
}

func (c *Charger) sfwRequestIDPtr() *int {
	if c.sfwStatus == "" || c.sfwStatus == "Idle" {
		return nil
	}
	id := c.sfwRequestID
	return &id
}

// nextFirmware is the version a firmware update installs: the last number
// of the current one, plus one.
func nextFirmware(v string) string {
	i := strings.LastIndexByte(v, '.')
	n, err := strconv.Atoi(v[i+1:])
	if err != nil {
		return v + ".1"
	}
	return v[:i+1] + strconv.Itoa(n+1)
}

// installWhenIdle waits until no transaction runs, then runs install, waits
// a step, and reboots; after the reboot, done runs once the charger is
// registered again.
func (c *Charger) installWhenIdle(gen uint64, install func(), done func()) {
	var try func()
	try = func() {
		if gen != c.fwGen {
			return
		}
		for _, cn := range c.connectors[1:] {
			if cn.sess != nil {
				c.after(c.cfg.StepTime, try)
				return
			}
		}
		install()
		c.after(c.cfg.StepTime, func() {
			if gen != c.fwGen {
				return
			}
			c.fwInstalled = done
			c.reboot(true)
		})
	}
	try()
}

func (c *Charger) onUpdateFirmware(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r updateFirmwareReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.Location == "" {
		return nil, nil, missing("location")
	}
	retrieve, ok := parseTime(r.RetrieveDate)
	if !ok {
		return nil, nil, missing("retrieveDate (RFC 3339)")
	}
	return struct{}{}, func() {
		c.fwGen++
		gen := c.fwGen
		fail := strings.Contains(r.Location, "fail")
		c.after(max(retrieve.Sub(c.now()), 0), func() {
			if gen != c.fwGen {
				return
			}
			c.sendFirmwareStatus("Downloading")
			c.after(c.cfg.StepTime, func() {
				if gen != c.fwGen {
					return
				}
				if fail {
					c.sendFirmwareStatus("DownloadFailed")
					return
				}
				c.sendFirmwareStatus("Downloaded")
				c.installWhenIdle(gen, func() {
					c.sendFirmwareStatus("Installing")
					c.firmware = nextFirmware(c.firmware) // the charger boots it
				}, func() { c.sendFirmwareStatus("Installed") })
			})
		})
	}, nil
}

func (c *Charger) onSignedUpdateFirmware(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r signedUpdateFirmwareReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.RequestID == nil {
		return nil, nil, missing("requestId")
	}
	fw := r.Firmware
	if fw == nil {
		return nil, nil, missing("firmware")
	}
	retrieve, ok := parseTime(fw.RetrieveDateTime)
	if fw.Location == "" || !ok || fw.SigningCertificate == "" || fw.Signature == "" {
		return nil, nil, missing("firmware location, retrieveDateTime, signingCertificate and signature")
	}
	reqID := *r.RequestID
	if _, ok := parseCerts(fw.SigningCertificate); !ok {
		return statusOnly{"InvalidCertificate"}, func() {
			c.sendSecurityEvent("InvalidFirmwareSigningCertificate", "signing certificate does not parse")
		}, nil
	}
	install, hasInstall := parseTime(fw.InstallDateTime)
	answer := accepted
	if c.sfwStatus != "" && c.sfwStatus != "Idle" && c.sfwStatus != "Installed" && !strings.HasSuffix(c.sfwStatus, "Failed") {
		answer = statusOnly{"AcceptedCanceled"}
	}
	return answer, func() {
		c.fwGen++
		gen := c.fwGen
		fail := strings.Contains(fw.Location, "fail")
		step := func(d time.Duration, fn func()) {
			c.after(d, func() {
				if gen == c.fwGen {
					fn()
				}
			})
		}
		wait := max(retrieve.Sub(c.now()), 0)
		if wait > 0 {
			c.sendSignedFirmwareStatus("DownloadScheduled", reqID)
		}
		step(wait, func() {
			c.sendSignedFirmwareStatus("Downloading", reqID)
			step(c.cfg.StepTime, func() {
				if fail {
					c.sendSignedFirmwareStatus("DownloadFailed", reqID)
					return
				}
				c.sendSignedFirmwareStatus("Downloaded", reqID)
				c.sendSignedFirmwareStatus("SignatureVerified", reqID)
				installWait := time.Duration(0)
				if hasInstall {
					installWait = max(install.Sub(c.now()), 0)
				}
				if installWait > 0 {
					c.sendSignedFirmwareStatus("InstallScheduled", reqID)
				}
				step(installWait, func() {
					c.installWhenIdle(gen, func() {
						c.sendSignedFirmwareStatus("Installing", reqID)
						c.sendSignedFirmwareStatus("InstallRebooting", reqID)
						c.firmware = nextFirmware(c.firmware)
					}, func() { c.sendSignedFirmwareStatus("Installed", reqID) })
				})
			})
		})
	}, nil
}

func (c *Charger) onGetDiagnostics(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r getDiagnosticsReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.Location == "" {
		return nil, nil, missing("location")
	}
	name := fmt.Sprintf("diagnostics-%s-%s.tar.gz", c.id, c.now().UTC().Format("20060102T150405Z"))
	return getDiagnosticsConf{FileName: name}, func() {
		fail := strings.Contains(r.Location, "fail")
		send := func(st string) {
			c.diagStatus = st
			c.enqueue(&outCall{action: "DiagnosticsStatusNotification", payload: marshal(statusOnly{st})})
		}
		c.after(c.cfg.StepTime, func() {
			send("Uploading")
			c.after(c.cfg.StepTime, func() {
				if fail {
					send("UploadFailed")
				} else {
					send("Uploaded")
				}
				c.diagStatus = "Idle"
			})
		})
	}, nil
}

func (c *Charger) onGetLog(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r getLogReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	switch {
	case r.RequestID == nil:
		return nil, nil, missing("requestId")
	case r.Log == nil || r.Log.RemoteLocation == "":
		return nil, nil, missing("log.remoteLocation")
	case r.LogType != "DiagnosticsLog" && r.LogType != "SecurityLog":
		return nil, nil, badValue("logType", r.LogType)
	}
	status := "Accepted"
	if c.logStatus == "Uploading" {
		status = "AcceptedCanceled"
	}
	reqID := *r.RequestID
	kind := "diagnostics"
	if r.LogType == "SecurityLog" {
		kind = "security"
	}
	name := fmt.Sprintf("%s-%s-%s.log", kind, c.id, c.now().UTC().Format("20060102T150405Z"))
	return getLogConf{Status: status, Filename: name}, func() {
		fail := strings.Contains(r.Log.RemoteLocation, "fail")
		c.logRequestID = reqID
		send := func(st string) {
			c.logStatus = st
			c.enqueue(&outCall{action: "LogStatusNotification", payload: marshal(firmwareStatusReq{Status: st, RequestID: &reqID})})
		}
		c.after(c.cfg.StepTime, func() {
			if c.logRequestID != reqID {
				return
			}
			send("Uploading")
			c.after(c.cfg.StepTime, func() {
				if c.logRequestID != reqID {
					return
				}
				if fail {
					send("UploadFailure")
				} else {
					send("Uploaded")
				}
				c.logStatus = "Idle"
			})
		})
	}, nil
}

// installedCert is a CA certificate InstallCertificate put on the charger.
type installedCert struct {
	use  string
	hash certificateHashData
}

// parseCerts decodes the PEM certificates in s.
func parseCerts(s string) ([]*x509.Certificate, bool) {
	var certs []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, false
		}
		certs = append(certs, cert)
	}
	return certs, len(certs) > 0
}

// hashData identifies a certificate as OCPP does: SHA-256 of its issuer's
// name and of its (for a root, its own) public key, and its serial number.
func hashData(cert *x509.Certificate) certificateHashData {
	name := sha256.Sum256(cert.RawIssuer)
	key := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return certificateHashData{
		HashAlgorithm:  "SHA256",
		IssuerNameHash: hex.EncodeToString(name[:]),
		IssuerKeyHash:  hex.EncodeToString(key[:]),
		SerialNumber:   cert.SerialNumber.Text(16),
	}
}

func (c *Charger) onCertificateSigned(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r certificateSignedReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.CertificateChain == "" {
		return nil, nil, missing("certificateChain")
	}
	if len(r.CertificateChain) > c.keys.int("CertificateSignedMaxChainSize") {
		return rejected, nil, nil
	}
	if _, ok := parseCerts(r.CertificateChain); !ok {
		return rejected, func() {
			c.sendSecurityEvent("InvalidChargePointCertificate", "certificate chain does not parse")
		}, nil
	}
	c.chargerCert = r.CertificateChain
	c.takeSignedCertificate(r.CertificateChain)
	return accepted, nil, nil
}

func (c *Charger) onInstallCertificate(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r installCertificateReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.CertificateType != "CentralSystemRootCertificate" && r.CertificateType != "ManufacturerRootCertificate" {
		return nil, nil, badValue("certificateType", r.CertificateType)
	}
	certs, ok := parseCerts(r.Certificate)
	if !ok {
		return rejected, nil, nil
	}
	h := hashData(certs[0])
	for _, ic := range c.certs {
		if ic.hash == h {
			return accepted, nil, nil
		}
	}
	if len(c.certs) >= c.keys.int("CertificateStoreMaxLength") {
		return rejected, nil, nil
	}
	c.certs = append(c.certs, installedCert{use: r.CertificateType, hash: h})
	return accepted, nil, nil
}

func (c *Charger) onDeleteCertificate(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r deleteCertificateReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.CertificateHashData == nil {
		return nil, nil, missing("certificateHashData")
	}
	want := *r.CertificateHashData
	for i, ic := range c.certs {
		h := ic.hash
		if strings.EqualFold(h.IssuerNameHash, want.IssuerNameHash) && strings.EqualFold(h.IssuerKeyHash, want.IssuerKeyHash) &&
			strings.EqualFold(strings.TrimLeft(h.SerialNumber, "0"), strings.TrimLeft(want.SerialNumber, "0")) {
			c.certs = append(c.certs[:i], c.certs[i+1:]...)
			return accepted, nil, nil
		}
	}
	return statusOnly{"NotFound"}, nil, nil
}

func (c *Charger) onGetInstalledCertificateIDs(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r getInstalledCertificateIDsReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	if r.CertificateType != "CentralSystemRootCertificate" && r.CertificateType != "ManufacturerRootCertificate" {
		return nil, nil, badValue("certificateType", r.CertificateType)
	}
	var conf getInstalledCertificateIDsConf
	for _, ic := range c.certs {
		if ic.use == r.CertificateType {
			conf.CertificateHashData = append(conf.CertificateHashData, ic.hash)
		}
	}
	conf.Status = "Accepted"
	if len(conf.CertificateHashData) == 0 {
		conf.Status = "NotFound"
	}
	return conf, nil, nil
}

// sendSecurityEvent reports a security event (security extension).
func (c *Charger) sendSecurityEvent(kind, info string) {
	c.enqueue(&outCall{action: "SecurityEventNotification",
		payload: marshal(securityEventReq{Type: kind, Timestamp: c.stamp(c.now()), TechInfo: info})})
}

// sendSignCertificate makes a new key pair and asks the central system to
// sign a certificate for it (security extension).
func (c *Charger) sendSignCertificate() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		c.log.Error("generate key for SignCertificate", "err", err)
		return
	}
	org := c.keys.get("CpoName")
	if org == "" {
		org = c.cfg.Vendor
	}
	der, err := x509.CreateCertificateRequest(crand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: c.id, Organization: []string{org}},
	}, key)
	if err != nil {
		c.log.Error("create CSR for SignCertificate", "err", err)
		return
	}
	csr := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	c.sec.csrKey = key
	c.enqueue(&outCall{action: "SignCertificate", triggered: true, payload: marshal(signCertificateReq{CSR: csr})})
}
