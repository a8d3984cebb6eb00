// Package loadmgmt shares a site's grid connection among the connectors
// charging behind it. Allocate is a pure function (no I/O, no clock): the
// site's limit and the connectors that charge or are about to → a power
// limit per connector. The Manager (manager.go) feeds it from the session
// core and applies its result as charging profiles.
package loadmgmt

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Defaults of the electrical model.
const (
	// DefaultVoltage is the phase-to-neutral voltage assumed when a site
	// gives none.
	DefaultVoltage = 230.0
	// MinCurrentA is the lowest current a charging connector may be given
	// per phase (IEC 61851-1): below it an EV stops, so a connector gets
	// at least this or is paused.
	MinCurrentA = 6.0
	// DefaultMarginW is how much headroom above its measured draw a
	// connector that draws less than its limit keeps, so it can ramp up.
	DefaultMarginW = 1000.0
)

// Grid is the grid connection the connectors share.
type Grid struct {
	// LimitW is the maximum import power in W.
	LimitW float64
	// PhaseLimitA, when > 0, is the maximum current per phase in A. The
	// load is taken as balanced over three phases, so it limits the power
	// to PhaseLimitA × Voltage × 3.
	PhaseLimitA float64
	// Voltage is the phase-to-neutral voltage (DefaultVoltage when 0).
	Voltage float64
	// MarginW is the headroom kept above an under-drawing connector's draw
	// (DefaultMarginW when 0).
	MarginW float64
}

// Connector is one connector that charges or is about to.
type Connector struct {
	// Key names the connector (e.g. "CP-1/1"); it breaks every tie, so the
	// result does not depend on the input's order.
	Key string
	// MaxW is the most the connector can draw (its rating, or a configured
	// per-charger maximum).
	MaxW float64
	// Phases the connector draws on (3 when 0).
	Phases int
	// Priority: a higher one is served first and paused last.
	Priority int
	// Since is when the connector started charging (or asked to); the
	// newest is paused first among equal priorities.
	Since time.Time
	// DrawW is the measured draw, meaningful only when Measured. It should
	// be measured after the previous limit had time to take effect.
	DrawW    float64
	Measured bool
	// PrevLimitW is the limit the connector is under now (0: none yet). A
	// measured draw well below it means the vehicle takes less than it may
	// (a full battery, a slow car): the difference goes to the others.
	PrevLimitW float64
	// Fixed connectors are not controlled (offline, or they rejected their
	// profile): they are counted at MaxW and keep no allocation of their
	// own.
	Fixed bool
}

// Allocation is one connector's share.
type Allocation struct {
	Key string
	// LimitW is the power limit in W, whole watts; 0 when paused.
	LimitW float64
	// Paused: even the minimum current did not fit.
	Paused bool
	// Fixed echoes the input: the connector was counted at its maximum.
	Fixed bool
}

// Result is an allocation of the whole site.
type Result struct {
	// LimitW is the site's effective limit (the smaller of its power and
	// per-phase limits).
	LimitW float64
	// ReservedW is what uncontrolled (Fixed) connectors are counted at.
	ReservedW float64
	// AllocatedW is the sum of the controlled connectors' limits.
	AllocatedW float64
	// Connectors, in the input's order.
	Connectors []Allocation
}

// Paused counts the paused connectors.
func (r Result) Paused() int {
	n := 0
	for _, a := range r.Connectors {
		if a.Paused {
			n++
		}
	}
	return n
}

// MinW is the least a connector of the given phases may be given at voltage
// v (6 A per phase), or its maximum when that is lower.
func MinW(phases int, v, maxW float64) float64 {
	if phases <= 0 {
		phases = 3
	}
	return min(MinCurrentA*v*float64(phases), maxW)
}

// EffectiveLimitW is the site's usable power: its power limit, capped by the
// per-phase current limit.
func (s Grid) EffectiveLimitW() float64 {
	l := s.LimitW
	if s.PhaseLimitA > 0 {
		l = min(l, s.PhaseLimitA*s.voltage()*3)
	}
	return math.Max(0, math.Floor(l))
}

func (s Grid) voltage() float64 {
	if s.Voltage > 0 {
		return s.Voltage
	}
	return DefaultVoltage
}

// work is one controlled connector while allocating.
type work struct {
	idx      int
	c        *Connector
	floor    float64 // minimum when admitted
	ceil     float64 // most it may be given (its maximum, or draw + margin)
	limit    float64
	admitted bool
}

