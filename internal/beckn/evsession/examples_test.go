package evsession

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// examplesDir holds the upstream DEG EV-charging v2 examples. They are
// CC BY-NC-SA, so they are read in place, never copied into the repository.
const examplesDir = "../../../../shared/specs/beckn/deg/examples/ev-charging/v2"

// example is one ChargingSession object found in an upstream example file.
type example struct {
	name string // file and JSON path
	doc  []byte // the object, re-encoded on its own
}

// loadExamples returns every object with "@type": "ChargingSession" in the
// upstream v2 example files, or skips the test when the specs are absent.
func loadExamples(t testing.TB) []example {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skipf("no DEG EV-charging v2 examples under %s (the shared specs checkout is missing); skipping", examplesDir)
	}
	sort.Strings(files)
	var out []example
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		rel, _ := filepath.Rel(examplesDir, f)
		findSessions(v, rel+":", func(path string, obj map[string]any) {
			doc, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, example{name: path, doc: doc})
		})
	}
	return out
}

func findSessions(v any, path string, found func(string, map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		if v["@type"] == Type {
			found(path, v)
			return
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			findSessions(v[k], path+"/"+k, found)
		}
	case []any:
		for i, e := range v {
			findSessions(e, path+"/"+itoa(i), found)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func mustValidator(t testing.TB) *Validator {
	t.Helper()
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestUpstreamExamplesValidate(t *testing.T) {
	v := mustValidator(t)
	exs := loadExamples(t)
	// The v2 flow has eleven: select, on_select, on_confirm, status,
	// on_status (connector), update, on_update, on_status (track),
	// on_status (interrupt), update (stop), on_update (complete).
	if len(exs) < 11 {
		t.Errorf("found %d ChargingSession objects; want at least 11", len(exs))
	}
	sawTelemetry := false
	for _, ex := range exs {
		t.Run(ex.name, func(t *testing.T) {
			if err := v.Validate(ex.doc); err != nil {
				t.Fatalf("Validate: %v\n%s", err, ex.doc)
			}
			s, err := v.Decode(ex.doc)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			sawTelemetry = sawTelemetry || len(s.ChargingTelemetry) > 0
		})
	}
	if !sawTelemetry {
		t.Error("no example carried chargingTelemetry; the unit-code paths went untested")
	}
}

// TestUpstreamExamplesRoundTrip checks decode → encode → decode is stable,
// that what we encode validates, and that encoding with UnitsSwapped gives
// back the upstream object (whose telemetry uses the swapped codes).
func TestUpstreamExamplesRoundTrip(t *testing.T) {
	v := mustValidator(t)
	for _, ex := range loadExamples(t) {
		t.Run(ex.name, func(t *testing.T) {
			first, err := v.Decode(ex.doc)
			if err != nil {
				t.Fatal(err)
			}
			for _, style := range []UnitStyle{UnitsPhysical, UnitsSwapped} {
				enc, err := Marshal(first, style)
				if err != nil {
					t.Fatal(err)
				}
				second, err := v.Decode(enc)
				if err != nil {
					t.Fatalf("Decode(Marshal(%s)): %v\n%s", style, err, enc)
				}
				if diff := cmp.Diff(first, second); diff != "" {
					t.Errorf("%s round trip mismatch (-first +second):\n%s", style, diff)
				}
			}
			swapped, err := Marshal(first, UnitsSwapped)
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			json.Unmarshal(swapped, &got)
			json.Unmarshal(ex.doc, &want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Marshal(UnitsSwapped) differs from the upstream object (-upstream +ours):\n%s", diff)
			}
		})
	}
}

// TestUpstreamTrackTelemetryNormalized decodes the on_status (track) example,
// whose ENERGY readings say KW and POWER readings say KWH, and checks we hold
// and emit them with the physically right codes.
func TestUpstreamTrackTelemetryNormalized(t *testing.T) {
	v := mustValidator(t)
	var track *Session
	for _, ex := range loadExamples(t) {
		s, err := v.Decode(ex.doc)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.ChargingTelemetry) > 0 {
			track = s
		}
	}
	if track == nil {
		t.Fatal("no example with telemetry")
	}
	for _, ti := range track.ChargingTelemetry {
		for _, m := range ti.Metrics {
			want, _ := UnitCodeFor(m.Name, UnitsPhysical)
			if m.UnitCode != want {
				t.Errorf("%s at %s has unit %s; want %s", m.Name, ti.EventTime, m.UnitCode, want)
			}
		}
	}
	enc, _ := Marshal(track, UnitsPhysical)
	var doc struct {
		ChargingTelemetry []struct{ Metrics []Metric } `json:"chargingTelemetry"`
	}
	json.Unmarshal(enc, &doc)
	units := map[MetricName]UnitCode{}
	for _, m := range doc.ChargingTelemetry[0].Metrics {
		units[m.Name] = m.UnitCode
	}
	want := map[MetricName]UnitCode{MetricEnergy: "KWH", MetricPower: "KW", MetricCurrent: "AMP", MetricVoltage: "VLT", MetricStateOfCharge: "PERCENTAGE"}
	if diff := cmp.Diff(want, units); diff != "" {
		t.Errorf("emitted unit codes (-want +got):\n%s", diff)
	}
}
