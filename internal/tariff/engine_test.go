package tariff

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"
)

// mk builds a tariff from elements, for tests.
func mk(elems ...TariffElement) *Tariff {
	return &Tariff{CountryCode: "NL", PartyID: "CBR", ID: "T", Currency: "EUR", Elements: elems,
		LastUpdated: DateTime{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}}
}

func el(r *TariffRestrictions, pcs ...PriceComponent) TariffElement {
	return TariffElement{PriceComponents: pcs, Restrictions: r}
}

func pc(d TariffDimensionType, p string, step int) PriceComponent {
	return PriceComponent{Type: d, Price: N(p), StepSize: step}
}

func mustPrice(t *testing.T, tf *Tariff, loc *time.Location, s Session, now time.Time) Result {
	t.Helper()
	res, err := PriceSession(tf, loc, s, now)
	if err != nil {
		t.Fatalf("got error %v; want none", err)
	}
	return res
}

func checkExcl(t *testing.T, what string, got Price, want string) {
	t.Helper()
	if !got.ExclVAT.Equal(N(want)) {
		t.Errorf("%s: got %s; want %s", what, got.ExclVAT, want)
	}
}

// TestCdrStepSizeExamples reproduces the step_size examples of mod_cdrs.
func TestCdrStepSizeExamples(t *testing.T) {
	utc := time.UTC
	d0 := time.Date(2025, 6, 2, 0, 0, 0, 0, utc)
	before17 := &TariffRestrictions{EndTime: "17:00"}
	after17 := &TariffRestrictions{StartTime: "17:00"}
	tests := []struct {
		name string
		tf   *Tariff
		s    Session
		want string
	}{
		{
			// 4.3 kWh before 17:00 and 1.1 after, step 500 Wh: 5.4 rounds to
			// 5.5 in total, so 1.2 kWh are billed after 17:00.
			name: "energy-total-rounded-not-last-period",
			tf:   mk(el(before17, pc(DimEnergy, "0.20", 500)), el(after17, pc(DimEnergy, "0.27", 500))),
			s: Session{Start: d0.Add(16 * hour), End: d0.Add(18 * hour), Samples: []Sample{
				{At: d0.Add(16 * hour), EnergyKWh: dec("0")},
				{At: d0.Add(17 * hour), EnergyKWh: dec("4.3")},
				{At: d0.Add(18 * hour), EnergyKWh: dec("5.4")},
			}},
			want: "1.184", // 4.3 × 0.20 + 1.2 × 0.27
		},
		{
			// 6 min before 17:00 and 22 after, step 10 min: 28 rounds to 30,
			// so 24 minutes are billed after 17:00.
			name: "time-total-rounded-not-last-period",
			tf:   mk(el(before17, pc(DimTime, "5", 600)), el(after17, pc(DimTime, "7", 600))),
			s:    plug(d0.Add(16*hour+54*minute), 28*minute, 0, "5"),
			want: "3.3", // 6/60 × 5 + 24/60 × 7
		},
		{
			// 21 min charging and 7 parking, both step 5 min: charging is
			// billed as 21 minutes, parking as 10.
			name: "charging-not-rounded-before-parking",
			tf:   mk(el(nil, pc(DimTime, "1", 300), pc(DimParkingTime, "2", 300))),
			s:    plug(d0.Add(10*hour), 21*minute, 7*minute, "5"),
			want: "0.6833", // 21/60 × 1 + 10/60 × 2 = 0.68333…
		},
		{
			// 21 min charging at 1/h, 16 parking at 2/h, step 10 min: the
			// parking rounds up to 20 minutes.
			name: "parking-rounded-charging-not",
			tf:   mk(el(nil, pc(DimTime, "1", 600), pc(DimParkingTime, "2", 600))),
			s:    plug(d0.Add(10*hour), 21*minute, 16*minute, "5"),
			want: "1.0167", // 0.35 + 0.6667
		},
		// mod_tariffs step_size note: 115.2 Wh at € 0.25/kWh.
		{
			name: "energy-step-1-wh", tf: mk(el(nil, pc(DimEnergy, "0.25", 1))),
			s: plug(d0.Add(10*hour), minute, 0, "0.1152"), want: "0.029", // 116 Wh
		},
		{
			// The spec shows € 0.031 for 125 Wh: 0.03125 exactly, which is
			// 0.0313 at our 4 decimals.
			name: "energy-step-25-wh", tf: mk(el(nil, pc(DimEnergy, "0.25", 25))),
			s: plug(d0.Add(10*hour), minute, 0, "0.1152"), want: "0.0313",
		},
		{
			name: "energy-step-500-wh", tf: mk(el(nil, pc(DimEnergy, "0.25", 500))),
			s: plug(d0.Add(10*hour), minute, 0, "0.1152"), want: "0.125",
		},
		{
			name: "step-zero-means-no-rounding", tf: mk(el(nil, pc(DimTime, "3.6", 0))),
			s: plug(d0.Add(10*hour), 1500*time.Millisecond, 0, "0"), want: "0.0015",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustPrice(t, tt.tf, utc, tt.s, tt.s.End)
			checkExcl(t, "total_cost", res.TotalsRoundedTo(WirePlaces).TotalCost, tt.want)
		})
	}
}

