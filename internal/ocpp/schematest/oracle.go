// Package schematest holds an OCPP version's compiled validator to the
// verdicts of a general JSON Schema implementation
// (santhosh-tekuri/jsonschema), for the versions' differential fuzz tests.
package schematest

import (
	"bytes"
	"io/fs"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// Oracle compiles every *.json schema in fsys with the general
// implementation, keyed by name(file) as the validator is.
func Oracle(t testing.TB, fsys fs.FS, name func(file string) string) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.RegisterFormat(&jsonschema.Format{Name: "date-time", Validate: func(v any) error {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		_, _, err := ocpp.ParseTimestamp(s)
		return err
	}})
	names, _ := fs.Glob(fsys, "*.json")
	out := map[string]*jsonschema.Schema{}
	for _, n := range names {
		b, _ := fs.ReadFile(fsys, n)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		m := doc.(map[string]any)
		delete(m, "id")
		delete(m, "$id")
		if err := c.AddResource("file:///"+n, doc); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile("file:///" + n)
		if err != nil {
			t.Fatal(err)
		}
		out[name(n)] = s
	}
	return out
}

// Fuzz adds the seeds to f and runs the differential check: for every
// payload, ours (the compiled validator) and the oracle must agree on valid
// versus invalid for the schema picked by the fuzzer.
func Fuzz(f *testing.F, v *ocpp.Validator, or map[string]*jsonschema.Schema, seeds map[string]string) {
	actions := make([]string, 0, len(or))
	for a := range or {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	for a, p := range seeds {
		i := sort.SearchStrings(actions, a)
		if i == len(actions) || actions[i] != a {
			f.Fatalf("seed for unknown schema %q", a)
		}
		f.Add(uint16(i), []byte(p))
	}
	f.Add(uint16(0), []byte(`{"connectorId":1.0}`))
	f.Add(uint16(0), []byte(`{"a":1} x`))
	f.Fuzz(func(t *testing.T, which uint16, payload []byte) {
		action := actions[int(which)%len(actions)]
		ours := v.Validate(action, payload)
		// The lenient reading agrees with the strict one but for the
		// deviations it lists: none means the same verdict, and a valid
		// payload has none.
		devs, hard := v.ValidateLenient(action, payload)
		if len(devs) == 0 && (hard == nil) != (ours == nil) {
			t.Fatalf("%s %s: lenient %v without deviations; strict %v", action, payload, hard, ours)
		}
		if ours == nil && len(devs) > 0 {
			t.Fatalf("%s %s: valid, but lenient lists %v", action, payload, devs)
		}
		if ours != nil && strings.Contains(ours.Description, "appears twice") {
			return // we refuse repeated properties; a general decoder keeps the last
		}
		if bytes.Count(payload, []byte("["))+bytes.Count(payload, []byte("{")) > 60 {
			return // we bound nesting depth
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
		theirs := err
		if err == nil {
			theirs = or[action].Validate(doc)
		}
		if (ours == nil) != (theirs == nil) {
			t.Fatalf("%s %s: ours %v; oracle %v", action, payload, ours, theirs)
		}
	})
}
