package api

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeTariff feeds the body decoder of PUT /api/v1/tariffs/{id}
// anything: it never panics, nor does validating what it decoded, and what
// it decodes encodes to JSON that decodes to the same encoding (stable).
// Seeded with the OCPI tariff examples in internal/tariff/testdata.
func FuzzDecodeTariff(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "tariff", "testdata", "tariff_*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("glob tariff examples: %v, %d files", err, len(files))
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "12")
	}
	f.Add([]byte(`{"id":"T1","currency":"EUR","elements":[]} {"x":1}`), "T1")
	f.Add([]byte(`{"id":"other"}`), "T1")
	f.Add([]byte(`{"currency":"EUR","elements":[{"price_components":[{"type":"ENERGY","price":"0.25","step_size":1}]}],"unknown":1}`), "T1")
	f.Add([]byte(`{"elements":[{"price_components":[{"type":"TIME","price":1e999}]}]}`), "")
	f.Add([]byte(`null`), "T1")
	f.Fuzz(func(t *testing.T, body []byte, id string) {
		tr, err := decodeTariff(body, id)
		if err != nil {
			return
		}
		if tr.ID != id {
			t.Fatalf("decoded id %q; want the path's %q", tr.ID, id)
		}
		_ = tr.Validate()
		enc, err := json.Marshal(tr)
		if err != nil {
			t.Fatalf("encode decoded tariff: %v", err)
		}
		again, err := decodeTariff(enc, id)
		if err != nil {
			t.Fatalf("re-decode %s: %v", enc, err)
		}
		enc2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
	})
}
