package evsession

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecode checks that Decode never panics, and that whatever it accepts
// encodes (in both unit styles) to a document that validates and decodes to
// the same Session.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(fullDoc))
	f.Add([]byte(`{"@context":"x","@type":"ChargingSession"}`))
	f.Add([]byte(`{"@context":"x","@type":"ChargingSession","totalCost":{"exclVat":1e30,"inclVat":0.000001}}`))
	f.Add([]byte(`{"@context":"x","@type":"ChargingSession","chargingTelemetry":[{"eventTime":"2026-01-01T00:00:00.123456789-11:30","metrics":[{"name":"POWER","value":-0,"unitCode":"KWT"}]}]}`))
	f.Add([]byte(`{"@context":"x","@type":"ChargingSession","maxPowerKW":1e99999999}`))
	// Seed with the upstream examples when the specs are present; they are
	// read in place, not copied (they are CC BY-NC-SA).
	files, _ := filepath.Glob(filepath.Join(examplesDir, "*", "*.json"))
	if len(files) > 0 {
		for _, ex := range loadExamples(f) {
			f.Add(ex.doc)
		}
	}
	v := mustValidator(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		first, err := v.Decode(doc)
		if err != nil {
			return
		}
		for _, style := range []UnitStyle{UnitsPhysical, UnitsSwapped} {
			enc, err := Marshal(first, style)
			if err != nil {
				t.Fatalf("Marshal(%s) of a decoded session: %v", style, err)
			}
			second, err := v.Decode(enc)
			if err != nil {
				t.Fatalf("Decode(Marshal(%s)): %v\ninput: %s\nencoded: %s", style, err, doc, enc)
			}
			if diff := cmp.Diff(first, second); diff != "" {
				t.Fatalf("%s round trip mismatch (-first +second):\n%s\ninput: %s", style, diff, doc)
			}
		}
	})
}
