package ocpp201

import (
	"bytes"
	"errors"
	"time"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// errFallback sends a payload the fast path does not take to encoding/json.
var errFallback = errors.New("decode with encoding/json")

// decodeTransactionEvent reads a validated TransactionEvent without
// reflection, as ocpp16 reads MeterValues: it is most of a 2.0.1
// station's traffic, and encoding/json took a fifth of the server's CPU
// on it under saturation-201 (BENCHMARKS.md). What the fast path does
// not know (a property it does not read, an escaped string, a number
// out of range) goes to encoding/json, so results and errors read the
// same; FuzzTransactionEventDecode holds the two together.
func decodeTransactionEvent(payload []byte, m *TransactionEventReq) error {
	if bytes.IndexByte(payload, '\\') < 0 {
		var fast TransactionEventReq
		if fastTransactionEvent(payload, &fast) == nil {
			*m = fast
			return nil
		}
	}
	*m = TransactionEventReq{}
	return Decode(payload, m)
}

func fastTransactionEvent(payload []byte, m *TransactionEventReq) error {
	d := ocpp.NewSharedDecoder(payload)
	meterSeen := false
	return d.Object(func(name []byte) error {
		var err error
		switch string(name) {
		case "eventType":
			m.EventType, err = d.String()
		case "timestamp":
			m.Timestamp, err = fastTime(d)
		case "triggerReason":
			m.TriggerReason, err = d.String()
		case "seqNo":
			m.SeqNo, err = d.Int()
		case "reservationId":
			var n int64
			n, err = d.Int()
			m.ReservationID = &n
		case "transactionInfo":
			err = fastTransactionInfo(d, &m.TransactionInfo)
		case "idToken":
			if m.IDToken == nil {
				m.IDToken = new(IDToken)
			}
			err = fastIDToken(d, m.IDToken)
		case "evse":
			if m.EVSE == nil {
				m.EVSE = new(EVSE)
			}
			err = fastEVSE(d, m.EVSE)
		case "meterValue":
			if meterSeen {
				return errFallback // encoding/json merges a repeated array into the first
			}
			meterSeen = true
			err = d.Array(func() error {
				var mv MeterValue
				err := fastMeterValue(d, &mv)
				m.MeterValue = append(m.MeterValue, mv)
				return err
			})
		case "customData":
			err = d.Skip()
		default:
			err = errFallback
		}
		return err
	})
}

func fastTransactionInfo(d *ocpp.Decoder, t *TransactionInfo) error {
	return d.Object(func(name []byte) error {
		var err error
		switch string(name) {
		case "transactionId":
			t.TransactionID, err = d.String()
		case "chargingState":
			t.ChargingState, err = d.String()
		case "stoppedReason":
			t.StoppedReason, err = d.String()
		case "timeSpentCharging":
			var n int
			n, err = fastInt(d)
			t.TimeSpentCharging = &n
		case "remoteStartId":
			var n int64
			n, err = d.Int()
			t.RemoteStartID = &n
		case "customData":
			err = d.Skip()
		default:
			err = errFallback
		}
		return err
	})
}

func fastIDToken(d *ocpp.Decoder, t *IDToken) error {
	return d.Object(func(name []byte) error {
		var err error
		switch string(name) {
		case "idToken":
			t.IDToken, err = d.String()
		case "type":
			t.Type, err = d.String()
		case "customData":
			err = d.Skip()
		default:
			err = errFallback // additionalInfo
		}
		return err
	})
}

func fastEVSE(d *ocpp.Decoder, e *EVSE) error {
	return d.Object(func(name []byte) error {
		var err error
		switch string(name) {
		case "id":
			e.ID, err = fastInt(d)
		case "connectorId":
			var n int
			n, err = fastInt(d)
			e.ConnectorID = &n
		case "customData":
			err = d.Skip()
		default:
			err = errFallback
		}
		return err
	})
}

func fastMeterValue(d *ocpp.Decoder, mv *MeterValue) error {
	sampledSeen := false
	return d.Object(func(name []byte) error {
		var err error
		switch string(name) {
		case "timestamp":
			mv.Timestamp, err = fastTime(d)
		case "sampledValue":
			if sampledSeen {
				return errFallback
			}
			sampledSeen = true
			err = d.Array(func() error {
				var sv SampledValue
				err := fastSampledValue(d, &sv)
				mv.SampledValue = append(mv.SampledValue, sv)
				return err
			})
		case "customData":
			err = d.Skip()
		default:
			err = errFallback
		}
		return err
	})
}

func fastSampledValue(d *ocpp.Decoder, sv *SampledValue) error {
	return d.Object(func(name []byte) error {
		var err error
		switch string(name) {
		case "value":
			sv.Value, err = d.Float()
		case "context":
			sv.Context, err = d.String()
		case "measurand":
			sv.Measurand, err = d.String()
		case "phase":
			sv.Phase, err = d.String()
		case "location":
			sv.Location, err = d.String()
		case "unitOfMeasure":
			if sv.UnitOfMeasure == nil {
				sv.UnitOfMeasure = new(UnitOfMeasure)
			}
			u := sv.UnitOfMeasure
			err = d.Object(func(name []byte) error {
				var err error
				switch string(name) {
				case "unit":
					u.Unit, err = d.String()
				case "multiplier":
					u.Multiplier, err = fastInt(d)
				case "customData":
					err = d.Skip()
				default:
					err = errFallback
				}
				return err
			})
		case "customData":
			err = d.Skip()
		default:
			err = errFallback // signedMeterValue
		}
		return err
	})
}

// fastInt reads an int; one beyond int's range falls back.
func fastInt(d *ocpp.Decoder) (int, error) {
	n, err := d.Int()
	if err == nil && int64(int(n)) != n {
		err = errFallback
	}
	return int(n), err
}

// fastTime reads a timestamp as encoding/json reads a time.Time (RFC 3339,
// strictly); the payload has no escapes (decodeTransactionEvent).
func fastTime(d *ocpp.Decoder) (time.Time, error) {
	s, err := d.String()
	if err != nil {
		return time.Time{}, err
	}
	var t time.Time
	err = t.UnmarshalText([]byte(s))
	return t, err
}
