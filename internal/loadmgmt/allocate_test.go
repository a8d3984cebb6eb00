package loadmgmt

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

// limits returns each connector's limit by key, and "P" for paused.
func limits(r Result) map[string]string {
	m := map[string]string{}
	for _, a := range r.Connectors {
		switch {
		case a.Fixed:
			m[a.Key] = "fixed"
		case a.Paused:
			m[a.Key] = "P"
		default:
			m[a.Key] = fmt.Sprint(a.LimitW)
		}
	}
	return m
}

func TestAllocate(t *testing.T) {
	tests := []struct {
		name  string
		site  Grid
		conns []Connector
		want  map[string]string
	}{
		{
			name:  "three-11kW-on-22kW-share-equally",
			site:  Grid{LimitW: 22000},
			conns: []Connector{{Key: "A", MaxW: 11000, Since: at(0)}, {Key: "B", MaxW: 11000, Since: at(1)}, {Key: "C", MaxW: 11000, Since: at(2)}},
			want:  map[string]string{"A": "7333", "B": "7333", "C": "7333"},
		},
		{
			name:  "two-11kW-on-22kW-get-their-maximum",
			site:  Grid{LimitW: 22000},
			conns: []Connector{{Key: "A", MaxW: 11000}, {Key: "B", MaxW: 11000}},
			want:  map[string]string{"A": "11000", "B": "11000"},
		},
		{
			name:  "a-small-connector-leaves-the-rest-to-others",
			site:  Grid{LimitW: 22000},
			conns: []Connector{{Key: "A", MaxW: 3680, Phases: 1}, {Key: "B", MaxW: 22000}, {Key: "C", MaxW: 22000}},
			want:  map[string]string{"A": "3680", "B": "9160", "C": "9160"},
		},
		{
			name: "newest-paused-first-when-minimum-does-not-fit",
			// 6 A × 230 V × 3 = 4140 W each; 10 kW fits two.
			site:  Grid{LimitW: 10000},
			conns: []Connector{{Key: "new", MaxW: 11000, Since: at(5)}, {Key: "old", MaxW: 11000, Since: at(0)}, {Key: "mid", MaxW: 11000, Since: at(2)}},
			want:  map[string]string{"old": "5000", "mid": "5000", "new": "P"},
		},
		{
			name:  "priority-served-first",
			site:  Grid{LimitW: 20000},
			conns: []Connector{{Key: "visitor", MaxW: 11000, Since: at(0)}, {Key: "fleet", MaxW: 11000, Priority: 1, Since: at(9)}},
			want:  map[string]string{"fleet": "11000", "visitor": "9000"},
		},
		{
			name: "priority-paused-last",
			site: Grid{LimitW: 9000},
			conns: []Connector{{Key: "visitor1", MaxW: 11000, Since: at(0)}, {Key: "visitor2", MaxW: 11000, Since: at(1)},
				{Key: "fleet", MaxW: 11000, Priority: 1, Since: at(9)}},
			want: map[string]string{"fleet": "4860", "visitor1": "4140", "visitor2": "P"},
		},
		{
			name: "under-drawing-connector-gives-headroom-away",
			site: Grid{LimitW: 22000},
			conns: []Connector{
				{Key: "full-battery", MaxW: 11000, PrevLimitW: 7333, DrawW: 2000, Measured: true},
				{Key: "B", MaxW: 11000, PrevLimitW: 7333, DrawW: 7300, Measured: true},
				{Key: "C", MaxW: 11000, PrevLimitW: 7333, DrawW: 7330, Measured: true},
			},
			// full-battery keeps max(floor 4140, draw + 1000): 4140.
			want: map[string]string{"full-battery": "4140", "B": "8930", "C": "8930"},
		},
		{
			name: "connector-drawing-its-limit-is-not-capped",
			site: Grid{LimitW: 22000},
			conns: []Connector{
				{Key: "A", MaxW: 11000, PrevLimitW: 4140, DrawW: 4100, Measured: true},
				{Key: "B", MaxW: 11000, PrevLimitW: 8930, DrawW: 8900, Measured: true},
			},
			want: map[string]string{"A": "11000", "B": "11000"},
		},
		{
			name:  "fixed-connector-counted-at-its-maximum",
			site:  Grid{LimitW: 22000},
			conns: []Connector{{Key: "offline", MaxW: 11000, Fixed: true}, {Key: "B", MaxW: 11000}, {Key: "C", MaxW: 11000}},
			want:  map[string]string{"offline": "fixed", "B": "5500", "C": "5500"},
		},
		{
			name:  "fixed-connectors-exhaust-the-site",
			site:  Grid{LimitW: 22000},
			conns: []Connector{{Key: "X", MaxW: 11000, Fixed: true}, {Key: "Y", MaxW: 11000, Fixed: true}, {Key: "C", MaxW: 11000}},
			want:  map[string]string{"X": "fixed", "Y": "fixed", "C": "P"},
		},
		{
			name:  "per-phase-limit-caps-the-site",
			site:  Grid{LimitW: 50000, PhaseLimitA: 32},
			conns: []Connector{{Key: "A", MaxW: 22000}, {Key: "B", MaxW: 22000}},
			want:  map[string]string{"A": "11040", "B": "11040"},
		},
		{
			name:  "single-phase-floor-is-lower",
			site:  Grid{LimitW: 5600},
			conns: []Connector{{Key: "3ph", MaxW: 11000, Since: at(0)}, {Key: "1ph", MaxW: 7400, Phases: 1, Since: at(1)}},
			// floors 4140 and 1380 fit; 80 W left goes to both equally-level: 3ph at 4140 already above λ.
			want: map[string]string{"3ph": "4140", "1ph": "1460"},
		},
		{
			name:  "zero-maximum-is-paused",
			site:  Grid{LimitW: 22000},
			conns: []Connector{{Key: "A", MaxW: 0}, {Key: "B", MaxW: 11000}},
			want:  map[string]string{"A": "P", "B": "11000"},
		},
		{
			name:  "empty-site",
			site:  Grid{LimitW: 22000},
			conns: nil,
			want:  map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := limits(Allocate(tt.site, tt.conns))
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("limits (-want +got):\n%s", d)
			}
		})
	}
}

