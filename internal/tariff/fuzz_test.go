package tariff

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/shopspring/decimal"
)

func seedFiles(f *testing.F) [][]byte {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("glob testdata: %v, %d files", err, len(files))
	}
	var out [][]byte
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzTariffJSON checks that the tariff decoder never panics, that what it
// decodes encodes to JSON it decodes to the same tariff, and that encoding
// is stable. Validate and PriceSession must not panic either.
func FuzzTariffJSON(f *testing.F) {
	for _, b := range seedFiles(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"currency":"EUR","elements":[{"price_components":[{"type":"TIME","price":"1e-3","step_size":60}],"restrictions":{"start_time":"23:00","end_time":"01:00","min_duration":99999999999}}]}`))
	f.Add([]byte(`{"currency":"EUR","min_price":{"excl_vat":1e-32,"incl_vat":999999999999999.9},"elements":[{"price_components":[{"type":"ENERGY","price":0e-9999,"vat":1e2,"step_size":1}],"restrictions":{"min_kwh":1e-32,"max_power":1e14}}]}`))
	t0 := time.Date(2025, 10, 25, 22, 0, 0, 0, time.UTC)
	s := Session{Start: t0, End: t0.Add(30 * time.Hour), Samples: []Sample{
		{At: t0, EnergyKWh: decimal.Zero},
		{At: t0.Add(time.Hour), EnergyKWh: decimal.NewFromInt(11), CurrentA: decimal.NewNullDecimal(decimal.NewFromInt(16))},
		{At: t0.Add(2 * time.Hour), EnergyKWh: decimal.NewFromInt(40)},
	}, Statuses: []StatusChange{{At: t0.Add(2 * time.Hour), Status: Parking}},
		Reservation: &ReservationSpan{Start: t0.Add(-time.Hour)}}
	ams, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		ams = time.UTC
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		first, err := ParseTariff(data)
		if err != nil {
			return
		}
		_ = first.Validate()
		enc, err := json.Marshal(first)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		second, err := ParseTariff(enc)
		if err != nil {
			t.Fatalf("decode our encoding %s: %v", enc, err)
		}
		if diff := cmp.Diff(first, second, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("decode → encode → decode changed the tariff (-first +second):\n%s", diff)
		}
		again, err := json.Marshal(second)
		if err != nil || !bytes.Equal(enc, again) {
			t.Fatalf("encoding not stable: got %s; want %s (%v)", again, enc, err)
		}
		_, _ = PriceSession(first, ams, s, s.End)
	})
}

// FuzzPriceCDR checks that pricing any tariff and CDR never panics.
func FuzzPriceCDR(f *testing.F) {
	cdr := []byte(nil)
	var tariffs [][]byte
	for _, b := range seedFiles(f) {
		if bytes.Contains(b, []byte(`"charging_periods"`)) {
			cdr = b
		} else {
			tariffs = append(tariffs, b)
		}
	}
	for _, tf := range tariffs {
		f.Add(tf, cdr)
	}
	f.Fuzz(func(t *testing.T, tariffJSON, cdrJSON []byte) {
		_, _ = PriceCDR(tariffJSON, cdrJSON, time.UTC)
	})
}
