package ocpp201

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// updatedEvent is an Updated as the simulator sends it under load.
const updatedEvent = `{"eventType":"Updated","timestamp":"2026-12-05T17:00:00.123Z","triggerReason":"MeterValuePeriodic","seqNo":12,` +
	`"transactionInfo":{"transactionId":"B0-17-1","chargingState":"Charging"},"evse":{"id":1,"connectorId":1},` +
	`"meterValue":[{"timestamp":"2026-12-05T17:00:00.123Z","sampledValue":[` +
	`{"value":12.345,"context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","location":"Outlet","unitOfMeasure":{"unit":"kWh"}},` +
	`{"value":11000,"context":"Sample.Periodic","measurand":"Power.Active.Import","unitOfMeasure":{"unit":"W"}},` +
	`{"value":16.1,"measurand":"Current.Import","phase":"L1","unitOfMeasure":{"unit":"A"}},` +
	`{"value":55,"measurand":"SoC","unitOfMeasure":{"unit":"Percent"}}]}]}`

// FuzzTransactionEventDecode holds the reflection-free decoder to
// encoding/json on every payload the schema accepts: the same value, or
// an error from both.
func FuzzTransactionEventDecode(f *testing.F) {
	v, err := NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		updatedEvent,
		`{"eventType":"Started","timestamp":"2026-01-01T10:00:00+02:00","triggerReason":"Authorized","seqNo":0,"reservationId":4,` +
			`"transactionInfo":{"transactionId":"T1","remoteStartId":7,"timeSpentCharging":3,"customData":{"vendorId":"x"}},` +
			`"idToken":{"idToken":"AB","type":"ISO14443"},"evse":{"id":2},"customData":{"vendorId":"v","k":[1,{"a":null}]}}`,
		`{"eventType":"Ended","timestamp":"2026-01-01T10:00:00Z","triggerReason":"StopAuthorized","seqNo":3,"offline":true,` +
			`"transactionInfo":{"transactionId":"T1","stoppedReason":"Local"},"idToken":{"idToken":"AB","type":"ISO14443","additionalInfo":[{"additionalIdToken":"c","type":"d"}]},` +
			`"meterValue":[{"timestamp":"2026-01-01T10:00:00Z","sampledValue":[{"value":-1e3,"unitOfMeasure":{"unit":"Wh","multiplier":3}},{"value":1,"signedMeterValue":{"signedMeterData":"a","signingMethod":"b","encodingMethod":"c","publicKey":"d"}}]}]}`,
		`{"eventType":"Updated","timestamp":"2026-01-01T10:00:00\u005a","triggerReason":"Trigger","seqNo":1,"transactionInfo":{"transactionId":"T\u00e9"}}`,
		`{"eventType":"Updated","timestamp":"2026-01-01T25:00:00Z","triggerReason":"Trigger","seqNo":1,"transactionInfo":{"transactionId":"T"}}`,
		`{"eventType":"Updated","timestamp":"2026-01-01T10:00:00Z","triggerReason":"Trigger","seqNo":99999999999999999999,"transactionInfo":{"transactionId":"T"},"meterValue":[{"timestamp":"2026-01-01T10:00:00Z","sampledValue":[{"value":1e400}]}]}`,
		`{"eventType":"Updated","timestamp":"2026-01-01T10:00:00Z","triggerReason":"Trigger","seqNo":1,"transactionInfo":{"transactionId":"T"},"meterValue":[{"timestamp":"2026-01-01T10:00:00Z","sampledValue":[{"value":1}]}],"meterValue":[{"timestamp":"2026-01-01T10:00:00Z","sampledValue":[{"value":2,"phase":"L1"}]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if v.Validate("TransactionEvent", payload) != nil {
			return
		}
		var fast, slow TransactionEventReq
		ferr := decodeTransactionEvent(payload, &fast)
		serr := json.Unmarshal(payload, &slow)
		if (ferr == nil) != (serr == nil) {
			t.Fatalf("%s: fast err %v; encoding/json err %v", payload, ferr, serr)
		}
		if ferr == nil {
			if diff := cmp.Diff(slow, fast, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("%s: decoders differ (-encoding/json +fast):\n%s", payload, diff)
			}
		}
	})
}

// TestTransactionEventFastPath: the simulator's Updated takes the fast
// path (a fallback would still decode it, and hide a slow server).
func TestTransactionEventFastPath(t *testing.T) {
	var m TransactionEventReq
	if err := fastTransactionEvent([]byte(updatedEvent), &m); err != nil {
		t.Fatalf("fast path: %v", err)
	}
	if m.SeqNo != 12 || len(m.MeterValue) != 1 || len(m.MeterValue[0].SampledValue) != 4 || m.MeterValue[0].SampledValue[0].Value != 12.345 {
		t.Errorf("decoded %+v", m)
	}
}

func BenchmarkDecodeTransactionEvent(b *testing.B) {
	p := []byte(updatedEvent)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m TransactionEventReq
			if err := decodeTransactionEvent(p, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m TransactionEventReq
			if err := json.Unmarshal(p, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