func TestTimeOfDayRestrictions(t *testing.T) {
	utc := time.UTC
	night := mk(
		el(&TariffRestrictions{StartTime: "22:00", EndTime: "06:00"}, pc(DimTime, "0.50", 1)),
		el(nil, pc(DimTime, "1.00", 1)),
	)
	d := func(day, h, m int) time.Time { return time.Date(2025, 6, day, h, m, 0, 0, utc) }
	tests := []struct {
		name       string
		tf         *Tariff
		start, end time.Time
		want       string
		periods    []time.Time
	}{
		{"crossing-midnight", night, d(2, 21, 0), d(3, 7, 0), "6", []time.Time{d(2, 21, 0), d(2, 22, 0), d(3, 6, 0)}}, // 8 × 0.5 + 2 × 1
		{"inside-night-after-midnight", night, d(3, 1, 0), d(3, 2, 0), "0.5", []time.Time{d(3, 1, 0)}},
		{"end-time-is-exclusive", night, d(3, 5, 30), d(3, 6, 30), "0.75", []time.Time{d(3, 5, 30), d(3, 6, 0)}},
		{"start-time-is-inclusive", night, d(2, 22, 0), d(2, 22, 30), "0.25", []time.Time{d(2, 22, 0)}},
		{
			// end_time 00:00 means the end of the day.
			"end-time-midnight",
			mk(el(&TariffRestrictions{StartTime: "20:00", EndTime: "00:00"}, pc(DimTime, "2", 1)), el(nil, pc(DimTime, "1", 1))),
			d(2, 19, 0), d(3, 1, 0), "10", // 19–20 at 1, 20–24 at 2, 00–01 at 1
			[]time.Time{d(2, 19, 0), d(2, 20, 0), d(3, 0, 0)},
		},
		{
			"date-range-end-exclusive",
			mk(el(&TariffRestrictions{StartDate: "2025-06-03", EndDate: "2025-06-04"}, pc(DimTime, "2", 1)), el(nil, pc(DimTime, "1", 1))),
			d(2, 23, 0), d(4, 1, 0), "50", // 1 h + 24 h × 2 + 1 h
			[]time.Time{d(2, 23, 0), d(3, 0, 0), d(4, 0, 0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := plug(tt.start, tt.end.Sub(tt.start), 0, "10")
			res := mustPrice(t, tt.tf, utc, s, tt.end)
			checkExcl(t, "total_cost", res.TotalsRoundedTo(WirePlaces).TotalCost, tt.want)
			var starts []time.Time
			for _, p := range res.ChargingPeriods {
				starts = append(starts, p.StartDateTime.Time)
			}
			if diff := cmp.Diff(tt.periods, starts); diff != "" {
				t.Errorf("period starts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDayOfWeek(t *testing.T) {
	ams := amsterdam(t)
	tf := mk(
		el(&TariffRestrictions{DayOfWeek: []DayOfWeek{Saturday, Sunday}}, pc(DimEnergy, "0.30", 1)),
		el(nil, pc(DimEnergy, "0.20", 1)),
	)
	fri := at(ams, 2025, time.June, 6, 23, 0) // Friday 23:00 local
	if fri.Weekday() != time.Friday {
		t.Fatalf("got %s; want Friday", fri.Weekday())
	}
	tests := []struct {
		name  string
		start time.Time
		want  string
	}{
		{"friday-into-saturday", fri, "2.5"},              // 5 kWh × 0.20 + 5 kWh × 0.30
		{"sunday-into-monday", fri.Add(48 * hour), "2.5"}, // 5 × 0.30 + 5 × 0.20
		{"weekday-only", fri.Add(-48 * hour), "2"},        // Wednesday night
		{"weekend-only", fri.Add(24*hour + 2*hour), "3"},  // Sunday 01:00–03:00
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := plug(tt.start, 2*hour, 0, "10")
			res := mustPrice(t, tf, ams, s, s.End)
			checkExcl(t, "total_cost", res.TotalsRoundedTo(WirePlaces).TotalCost, tt.want)
		})
	}
	// Local, not UTC: Friday 23:30 in Amsterdam is Friday 21:30 UTC, so
	// pricing the same instants in UTC bills it all at the weekday price.
	s := plug(fri, hour, 0, "10")
	if res := mustPrice(t, tf, time.UTC, s, s.End); !res.TotalsRoundedTo(WirePlaces).TotalCost.ExclVAT.Equal(N("2")) {
		t.Errorf("in UTC: got %s; want 2", res.TotalsRoundedTo(WirePlaces).TotalCost.ExclVAT)
	}
}

func TestDaylightSavingTime(t *testing.T) {
	ams := amsterdam(t)
	night := mk(
		el(&TariffRestrictions{StartTime: "23:00", EndTime: "07:00"}, pc(DimTime, "0.50", 1)),
		el(nil, pc(DimTime, "1.00", 1)),
	)
	gap := mk( // 02:30 does not exist on the spring-forward night
		el(&TariffRestrictions{StartTime: "02:30", EndTime: "06:00"}, pc(DimTime, "2.00", 1)),
		el(nil, pc(DimTime, "1.00", 1)),
	)
	repeat := mk( // 02:30 happens twice on the fall-back night
		el(&TariffRestrictions{StartTime: "02:30", EndTime: "06:00"}, pc(DimTime, "2.00", 1)),
		el(nil, pc(DimTime, "1.00", 1)),
	)
	utc := func(mo time.Month, d, h, m int) time.Time { return time.Date(2024, mo, d, h, m, 0, 0, time.UTC) }
	tests := []struct {
		name       string
		tf         *Tariff
		start, end time.Time
		want       string
		periods    []time.Time
	}{
		{
			// Sat 26 Oct 22:00 CEST → Sun 27 Oct 08:00 CET is 11 real hours;
			// 23:00 CEST → 07:00 CET is 9 of them.
			"fall-back-night", night, utc(time.October, 26, 20, 0), utc(time.October, 27, 7, 0), "6.5",
			[]time.Time{utc(time.October, 26, 20, 0), utc(time.October, 26, 21, 0), utc(time.October, 27, 6, 0)},
		},
		{
			// Sat 30 Mar 22:00 CET → Sun 31 Mar 08:00 CEST is 9 real hours;
			// 23:00 CET → 07:00 CEST is 7 of them.
			"spring-forward-night", night, utc(time.March, 30, 21, 0), utc(time.March, 31, 6, 0), "5.5",
			[]time.Time{utc(time.March, 30, 21, 0), utc(time.March, 30, 22, 0), utc(time.March, 31, 5, 0)},
		},
		{
			// 01:00 CET → 04:00 CEST: local time is ≥ 02:30 from 03:00 CEST
			// (01:00 UTC) on: 1 h at 1.00, 1 h at 2.00.
			"start-time-in-the-gap", gap, utc(time.March, 31, 0, 0), utc(time.March, 31, 2, 0), "3",
			[]time.Time{utc(time.March, 31, 0, 0), utc(time.March, 31, 1, 0)},
		},
		{
			// 02:00 CEST (00:00 UTC) → 04:00 CET (03:00 UTC): 02:30 CEST to
			// 03:00 CEST (the jump back, 01:00 UTC), and again from 02:30
			// CET (01:30 UTC): 0.5 + 0.5 h at 1.00, 0.5 + 1.5 h at 2.00.
			"start-time-in-the-repeated-hour", repeat, utc(time.October, 27, 0, 0), utc(time.October, 27, 3, 0), "5",
			[]time.Time{utc(time.October, 27, 0, 0), utc(time.October, 27, 0, 30), utc(time.October, 27, 1, 0), utc(time.October, 27, 1, 30)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := plug(tt.start, tt.end.Sub(tt.start), 0, "10")
			res := mustPrice(t, tt.tf, ams, s, tt.end)
			checkExcl(t, "total_cost", res.TotalsRoundedTo(WirePlaces).TotalCost, tt.want)
			var starts []time.Time
			for _, p := range res.ChargingPeriods {
				starts = append(starts, p.StartDateTime.Time)
			}
			if diff := cmp.Diff(tt.periods, starts); diff != "" {
				t.Errorf("period starts (-want +got):\n%s", diff)
			}
			// total_time counts real hours, not wall-clock hours.
			want := decimal.NewFromInt(int64(tt.end.Sub(tt.start)/time.Second)).DivRound(d3600, 4)
			if got := res.TotalsRoundedTo(WirePlaces).TotalTime; !got.Decimal.Equal(want) {
				t.Errorf("total_time: got %s; want %s", got, want)
			}
		})
	}
}

func TestEnergyAndPowerRestrictions(t *testing.T) {
	utc := time.UTC
	t0 := time.Date(2025, 6, 2, 10, 0, 0, 0, utc)
	firstTen := mk(
		el(&TariffRestrictions{MaxKWh: ptr(N("10"))}, pc(DimEnergy, "0.30", 1)),
		el(nil, pc(DimEnergy, "0.20", 1)),
	)
	res := mustPrice(t, firstTen, utc, plug(t0, 90*minute, 0, "15"), t0.Add(90*minute))
	checkExcl(t, "max-kwh: total_cost", res.TotalsRoundedTo(WirePlaces).TotalCost, "4") // 10 × 0.30 + 5 × 0.20
	if n := len(res.ChargingPeriods); n != 2 {
		t.Fatalf("max-kwh: got %d periods; want 2", n)
	}
	// 10 kWh of 15 at a steady rate are reached after 60 minutes.
	if got, want := res.ChargingPeriods[1].StartDateTime.Time, t0.Add(hour); !got.Equal(want) {
		t.Errorf("max-kwh: second period starts at %s; want %s", got, want)
	}

	fromTen := mk(
		el(&TariffRestrictions{MinKWh: ptr(N("10"))}, pc(DimTime, "6", 1)),
	)
	res = mustPrice(t, fromTen, utc, plug(t0, 90*minute, 0, "15"), t0.Add(90*minute))
	checkExcl(t, "min-kwh: total_cost", res.TotalsRoundedTo(WirePlaces).TotalCost, "3") // 30 minutes at 6/h

	// Power derived from the meter when samples carry none: 0–30 min at
	// 10 kW, 30–60 min at 40 kW.
	fast := mk(
		el(&TariffRestrictions{MinPower: ptr(N("22"))}, pc(DimTime, "4", 1)),
		el(nil, pc(DimTime, "1", 1)),
	)
	s := Session{Start: t0, End: t0.Add(hour), Samples: []Sample{
		{At: t0, EnergyKWh: dec("0")},
		{At: t0.Add(30 * minute), EnergyKWh: dec("5")},
		{At: t0.Add(hour), EnergyKWh: dec("25")},
	}}
	res = mustPrice(t, fast, utc, s, s.End)
	checkExcl(t, "min-power: total_cost", res.TotalsRoundedTo(WirePlaces).TotalCost, "2.5") // 0.5 × 1 + 0.5 × 4
	var maxPower []string
	for _, p := range res.ChargingPeriods {
		for _, d := range p.Dimensions {
			if d.Type == CdrMaxPower {
				maxPower = append(maxPower, d.Volume.String())
			}
		}
	}
	if diff := cmp.Diff([]string{"10", "40"}, maxPower); diff != "" {
		t.Errorf("MAX_POWER per period (-want +got):\n%s", diff)
	}

	// A current restriction does not hold when no current was reported:
	// the fallback element prices the time.
	amps := mk(
		el(&TariffRestrictions{MaxCurrent: ptr(N("32"))}, pc(DimTime, "1", 1)),
		el(nil, pc(DimTime, "3", 1)),
	)
	res = mustPrice(t, amps, utc, plug(t0, hour, 0, "10"), t0.Add(hour))
	checkExcl(t, "unknown-current: total_cost", res.TotalsRoundedTo(WirePlaces).TotalCost, "3")
	res = mustPrice(t, amps, utc, withCurrent(plug(t0, hour, 0, "10"), "16"), t0.Add(hour))
	checkExcl(t, "known-current: total_cost", res.TotalsRoundedTo(WirePlaces).TotalCost, "1")
}

func TestMinMaxPriceVAT(t *testing.T) {
	utc := time.UTC
	t0 := time.Date(2019, 3, 4, 10, 0, 0, 0, utc)
	tf := loadTariff(t, "tariff_6_025kwh_start_max_price.json") // max 10 / 11
	// 37.9 kWh: 0.50 + 9.475 = 9.975 excl. stays under 10, but
	// 0.60 + 10.4225 = 11.0225 incl. is capped at 11: the limits apply to
	// excl. and incl. VAT independently.
	res := mustPrice(t, tf, utc, plug(t0, hour, 0, "37.9"), t0.Add(hour))
	if diff := cmp.Diff(price("9.975", "11"), res.TotalsRoundedTo(WirePlaces).TotalCost); diff != "" {
		t.Errorf("total_cost (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(price("0", "-0.0225"), res.Adjustment); diff != "" {
		t.Errorf("adjustment (-want +got):\n%s", diff)
	}
	// The component totals are not capped.
	if diff := cmp.Diff(ptr(price("9.475", "10.4225")), res.TotalsRoundedTo(WirePlaces).TotalEnergyCost); diff != "" {
		t.Errorf("total_energy_cost (-want +got):\n%s", diff)
	}

	minOnlyExcl := mk(el(nil, pc(DimEnergy, "0.25", 1)))
	minOnlyExcl.MinPrice = &Price{ExclVAT: N("1")}
	minOnlyExcl.Elements[0].PriceComponents[0].VAT = ptr(N("10"))
	res = mustPrice(t, minOnlyExcl, utc, plug(t0, hour, 0, "2"), t0.Add(hour))
	// Without min_price.incl_vat only the excl. bound applies.
	if diff := cmp.Diff(price("1", "0.55"), res.TotalsRoundedTo(WirePlaces).TotalCost); diff != "" {
		t.Errorf("min without incl_vat (-want +got):\n%s", diff)
	}
}

func TestRunningSessionEstimate(t *testing.T) {
	utc := time.UTC
	t0 := time.Date(2025, 6, 2, 10, 0, 0, 0, utc)
	tf := loadTariff(t, "tariff_10_025kwh_parking_start.json") // 0.50 + 0.25/kWh + parking 2/h per 15 min
	s := Session{Start: t0, Samples: []Sample{
		{At: t0, EnergyKWh: dec("1000")},
		{At: t0.Add(30 * minute), EnergyKWh: dec("1005")},
		{At: t0.Add(hour), EnergyKWh: dec("1010")},
	}, Statuses: []StatusChange{{At: t0.Add(hour), Status: Parking}}}
	tests := []struct {
		name string
		now  time.Time
		want string
	}{
		{"while-charging", t0.Add(30 * minute), "1.75"},                          // 0.50 + 5 kWh
		{"between-samples", t0.Add(45 * minute), "2.375"},                        // 7.5 kWh interpolated
		{"parking-for-5-minutes", t0.Add(65 * minute), "3.5"},                    // 10 kWh + 15 min parking
		{"parking-for-16-minutes", t0.Add(76 * minute), "4"},                     // 10 kWh + 30 min parking
		{"one-second-after-a-sample", t0.Add(30*minute + time.Second), "1.7508"}, // 5.00278 kWh, billed per Wh as 5.003
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustPrice(t, tf, utc, s, tt.now)
			checkExcl(t, "total_cost", res.TotalsRoundedTo(WirePlaces).TotalCost, tt.want)
		})
	}
}

func TestNoElementMatches(t *testing.T) {
	utc := time.UTC
	t0 := time.Date(2025, 6, 2, 13, 0, 0, 0, utc)
	tf := mk(
		el(&TariffRestrictions{StartTime: "10:00", EndTime: "12:00"}, pc(DimTime, "5", 1), pc(DimFlat, "1", 0)),
		el(nil, pc(DimEnergy, "0.30", 1)),
	)
	res := mustPrice(t, tf, utc, plug(t0, hour, 0, "10"), t0.Add(hour))
	want := Totals{
		TotalCost:       price("3", "3"),
		TotalEnergy:     N("10"),
		TotalEnergyCost: ptr(price("3", "3")),
		TotalTime:       N("1"),
		// no total_time_cost, no total_fixed_cost: nothing priced them
		TotalParkingTime: N("0"),
	}
	if diff := cmp.Diff(want, res.TotalsRoundedTo(WirePlaces)); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
}

func TestFlatOncePerSession(t *testing.T) {
	utc := time.UTC
	t0 := time.Date(2025, 6, 2, 16, 30, 0, 0, utc)
	// Two FLAT elements active at different times of the session: only the
	// first to become active is due.
	tf := mk(
		el(&TariffRestrictions{EndTime: "17:00"}, pc(DimFlat, "1", 0)),
		el(nil, pc(DimFlat, "2", 0), pc(DimTime, "0", 1)),
	)
	res := mustPrice(t, tf, utc, plug(t0, hour, 0, "1"), t0.Add(hour))
	checkExcl(t, "total_fixed_cost", *res.TotalsRoundedTo(WirePlaces).TotalFixedCost, "1")
	// A session of no duration still pays its FLAT fee.
	res = mustPrice(t, tf, utc, Session{Start: t0, End: t0}, t0)
	checkExcl(t, "empty session", res.TotalsRoundedTo(WirePlaces).TotalCost, "1")
}

func TestChargingPeriodsOfStepExample(t *testing.T) {
	ams := amsterdam(t)
	s := plug(at(ams, 2025, time.June, 2, 16, 55), 10*minute, 2*minute, "2")
	s.Samples[0].CurrentA = decimal.NewNullDecimal(dec("16"))
	res := mustPrice(t, loadTariff(t, "tariff_14_step_size.json"), ams, s, s.End)
	utc := func(h, m int) DateTime { return DateTime{time.Date(2025, 6, 2, h, m, 0, 0, time.UTC)} }
	want := []ChargingPeriod{
		{StartDateTime: utc(14, 55), TariffID: "22", Dimensions: []CdrDimension{
			{CdrEnergy, N("1")}, {CdrTime, N("0.0833")}, {CdrMaxPower, N("12")}, {CdrMinPower, N("12")}, {CdrMaxCurrent, N("16")}, {CdrMinCurrent, N("16")}}},
		{StartDateTime: utc(15, 0), TariffID: "22", Dimensions: []CdrDimension{
			{CdrEnergy, N("1")}, {CdrTime, N("0.0834")}, {CdrMaxPower, N("12")}, {CdrMinPower, N("12")}, {CdrMaxCurrent, N("16")}, {CdrMinCurrent, N("16")}}},
		{StartDateTime: utc(15, 5), TariffID: "22", Dimensions: []CdrDimension{
			{CdrParkingTime, N("0.0333")}, {CdrMaxPower, N("0")}, {CdrMinPower, N("0")}, {CdrMaxCurrent, N("0")}, {CdrMinCurrent, N("0")}}},
	}
	if diff := cmp.Diff(want, res.ChargingPeriods); diff != "" {
		t.Errorf("charging periods (-want +got):\n%s", diff)
	}
	// The periods' volumes add up to the totals exactly.
	if got := res.TotalsRoundedTo(WirePlaces).TotalTime; !got.Equal(N("0.2")) {
		t.Errorf("total_time: got %s; want 0.2", got)
	}
}

func TestSessionErrors(t *testing.T) {
	utc := time.UTC
	t0 := time.Date(2025, 6, 2, 10, 0, 0, 0, utc)
	tf := mk(el(nil, pc(DimEnergy, "0.25", 1)))
	tests := []struct {
		name string
		s    Session
		now  time.Time
		want string
	}{
		{"no-start", Session{}, t0, "no start time and no reservation"},
		{"end-before-start", Session{Start: t0, End: t0.Add(-time.Second)}, t0, "session ends"},
		{"now-before-start", Session{Start: t0}, t0.Add(-time.Hour), "session ends"},
		{"too-long", Session{Start: t0, End: t0.Add(400 * 24 * hour)}, t0, "longer than"},
		{"register-goes-down", Session{Start: t0, End: t0.Add(hour), Samples: []Sample{
			{At: t0, EnergyKWh: dec("5")}, {At: t0.Add(minute), EnergyKWh: dec("4")}}}, t0, "energy register goes down"},
		{"sample-without-time", Session{Start: t0, End: t0.Add(hour), Samples: []Sample{{EnergyKWh: dec("5")}}}, t0, "without a timestamp"},
		{"bad-status", Session{Start: t0, End: t0.Add(hour), Statuses: []StatusChange{{At: t0, Status: 7}}}, t0, "unknown status 7"},
		{"expired-yet-started", Session{Start: t0, Reservation: &ReservationSpan{Start: t0.Add(-hour), Expired: true}}, t0, "marked expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PriceSession(tf, utc, tt.s, tt.now)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalidSession) {
				t.Errorf("got %v; want an ErrInvalidSession containing %q", err, tt.want)
			}
		})
	}
}

func TestTariffValidity(t *testing.T) {
	tf := loadTariff(t, "tariff_6_025kwh_start_max_price.json") // ends 2019-06-30T23:59:59Z
	late := time.Date(2019, 7, 1, 10, 0, 0, 0, time.UTC)
	_, err := PriceSession(tf, time.UTC, plug(late, hour, 0, "10"), late.Add(hour))
	if !errors.Is(err, ErrTariffNotActive) {
		t.Errorf("got %v; want ErrTariffNotActive", err)
	}
	bad := mk(el(nil, pc("KWH", "1", 1)))
	if _, err := PriceSession(bad, time.UTC, plug(late, hour, 0, "1"), late); !errors.Is(err, ErrInvalidTariff) {
		t.Errorf("got %v; want ErrInvalidTariff", err)
	}
}

// TestExactRounding checks that amounts are kept exact and rounded once:
// three periods of 1 s at 0.18/h are 0.00005 each; rounding each would
// give 0.0003, the exact sum 0.00015 rounds (half away from zero) to 0.0002.
func TestExactRounding(t *testing.T) {
	utc := time.UTC
	t0 := time.Date(2025, 6, 2, 10, 0, 0, 0, utc)
	tf := mk(
		el(&TariffRestrictions{MaxDuration: ptr(1)}, pc(DimTime, "0.18", 1)),
		el(&TariffRestrictions{MaxDuration: ptr(2)}, pc(DimTime, "0.180", 1)),
		el(nil, pc(DimTime, "0.18", 1)),
	)
	res := mustPrice(t, tf, utc, plug(t0, 3*time.Second, 0, "0"), t0.Add(3*time.Second))
	if n := len(res.Lines); n != 3 {
		t.Fatalf("got %d lines; want 3", n)
	}
	checkExcl(t, "line", res.Lines[0].Cost, "0.0001") // 0.00005 rounded half away from zero
	checkExcl(t, "total_cost", res.TotalsRoundedTo(WirePlaces).TotalCost, "0.0002")
}

// TestRestrictionsAreEvaluatedAtTheInstant checks that each restriction is
// judged on its own at the instant: a 22:00–06:00 window on FRIDAY does not
// reach into Saturday morning.
func TestRestrictionsAreEvaluatedAtTheInstant(t *testing.T) {
	utc := time.UTC
	fri := time.Date(2025, 6, 6, 21, 0, 0, 0, utc)
	tf := mk(
		el(&TariffRestrictions{StartTime: "22:00", EndTime: "06:00", DayOfWeek: []DayOfWeek{Friday}}, pc(DimTime, "0.5", 1)),
		el(nil, pc(DimTime, "1", 1)),
	)
	// Fri 21–22 at 1, Fri 22–24 at 0.5, Sat 00–02 at 1.
	res := mustPrice(t, tf, utc, plug(fri, 5*hour, 0, "10"), fri.Add(5*hour))
	checkExcl(t, "total_cost", res.TotalsRoundedTo(WirePlaces).TotalCost, "4")
}

func TestStepWhenChargingResumesAfterParking(t *testing.T) {
	utc := time.UTC
	t0 := time.Date(2025, 6, 2, 10, 0, 0, 0, utc)
	tf := mk(el(nil, pc(DimTime, "6", 600), pc(DimParkingTime, "6", 600)))
	// Charge 7 min, park 3, charge 4 more: the last time-based component is
	// TIME, so the 11 charging minutes round to 20 and the 3 parking
	// minutes stay 3.
	s := Session{Start: t0, End: t0.Add(14 * minute),
		Samples: []Sample{{At: t0, EnergyKWh: dec("0")}, {At: t0.Add(14 * minute), EnergyKWh: dec("2")}},
		Statuses: []StatusChange{
			{At: t0.Add(7 * minute), Status: Parking},
			{At: t0.Add(10 * minute), Status: Charging},
		}}
	res := mustPrice(t, tf, utc, s, s.End)
	checkExcl(t, "total_time_cost", *res.TotalsRoundedTo(WirePlaces).TotalTimeCost, "2")
	checkExcl(t, "total_parking_cost", *res.TotalsRoundedTo(WirePlaces).TotalParkingCost, "0.3")
}

func TestReservationDurationCountsFromReservationStart(t *testing.T) {
	utc := time.UTC
	r0 := time.Date(2025, 6, 2, 10, 0, 0, 0, utc)
	tf := mk(
		el(&TariffRestrictions{Reservation: Reservation, MaxDuration: ptr(600)}, pc(DimTime, "0", 1)),
		el(&TariffRestrictions{Reservation: Reservation}, pc(DimTime, "6", 1)),
		el(nil, pc(DimEnergy, "0.25", 1)),
	)
	// First 10 minutes of the reservation free, the next 10 at 6/h.
	s := reserved(plug(r0.Add(20*minute), hour, 0, "4"), r0)
	res := mustPrice(t, tf, utc, s, s.End)
	checkExcl(t, "total_reservation_cost", *res.TotalsRoundedTo(WirePlaces).TotalReservationCost, "1")
	checkExcl(t, "total_cost", res.TotalsRoundedTo(WirePlaces).TotalCost, "2")
	// A reservation still running is priced up to now, by RESERVATION
	// elements only.
	running := Session{Reservation: &ReservationSpan{Start: r0}}
	res = mustPrice(t, tf, utc, running, r0.Add(15*minute))
	checkExcl(t, "running reservation", res.TotalsRoundedTo(WirePlaces).TotalCost, "0.5")
	if got := res.ChargingPeriods[len(res.ChargingPeriods)-1].Dimensions; !cmp.Equal(got, []CdrDimension{{CdrReservationTime, N("0.0833")}}) {
		t.Errorf("last period: got %v; want RESERVATION_TIME 0.0833", got)
	}
}

// TestTotalsInMinorUnit checks the one rounding point of money: a result's
// Totals (what CDRs and sessions carry) are the exact totals rounded half
// away from zero to the currency's minor unit, never the 4-decimal ones
// rounded again. The 4-decimal vectors above check the exact arithmetic.
func TestTotalsInMinorUnit(t *testing.T) {
	for _, tc := range []struct {
		currency string
		places   int32
	}{{"EUR", 2}, {"JPY", 0}, {"KWD", 3}, {"XYZ", 2}} {
		if got := MinorUnits(tc.currency); got != tc.places {
			t.Errorf("MinorUnits(%s) = %d; want %d", tc.currency, got, tc.places)
		}
	}
	// The step_size example session: 1.0167 exact-ish → cents.
	ams := amsterdam(t)
	tf := loadTariff(t, "tariff_14_step_size.json")
	s := plug(at(ams, 2025, time.June, 2, 16, 55), 10*minute, 2*minute, "2")
	res := mustPrice(t, tf, ams, s, s.End)
	want := res.TotalsRoundedTo(MinorUnits(tf.Currency))
	if diff := cmp.Diff(want, res.Totals); diff != "" {
		t.Errorf("Totals are not the exact totals in the minor unit (-want +got):\n%s", diff)
	}
	if e := res.Totals.TotalCost.ExclVAT.Decimal.Exponent(); e < -2 {
		t.Errorf("total_cost %s has more than 2 decimals", res.Totals.TotalCost.ExclVAT)
	}
}
