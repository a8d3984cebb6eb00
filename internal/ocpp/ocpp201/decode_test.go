package ocpp201

import (
	"errors"
	"math"
	"testing"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// decoders are the 2.0.1 requests the handler decodes, by action.
var decoders = map[string]func() any{
	"BootNotification":   func() any { return new(BootNotificationReq) },
	"StatusNotification": func() any { return new(StatusNotificationReq) },
	"Authorize":          func() any { return new(AuthorizeReq) },
	"TransactionEvent":   func() any { return new(TransactionEventReq) },
	"MeterValues":        func() any { return new(MeterValuesReq) },
	"NotifyReport":       func() any { return new(notifyReportReq) },
}

// FuzzDecode: a payload the schema accepts decodes, or is refused with a
// CALLERROR (never a panic); meter values convert to finite numbers or to
// values marked non-numeric.
func FuzzDecode(f *testing.F) {
	v, err := NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	names := []string{"BootNotification", "StatusNotification", "Authorize", "TransactionEvent", "MeterValues", "NotifyReport"}
	for i, n := range names {
		f.Add(uint8(i), []byte(validPayloads[n]))
	}
	f.Add(uint8(3), []byte(`{"eventType":"Started","timestamp":"2026-01-01T00:00:00","triggerReason":"Authorized","seqNo":0,"transactionInfo":{"transactionId":"t"}}`))
	f.Add(uint8(4), []byte(`{"evseId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":1e308,"unitOfMeasure":{"multiplier":9}}]}]}`))
	f.Add(uint8(5), []byte(`{"requestId":1,"generatedAt":"2026-01-01T00:00:00Z","seqNo":0,"tbc":true,"reportData":[{"component":{"name":"EVSE","evse":{"id":1,"connectorId":1}},"variable":{"name":"Power"},"variableAttribute":[{"mutability":"WriteOnly"}]}]}`))
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		action := names[int(which)%len(names)]
		if v.Validate(action, payload) != nil {
			return
		}
		m := decoders[action]()
		if err := Decode(payload, m); err != nil {
			var oe *ocpp.Error
			if !errors.As(err, &oe) {
				t.Fatalf("%s %s: error %v is not a CALLERROR", action, payload, err)
			}
			return
		}
		var mvs []MeterValue
		switch m := m.(type) {
		case *TransactionEventReq:
			mvs = m.MeterValue
		case *MeterValuesReq:
			mvs = m.MeterValue
		}
		for _, s := range Samples(mvs) {
			for _, sv := range s.Values {
				if sv.Numeric && (math.IsNaN(sv.Value) || math.IsInf(sv.Value, 0)) {
					t.Fatalf("%s: numeric value %v", payload, sv.Value)
				}
			}
		}
	})
}
