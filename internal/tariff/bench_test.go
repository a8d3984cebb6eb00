package tariff

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// BenchmarkPriceSession prices an 8-hour session with a meter sample every
// minute under the spec's complex tariff (6 elements, time-of-day, weekday
// and current restrictions), in Europe/Amsterdam.
func BenchmarkPriceSession(b *testing.B) {
	ams := amsterdam(b)
	tf := loadTariff(b, "tariff_4_complex.json")
	start := time.Date(2025, 6, 6, 18, 0, 0, 0, ams) // Friday evening into Saturday
	s := Session{Start: start, End: start.Add(9 * time.Hour)}
	for i := 0; i <= 8*60; i++ {
		amps := int64(16)
		if i/30%2 == 1 {
			amps = 40
		}
		s.Samples = append(s.Samples, Sample{
			At:        start.Add(time.Duration(i) * time.Minute),
			EnergyKWh: decimal.New(int64(i)*183, -3),
			CurrentA:  decimal.NewNullDecimal(decimal.NewFromInt(amps)),
		})
	}
	s.Statuses = []StatusChange{{At: start.Add(8 * time.Hour), Status: Parking}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PriceSession(tf, ams, s, s.End); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPriceCDR prices the spec's CDR example from JSON.
func BenchmarkPriceCDR(b *testing.B) {
	cdr := readFile(b, "cdr_example.json")
	tf := readFile(b, "tariff_put_example.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PriceCDR(tf, cdr, time.UTC); err != nil {
			b.Fatal(err)
		}
	}
}
