package evsession

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"
)

// fullDoc uses every field of the pack, with the physically right unit
// codes.
const fullDoc = `{
  "@context": "https://schema.beckn.io/EvChargingSession/v2.0/context.jsonld",
  "@type": "ChargingSession",
  "sessionStatus": "COMPLETED",
  "connectorStatus": "AVAILABLE",
  "connectorType": "CCS2",
  "buyerFinderFee": {"feeType": "PERCENTAGE", "feeValue": 2.5},
  "maxPowerKW": 48.2,
  "meteredEnergyKWh": 13.6,
  "meteredDurationMinutes": 35,
  "chargingTelemetry": [
    {"eventTime": "2026-02-01T10:05:00Z", "metrics": [
      {"name": "ENERGY", "value": 3.1, "unitCode": "KWH"},
      {"name": "POWER", "value": 47.5, "unitCode": "KW"},
      {"name": "CURRENT", "value": 120, "unitCode": "AMP"},
      {"name": "VOLTAGE", "value": 398.5, "unitCode": "VLT"},
      {"name": "STATE_OF_CHARGE", "value": 41, "unitCode": "PERCENTAGE"}
    ]}
  ],
  "totalCost": {"exclVat": 245.00, "inclVat": 289.10},
  "lastUpdated": "2026-02-01T10:40:00+05:30",
  "reservationId": "RESV-1",
  "gracePeriodMinutes": 10,
  "vehicleMake": "Tata",
  "vehicleModel": "Nexon EV",
  "preferences": {"startTime": "2026-02-01T10:00:00Z", "endTime": "2026-02-01T11:30:00Z"}
}`

func ptr[T any](v T) *T { return &v }

func amount(s string) Amount { return NewAmount(decimal.RequireFromString(s)) }

func TestDecodeFullDocument(t *testing.T) {
	v := mustValidator(t)
	got, err := v.Decode([]byte(fullDoc))
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	want := &Session{
		Context:                ContextURL,
		Type:                   Type,
		SessionStatus:          StatusCompleted,
		ConnectorStatus:        ConnectorAvailable,
		ConnectorType:          "CCS2",
		BuyerFinderFee:         &BuyerFinderFee{FeeType: FeePercentage, FeeValue: amount("2.5")},
		MaxPowerKW:             ptr(48.2),
		MeteredEnergyKWh:       ptr(13.6),
		MeteredDurationMinutes: ptr(35.0),
		ChargingTelemetry: []TelemetryInterval{{
			EventTime: at("2026-02-01T10:05:00Z"),
			Metrics: []Metric{
				{MetricEnergy, 3.1, UnitKWH},
				{MetricPower, 47.5, UnitKW},
				{MetricCurrent, 120, UnitAmpere},
				{MetricVoltage, 398.5, UnitVolt},
				{MetricStateOfCharge, 41, UnitPercentage},
			},
		}},
		TotalCost:          &TotalCost{ExclVAT: ptr(amount("245")), InclVAT: ptr(amount("289.1"))},
		LastUpdated:        at("2026-02-01T10:40:00+05:30"),
		ReservationID:      "RESV-1",
		GracePeriodMinutes: ptr(10.0),
		VehicleMake:        "Tata",
		VehicleModel:       "Nexon EV",
		Preferences:        &Preferences{StartTime: at("2026-02-01T10:00:00Z"), EndTime: at("2026-02-01T11:30:00Z")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode mismatch (-want +got):\n%s", diff)
	}
	// Money keeps its decimal digits exactly.
	if got.TotalCost.InclVAT.String() != "289.1" {
		t.Errorf("inclVat = %s; want 289.1", got.TotalCost.InclVAT)
	}
	enc, err := Marshal(got, UnitsPhysical)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(enc), `"exclVat":245,"inclVat":289.1`) || !strings.Contains(string(enc), `"lastUpdated":"2026-02-01T10:40:00+05:30"`) {
		t.Errorf("Marshal = %s", enc)
	}
	again, err := v.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("round trip mismatch (-first +second):\n%s", diff)
	}
}