// Allocate shares the site's limit among the connectors:
//   - uncontrolled (Fixed) connectors are counted at their maximum first;
//   - connectors are admitted by priority (highest first), then oldest
//     first, each with its minimum (6 A per phase); those whose minimum no
//     longer fits are paused (limit 0), so the newest of the lowest priority
//     are paused first;
//   - what is left is shared tier by tier, highest priority first, equally
//     (water-filling: equal limits, except where a connector's ceiling is
//     lower); a connector's ceiling is its maximum, or its measured draw
//     plus a margin when it draws well below its current limit, so unused
//     headroom goes to the others;
//   - limits are whole watts, and their sum with the reserved power never
//     exceeds the site's limit.
//
// The result depends only on the input's values, not on its order.
func Allocate(site Grid, conns []Connector) Result {
	v := site.voltage()
	margin := site.MarginW
	if margin <= 0 {
		margin = DefaultMarginW
	}
	res := Result{LimitW: site.EffectiveLimitW(), Connectors: make([]Allocation, len(conns))}
	avail := res.LimitW
	ws := make([]work, 0, len(conns))
	for i := range conns {
		c := &conns[i]
		res.Connectors[i] = Allocation{Key: c.Key, Fixed: c.Fixed}
		maxW := math.Max(0, c.MaxW)
		if math.IsNaN(maxW) || math.IsInf(maxW, 0) {
			maxW = 0
		}
		if c.Fixed {
			res.ReservedW += maxW
			continue
		}
		w := work{idx: i, c: c, floor: MinW(c.Phases, v, maxW), ceil: maxW}
		if c.Measured && c.PrevLimitW > 0 && c.DrawW >= 0 && c.DrawW < c.PrevLimitW-margin/2 {
			w.ceil = min(maxW, math.Max(w.floor, c.DrawW+margin))
		}
		ws = append(ws, w)
	}
	avail -= res.ReservedW
	// Admission order: priority, then oldest, then key.
	slices.SortFunc(ws, func(a, b work) int {
		if d := cmp.Compare(b.c.Priority, a.c.Priority); d != 0 {
			return d
		}
		if d := a.c.Since.Compare(b.c.Since); d != 0 {
			return d
		}
		return cmp.Compare(a.c.Key, b.c.Key)
	})
	for i := range ws {
		w := &ws[i]
		if w.floor > 0 && w.floor <= avail {
			w.admitted = true
			w.limit = w.floor
			avail -= w.floor
		}
	}
	// Share the rest tier by tier.
	for start := 0; start < len(ws); {
		end := start + 1
		for end < len(ws) && ws[end].c.Priority == ws[start].c.Priority {
			end++
		}
		avail = fill(ws[start:end], avail)
		start = end
	}
	for i := range ws {
		w := &ws[i]
		a := &res.Connectors[w.idx]
		if !w.admitted {
			a.Paused = true
			continue
		}
		a.LimitW = math.Floor(w.limit)
		res.AllocatedW += a.LimitW
	}
	return res
}

// fill raises the admitted connectors of one tier towards a common level λ
// (each to clamp(λ, floor, ceil)) using at most avail above their floors,
// and returns what is left. λ is found by bisection, keeping the level whose
// cost fits, so the sum never exceeds avail.
func fill(tier []work, avail float64) float64 {
	if avail <= 0 {
		return avail
	}
	hi := 0.0
	for _, w := range tier {
		if w.admitted {
			hi = math.Max(hi, w.ceil)
		}
	}
	cost := func(level float64) float64 {
		s := 0.0
		for _, w := range tier {
			if w.admitted {
				s += math.Min(math.Max(level, w.floor), w.ceil) - w.floor
			}
		}
		return s
	}
	lo := 0.0
	if cost(hi) <= avail {
		lo = hi
	} else {
		// 60 halvings take any range of watts below a micro-watt.
		for range 60 {
			mid := (lo + hi) / 2
			if cost(mid) <= avail {
				lo = mid
			} else {
				hi = mid
			}
		}
	}
	used := 0.0
	for i := range tier {
		w := &tier[i]
		if !w.admitted {
			continue
		}
		// ceil ≥ floor always: floor is at most the maximum, and an
		// under-drawing connector's ceiling is at least its floor.
		l := math.Min(math.Max(lo, w.floor), w.ceil)
		used += l - w.floor
		w.limit = l
	}
	return avail - used
}

// ProfileBase starts the charging profile ids load management uses: a
// connector's limit for its running transaction is ProfileBase +
// 2×connector, its default for the next ones one more, so each new limit
// replaces the previous one on the charger.
const ProfileBase = 1_700_000_000

// ProfileID is the id of a connector's load-management profile.
func ProfileID(connectorID int, transaction bool) int {
	id := ProfileBase + 2*connectorID
	if !transaction {
		id++
	}
	return id
}

// InUnit converts a limit in W to what a charger takes: whole watts, or
// amperes per phase at the default voltage to 0.1 A, rounded down so the
// charger never gets more than allocated.
func InUnit(limitW float64, amps bool, phases int) float64 {
	if phases <= 0 {
		phases = 3
	}
	if !amps {
		return math.Max(0, math.Floor(limitW))
	}
	// The small epsilon keeps an exact 6.0 A (4140 W) from becoming 5.9.
	return math.Max(0, math.Floor(limitW/(DefaultVoltage*float64(phases))*10+1e-9)/10)
}
