package sim

import (
	"math"
	"slices"
	"time"
)

// Smart charging: the charger keeps the profiles SetChargingProfile installs
// and charges no faster than they allow. Current limits are taken as grid
// current on a 230 V supply, three phases unless a period says otherwise.

const (
	phaseVoltage     = 230.0
	maxStackLevel    = 8
	maxPeriods       = 24
	maxProfilesTotal = 10
)

// dropProfiles removes the connector's profiles that match and returns how
// many it removed.
func (cn *connector) dropProfiles(match func(*chargingProfile) bool) int {
	n := len(cn.profiles)
	cn.profiles = slices.DeleteFunc(cn.profiles, match)
	if len(cn.profiles) == 0 {
		cn.profiles = nil
	}
	return n - len(cn.profiles)
}

func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

func toWatts(limit float64, unit string, phases *int) float64 {
	if unit == "W" {
		return limit
	}
	n := 3
	if phases != nil && *phases > 0 {
		n = *phases
	}
	return limit * phaseVoltage * float64(n)
}

// profileStart is when the profile's schedule (or its current recurrence)
// started, as of t; relStart is the start of a relative schedule.
func profileStart(p *chargingProfile, t, relStart time.Time) (time.Time, bool) {
	switch p.ChargingProfileKind {
	case "Relative":
		return relStart, !relStart.IsZero()
	case "Recurring":
		base, ok := parseTime(p.ChargingSchedule.StartSchedule)
		if !ok || t.Before(base) {
			return time.Time{}, false
		}
		period := 24 * time.Hour
		if p.RecurrencyKind == "Weekly" {
			period = 7 * 24 * time.Hour
		}
		return base.Add(t.Sub(base) / period * period), true
	default: // Absolute
		if s, ok := parseTime(p.ChargingSchedule.StartSchedule); ok {
			return s, true
		}
		return parseTime(p.ValidFrom)
	}
}

// profileLimit is the profile's limit in W at t, if it has one then.
func profileLimit(p *chargingProfile, t, relStart time.Time) (float64, bool) {
	if from, ok := parseTime(p.ValidFrom); ok && t.Before(from) {
		return 0, false
	}
	if to, ok := parseTime(p.ValidTo); ok && !t.Before(to) {
		return 0, false
	}
	start, ok := profileStart(p, t, relStart)
	if !ok || t.Before(start) {
		return 0, false
	}
	el := t.Sub(start)
	cs := &p.ChargingSchedule
	if cs.Duration != nil && el >= time.Duration(*cs.Duration)*time.Second {
		return 0, false
	}
	var per *chargingSchedulePeriod
	for i := range cs.ChargingSchedulePeriod {
		if time.Duration(cs.ChargingSchedulePeriod[i].StartPeriod)*time.Second <= el {
			per = &cs.ChargingSchedulePeriod[i]
		}
	}
	if per == nil {
		return 0, false
	}
	return toWatts(per.Limit, cs.ChargingRateUnit, per.NumberPhases), true
}

// stackLimit is the limit of the highest-stack profile of purpose that has
// one at t.
func stackLimit(profiles []*chargingProfile, purpose string, t, relStart time.Time, txID *int) (float64, bool) {
	best, found, level := 0.0, false, -1
	for _, p := range profiles {
		if p.ChargingProfilePurpose != purpose || p.StackLevel <= level {
			continue
		}
		if txID != nil && p.TransactionID != nil && *p.TransactionID != *txID {
			continue
		}
		if l, ok := profileLimit(p, t, relStart); ok {
			best, found, level = l, true, p.StackLevel
		}
	}
	return best, found
}

// limitW is the power the connector may draw at clock time t: the charger's
// own maximum, capped by ChargePointMaxProfile and by the transaction's
// TxProfile or else the TxDefaultProfile. Connector 0 stands for the whole
// charger.
func (c *Charger) limitW(cn *connector, t time.Time) float64 {
	cp := c.connectors[0]
	limit := c.cfg.MaxPowerKW * 1000
	if cn.id == 0 {
		limit *= float64(len(c.connectors) - 1)
	}
	var relStart time.Time
	var txID *int
	if s := cn.sess; s.charging() {
		relStart = s.startClock
		txID = s.txIDPtr()
	} else {
		relStart = t
	}
	if l, ok := stackLimit(cp.profiles, "ChargePointMaxProfile", t, relStart, nil); ok {
		limit = min(limit, l)
	}
	if cn.id == 0 {
		return limit
	}
	if cn.sess.charging() {
		if l, ok := stackLimit(cn.profiles, "TxProfile", t, relStart, txID); ok {
			return min(limit, l)
		}
	}
	if l, ok := stackLimit(cn.profiles, "TxDefaultProfile", t, relStart, nil); ok {
		return min(limit, l)
	}
	if l, ok := stackLimit(cp.profiles, "TxDefaultProfile", t, relStart, nil); ok {
		return min(limit, l)
	}
	return limit
}

// compositeSchedule is the schedule the connector will follow for the next
// d, in unit ("W" or "A"), from now.
func (c *Charger) compositeSchedule(cn *connector, d time.Duration, unit string) (time.Time, *chargingSchedule) {
	t0 := c.now().Truncate(time.Second)
	end := t0.Add(d)
	points := []time.Time{t0}
	addPoint := func(t time.Time) {
		if t.After(t0) && t.Before(end) {
			points = append(points, t)
		}
	}
	relStart := t0
	if s := cn.sess; s.charging() {
		relStart = s.startClock
	}
	profiles := slices.Concat(c.connectors[0].profiles, cn.profiles)
	for _, p := range profiles {
		if v, ok := parseTime(p.ValidFrom); ok {
			addPoint(v)
		}
		if v, ok := parseTime(p.ValidTo); ok {
			addPoint(v)
		}
		// Every recurrence that overlaps the window.
		for at := t0; !at.After(end); {
			start, ok := profileStart(p, at, relStart)
			if !ok {
				break
			}
			for _, per := range p.ChargingSchedule.ChargingSchedulePeriod {
				addPoint(start.Add(time.Duration(per.StartPeriod) * time.Second))
			}
			if dur := p.ChargingSchedule.Duration; dur != nil {
				addPoint(start.Add(time.Duration(*dur) * time.Second))
			}
			if p.ChargingProfileKind != "Recurring" {
				break
			}
			next := 24 * time.Hour
			if p.RecurrencyKind == "Weekly" {
				next = 7 * 24 * time.Hour
			}
			at = start.Add(next)
		}
	}
	slices.SortFunc(points, func(a, b time.Time) int { return a.Compare(b) })
	points = slices.CompactFunc(points, func(a, b time.Time) bool { return a.Equal(b) })

	secs := int(d / time.Second)
	cs := &chargingSchedule{Duration: &secs, StartSchedule: c.stamp(t0), ChargingRateUnit: unit}
	last := math.NaN()
	for _, p := range points {
		w := c.limitW(cn, p)
		v := math.Round(w)
		if unit == "A" {
			v = math.Round(w/(phaseVoltage*3)*10) / 10
		}
		if v == last {
			continue
		}
		last = v
		cs.ChargingSchedulePeriod = append(cs.ChargingSchedulePeriod,
			chargingSchedulePeriod{StartPeriod: int(p.Sub(t0) / time.Second), Limit: v})
	}
	return t0, cs
}
