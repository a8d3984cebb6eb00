package tariff

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// ErrInvalidSession is matched (errors.Is) by errors about the Session
// given to PriceSession.
var ErrInvalidSession = errors.New("invalid session")

// maxSpan bounds a session or reservation, so that a wrong timestamp fails
// loudly instead of making us walk centuries of local days.
const maxSpan = 366 * 24 * time.Hour

// Status says what the EV is doing while plugged in.
type Status int

const (
	// Charging: the EV requests energy (whether or not the EVSE offers it).
	// It is the status until the first StatusChange says otherwise.
	Charging Status = iota
	// Parking: plugged in, the EV no longer requests energy (full, or
	// stopped by the driver). The spec's PARKING_TIME.
	Parking
)

func (s Status) String() string {
	switch s {
	case Charging:
		return "charging"
	case Parking:
		return "parking"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// StatusChange says that from At on the EV is in Status.
type StatusChange struct {
	At     time.Time
	Status Status
}

// Sample is one meter reading.
type Sample struct {
	At time.Time
	// EnergyKWh is the energy import register in kWh. Only differences
	// matter, so it may be the charger's absolute register.
	EnergyKWh decimal.Decimal
	// PowerKW is the power at At, if the charger reported it. When absent
	// the power is the average over the surrounding samples.
	PowerKW decimal.NullDecimal
	// CurrentA is the current at At, summed over phases, if reported.
	CurrentA decimal.NullDecimal
}

// ReservationSpan is a reservation that preceded the session (or never
// became one).
type ReservationSpan struct {
	Start time.Time
	// End is when the reservation ended; zero means it holds until the
	// session starts or, without a session, until now.
	End time.Time
	// Expired says the reservation ended without a charging session: it is
	// then priced by RESERVATION_EXPIRES elements first.
	Expired bool
}

// Session is what the pricing engine needs to know about one charging
// session: its bounds, its meter readings and when it was charging or
// parking. Observations outside [Start, End] are ignored.
type Session struct {
	// Start is when the session started (plug-in or transaction start);
	// zero for a reservation that never became a session.
	Start time.Time
	// End is when the session ended; zero while it runs (PriceSession uses now).
	End         time.Time
	Reservation *ReservationSpan
	// Samples are meter readings, in any order. Energy between two samples
	// is interpolated linearly; before the first and after the last it
	// does not change. Include a sample at Start (meterStart) and at End
	// (meterStop).
	Samples  []Sample
	Statuses []StatusChange
}

func sessionError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidSession, fmt.Sprintf(format, args...))
}

// meter answers questions about the sorted meter readings of a session.
type meter struct{ s []Sample }

func newMeter(samples []Sample) (meter, error) {
	s := slices.Clone(samples)
	sort.SliceStable(s, func(i, j int) bool { return s[i].At.Before(s[j].At) })
	// Two readings at one instant: the later one in the input wins.
	out := s[:0]
	for _, x := range s {
		if x.At.IsZero() {
			return meter{}, sessionError("meter sample without a timestamp")
		}
		if n := len(out); n > 0 && out[n-1].At.Equal(x.At) {
			out[n-1] = x
			continue
		}
		out = append(out, x)
	}
	for i := 1; i < len(out); i++ {
		if out[i].EnergyKWh.LessThan(out[i-1].EnergyKWh) {
			return meter{}, sessionError("energy register goes down from %s kWh at %s to %s kWh at %s",
				out[i-1].EnergyKWh, out[i-1].At.UTC().Format(time.RFC3339), out[i].EnergyKWh, out[i].At.UTC().Format(time.RFC3339))
		}
	}
	return meter{out}, nil
}

// index returns the last sample at or before t, or -1.
func (m meter) index(t time.Time) int {
	return sort.Search(len(m.s), func(i int) bool { return m.s[i].At.After(t) }) - 1
}

var nsPerHour = decimal.NewFromInt(int64(time.Hour))

