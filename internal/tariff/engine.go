package tariff

import (
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// ErrTariffNotActive is returned when a session starts outside the tariff's
// start_date_time … end_date_time.
var ErrTariffNotActive = errors.New("tariff not active")

// WirePlaces is the number of decimals of every number we put on the wire
// (the OCPI number type: "numbers use 4 decimals").
const WirePlaces = 4

// Totals are a session's totals under the names a CDR gives them. Costs
// are rounded once, half away from zero, to WirePlaces decimals; incl_vat
// is always present (it equals excl_vat when no VAT applies). A *_cost
// field is omitted when the tariff had no component of that kind active in
// the session.
type Totals struct {
	TotalCost            Price  `json:"total_cost"`
	TotalFixedCost       *Price `json:"total_fixed_cost,omitempty"`
	TotalEnergy          Number `json:"total_energy"`
	TotalEnergyCost      *Price `json:"total_energy_cost,omitempty"`
	TotalTime            Number `json:"total_time"`
	TotalTimeCost        *Price `json:"total_time_cost,omitempty"`
	TotalParkingTime     Number `json:"total_parking_time"`
	TotalParkingCost     *Price `json:"total_parking_cost,omitempty"`
	TotalReservationCost *Price `json:"total_reservation_cost,omitempty"`
}

// Line is one row of a cost breakdown, like the rows of the spec's example
// tables: what one price component billed in one charging period.
type Line struct {
	Period      int                 // index into Result.ChargingPeriods (or the CDR's charging_periods)
	Element     int                 // index into Tariff.Elements
	Type        TariffDimensionType // FLAT, ENERGY, TIME or PARKING_TIME
	Reservation bool                // the line prices a reservation
	// Quantity is what was billed, step_size included: kWh for ENERGY,
	// seconds for TIME and PARKING_TIME, 1 for FLAT.
	Quantity decimal.Decimal
	Price    decimal.Decimal     // per kWh, per hour, or per session; excl. VAT
	VAT      decimal.NullDecimal // percentage; not Valid when no VAT applies
	Cost     Price               // rounded to WirePlaces
}

// Result is what PriceSession computes for a session.
type Result struct {
	Currency        string
	ChargingPeriods []ChargingPeriod
	Totals          Totals
	Lines           []Line
	// Adjustment is what min_price or max_price added to (or, negative,
	// took from) total_cost; zero when neither applied. The other totals
	// are never adjusted.
	Adjustment Price
	exact      exactTotals
}

// TotalsRoundedTo returns the totals with costs rounded from their exact
// values to places decimals (half away from zero), e.g. 2 for the cents the
// spec's worked examples show. Rounding the 4-decimal Totals again would
// round twice; this does not.
func (r Result) TotalsRoundedTo(places int32) Totals { return r.exact.totals(places) }

// money is an amount excl. and incl. VAT, kept exact and scaled by 3600, so
// that a price per hour times seconds needs no division until the single
// rounding at the end.
type money struct{ excl, incl decimal.Decimal }

var (
	d3600   = decimal.NewFromInt(3600)
	d1      = decimal.NewFromInt(1)
	zeroAmt = money{decimal.Zero, decimal.Zero}
)

func (m money) add(o money) money { return money{m.excl.Add(o.excl), m.incl.Add(o.incl)} }

func (m money) price(places int32) Price {
	incl := Number{m.incl.DivRound(d3600, places)}
	return Price{ExclVAT: Number{m.excl.DivRound(d3600, places)}, InclVAT: &incl}
}

// cost prices qty of dimension d with pc: qty is kWh, seconds, or 1.
func cost(pc *PriceComponent, d dim, qty decimal.Decimal) money {
	var excl decimal.Decimal
	switch d {
	case dEnergy, dFlat:
		excl = pc.Price.Mul(qty).Mul(d3600)
	default: // price per hour × seconds, scaled by 3600: exact
		excl = pc.Price.Mul(qty)
	}
	incl := excl
	if pc.VAT != nil {
		incl = excl.Mul(d1.Add(pc.VAT.Shift(-2)))
	}
	return money{excl, incl}
}

// segment is a stretch of a session during which no restriction changes,
// or one period of a CDR.
type segment struct {
	start, end time.Time
	phase      phase
	period     int
	// Which time dimension the segment's time belongs to (session phase).
	charging, parking bool
	// Quantities consumed: kWh and seconds.
	energy                               decimal.Decimal
	chargingSec, parkingSec, reservedSec decimal.Decimal
	power, current                       decimal.NullDecimal
	pt                                   point
	active                               [numDims]ref
	qty                                  [numDims]decimal.Decimal // billed
}

func (s *segment) mid() time.Time { return s.start.Add(s.end.Sub(s.start) / 2) }

func (s *segment) reservation() bool { return s.phase != phaseSession }

// bucket is where a line's cost is totalled.
type bucket int

const (
	bFixed bucket = iota
	bEnergy
	bTime
	bParking
	bReservation
	numBuckets
)

type exactTotals struct {
	buckets                     [numBuckets]money
	has                         [numBuckets]bool
	total, adjustment           money
	energyKWh, timeSec, parkSec decimal.Decimal
}

func (e *exactTotals) totals(places int32) Totals {
	t := Totals{
		TotalCost:        e.total.price(places),
		TotalEnergy:      Number{e.energyKWh.Round(WirePlaces)},
		TotalTime:        Number{e.timeSec.DivRound(d3600, WirePlaces)},
		TotalParkingTime: Number{e.parkSec.DivRound(d3600, WirePlaces)},
	}
	for b, dst := range [numBuckets]**Price{&t.TotalFixedCost, &t.TotalEnergyCost, &t.TotalTimeCost, &t.TotalParkingCost, &t.TotalReservationCost} {
		if e.has[b] {
			p := e.buckets[b].price(places)
			*dst = &p
		}
	}
	return t
}

// PriceSession prices a session with tariff t at a location in zone loc. For a
// running session (End zero) it is the estimate of what the session would
// cost if it stopped at now, step_size and min_price included; after the
// session ended, now is not used. It is a pure function of its arguments.
func PriceSession(t *Tariff, loc *time.Location, s Session, now time.Time) (Result, error) {
	c, err := compile(t)
	if err != nil {
		return Result{}, err
	}
	if loc == nil {
		return Result{}, errors.New("price session: nil location (use time.UTC for none)")
	}
	segs, err := sessionSegments(c, loc, s, now)
	if err != nil {
		return Result{}, err
	}
	if err := c.checkActive(segs[0].start); err != nil {
		return Result{}, err
	}
	c.selectComponents(segs)
	n := assignPeriods(segs)
	res := c.price(segs)
	res.ChargingPeriods = c.periods(segs, n)
	return res, nil
}

func (c *compiled) checkActive(at time.Time) error {
	if sd := c.t.StartDateTime; sd != nil && at.Before(sd.Time) {
		return fmt.Errorf("%w: tariff %s starts at %s, the session at %s", ErrTariffNotActive, c.t.ID, sd, DateTime{at})
	}
	if ed := c.t.EndDateTime; ed != nil && !at.Before(ed.Time) {
		return fmt.Errorf("%w: tariff %s ended at %s, the session starts at %s", ErrTariffNotActive, c.t.ID, ed, DateTime{at})
	}
	return nil
}

// selectComponents picks, for each segment, the component active for each
// dimension the segment can bill.
func (c *compiled) selectComponents(segs []segment) {
	for i := range segs {
		s := &segs[i]
		s.active = [numDims]ref{noRef, noRef, noRef, noRef}
		if s.reservation() {
			s.active[dTime] = c.pick(dTime, &s.pt, s.phase)
		} else {
			s.active[dEnergy] = c.pick(dEnergy, &s.pt, s.phase)
			if s.charging {
				s.active[dTime] = c.pick(dTime, &s.pt, s.phase)
			}
			if s.parking {
				s.active[dParking] = c.pick(dParking, &s.pt, s.phase)
			}
		}
		s.active[dFlat] = c.pick(dFlat, &s.pt, s.phase)
	}
}

// assignPeriods merges consecutive segments whose prices are the same into
// one charging period and returns the number of periods.
func assignPeriods(segs []segment) int {
	n := 0
	for i := range segs {
		if i > 0 {
			a, b := &segs[i-1], &segs[i]
			same := a.reservation() == b.reservation() && a.charging == b.charging && a.parking == b.parking &&
				a.active[dEnergy] == b.active[dEnergy] && a.active[dTime] == b.active[dTime] && a.active[dParking] == b.active[dParking]
			if !same {
				n++
			}
		}
		segs[i].period = n
	}
	return n + 1
}

func (c *compiled) component(r ref) *PriceComponent {
	return &c.t.Elements[r.elem].PriceComponents[r.comp]
}

// price bills the segments (whose components are selected) and totals them.
func (c *compiled) price(segs []segment) Result {
	// FLAT is due once per phase: the session's, and the reservation's.
	// It is the FLAT component active in the first segment that has one.
	var flatSeen [2]bool // session, reservation
	for i := range segs {
		s := &segs[i]
		if s.active[dFlat] == noRef {
			continue
		}
		g := 0
		if s.reservation() {
			g = 1
		}
		if flatSeen[g] {
			s.active[dFlat] = noRef
		}
		flatSeen[g] = true
	}
	for i := range segs {
		s := &segs[i]
		s.qty = [numDims]decimal.Decimal{}
		if s.active[dFlat] != noRef {
			s.qty[dFlat] = d1
		}
		if s.active[dEnergy] != noRef {
			s.qty[dEnergy] = s.energy
		}
		if s.active[dTime] != noRef {
			if s.reservation() {
				s.qty[dTime] = s.reservedSec
			} else {
				s.qty[dTime] = s.chargingSec
			}
		}
		if s.active[dParking] != noRef {
			s.qty[dParking] = s.parkingSec
		}
	}
	c.applyEnergyStep(segs)
	c.applyTimeStep(segs, false)
	c.applyTimeStep(segs, true)

	var res Result
	res.Currency = c.t.Currency
	ex := &res.exact
	ex.energyKWh, ex.timeSec, ex.parkSec = decimal.Zero, decimal.Zero, decimal.Zero
	for b := range ex.buckets {
		ex.buckets[b] = zeroAmt
	}
	type lineKey struct {
		period int
		d      dim
		r      ref
	}
	index := map[lineKey]int{}
	for i := range segs {
		s := &segs[i]
		if !s.reservation() {
			ex.energyKWh = ex.energyKWh.Add(s.energy)
			ex.timeSec = ex.timeSec.Add(s.chargingSec).Add(s.parkingSec)
			ex.parkSec = ex.parkSec.Add(s.parkingSec)
		}
		for _, d := range [...]dim{dFlat, dEnergy, dTime, dParking} { // the spec tables' order
			r := s.active[d]
			if r == noRef {
				continue
			}
			ex.has[bucketOf(d, s.reservation())] = true
			if s.qty[d].IsZero() && d != dFlat {
				continue
			}
			k := lineKey{s.period, d, r}
			li, ok := index[k]
			if !ok {
				pc := c.component(r)
				li = len(res.Lines)
				index[k] = li
				l := Line{Period: s.period, Element: r.elem, Type: pc.Type, Reservation: s.reservation(),
					Quantity: decimal.Zero, Price: pc.Price.Decimal}
				if pc.VAT != nil {
					l.VAT = decimal.NewNullDecimal(pc.VAT.Decimal)
				}
				res.Lines = append(res.Lines, l)
			}
			res.Lines[li].Quantity = res.Lines[li].Quantity.Add(s.qty[d])
		}
	}
	// Cost is linear in quantity and kept exact, so pricing each line's
	// summed quantity equals summing the segments' costs.
	for i := range res.Lines {
		l := &res.Lines[i]
		d, _ := dimOf(l.Type)
		m := cost(c.component(ref{l.Element, c.elems[l.Element].comp[d]}), d, l.Quantity)
		l.Cost = m.price(WirePlaces)
		b := bucketOf(d, l.Reservation)
		ex.buckets[b] = ex.buckets[b].add(m)
	}
	total := zeroAmt
	for _, m := range ex.buckets {
		total = total.add(m)
	}
	ex.total = c.limit(total)
	ex.adjustment = money{ex.total.excl.Sub(total.excl), ex.total.incl.Sub(total.incl)}
	// The one rounding point of money: totals go out in the currency's
	// minor unit (doc.go, "Rounding"); lines and exact values stay finer.
	res.Totals = ex.totals(MinorUnits(c.t.Currency))
	res.Adjustment = ex.adjustment.price(WirePlaces)
	return res
}

func bucketOf(d dim, reservation bool) bucket {
	if reservation {
		return bReservation
	}
	switch d {
	case dEnergy:
		return bEnergy
	case dTime:
		return bTime
	case dParking:
		return bParking
	}
	return bFixed
}

// limit applies min_price and max_price to the total, excl. and incl. VAT
// independently, as the spec's notes say ("they both apply").
func (c *compiled) limit(m money) money {
	if p := c.t.MinPrice; p != nil {
		m.excl = decimal.Max(m.excl, p.ExclVAT.Mul(d3600))
		if p.InclVAT != nil {
			m.incl = decimal.Max(m.incl, p.InclVAT.Mul(d3600))
		}
	}
	if p := c.t.MaxPrice; p != nil {
		m.excl = decimal.Min(m.excl, p.ExclVAT.Mul(d3600))
		if p.InclVAT != nil {
			m.incl = decimal.Min(m.incl, p.InclVAT.Mul(d3600))
		}
	}
	return m
}

// ceilTo rounds x up to a multiple of step (x > 0, step > 0).
func ceilTo(x, step decimal.Decimal) decimal.Decimal {
	r := x.Mod(step)
	if r.IsZero() {
		return x
	}
	return x.Sub(r).Add(step)
}

// applyEnergyStep applies step_size once to the session's billable energy:
// the total billed under any ENERGY component is rounded up to the
// step_size (in Wh) of the last ENERGY component that billed energy, and
// the difference is billed in that last segment.
func (c *compiled) applyEnergyStep(segs []segment) {
	last := -1
	total := decimal.Zero
	for i := range segs {
		s := &segs[i]
		if s.reservation() || s.active[dEnergy] == noRef {
			continue
		}
		total = total.Add(s.qty[dEnergy])
		if !s.qty[dEnergy].IsZero() {
			last = i
		}
	}
	if last < 0 || !total.IsPositive() {
		return
	}
	step := c.component(segs[last].active[dEnergy]).StepSize
	if step <= 0 {
		return
	}
	extra := ceilTo(total, decimal.New(int64(step), -3)).Sub(total)
	segs[last].qty[dEnergy] = segs[last].qty[dEnergy].Add(extra)
}

// applyTimeStep applies step_size once to time: TIME and PARKING_TIME
// together for the session (reservation=false), reservation TIME on its
// own. The last time-based component that billed time decides: its
// step_size rounds up the session total of its own dimension, and the
// difference is billed in that last segment. So charging time followed by
// parking is never rounded (mod_cdrs, "step_size").
func (c *compiled) applyTimeStep(segs []segment, reservation bool) {
	last, lastDim := -1, dTime
	for i := range segs {
		s := &segs[i]
		if s.reservation() != reservation {
			continue
		}
		for _, d := range []dim{dTime, dParking} { // parking follows charging
			if s.active[d] != noRef && s.qty[d].IsPositive() {
				last, lastDim = i, d
			}
		}
	}
	if last < 0 {
		return
	}
	step := c.component(segs[last].active[lastDim]).StepSize
	if step <= 0 {
		return
	}
	total := decimal.Zero
	for i := range segs {
		if s := &segs[i]; s.reservation() == reservation && s.active[lastDim] != noRef {
			total = total.Add(s.qty[lastDim])
		}
	}
	if !total.IsPositive() {
		return
	}
	extra := ceilTo(total, decimal.NewFromInt(int64(step))).Sub(total)
	segs[last].qty[lastDim] = segs[last].qty[lastDim].Add(extra)
}

// periods builds the charging periods of a priced session. Volumes are the
// measured quantities (not the billed ones), rounded to WirePlaces so that
// the periods add up exactly to the totals: each volume is the difference
// of the rounded running totals.
func (c *compiled) periods(segs []segment, n int) []ChargingPeriod {
	out := make([]ChargingPeriod, n)
	var energy, charging, parking, reserved runningRound
	var maxP, minP, maxC, minC decimal.NullDecimal
	for i := range segs {
		s := &segs[i]
		p := &out[s.period]
		if i == 0 || segs[i-1].period != s.period {
			p.StartDateTime = DateTime{s.start.UTC()}
			p.TariffID = c.t.ID
			maxP, minP, maxC, minC = decimal.NullDecimal{}, decimal.NullDecimal{}, decimal.NullDecimal{}, decimal.NullDecimal{}
		}
		if s.reservation() {
			reserved.add(s.reservedSec)
		} else {
			energy.add(s.energy)
			charging.add(s.chargingSec)
			parking.add(s.parkingSec)
			maxP, minP = extreme(maxP, s.power, 1), extreme(minP, s.power, -1)
			maxC, minC = extreme(maxC, s.current, 1), extreme(minC, s.current, -1)
		}
		if i+1 < len(segs) && segs[i+1].period == s.period {
			continue
		}
		// The period ends here: emit its dimensions.
		if s.reservation() {
			p.Dimensions = append(p.Dimensions, CdrDimension{CdrReservationTime, Number{reserved.take(d3600)}})
			continue
		}
		if e := energy.take(d1); s.charging || !e.IsZero() {
			p.Dimensions = append(p.Dimensions, CdrDimension{CdrEnergy, Number{e}})
		}
		if s.charging {
			p.Dimensions = append(p.Dimensions, CdrDimension{CdrTime, Number{charging.take(d3600)}})
		}
		if s.parking {
			p.Dimensions = append(p.Dimensions, CdrDimension{CdrParkingTime, Number{parking.take(d3600)}})
		}
		for _, v := range []struct {
			t CdrDimensionType
			v decimal.NullDecimal
		}{{CdrMaxPower, maxP}, {CdrMinPower, minP}, {CdrMaxCurrent, maxC}, {CdrMinCurrent, minC}} {
			if v.v.Valid {
				p.Dimensions = append(p.Dimensions, CdrDimension{v.t, Number{v.v.Decimal.Round(WirePlaces)}})
			}
		}
	}
	return out
}

// extreme returns the larger (sign 1) or smaller (sign -1) of the known
// values among acc and v.
func extreme(acc, v decimal.NullDecimal, sign int) decimal.NullDecimal {
	if !v.Valid {
		return acc
	}
	if !acc.Valid || v.Decimal.Cmp(acc.Decimal) == sign {
		return v
	}
	return acc
}

// runningRound hands out rounded parts of an exact running sum such that
// the parts always add up to the rounded sum.
type runningRound struct{ exact, rounded decimal.Decimal }

func (r *runningRound) add(x decimal.Decimal) { r.exact = r.exact.Add(x) }

// take returns, in units of div, the rounded amount added since the last
// take.
func (r *runningRound) take(div decimal.Decimal) decimal.Decimal {
	now := r.exact.DivRound(div, WirePlaces)
	d := now.Sub(r.rounded)
	r.rounded = now
	return d
}
