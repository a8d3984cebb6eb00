package pricing

import (
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// BenchmarkPriceLongSession converts and prices an eight-hour running
// session sampled every 30 s (960 samples) with a day/night tariff in
// Europe/Amsterdam: the work of one view of a long session.
func BenchmarkPriceLongSession(b *testing.B) {
	tr, err := tariff.ParseTariff([]byte(`{"country_code":"NL","party_id":"CBR","id":"DN","currency":"EUR","last_updated":"2026-01-01T00:00:00Z",
	 "elements":[
	  {"price_components":[{"type":"ENERGY","price":0.35,"vat":21,"step_size":1},{"type":"TIME","price":1.2,"vat":21,"step_size":60}],"restrictions":{"start_time":"07:00","end_time":"23:00"}},
	  {"price_components":[{"type":"ENERGY","price":0.25,"vat":21,"step_size":1},{"type":"PARKING_TIME","price":3,"vat":21,"step_size":60}]}
	 ]}`))
	if err != nil {
		b.Fatal(err)
	}
	ams, err := LoadZone("Europe/Amsterdam")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 3, 2, 18, 0, 0, 0, time.UTC)
	s := charging.Session{ID: "s", StartedAt: start, Status: charging.SessionActive, MeterStartWh: 100000}
	var samples []charging.MeterSample
	for i := 0; i < 960; i++ {
		kw := 11.0
		if i > 600 {
			kw = 0 // full: parking
		}
		kwh := 100 + 11*float64(min(i, 600))/120
		samples = append(samples, charging.MeterSample{Timestamp: start.Add(time.Duration(i) * 30 * time.Second), Values: []charging.SampledValue{
			{Measurand: charging.MeasurandEnergyImportRegister, Value: kwh, Numeric: true},
			{Measurand: charging.MeasurandPowerImport, Value: kw, Numeric: true},
			{Measurand: charging.MeasurandCurrentImport, Value: kw * 1000 / 690, Numeric: true},
		}})
	}
	now := start.Add(8 * time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		in, _ := SessionInput(s, samples)
		if _, err := tariff.PriceSession(tr, ams, in, now); err != nil {
			b.Fatal(err)
		}
	}
}