// energyAt is the register at t, interpolated linearly between samples.
func (m meter) energyAt(t time.Time) decimal.Decimal {
	if len(m.s) == 0 {
		return decimal.Zero
	}
	k := m.index(t)
	switch {
	case k < 0:
		return m.s[0].EnergyKWh
	case k == len(m.s)-1 || m.s[k].At.Equal(t):
		return m.s[k].EnergyKWh
	}
	a, b := m.s[k], m.s[k+1]
	de := b.EnergyKWh.Sub(a.EnergyKWh)
	num := de.Mul(decimal.NewFromInt(int64(t.Sub(a.At))))
	return a.EnergyKWh.Add(num.DivRound(decimal.NewFromInt(int64(b.At.Sub(a.At))), 12))
}

// powerAt is the power reported by the last sample at or before t or, if
// it reported none, the average power between the samples around t (after
// the last sample: over the last two).
func (m meter) powerAt(t time.Time) decimal.NullDecimal {
	k := m.index(t)
	if k < 0 {
		return decimal.NullDecimal{}
	}
	if m.s[k].PowerKW.Valid {
		return m.s[k].PowerKW
	}
	if k == len(m.s)-1 {
		k-- // after the last sample: the last interval's average
	}
	if k < 0 {
		return decimal.NullDecimal{}
	}
	a, b := m.s[k], m.s[k+1]
	de := b.EnergyKWh.Sub(a.EnergyKWh)
	return decimal.NewNullDecimal(de.Mul(nsPerHour).DivRound(decimal.NewFromInt(int64(b.At.Sub(a.At))), 6))
}

// currentAt is the current reported by the last sample at or before t.
func (m meter) currentAt(t time.Time) decimal.NullDecimal {
	if k := m.index(t); k >= 0 {
		return m.s[k].CurrentA
	}
	return decimal.NullDecimal{}
}

// crossing returns when the register reaches target, if it does so
// strictly inside (from, to), rounded up to the nanosecond.
func (m meter) crossing(target decimal.Decimal, from, to time.Time) (time.Time, bool) {
	for k := 0; k+1 < len(m.s); k++ {
		a, b := m.s[k], m.s[k+1]
		if !a.EnergyKWh.LessThan(target) || b.EnergyKWh.LessThan(target) || a.EnergyKWh.Equal(b.EnergyKWh) {
			continue
		}
		frac := target.Sub(a.EnergyKWh).Mul(decimal.NewFromInt(int64(b.At.Sub(a.At))))
		q, r := frac.QuoRem(b.EnergyKWh.Sub(a.EnergyKWh), 0)
		if r.IsPositive() {
			q = q.Add(decimal.NewFromInt(1))
		}
		at := a.At.Add(time.Duration(q.IntPart()))
		if at.After(from) && at.Before(to) {
			return at, true
		}
		return time.Time{}, false
	}
	return time.Time{}, false
}