// randomSite draws a site and its connectors from r.
func randomSite(r *rand.Rand) (Grid, []Connector) {
	site := Grid{LimitW: float64(r.IntN(200000))}
	if r.IntN(4) == 0 {
		site.PhaseLimitA = float64(r.IntN(400))
	}
	n := r.IntN(40)
	conns := make([]Connector, n)
	for i := range conns {
		maxes := []float64{3680, 7400, 11000, 22000, 50000, float64(r.IntN(30000))}
		c := Connector{
			Key:      fmt.Sprintf("CP-%d/1", i),
			MaxW:     maxes[r.IntN(len(maxes))],
			Phases:   []int{0, 1, 3}[r.IntN(3)],
			Priority: r.IntN(3),
			Since:    at(r.IntN(30)),
			Fixed:    r.IntN(10) == 0,
		}
		if r.IntN(2) == 0 {
			c.PrevLimitW = float64(r.IntN(22000))
			c.DrawW = float64(r.IntN(22000))
			c.Measured = true
		}
		conns[i] = c
	}
	return site, conns
}

// TestAllocateProperties checks, on many random sites, that the sum never
// exceeds the limit, no connector exceeds its maximum, every admitted
// connector has its floor, identical connectors get identical limits, the
// result does not depend on the input's order, and a paused connector is
// never older (at its priority) than an admitted one of equal floor.
func TestAllocateProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 2026))
	for iter := range 3000 {
		site, conns := randomSite(r)
		res := Allocate(site, conns)
		if len(res.Connectors) != len(conns) {
			t.Fatalf("iter %d: %d allocations for %d connectors", iter, len(res.Connectors), len(conns))
		}
		sum := 0.0
		for i, a := range res.Connectors {
			c := conns[i]
			if a.Key != c.Key {
				t.Fatalf("iter %d: allocation %d is %s; want %s (input order)", iter, i, a.Key, c.Key)
			}
			if a.LimitW > c.MaxW {
				t.Errorf("iter %d: %s limit %v above its maximum %v", iter, c.Key, a.LimitW, c.MaxW)
			}
			if a.LimitW != math.Floor(a.LimitW) || a.LimitW < 0 {
				t.Errorf("iter %d: %s limit %v is not whole non-negative watts", iter, c.Key, a.LimitW)
			}
			if !c.Fixed && !a.Paused && a.LimitW < math.Floor(MinW(c.Phases, DefaultVoltage, c.MaxW)) {
				t.Errorf("iter %d: %s limit %v below its 6 A floor", iter, c.Key, a.LimitW)
			}
			if a.Paused && a.LimitW != 0 {
				t.Errorf("iter %d: paused %s has limit %v", iter, c.Key, a.LimitW)
			}
			sum += a.LimitW
		}
		if sum != res.AllocatedW {
			t.Errorf("iter %d: AllocatedW %v; sum of limits %v", iter, res.AllocatedW, sum)
		}
		if res.ReservedW <= res.LimitW && sum+res.ReservedW > res.LimitW+1e-6 {
			t.Errorf("iter %d: allocated %v + reserved %v exceeds the limit %v", iter, sum, res.ReservedW, res.LimitW)
		}
		if res.ReservedW > res.LimitW && sum != 0 {
			t.Errorf("iter %d: reserved %v exceeds the limit %v, yet %v allocated", iter, res.ReservedW, res.LimitW, sum)
		}
		// Equal shares among equals.
		type class struct {
			maxW         float64
			phases, prio int
			measured     bool
			draw, prev   float64
			fixed        bool
		}
		byClass := map[class]float64{}
		for i, a := range res.Connectors {
			c := conns[i]
			if a.Paused {
				continue
			}
			k := class{c.MaxW, c.Phases, c.Priority, c.Measured, c.DrawW, c.PrevLimitW, c.Fixed}
			if l, ok := byClass[k]; ok && l != a.LimitW {
				t.Errorf("iter %d: equal connectors got %v and %v", iter, l, a.LimitW)
			}
			byClass[k] = a.LimitW
		}
		// Paused ones are the newest: no admitted connector of the same
		// priority and floor is newer than a paused one.
		for i, a := range res.Connectors {
			if !a.Paused || conns[i].MaxW <= 0 {
				continue
			}
			for j, b := range res.Connectors {
				ci, cj := conns[i], conns[j]
				if b.Paused || b.Fixed || ci.Priority != cj.Priority ||
					MinW(ci.Phases, DefaultVoltage, ci.MaxW) != MinW(cj.Phases, DefaultVoltage, cj.MaxW) {
					continue
				}
				if cj.Since.After(ci.Since) {
					t.Errorf("iter %d: %s paused while newer %s charges", iter, ci.Key, cj.Key)
				}
			}
		}
		// Order independence.
		shuffled := slices.Clone(conns)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		res2 := Allocate(site, shuffled)
		want := map[string]Allocation{}
		for _, a := range res.Connectors {
			want[a.Key] = a
		}
		for _, a := range res2.Connectors {
			if want[a.Key] != a {
				t.Errorf("iter %d: %s got %+v in another order; want %+v", iter, a.Key, a, want[a.Key])
			}
		}
	}
}

