package ocpp16

import (
	"encoding/json"
	"io/fs"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzStrictMeterValues holds the one-pass path to the two it stands in
// for: a payload it accepts is one the validator accepts with no
// deviation, and decodes to what decodeMeterValues reads.
func FuzzStrictMeterValues(f *testing.F) {
	v, err := NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range strictSeeds {
		f.Add([]byte(p))
	}
	f.Add([]byte(`{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":"1\u00e9\n"},{"value":"2","unit":"kWh"}]}]}`))
	f.Add([]byte(`{"connectorId":1.0,"transactionId":-3,"meterValue":[{"timestamp":"x","sampledValue":[]}]}`))
	f.Add([]byte(`{"connectorId":1,"connectorId":2,"meterValue":[]}`))
	f.Add([]byte(`{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00","sampledValue":[{"value":"1","unit":"Joule"}]}]}`))
	f.Add([]byte(`{"connector\u0049d":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":"1","phase":"L\u0031"}]}]} `))
	f.Fuzz(func(t *testing.T, payload []byte) {
		m := meterValuesPool.Get().(*MeterValuesReq)
		defer putMeterValues(m)
		if !strictMeterValues(payload, m) {
			return
		}
		if devs, e := v.ValidateLenient("MeterValues", payload); e != nil || len(devs) > 0 {
			t.Fatalf("%s: accepted in one pass; the validator says %v, deviations %+v", payload, e, devs)
		}
		var want MeterValuesReq
		if err := decodeMeterValues(payload, &want); err != nil {
			t.Fatalf("%s: accepted in one pass; decodeMeterValues: %v", payload, err)
		}
		if diff := cmp.Diff(want, *m, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%s: decodings differ (-decodeMeterValues +one pass):\n%s", payload, diff)
		}
	})
}

// strictSeeds are MeterValues the one-pass path must take: what chargers
// send, so the fast path is the common one.
var strictSeeds = []string{
	`{"connectorId":1,"transactionId":1,"meterValue":[{"timestamp":"2026-11-21T10:00:00Z","sampledValue":[{"value":"1000","measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"11000","measurand":"Power.Active.Import","unit":"W"},{"value":"16","measurand":"Current.Import","unit":"A"}]}]}`,
	bigMeterValues,
	` { "connectorId" : 0 , "meterValue" : [ ] } `,
	`{"meterValue":[{"sampledValue":[{"value":"1"}],"timestamp":"2026-11-21T10:00:00.123+01:00"}],"connectorId":3}`,
}

func TestStrictMeterValuesTakesTheCommon(t *testing.T) {
	for _, p := range append([]string{seedPayloads["MeterValues"]}, strictSeeds...) {
		m := meterValuesPool.Get().(*MeterValuesReq)
		if !strictMeterValues([]byte(p), m) {
			t.Errorf("strictMeterValues(%s) = false; want true", p)
		}
		putMeterValues(m)
	}
}

// TestStrictEnumsMatchSchema: the one-pass path knows exactly the enums
// of the MeterValues schema.
func TestStrictEnumsMatchSchema(t *testing.T) {
	b, err := fs.ReadFile(Schemas(), "MeterValues.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties struct {
			MeterValue struct {
				Items struct {
					Properties struct {
						SampledValue struct {
							Items struct {
								Properties map[string]struct {
									Enum []string `json:"enum"`
								} `json:"properties"`
							} `json:"items"`
						} `json:"sampledValue"`
					} `json:"properties"`
				} `json:"items"`
			} `json:"meterValue"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	known := map[string]func(string) bool{
		"context": knownContext, "format": func(s string) bool { return s == "Raw" || s == "SignedData" },
		"measurand": knownMeasurand, "phase": knownPhase, "location": knownLocation, "unit": knownUnit,
	}
	props := schema.Properties.MeterValue.Items.Properties.SampledValue.Items.Properties
	if len(props) != len(known)+1 {
		t.Fatalf("sampledValue has %d properties in the schema; want %d (value and the enums)", len(props), len(known)+1)
	}
	for name, is := range known {
		enum := props[name].Enum
		if len(enum) == 0 {
			t.Fatalf("%s has no enum in the schema", name)
		}
		in := map[string]bool{}
		for _, e := range enum {
			in[e] = true
		}
		for _, e := range enum {
			if !is(e) {
				t.Errorf("%s %q is in the schema's enum; the one-pass path refuses it", name, e)
			}
			for _, near := range []string{e + "x", e[1:], e[:len(e)-1], ""} {
				if !in[near] && is(near) {
					t.Errorf("%s %q is not in the schema's enum; the one-pass path takes it", name, near)
				}
			}
		}
	}
}
