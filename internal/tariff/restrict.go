package tariff

import (
	"slices"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// dim indexes the four tariff dimensions in fixed-size arrays.
type dim int

const (
	dEnergy dim = iota
	dTime
	dParking
	dFlat
	numDims
)

var dimTypes = [numDims]TariffDimensionType{DimEnergy, DimTime, DimParkingTime, DimFlat}

func dimOf(t TariffDimensionType) (dim, bool) {
	for d, dt := range dimTypes {
		if dt == t {
			return dim(d), true
		}
	}
	return 0, false
}

// phase is the part of the session a segment belongs to. It decides which
// elements are candidates: only elements with a reservation restriction
// price a reservation, and only elements without one price the session.
type phase int

const (
	phaseSession phase = iota
	phaseReservation
	phaseExpiredReservation
)

// point is what restrictions are evaluated against.
type point struct {
	local   time.Time       // the instant, in the location's zone
	since   time.Duration   // since the start of the phase
	kwh     decimal.Decimal // energy so far in the session
	power   decimal.NullDecimal
	current decimal.NullDecimal
}

// ref names a price component: Tariff.Elements[elem].PriceComponents[comp].
// elem is -1 when no component is active.
type ref struct{ elem, comp int }

var noRef = ref{-1, -1}

// compiled is a validated tariff with its restrictions parsed once.
type compiled struct {
	t     *Tariff
	elems []compiledElement
	// Where restrictions can flip, so where segments must be cut:
	wallTimes []int64 // seconds after local midnight; always holds 0
	durations []time.Duration
	kwh       []decimal.Decimal
}

type compiledElement struct {
	comp                   [numDims]int // index in PriceComponents, -1 when absent
	hasStart, hasEnd       bool
	startSec, endSec       int64 // endSec is 86400 for "00:00"
	startDate, endDate     string
	minKWh, maxKWh         *decimal.Decimal
	minCurrent, maxCurrent *decimal.Decimal
	minPower, maxPower     *decimal.Decimal
	minDur, maxDur         *time.Duration
	days                   uint8 // bit per time.Weekday; 0 means every day
	reservation            ReservationRestrictionType
}

// compile validates t (for pricing) and prepares it for evaluation.
func compile(t *Tariff) (*compiled, error) {
	if t == nil {
		return nil, &ValidationError{Problems: []FieldError{{Field: "tariff", Problem: "is nil"}}}
	}
	if err := t.validate(false); err != nil {
		return nil, err
	}
	c := &compiled{t: t, wallTimes: []int64{0}}
	for _, e := range t.Elements {
		ce := compiledElement{comp: [numDims]int{-1, -1, -1, -1}}
		for i, pc := range e.PriceComponents {
			if d, ok := dimOf(pc.Type); ok && ce.comp[d] < 0 {
				ce.comp[d] = i
			}
		}
		if r := e.Restrictions; r != nil {
			if r.StartTime != "" {
				ce.hasStart, ce.startSec = true, secondsOfDay(r.StartTime)
				c.wallTimes = append(c.wallTimes, ce.startSec)
			}
			if r.EndTime != "" {
				ce.hasEnd, ce.endSec = true, secondsOfDay(r.EndTime)
				c.wallTimes = append(c.wallTimes, ce.endSec)
				if ce.endSec == 0 {
					ce.endSec = 86400 // "To stop at end of the day use: 00:00"
				}
			}
			ce.startDate, ce.endDate = r.StartDate, r.EndDate
			ce.minKWh, ce.maxKWh = decPtr(r.MinKWh), decPtr(r.MaxKWh)
			ce.minCurrent, ce.maxCurrent = decPtr(r.MinCurrent), decPtr(r.MaxCurrent)
			ce.minPower, ce.maxPower = decPtr(r.MinPower), decPtr(r.MaxPower)
			for _, k := range []*decimal.Decimal{ce.minKWh, ce.maxKWh} {
				if k != nil {
					c.kwh = append(c.kwh, *k)
				}
			}
			if r.MinDuration != nil {
				d := durationOf(*r.MinDuration)
				ce.minDur = &d
				c.durations = append(c.durations, d)
			}
			if r.MaxDuration != nil {
				d := durationOf(*r.MaxDuration)
				ce.maxDur = &d
				c.durations = append(c.durations, d)
			}
			for _, day := range r.DayOfWeek {
				wd, _ := day.weekday()
				ce.days |= 1 << wd
			}
			ce.reservation = r.Reservation
		}
		c.elems = append(c.elems, ce)
	}
	slices.Sort(c.wallTimes)
	c.wallTimes = slices.Compact(c.wallTimes)
	return c, nil
}

func decPtr(n *Number) *decimal.Decimal {
	if n == nil {
		return nil
	}
	d := n.Decimal
	return &d
}

// durationOf converts a restriction's seconds to a Duration. Anything
// longer than a session can last is cut to just past that, which keeps the
// meaning and avoids overflowing a Duration.
func durationOf(sec int) time.Duration {
	if int64(sec) > int64(maxSpan/time.Second) {
		return maxSpan + time.Second
	}
	return time.Duration(sec) * time.Second
}

// secondsOfDay parses a validated "HH:MM".
func secondsOfDay(hhmm string) int64 {
	h, _ := strconv.Atoi(hhmm[:2])
	m, _ := strconv.Atoi(hhmm[3:])
	return int64(h*3600 + m*60)
}

// candidateKinds lists, per phase and in order of preference, the
// reservation restriction an element must carry to be a candidate.
var candidateKinds = [...][]ReservationRestrictionType{
	phaseSession:            {""},
	phaseReservation:        {Reservation},
	phaseExpiredReservation: {ReservationExpires, Reservation},
}

// pick returns the component that prices dimension d at p: the first
// element, in list order, that has a component for d and whose restrictions
// all hold. For an expired reservation, RESERVATION_EXPIRES elements are
// tried before RESERVATION elements (mod_tariffs, ReservationRestrictionType
// note).
func (c *compiled) pick(d dim, p *point, ph phase) ref {
	for _, kind := range candidateKinds[ph] {
		for i := range c.elems {
			e := &c.elems[i]
			if e.comp[d] >= 0 && e.reservation == kind && e.matches(p) {
				return ref{i, e.comp[d]}
			}
		}
	}
	return noRef
}

// matches reports whether every restriction of e holds at p. Bounds follow
// the spec: min_* inclusive, max_* exclusive, start_* inclusive, end_*
// exclusive. A current or power restriction does not hold when the current
// or power is unknown.
func (e *compiledElement) matches(p *point) bool {
	if e.hasStart || e.hasEnd {
		// Truncating to the second is exact here: the bounds are whole
		// minutes, and floor(t) >= x iff t >= x for an integer x.
		h, m, s := p.local.Clock()
		tod := int64(h*3600 + m*60 + s)
		switch {
		case e.hasStart && e.hasEnd && e.endSec < e.startSec: // wraps past midnight
			if tod < e.startSec && tod >= e.endSec {
				return false
			}
		case e.hasStart && e.hasEnd && e.endSec == e.startSec: // the whole day
		default:
			if e.hasStart && tod < e.startSec {
				return false
			}
			if e.hasEnd && tod >= e.endSec {
				return false
			}
		}
	}
	if e.startDate != "" || e.endDate != "" {
		date := p.local.Format("2006-01-02")
		if e.startDate != "" && date < e.startDate {
			return false
		}
		if e.endDate != "" && date >= e.endDate {
			return false
		}
	}
	if e.days != 0 && e.days&(1<<p.local.Weekday()) == 0 {
		return false
	}
	if e.minKWh != nil && p.kwh.LessThan(*e.minKWh) {
		return false
	}
	if e.maxKWh != nil && !p.kwh.LessThan(*e.maxKWh) {
		return false
	}
	if !within(p.current, e.minCurrent, e.maxCurrent) || !within(p.power, e.minPower, e.maxPower) {
		return false
	}
	if e.minDur != nil && p.since < *e.minDur {
		return false
	}
	if e.maxDur != nil && p.since >= *e.maxDur {
		return false
	}
	return true
}

// within reports whether min ≤ v < max for the bounds that are set.
func within(v decimal.NullDecimal, lo, hi *decimal.Decimal) bool {
	if lo == nil && hi == nil {
		return true
	}
	if !v.Valid {
		return false
	}
	if lo != nil && v.Decimal.LessThan(*lo) {
		return false
	}
	return hi == nil || v.Decimal.LessThan(*hi)
}

// localBoundaries returns the instants in (from, to) where a time-of-day,
// date or weekday restriction can change: each wall-clock time in
// wallTimes on each local day, computed per UTC-offset span so that DST
// gaps and repeats are exact, plus the DST transitions themselves.
func localBoundaries(loc *time.Location, from, to time.Time, wallTimes []int64) []time.Time {
	var out []time.Time
	t := from
	for t.Before(to) {
		lt := t.In(loc)
		_, off := lt.Zone()
		_, spanEnd := lt.ZoneBounds()
		last := spanEnd.IsZero() || !spanEnd.Before(to)
		if last {
			spanEnd = to
		}
		offset := time.Duration(off) * time.Second
		wallFrom, wallTo := t.Add(offset).UTC(), spanEnd.Add(offset).UTC()
		day := time.Date(wallFrom.Year(), wallFrom.Month(), wallFrom.Day(), 0, 0, 0, 0, time.UTC)
		for !day.After(wallTo) {
			for _, w := range wallTimes {
				at := day.Add(time.Duration(w)*time.Second - offset)
				if at.After(t) && at.Before(spanEnd) {
					out = append(out, at)
				}
			}
			day = day.AddDate(0, 0, 1)
		}
		if last {
			break
		}
		out = append(out, spanEnd)
		t = spanEnd
	}
	return out
}
