package ocpp16

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzMeterValuesDecode holds the reflection-free decoder to encoding/json
// on every payload the schema accepts.
func FuzzMeterValuesDecode(f *testing.F) {
	v, err := NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(seedPayloads["MeterValues"]))
	f.Add([]byte(`{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":"1\u00e9\n"},{"value":"2","unit":"kWh"}]}]}`))
	f.Add([]byte(`{"connectorId":99999999999999999999,"meterValue":[]}`))
	f.Add([]byte(`{"connectorId":1.0,"transactionId":-3,"meterValue":[{"timestamp":"x","sampledValue":[]}]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		if v.Validate("MeterValues", payload) != nil {
			return
		}
		var fast, slow MeterValuesReq
		ferr := decodeMeterValues(payload, &fast)
		serr := json.Unmarshal(payload, &slow)
		if (ferr == nil) != (serr == nil) {
			t.Fatalf("%s: fast err %v; encoding/json err %v", payload, ferr, serr)
		}
		if ferr == nil {
			if diff := cmp.Diff(slow, fast, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("%s: decoders differ (-encoding/json +fast):\n%s", payload, diff)
			}
		}
		// A pooled MeterValuesReq that held a bigger message first
		// decodes the same: nothing of the earlier one shows through.
		m := meterValuesPool.Get().(*MeterValuesReq)
		if err := decodeMeterValues([]byte(bigMeterValues), m); err != nil {
			t.Fatal(err)
		}
		putMeterValues(m)
		m = meterValuesPool.Get().(*MeterValuesReq)
		defer putMeterValues(m)
		if err := decodeMeterValues(payload, m); (err == nil) != (ferr == nil) {
			t.Fatalf("%s: reused err %v; fresh err %v", payload, err, ferr)
		}
		if ferr == nil {
			if diff := cmp.Diff(slow, *m, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("%s: reused decoder differs (-encoding/json +reused):\n%s", payload, diff)
			}
		}
	})
}

// bigMeterValues has more meter values and sampled values than most.
const bigMeterValues = `{"connectorId":2,"transactionId":7,"meterValue":[` +
	`{"timestamp":"2026-11-21T10:00:00Z","sampledValue":[{"value":"1","measurand":"Voltage","unit":"V","phase":"L1","context":"Trigger","location":"Inlet","format":"Raw"},{"value":"2"},{"value":"3"},{"value":"4"},{"value":"5"},{"value":"6"},{"value":"7"},{"value":"8"},{"value":"9"}]},` +
	`{"timestamp":"2026-11-21T10:00:01Z","sampledValue":[{"value":"1"},{"value":"2","format":"SignedData"}]},` +
	`{"timestamp":"2026-11-21T10:00:02Z","sampledValue":[{"value":"1"}]}]}`

func BenchmarkDecodeMeterValues(b *testing.B) {
	p := []byte(`{"connectorId":1,"transactionId":42,"meterValue":[{"timestamp":"2026-11-21T10:00:00Z","sampledValue":[{"value":"12345","measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"11000","measurand":"Power.Active.Import","unit":"W"},{"value":"16.0","measurand":"Current.Import","unit":"A"},{"value":"230","measurand":"Voltage","unit":"V"},{"value":"55","measurand":"SoC","unit":"Percent"}]}]}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m MeterValuesReq
			if err := decodeMeterValues(p, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast-pooled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := meterValuesPool.Get().(*MeterValuesReq)
			if err := decodeMeterValues(p, m); err != nil {
				b.Fatal(err)
			}
			putMeterValues(m)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m MeterValuesReq
			if err := json.Unmarshal(p, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
