package pricing

import (
	"math"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// IdlePowerKW is the power below which a sample says no energy flows (an
// EV parked on a charger draws a few watts).
const IdlePowerKW = 0.05

// energyPlaces is the precision readings are taken to (1 mWh, 1 mW,
// 1 mA): finer than any meter, coarse enough to drop float noise.
const energyPlaces = 6

var idlePower = decimal.NewFromFloat(IdlePowerKW)

// point is what the samples say about one instant.
type point struct {
	at      time.Time
	energy  decimal.NullDecimal // kWh since the meter start
	power   decimal.NullDecimal // kW
	current decimal.NullDecimal // A, all phases
}

// SessionInput converts a canonical session and its meter samples into the
// session the tariff engine prices (see the package comment for the rules).
// It also returns the time of the last observation, which a running
// session's estimate should not stop before.
func SessionInput(s charging.Session, samples []charging.MeterSample) (tariff.Session, time.Time) {
	start := s.StartedAt
	var end time.Time
	if s.EndedAt != nil && s.Status.Final() {
		end = *s.EndedAt
	}
	meterStart := decimal.New(max(s.MeterStartWh, 0), -3) // a negative meterStart is flagged and counts as 0 (charging.Session.KWh)
	pts := make([]point, 0, len(samples)+2)
	pts = append(pts, point{at: start, energy: decimal.NewNullDecimal(decimal.Zero)})
	for _, sm := range samples {
		t := sm.Timestamp
		if t.Before(start) || (!end.IsZero() && t.After(end)) {
			continue
		}
		if p, ok := read(sm, meterStart); ok {
			pts = append(pts, p)
		}
	}
	// The meter stop is a reading too.
	if !end.IsZero() && s.MeterStopWh != nil {
		pts = append(pts, point{at: end, energy: decimal.NewNullDecimal(nonNegative(decimal.New(*s.MeterStopWh, -3).Sub(meterStart)))})
	}
	// Samples come in time order from the store; sort if not, keeping the
	// order of equal instants, and merge each instant into one point.
	byTime := func(a, b point) int { return a.at.Compare(b.at) }
	if !slices.IsSortedFunc(pts, byTime) {
		slices.SortStableFunc(pts, byTime)
	}
	merged := pts[:1]
	for _, p := range pts[1:] {
		last := &merged[len(merged)-1]
		if !p.at.Equal(last.at) {
			merged = append(merged, p)
			continue
		}
		if p.energy.Valid && (!last.energy.Valid || p.energy.Decimal.GreaterThan(last.energy.Decimal)) {
			last.energy = p.energy
		}
		if p.power.Valid {
			last.power = p.power
		}
		if p.current.Valid {
			last.current = p.current
		}
	}
	pts = merged
	fillEnergy(pts)

	out := tariff.Session{Start: start, End: end, Samples: make([]tariff.Sample, len(pts))}
	for i, p := range pts {
		out.Samples[i] = tariff.Sample{At: p.at, EnergyKWh: p.energy.Decimal, PowerKW: p.power, CurrentA: p.current}
	}
	out.Statuses = parking(pts, end.IsZero())
	return out, pts[len(pts)-1].at
}

// read takes what one sample reports; ok is false when it reports nothing
// the tariff engine uses.
func read(sm charging.MeterSample, meterStart decimal.Decimal) (p point, ok bool) {
	p.at = sm.Timestamp
	var phaseCurrent float64
	var hasPhaseCurrent bool
	for _, v := range sm.Values {
		if !v.Numeric || v.Flagged != "" || math.IsNaN(v.Value) || math.IsInf(v.Value, 0) || v.Value < 0 || !counted(v.Location) {
			continue
		}
		switch v.Measurand {
		case charging.MeasurandEnergyImportRegister:
			if v.Phase != "" {
				continue
			}
			e := nonNegative(fromFloat(v.Value).Sub(meterStart))
			if !p.energy.Valid || e.GreaterThan(p.energy.Decimal) {
				p.energy = decimal.NewNullDecimal(e)
			}
		case charging.MeasurandPowerImport:
			if v.Phase == "" {
				p.power = decimal.NewNullDecimal(fromFloat(v.Value))
			}
		case charging.MeasurandCurrentImport:
			switch v.Phase {
			case "":
				p.current = decimal.NewNullDecimal(fromFloat(v.Value))
			case "L1", "L2", "L3", "L1-N", "L2-N", "L3-N":
				phaseCurrent, hasPhaseCurrent = phaseCurrent+v.Value, true
			}
		}
	}
	if !p.current.Valid && hasPhaseCurrent {
		p.current = decimal.NewNullDecimal(fromFloat(phaseCurrent))
	}
	return p, p.energy.Valid || p.power.Valid || p.current.Valid
}

// fromFloat reads a canonical value to energyPlaces decimals (cheaper than
// decimal.NewFromFloat, and it drops float noise such as 12.100000000000001).
func fromFloat(v float64) decimal.Decimal {
	if math.Abs(v) < 1e12 {
		return decimal.New(int64(math.Round(v*1e6)), -energyPlaces)
	}
	return decimal.NewFromFloat(v).Round(energyPlaces)
}

func nonNegative(d decimal.Decimal) decimal.Decimal {
	if d.IsNegative() {
		return decimal.Zero
	}
	return d
}

// counted says whether a value's location is one Observe counts.
func counted(location string) bool {
	switch location {
	case "", "Outlet", "Cable", "EV":
		return true
	}
	return false
}

// fillEnergy makes the energy of sorted points non-decreasing and fills
// the points without a reading: linear between the readings around them,
// the last reading after it. The first point (the start) has a reading.
func fillEnergy(pts []point) {
	last := -1 // index of the last point with a reading
	for i := range pts {
		if !pts[i].energy.Valid {
			continue
		}
		if last >= 0 && pts[i].energy.Decimal.LessThan(pts[last].energy.Decimal) {
			pts[i].energy = pts[last].energy
		}
		if last >= 0 && i-last > 1 {
			a, b := pts[last], pts[i]
			span := decimal.NewFromInt(int64(b.at.Sub(a.at)))
			de := b.energy.Decimal.Sub(a.energy.Decimal)
			for k := last + 1; k < i; k++ {
				f := decimal.NewFromInt(int64(pts[k].at.Sub(a.at)))
				pts[k].energy = decimal.NewNullDecimal(a.energy.Decimal.Add(de.Mul(f).DivRound(span, 12)))
			}
		}
		last = i
	}
	for k := last + 1; k < len(pts); k++ {
		pts[k].energy = pts[last].energy
	}
}

// parking derives the charging/parking status changes from sorted points
// (the package comment has the rules).
func parking(pts []point, running bool) []tariff.StatusChange {
	var out []tariff.StatusChange
	status, flowed := tariff.Charging, false
	set := func(at time.Time, st tariff.Status) {
		if st != status {
			out = append(out, tariff.StatusChange{At: at, Status: st})
			status = st
		}
	}
	powered := func(p point) bool { return p.power.Valid && p.power.Decimal.GreaterThanOrEqual(idlePower) }
	for i := 0; i+1 < len(pts); i++ {
		a, b := pts[i], pts[i+1]
		if b.energy.Decimal.GreaterThan(a.energy.Decimal) || powered(a) {
			flowed = true
			set(a.at, tariff.Charging)
		} else if flowed {
			set(a.at, tariff.Parking)
		}
	}
	if last := pts[len(pts)-1]; running && last.power.Valid {
		if powered(last) {
			set(last.at, tariff.Charging)
		} else if flowed {
			set(last.at, tariff.Parking)
		}
	}
	return out
}
