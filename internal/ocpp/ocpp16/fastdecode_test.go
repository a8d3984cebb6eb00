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
	})
}

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