// TestAllocateUsesTheSite checks that headroom is not wasted: when some
// connector is below its ceiling, at most a watt per connector is left.
func TestAllocateUsesTheSite(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	for iter := range 2000 {
		site, conns := randomSite(r)
		for i := range conns {
			conns[i].Measured, conns[i].Fixed = false, false
		}
		res := Allocate(site, conns)
		left := res.LimitW - res.AllocatedW
		unsaturated := false
		for i, a := range res.Connectors {
			if !a.Paused && a.LimitW < math.Floor(conns[i].MaxW) {
				unsaturated = true
			}
		}
		if unsaturated && left > float64(len(conns))+1e-6 {
			// Something left that a paused connector could not use
			// (its floor is bigger) is fine; an admitted one could.
			t.Errorf("iter %d: %v W left unallocated while a connector is below its maximum", iter, left)
		}
	}
}

func BenchmarkAllocate1000(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1000))
	conns := make([]Connector, 1000)
	for i := range conns {
		conns[i] = Connector{Key: fmt.Sprintf("CP-%04d/1", i), MaxW: []float64{7400, 11000, 22000}[r.IntN(3)],
			Priority: r.IntN(3), Since: at(r.IntN(600)), DrawW: float64(r.IntN(22000)), PrevLimitW: 7000, Measured: i%2 == 0}
	}
	site := Grid{LimitW: 2_000_000, PhaseLimitA: 3000}
	b.ReportAllocs()
	for b.Loop() {
		Allocate(site, conns)
	}
}

func TestInUnit(t *testing.T) {
	for _, tc := range []struct {
		w      float64
		amps   bool
		phases int
		want   float64
	}{
		{7333.4, false, 3, 7333},
		{7333, true, 3, 10.6},
		{4140, true, 3, 6},
		{1380, true, 1, 6},
		{0, true, 3, 0},
		{-5, false, 3, 0},
	} {
		if got := InUnit(tc.w, tc.amps, tc.phases); got != tc.want {
			t.Errorf("InUnit(%v, amps %v, %d phases) = %v; want %v", tc.w, tc.amps, tc.phases, got, tc.want)
		}
	}
}
