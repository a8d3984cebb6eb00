package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeSite feeds the body decoder of PUT /api/v1/sites/{id}
// anything: it never panics, nor does validating what it decoded; what it
// decodes keeps the path's id, and a valid site survives an encode/decode
// round trip.
func FuzzDecodeSite(f *testing.F) {
	f.Add([]byte(`{"name":"Head office","max_power_kw":22,"chargers":["CP-1","CP-2"]}`), "HQ")
	f.Add([]byte(`{"max_power_kw":22,"max_current_a":32,"chargers":["A"],"charger_max_kw":{"A":11},"priorities":{"chargers":{"A/1":2},"id_tags":{"FLEET":3}}}`), "S1")
	f.Add([]byte(`{"id":"other","max_power_kw":1}`), "S1")
	f.Add([]byte(`{"max_power_kw":1e999}`), "S1")
	f.Add([]byte(`{"max_power_kw":-1,"chargers":["A","A"]}`), "S1")
	f.Add([]byte(`{"max_power_kw":5} {"x":1}`), "S1")
	f.Add([]byte(`{"max_kw":5}`), "S1")
	f.Add([]byte(`null`), "S1")
	f.Fuzz(func(t *testing.T, body []byte, id string) {
		s, err := decodeSite(body, id)
		if err != nil {
			return
		}
		if s.ID != id {
			t.Fatalf("decoded id %q; want the path's %q", s.ID, id)
		}
		if s.Validate() != nil {
			return // never stored, so never encoded
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("encode %+v: %v", s, err)
		}
		again, err := decodeSite(stripStored(t, b), id)
		if err != nil {
			t.Fatalf("re-decode %s: %v", b, err)
		}
		if !reflect.DeepEqual(normalize(s), normalize(again)) {
			t.Fatalf("round trip changed the site:\n%+v\n%+v", s, again)
		}
	})
}

// stripStored drops the fields the server sets (updated_at), which the
// request body does not take.
func stripStored(t *testing.T, b []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "updated_at")
	out, _ := json.Marshal(m)
	return out
}

// normalize makes empty and absent maps and lists equal.
func normalize(v any) string {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for k, x := range m {
		switch y := x.(type) {
		case map[string]any:
			if len(y) == 0 {
				delete(m, k)
			}
		case []any:
			if len(y) == 0 {
				delete(m, k)
			}
		case nil:
			delete(m, k)
		}
	}
	out, _ := json.Marshal(m)
	return string(out)
}
