package tariff

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestHandVectors is a second, independent set of vectors written from the
// OCPI 2.2.1 text (mod_tariffs, mod_cdrs), with every total worked out by
// hand in the comments. They check Result.Totals, i.e. what CDRs carry:
// exact amounts rounded once to cents, half away from zero (doc.go).
func TestHandVectors(t *testing.T) {
	ams := amsterdam(t)
	withVAT := func(p PriceComponent, vat string) PriceComponent { p.VAT = ptr(N(vat)); return p }

	t.Run("step-size-with-parking", func(t *testing.T) {
		// ENERGY 0.25/kWh step 1 Wh, TIME 2.00/h step 300 s, PARKING_TIME
		// 5.00/h step 300 s. 20 min charging 7 kWh, then 7 min parked.
		// step_size applies once to the time group, with the step of the
		// last time component that billed time: parking, 420 s → 600 s.
		// Charging time before parking is not rounded (mod_cdrs step_size).
		//   energy  7 × 0.25            = 1.75
		//   time    1200 s = 1/3 h × 2  = 0.6666… → 0.67
		//   parking 600 s = 1/6 h × 5   = 0.8333… → 0.83
		//   total   1.75 + 0.6666… + 0.8333… = 3.25 exactly
		// total_time is the real 27 min = 0.45 h, parking 7 min = 0.1167 h.
		tf := mk(el(nil, pc(DimEnergy, "0.25", 1), pc(DimTime, "2.00", 300), pc(DimParkingTime, "5.00", 300)))
		t0 := at(ams, 2025, time.June, 3, 9, 0)
		res := mustPrice(t, tf, ams, plug(t0, 20*minute, 7*minute, "7"), t0.Add(27*minute))
		tt := res.Totals
		checkExcl(t, "total_energy_cost", *tt.TotalEnergyCost, "1.75")
		checkExcl(t, "total_time_cost", *tt.TotalTimeCost, "0.67")
		checkExcl(t, "total_parking_cost", *tt.TotalParkingCost, "0.83")
		checkExcl(t, "total_cost", tt.TotalCost, "3.25")
		if !tt.TotalTime.Equal(N("0.45")) || !tt.TotalParkingTime.Equal(N("0.1167")) {
			t.Errorf("total_time %s, total_parking_time %s; want 0.45 and 0.1167 (real durations)", tt.TotalTime, tt.TotalParkingTime)
		}
	})

	// ENERGY 0.30/kWh with 21 % VAT, TIME 1.20/h with 9 % VAT; 1 h, 2 kWh.
	//   energy 2 × 0.30 = 0.60 excl., × 1.21 = 0.726 incl. → 0.73
	//   time   1 × 1.20 = 1.20 excl., × 1.09 = 1.308 incl. → 1.31
	//   total  1.80 excl., 0.726 + 1.308 = 2.034 incl. → 2.03
	// (VAT on the unrounded parts: 0.73 + 1.31 would give 2.04.)
	vatTariff := func() *Tariff {
		return mk(el(nil, withVAT(pc(DimEnergy, "0.30", 1), "21"), withVAT(pc(DimTime, "1.20", 1), "9")))
	}
	t0 := at(ams, 2025, time.June, 3, 9, 0)
	for _, tc := range []struct {
		name     string
		min, max *Price
		want     Price
	}{
		{name: "vat-per-component", want: price("1.80", "2.03")},
		// min_price 2.50 / 3.00 lifts both totals.
		{name: "min-price", min: &Price{ExclVAT: N("2.50"), InclVAT: ptr(N("3.00"))}, want: price("2.50", "3.00")},
		// max_price 1.50 / 1.70 caps both totals.
		{name: "max-price", max: &Price{ExclVAT: N("1.50"), InclVAT: ptr(N("1.70"))}, want: price("1.50", "1.70")},
		// max_price 1.90 / 2.00: excl. 1.80 stays, incl. 2.034 is capped at 2.00.
		{name: "max-price-incl-only-binds", max: &Price{ExclVAT: N("1.90"), InclVAT: ptr(N("2.00"))}, want: price("1.80", "2.00")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tf := vatTariff()
			tf.MinPrice, tf.MaxPrice = tc.min, tc.max
			res := mustPrice(t, tf, ams, plug(t0, hour, 0, "2"), t0.Add(hour))
			if diff := cmp.Diff(tc.want, res.Totals.TotalCost); diff != "" {
				t.Errorf("total_cost (-want +got):\n%s", diff)
			}
			// The component totals are never adjusted by min/max.
			if diff := cmp.Diff(ptr(price("0.60", "0.73")), res.Totals.TotalEnergyCost); diff != "" {
				t.Errorf("total_energy_cost (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(ptr(price("1.20", "1.31")), res.Totals.TotalTimeCost); diff != "" {
				t.Errorf("total_time_cost (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("dst-end-repeated-hour", func(t *testing.T) {
		// Europe/Amsterdam, 2025-10-26: at 03:00 CEST (01:00 UTC) clocks go
		// back to 02:00 CET, so local 02:00–03:00 happens twice. TIME
		// 6.00/h between 02:00 and 03:00 local, 1.00/h otherwise. Session
		// 00:30–02:30 UTC (02:30 CEST – 03:30 CET), 2 h real, no energy.
		//   00:30–01:00 UTC  02:30–03:00 CEST  0.5 h × 6 = 3.00
		//   01:00–02:00 UTC  02:00–03:00 CET   1.0 h × 6 = 6.00
		//   02:00–02:30 UTC  03:00–03:30 CET   0.5 h × 1 = 0.50
		//   total 9.50; total_time 2 (real, not the 1 h of wall clock).
		tf := mk(
			el(&TariffRestrictions{StartTime: "02:00", EndTime: "03:00"}, pc(DimTime, "6.00", 1)),
			el(nil, pc(DimTime, "1.00", 1)))
		start := time.Date(2025, 10, 26, 0, 30, 0, 0, time.UTC)
		res := mustPrice(t, tf, ams, plug(start, 2*hour, 0, "0"), start.Add(2*hour))
		checkExcl(t, "total_cost", res.Totals.TotalCost, "9.50")
		if !res.Totals.TotalTime.Equal(N("2")) {
			t.Errorf("total_time %s; want 2", res.Totals.TotalTime)
		}
	})
}