// sessionSegments cuts the reservation and the session into segments
// within which no restriction can change, and measures each.
func sessionSegments(c *compiled, loc *time.Location, s Session, now time.Time) ([]segment, error) {
	if s.Start.IsZero() && s.Reservation == nil {
		return nil, sessionError("no start time and no reservation")
	}
	for _, st := range s.Statuses {
		if st.Status != Charging && st.Status != Parking {
			return nil, sessionError("unknown status %d at %s", int(st.Status), st.At.UTC().Format(time.RFC3339))
		}
	}
	var segs []segment
	if r := s.Reservation; r != nil {
		if r.Start.IsZero() {
			return nil, sessionError("reservation without a start time")
		}
		if r.Expired && !s.Start.IsZero() {
			return nil, sessionError("reservation marked expired, yet the session started")
		}
		end := r.End
		if end.IsZero() {
			end = now
			if !s.Start.IsZero() {
				end = s.Start
			}
		}
		if !s.Start.IsZero() && end.After(s.Start) {
			end = s.Start // a reservation ends when charging starts
		}
		if err := checkSpan("reservation", r.Start, end); err != nil {
			return nil, err
		}
		ph := phaseReservation
		if r.Expired {
			ph = phaseExpiredReservation
		}
		cuts := append(localBoundaries(loc, r.Start, end, c.wallTimes), durationCuts(c, r.Start, end)...)
		segs = cut(r.Start, end, cuts)
		for i := range segs {
			sg := &segs[i]
			sg.phase = ph
			sg.reservedSec = seconds(sg.end.Sub(sg.start))
			sg.pt = point{local: sg.mid().In(loc), since: sg.mid().Sub(r.Start)}
		}
	}
	if s.Start.IsZero() {
		return segs, nil
	}
	end := s.End
	if end.IsZero() {
		end = now
	}
	if err := checkSpan("session", s.Start, end); err != nil {
		return nil, err
	}
	m, err := newMeter(s.Samples)
	if err != nil {
		return nil, err
	}
	cuts := append(localBoundaries(loc, s.Start, end, c.wallTimes), durationCuts(c, s.Start, end)...)
	for _, x := range m.s {
		cuts = append(cuts, x.At)
	}
	for _, st := range s.Statuses {
		cuts = append(cuts, st.At)
	}
	e0 := m.energyAt(s.Start)
	for _, k := range c.kwh {
		if at, ok := m.crossing(e0.Add(k), s.Start, end); ok {
			cuts = append(cuts, at)
		}
	}
	statuses := slices.Clone(s.Statuses)
	slices.SortStableFunc(statuses, func(a, b StatusChange) int { return a.At.Compare(b.At) })
	status, next := Charging, 0
	eStart := e0
	out := cut(s.Start, end, cuts)
	for i := range out {
		sg := &out[i]
		sg.phase = phaseSession
		for next < len(statuses) && !statuses[next].At.After(sg.start) {
			status = statuses[next].Status
			next++
		}
		if status == Parking {
			sg.parking, sg.parkingSec = true, seconds(sg.end.Sub(sg.start))
		} else {
			sg.charging, sg.chargingSec = true, seconds(sg.end.Sub(sg.start))
		}
		eEnd := m.energyAt(sg.end)
		sg.energy, eStart = eEnd.Sub(eStart), eEnd
		mid := sg.mid()
		if sg.parking {
			// Parking means the EV requests no power.
			sg.power, sg.current = decimal.NewNullDecimal(decimal.Zero), decimal.NewNullDecimal(decimal.Zero)
		} else {
			sg.power, sg.current = m.powerAt(mid), m.currentAt(mid)
		}
		sg.pt = point{local: mid.In(loc), since: mid.Sub(s.Start), power: sg.power, current: sg.current}
		if len(c.kwh) > 0 {
			sg.pt.kwh = m.energyAt(mid).Sub(e0)
		}
	}
	segs = append(segs, out...)
	return segs, nil
}

func checkSpan(what string, start, end time.Time) error {
	if end.Before(start) {
		return sessionError("%s ends (%s) before it starts (%s)", what, end.UTC().Format(time.RFC3339), start.UTC().Format(time.RFC3339))
	}
	if end.Sub(start) > maxSpan {
		return sessionError("%s lasts %s, longer than %s", what, end.Sub(start), maxSpan)
	}
	return nil
}

func durationCuts(c *compiled, start, end time.Time) []time.Time {
	var out []time.Time
	for _, d := range c.durations {
		if at := start.Add(d); at.After(start) && at.Before(end) {
			out = append(out, at)
		}
	}
	return out
}

// cut splits [start, end] at the cuts inside it. An empty span gives one
// empty segment, so that a session of no duration still has a period (and
// pays its FLAT fee).
func cut(start, end time.Time, cuts []time.Time) []segment {
	pts := []time.Time{start}
	for _, t := range cuts {
		if t.After(start) && t.Before(end) {
			pts = append(pts, t)
		}
	}
	pts = append(pts, end)
	slices.SortFunc(pts, func(a, b time.Time) int { return a.Compare(b) })
	pts = slices.CompactFunc(pts, func(a, b time.Time) bool { return a.Equal(b) })
	if len(pts) == 1 {
		return []segment{{start: start, end: end}}
	}
	segs := make([]segment, 0, len(pts)-1)
	for i := 0; i+1 < len(pts); i++ {
		segs = append(segs, segment{start: pts[i], end: pts[i+1]})
	}
	return segs
}

func seconds(d time.Duration) decimal.Decimal { return decimal.New(int64(d), -9) }
