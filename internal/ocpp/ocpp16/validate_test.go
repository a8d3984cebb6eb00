package ocpp16

import (
	"strings"
	"testing"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

func TestValidateErrorCodes(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		action  string
		payload string
		want    ocpp.ErrorCode // "" means valid
	}{
		{"valid-start", "StartTransaction", `{"connectorId":1,"idTag":"ABC","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}`, ""},
		{"zoneless-timestamp-passes-schema", "StartTransaction", `{"connectorId":1,"idTag":"ABC","meterStart":0,"timestamp":"2026-01-01T00:00:00"}`, ""},
		{"missing-required", "StartTransaction", `{"connectorId":1,"meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}`, ocpp.OccurenceConstraintViolation},
		{"wrong-type", "StartTransaction", `{"connectorId":"1","idTag":"ABC","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}`, ocpp.TypeConstraintViolation},
		{"too-long", "StartTransaction", `{"connectorId":1,"idTag":"123456789012345678901","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}`, ocpp.PropertyConstraintViolation},
		{"bad-enum", "StatusNotification", `{"connectorId":1,"errorCode":"NoError","status":"Sleeping"}`, ocpp.PropertyConstraintViolation},
		{"bad-date", "StartTransaction", `{"connectorId":1,"idTag":"ABC","meterStart":0,"timestamp":"yesterday"}`, ocpp.PropertyConstraintViolation},
		{"unknown-property", "Heartbeat", `{"extra":true}`, ocpp.FormationViolation},
		{"not-an-object", "Heartbeat", `[]`, ocpp.FormationViolation},
		{"not-json", "Heartbeat", `{`, ocpp.FormationViolation},
		{"empty-sampled-values-accepted", "MeterValues", `{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[]}]}`, ""},
		{"unknown-schema", "Teleport", `{}`, ocpp.NotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := v.Validate(tt.action, []byte(tt.payload))
			switch {
			case tt.want == "" && e != nil:
				t.Fatalf("Validate(%s) = %v; want valid", tt.payload, e)
			case tt.want != "" && e == nil:
				t.Fatalf("Validate(%s) = valid; want %s", tt.payload, tt.want)
			case tt.want != "" && e.Code != tt.want:
				t.Fatalf("Validate(%s) = %s (%s); want %s", tt.payload, e.Code, e.Description, tt.want)
			}
		})
	}
}

// TestValidateNamesWhere: the description points at the offending value,
// with array indexes, and names a repeated property.
func TestValidateNamesWhere(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, payload, want string
	}{
		{"bad-enum-in-array", `{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":"1"},{"value":"2","measurand":"Nonsense"}]}]}`,
			"at /meterValue/0/sampledValue/1/measurand: "},
		{"repeated-property", `{"connectorId":1,"connectorId":2,"meterValue":[]}`, `at /: property "connectorId" appears twice`},
		{"escaped-name-missing-required", `{"connector\u0049d":1}`, `at /: required property "meterValue" is missing`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := v.Validate("MeterValues", []byte(tt.payload))
			if e == nil || !strings.HasPrefix(e.Description, tt.want) {
				t.Fatalf("Validate(%s) = %v; want a description starting %q", tt.payload, e, tt.want)
			}
		})
	}
}

func TestEverySchemaCompiles(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for a := range chargerActions {
		if !v.Has(a) || !v.Has(a+"Response") {
			t.Errorf("schema for %s or its response is missing", a)
		}
	}
}

func BenchmarkValidateMeterValues(b *testing.B) {
	v, err := NewValidator()
	if err != nil {
		b.Fatal(err)
	}
	p := []byte(`{"connectorId":1,"transactionId":42,"meterValue":[{"timestamp":"2026-11-21T10:00:00Z","sampledValue":[{"value":"12345","measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"11000","measurand":"Power.Active.Import","unit":"W"},{"value":"16.0","measurand":"Current.Import","unit":"A"},{"value":"230","measurand":"Voltage","unit":"V"},{"value":"55","measurand":"SoC","unit":"Percent"}]}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if e := v.Validate("MeterValues", p); e != nil {
			b.Fatal(e)
		}
	}
}
