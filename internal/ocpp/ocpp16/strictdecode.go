package ocpp16

import (
	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// strictMeterValues decodes a MeterValues payload into m in one pass when
// the payload is certainly one the schema accepts with nothing to
// tolerate: every property known and present once, every required one
// present, integers plain, enum values among the schema's, timestamps
// readable. Anything else, including what the schema would still accept
// (a whole number written 1.0), makes it return false, and the call takes
// the gate's validation and decodeMeterValues as before: the common
// MeterValues is read once instead of twice, and every other one gets
// the same answer and the same errors. FuzzStrictMeterValues holds it to
// the validator and to decodeMeterValues.
func strictMeterValues(payload []byte, m *MeterValuesReq) bool {
	m.ConnectorID, m.TransactionID = 0, nil
	m.MeterValue = m.MeterValue[:0]
	d := ocpp.NewSharedDecoder(payload)
	var conn, tx, mv bool
	err := d.Object(func(name []byte) error {
		switch string(name) {
		case "connectorId":
			n, err := d.Int()
			if err != nil || conn || int64(int(n)) != n {
				return errFallback
			}
			conn, m.ConnectorID = true, int(n)
		case "transactionId":
			n, err := d.Int()
			if err != nil || tx {
				return errFallback
			}
			tx, m.TransactionID = true, &n
		case "meterValue":
			if mv {
				return errFallback
			}
			mv = true
			return strictMeterValueList(d, &m.MeterValue)
		default:
			return errFallback
		}
		return nil
	})
	return err == nil && conn && mv && d.End()
}

func strictMeterValueList(d *ocpp.Decoder, out *[]MeterValue) error {
	return d.Array(func() error {
		mv := nextMeterValue(out)
		var ts, svs bool
		err := d.Object(func(name []byte) error {
			switch string(name) {
			case "timestamp":
				s, err := d.String()
				if err != nil || ts {
					return errFallback
				}
				if _, _, err := ocpp.ParseTimestamp(s); err != nil {
					return errFallback
				}
				ts, mv.Timestamp = true, s
			case "sampledValue":
				if svs {
					return errFallback
				}
				svs = true
				return d.Array(func() error {
					sv, err := strictSampledValue(d)
					mv.SampledValue = append(mv.SampledValue, sv)
					return err
				})
			default:
				return errFallback
			}
			return nil
		})
		if err == nil && (!ts || !svs) {
			return errFallback
		}
		return err
	})
}

// strictSampledValue reads one sampledValue object; any property twice,
// unknown or outside its enum is errFallback.
func strictSampledValue(d *ocpp.Decoder) (SampledValue, error) {
	var sv SampledValue
	var seen uint8
	err := d.Object(func(name []byte) error {
		s, err := d.String()
		if err != nil {
			return errFallback
		}
		var bit uint8
		var ok bool
		switch string(name) {
		case "value":
			bit, ok, sv.Value = 1<<0, true, s
		case "context":
			bit, ok, sv.Context = 1<<1, knownContext(s), s
		case "format":
			bit, ok, sv.Format = 1<<2, s == "Raw" || s == "SignedData", s
		case "measurand":
			bit, ok, sv.Measurand = 1<<3, knownMeasurand(s), s
		case "phase":
			bit, ok, sv.Phase = 1<<4, knownPhase(s), s
		case "location":
			bit, ok, sv.Location = 1<<5, knownLocation(s), s
		case "unit":
			bit, ok, sv.Unit = 1<<6, knownUnit(s), s
		}
		if !ok || seen&bit != 0 {
			return errFallback
		}
		seen |= bit
		return nil
	})
	if err == nil && seen&1 == 0 {
		return sv, errFallback // value is required
	}
	return sv, err
}

// The enums of the MeterValues schema (schemas/MeterValues.json);
// TestStrictEnumsMatchSchema holds these to it.

func knownContext(s string) bool {
	switch s {
	case "Interruption.Begin", "Interruption.End", "Sample.Clock", "Sample.Periodic",
		"Transaction.Begin", "Transaction.End", "Trigger", "Other":
		return true
	}
	return false
}

func knownMeasurand(s string) bool {
	switch s {
	case "Energy.Active.Export.Register", "Energy.Active.Import.Register",
		"Energy.Reactive.Export.Register", "Energy.Reactive.Import.Register",
		"Energy.Active.Export.Interval", "Energy.Active.Import.Interval",
		"Energy.Reactive.Export.Interval", "Energy.Reactive.Import.Interval",
		"Power.Active.Export", "Power.Active.Import", "Power.Offered",
		"Power.Reactive.Export", "Power.Reactive.Import", "Power.Factor",
		"Current.Import", "Current.Export", "Current.Offered",
		"Voltage", "Frequency", "Temperature", "SoC", "RPM":
		return true
	}
	return false
}

func knownPhase(s string) bool {
	switch s {
	case "L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1":
		return true
	}
	return false
}

func knownLocation(s string) bool {
	switch s {
	case "Cable", "EV", "Inlet", "Outlet", "Body":
		return true
	}
	return false
}

func knownUnit(s string) bool {
	switch s {
	case "Wh", "kWh", "varh", "kvarh", "W", "kW", "VA", "kVA", "var", "kvar",
		"A", "V", "K", "Celcius", "Celsius", "Fahrenheit", "Percent":
		return true
	}
	return false
}