func TestNewAndMarshalDefaults(t *testing.T) {
	v := mustValidator(t)
	s := New()
	s.SessionStatus = StatusActive
	s.MeteredEnergyKWh = ptr(0.0) // zero is kept, not omitted
	enc, err := Marshal(s, UnitsPhysical)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"@context":"` + ContextURL + `","@type":"ChargingSession","sessionStatus":"ACTIVE","meteredEnergyKWh":0}`
	if string(enc) != want {
		t.Errorf("Marshal = %s; want %s", enc, want)
	}
	if err := v.Validate(enc); err != nil {
		t.Error(err)
	}
	// A Session without JSON-LD keys still encodes with them.
	enc, _ = Marshal(&Session{SessionStatus: StatusPending}, UnitsPhysical)
	if err := v.Validate(enc); err != nil {
		t.Errorf("Marshal of a bare Session does not validate: %v", err)
	}
}

func TestMarshalUnitStyles(t *testing.T) {
	s := New()
	s.ChargingTelemetry = []TelemetryInterval{{
		EventTime: time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC),
		Metrics:   []Metric{{MetricEnergy, 3.1, UnitKWH}, {MetricPower, 47.5, UnitKW}},
	}}
	tests := []struct {
		style       UnitStyle
		energy, pow UnitCode
	}{
		{UnitsPhysical, "KWH", "KW"},
		{UnitsSwapped, "KW", "KWH"},
	}
	for _, tt := range tests {
		t.Run(tt.style.String(), func(t *testing.T) {
			enc, err := Marshal(s, tt.style)
			if err != nil {
				t.Fatal(err)
			}
			var got Session
			json.Unmarshal(enc, &got)
			m := got.ChargingTelemetry[0].Metrics
			if m[0].UnitCode != tt.energy || m[1].UnitCode != tt.pow {
				t.Errorf("ENERGY %s, POWER %s; want %s, %s", m[0].UnitCode, m[1].UnitCode, tt.energy, tt.pow)
			}
		})
	}
	// Marshal leaves its argument alone.
	if s.ChargingTelemetry[0].Metrics[0].UnitCode != UnitKWH {
		t.Error("Marshal changed the session's unit codes")
	}
	if _, err := Marshal(s, UnitStyle(7)); err == nil {
		t.Error("Marshal accepted an unknown unit style")
	}
	s.ChargingTelemetry[0].Metrics[0].UnitCode = UnitVolt
	if _, err := Marshal(s, UnitsPhysical); err == nil {
		t.Error("Marshal accepted ENERGY in VLT")
	}
}

func TestNormalizeUnitCode(t *testing.T) {
	tests := []struct {
		metric  MetricName
		code    UnitCode
		want    UnitCode
		wantErr bool
	}{
		{MetricEnergy, "KWH", "KWH", false},
		{MetricEnergy, "KW", "KWH", false}, // upstream's swapped spelling
		{MetricEnergy, "KWT", "", true},
		{MetricEnergy, "WH", "", true},
		{MetricPower, "KW", "KW", false},
		{MetricPower, "KWH", "KW", false}, // upstream's swapped spelling
		{MetricPower, "KWT", "KW", false}, // UN/CEFACT kilowatt
		{MetricPower, "W", "", true},
		{MetricCurrent, "AMP", "AMP", false},
		{MetricCurrent, "A", "", true},
		{MetricVoltage, "VLT", "VLT", false},
		{MetricVoltage, "AMP", "", true},
		{MetricStateOfCharge, "PERCENTAGE", "PERCENTAGE", false},
		{MetricStateOfCharge, "P1", "", true},
		{"TEMPERATURE", "CEL", "", true},
		{MetricEnergy, "kwh", "", true}, // codes are case-sensitive
	}
	for _, tt := range tests {
		t.Run(string(tt.metric)+"-"+string(tt.code), func(t *testing.T) {
			got, err := NormalizeUnitCode(tt.metric, tt.code)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("NormalizeUnitCode(%s, %s) = %q, %v; want %q, error %v", tt.metric, tt.code, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseUnitStyle(t *testing.T) {
	for _, style := range []UnitStyle{UnitsPhysical, UnitsSwapped} {
		got, err := ParseUnitStyle(style.String())
		if err != nil || got != style {
			t.Errorf("ParseUnitStyle(%q) = %v, %v", style, got, err)
		}
	}
	if got, err := ParseUnitStyle(""); err != nil || got != UnitsPhysical {
		t.Errorf(`ParseUnitStyle("") = %v, %v; want physical`, got, err)
	}
	if _, err := ParseUnitStyle("upstream"); err == nil {
		t.Error(`ParseUnitStyle("upstream") succeeded`)
	}
}

// edit returns fullDoc with f applied to its decoded form.
func edit(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(fullDoc), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func metric0(m map[string]any) map[string]any {
	return m["chargingTelemetry"].([]any)[0].(map[string]any)["metrics"].([]any)[0].(map[string]any)
}

func TestValidateRejects(t *testing.T) {
	v := mustValidator(t)
	tests := []struct {
		name        string
		doc         []byte
		wantPath    string
		wantKeyword string
		wantMsg     string // a fragment of the message, when it matters
	}{
		{"unknown-session-status", edit(t, func(m map[string]any) { m["sessionStatus"] = "CHARGING" }), "/sessionStatus", "enum", ""},
		{"lower-case-status", edit(t, func(m map[string]any) { m["sessionStatus"] = "active" }), "/sessionStatus", "enum", ""},
		{"unknown-connector-status", edit(t, func(m map[string]any) { m["connectorStatus"] = "FAULTED" }), "/connectorStatus", "enum", ""},
		{"unknown-connector-type", edit(t, func(m map[string]any) { m["connectorType"] = "NACS" }), "/connectorType", "enum", ""},
		{"unknown-property", edit(t, func(m map[string]any) { m["trackingUrl"] = "https://x" }), "", "additionalProperties", "trackingUrl"},
		{"missing-context", edit(t, func(m map[string]any) { delete(m, "@context") }), "", "required", "@context"},
		{"missing-type", edit(t, func(m map[string]any) { delete(m, "@type") }), "", "required", "@type"},
		{"other-type", edit(t, func(m map[string]any) { m["@type"] = "ChargingOffer" }), "/@type", "const", ""},
		{"negative-energy", edit(t, func(m map[string]any) { m["meteredEnergyKWh"] = -0.1 }), "/meteredEnergyKWh", "minimum", ""},
		{"negative-duration", edit(t, func(m map[string]any) { m["meteredDurationMinutes"] = -1 }), "/meteredDurationMinutes", "minimum", ""},
		{"max-power-below-one", edit(t, func(m map[string]any) { m["maxPowerKW"] = 0.5 }), "/maxPowerKW", "minimum", ""},
		{"negative-grace-period", edit(t, func(m map[string]any) { m["gracePeriodMinutes"] = -5 }), "/gracePeriodMinutes", "minimum", ""},
		{"energy-as-string", edit(t, func(m map[string]any) { m["meteredEnergyKWh"] = "13.6" }), "/meteredEnergyKWh", "type", ""},
		{"empty-reservation-id", edit(t, func(m map[string]any) { m["reservationId"] = "" }), "/reservationId", "minLength", ""},
		{"bad-last-updated", edit(t, func(m map[string]any) { m["lastUpdated"] = "2026-02-01 10:40" }), "/lastUpdated", "format", ""},
		{"bad-preferences-time", edit(t, func(m map[string]any) { m["preferences"].(map[string]any)["endTime"] = "tomorrow" }), "/preferences/endTime", "format", ""},
		{"preferences-extra", edit(t, func(m map[string]any) { m["preferences"].(map[string]any)["durationMinutes"] = 30 }), "/preferences", "additionalProperties", "durationMinutes"},
		{"fee-type-unknown", edit(t, func(m map[string]any) { m["buyerFinderFee"].(map[string]any)["feeType"] = "FLAT" }), "/buyerFinderFee/feeType", "enum", ""},
		{"fee-negative", edit(t, func(m map[string]any) { m["buyerFinderFee"].(map[string]any)["feeValue"] = -1 }), "/buyerFinderFee/feeValue", "minimum", ""},
		{"fee-percentage-over-100", edit(t, func(m map[string]any) { m["buyerFinderFee"].(map[string]any)["feeValue"] = 120 }), "/buyerFinderFee/feeValue", "maximum", ""},
		{"fee-missing-value", edit(t, func(m map[string]any) { delete(m["buyerFinderFee"].(map[string]any), "feeValue") }), "/buyerFinderFee", "required", "feeValue"},
		{"cost-negative", edit(t, func(m map[string]any) { m["totalCost"].(map[string]any)["inclVat"] = -3 }), "/totalCost/inclVat", "minimum", ""},
		{"cost-currency-field", edit(t, func(m map[string]any) { m["totalCost"].(map[string]any)["currency"] = "INR" }), "/totalCost", "additionalProperties", "currency"},
		{"metric-unknown-name", edit(t, func(m map[string]any) { metric0(m)["name"] = "TEMPERATURE" }), "/chargingTelemetry/0/metrics/0/name", "enum", ""},
		{"metric-energy-in-volts", edit(t, func(m map[string]any) { metric0(m)["unitCode"] = "VLT" }), "/chargingTelemetry/0/metrics/0/unitCode", "enum", ""},
		{"metric-unknown-unit", edit(t, func(m map[string]any) { metric0(m)["unitCode"] = "WHR" }), "/chargingTelemetry/0/metrics/0/unitCode", "enum", ""},
		{"metric-missing-value", edit(t, func(m map[string]any) { delete(metric0(m), "value") }), "/chargingTelemetry/0/metrics/0", "required", "value"},
		{"metric-value-string", edit(t, func(m map[string]any) { metric0(m)["value"] = "3.1" }), "/chargingTelemetry/0/metrics/0/value", "type", ""},
		{"soc-over-100", edit(t, func(m map[string]any) {
			metric0(m)["name"], metric0(m)["unitCode"], metric0(m)["value"] = "STATE_OF_CHARGE", "PERCENTAGE", 101
		}), "/chargingTelemetry/0/metrics/0/value", "maximum", ""},
		{"current-in-kw", edit(t, func(m map[string]any) { metric0(m)["name"], metric0(m)["unitCode"] = "CURRENT", "KW" }), "/chargingTelemetry/0/metrics/0/unitCode", "const", ""},
		{"interval-missing-time", edit(t, func(m map[string]any) {
			delete(m["chargingTelemetry"].([]any)[0].(map[string]any), "eventTime")
		}), "/chargingTelemetry/0", "required", "eventTime"},
		{"interval-no-metrics", edit(t, func(m map[string]any) {
			m["chargingTelemetry"].([]any)[0].(map[string]any)["metrics"] = []any{}
		}), "/chargingTelemetry/0/metrics", "minItems", ""},
		{"telemetry-not-array", edit(t, func(m map[string]any) { m["chargingTelemetry"] = map[string]any{} }), "/chargingTelemetry", "type", ""},
		{"document-not-object", []byte(`["ChargingSession"]`), "", "type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Validate(tt.doc)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v; want a *ValidationError", err)
			}
			// Every problem is the expected one. (An unknown unit code fails
			// both the list of all codes and the metric's own list.)
			if len(ve.Problems) == 0 {
				t.Fatal("ValidationError without problems")
			}
			for _, p := range ve.Problems {
				if p.Path != tt.wantPath || p.Keyword != tt.wantKeyword || !strings.Contains(p.Message, tt.wantMsg) {
					t.Errorf("problem = %+v; want path %q, keyword %q, message containing %q", p, tt.wantPath, tt.wantKeyword, tt.wantMsg)
				}
			}
			if _, err := v.Decode(tt.doc); !errors.As(err, &ve) {
				t.Errorf("Decode = %v; want the same *ValidationError", err)
			}
		})
	}
}

func TestValidateAcceptsBothUnitSpellings(t *testing.T) {
	v := mustValidator(t)
	for _, tc := range []struct{ energy, power string }{{"KWH", "KW"}, {"KW", "KWH"}, {"KWH", "KWT"}} {
		doc := edit(t, func(m map[string]any) {
			ms := m["chargingTelemetry"].([]any)[0].(map[string]any)["metrics"].([]any)
			ms[0].(map[string]any)["unitCode"] = tc.energy
			ms[1].(map[string]any)["unitCode"] = tc.power
		})
		s, err := v.Decode(doc)
		if err != nil {
			t.Errorf("ENERGY %s, POWER %s: %v", tc.energy, tc.power, err)
			continue
		}
		if m := s.ChargingTelemetry[0].Metrics; m[0].UnitCode != UnitKWH || m[1].UnitCode != UnitKW {
			t.Errorf("ENERGY %s, POWER %s decoded to %s, %s; want KWH, KW", tc.energy, tc.power, m[0].UnitCode, m[1].UnitCode)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	v := mustValidator(t)
	doc := edit(t, func(m map[string]any) {
		m["sessionStatus"] = "DONE"
		m["meteredEnergyKWh"] = -1
		m["extra"] = true
	})
	var ve *ValidationError
	if !errors.As(v.Validate(doc), &ve) {
		t.Fatal("want a *ValidationError")
	}
	paths := map[string]string{}
	for _, p := range ve.Problems {
		paths[p.Path] = p.Keyword
	}
	want := map[string]string{"/sessionStatus": "enum", "/meteredEnergyKWh": "minimum", "": "additionalProperties"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("problems (-want +got):\n%s\n%v", diff, ve)
	}
	if msg := ve.Error(); !strings.Contains(msg, "/sessionStatus") || !strings.Contains(msg, "(document)") {
		t.Errorf("Error() = %q", msg)
	}
}

func TestValidateNotJSON(t *testing.T) {
	v := mustValidator(t)
	for _, doc := range []string{"", "{", `{"@type":"ChargingSession"} {}`, "nul"} {
		if err := v.Validate([]byte(doc)); !errors.Is(err, ErrNotJSON) {
			t.Errorf("Validate(%q) = %v; want ErrNotJSON", doc, err)
		}
	}
}

func TestSchemaIsACopy(t *testing.T) {
	s := Schema()
	s[0] = 'x'
	if Schema()[0] != '{' {
		t.Error("Schema returned the embedded bytes, not a copy")
	}
	if _, err := NewValidator(); err != nil {
		t.Error(err)
	}
}

func TestAmountJSON(t *testing.T) {
	tests := []struct {
		in, out string
		wantErr bool
	}{
		{"245.00", "245", false},
		{"0.1", "0.1", false},
		{"1e2", "100", false},
		{"-3.5", "-3.5", false},
		{"123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789", false},
		{`"12.5"`, "", true},
		{"1e999999999", "", true},
		{"1e-999999999", "", true},
		{"null", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var a Amount
			err := json.Unmarshal([]byte(tt.in), &a)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error = %v; want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if b, _ := json.Marshal(a); string(b) != tt.out {
				t.Errorf("Marshal = %s; want %s", b, tt.out)
			}
		})
	}
}

// TestValidateRejectsHugeNumbers covers numerals the schema library cannot
// handle safely: it panicked on 1e99999999 and spent tens of milliseconds on
// 1e999999 before the screening in validate.
func TestValidateRejectsHugeNumbers(t *testing.T) {
	v := mustValidator(t)
	const head = `{"@context":"x","@type":"ChargingSession",`
	tests := []struct {
		name, doc, wantPath string
	}{
		{"huge-exponent", head + `"maxPowerKW":1e99999999}`, "/maxPowerKW"},
		{"big-exponent", head + `"maxPowerKW":1e999999}`, "/maxPowerKW"},
		{"tiny-exponent", head + `"meteredEnergyKWh":1e-999999}`, "/meteredEnergyKWh"},
		{"beyond-float64", head + `"meteredEnergyKWh":1e309}`, "/meteredEnergyKWh"},
		{"long-numeral", head + `"meteredEnergyKWh":1.` + strings.Repeat("0", 80) + `1}`, "/meteredEnergyKWh"},
		{"in-telemetry", head + `"chargingTelemetry":[{"eventTime":"2026-01-01T00:00:00Z","metrics":[{"name":"POWER","value":9e9999999,"unitCode":"KW"}]}]}`, "/chargingTelemetry/0/metrics/0/value"},
		{"in-unknown-property", head + `"x":[1e99999999]}`, "/x/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ve *ValidationError
			if err := v.Validate([]byte(tt.doc)); !errors.As(err, &ve) {
				t.Fatalf("Validate = %v; want a *ValidationError", err)
			}
			if p := ve.Problems[0]; len(ve.Problems) != 1 || p.Path != tt.wantPath || p.Keyword != "number" {
				t.Errorf("problems = %+v; want one at %s with keyword number", ve.Problems, tt.wantPath)
			}
		})
	}
	// Ordinary exponents are fine.
	if err := v.Validate([]byte(head + `"meteredEnergyKWh":1.36e1,"maxPowerKW":5E+1}`)); err != nil {
		t.Errorf("Validate with small exponents: %v", err)
	}
}
