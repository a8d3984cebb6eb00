package server_test

import (
	"context"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
	"github.com/chargebridge/chargebridge/internal/loadmgmt"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/sim"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// startLoadNode runs a node of a cluster whose load manager reports to w.
func startLoadNode(t *testing.T, dsn, natsURL, id string, w *siteWatch) *cbtest.Server {
	t.Helper()
	return cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) {
		c.DB, c.NATS, c.NodeID, c.AcceptUnknownTags = dsn, natsURL, id, true
	}), w.option)
}

// nodeSim runs a simulated 11 kW single-connector charger that connects
// to home first and moves to the other node when home is gone.
func nodeSim(t *testing.T, id string, home, other *cbtest.Server) *sim.Charger {
	t.Helper()
	urls := []string{"", ""}
	h := sim.HomeNode(id, 2)
	urls[h], urls[1-h] = home.WSURL(), other.WSURL()
	ch, err := sim.NewCharger(sim.Config{
		URL: strings.Join(urls, ","), Connectors: 1, MaxPowerKW: 11, NoAutoStart: true, TimeScale: 60,
		MeterInterval: 100 * time.Millisecond, Energy: sim.KWhRange{Min: 500, Max: 500},
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 50 * time.Millisecond,
	}, id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ch.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "charger "+id+" to connect to node "+home.Config.NodeID, func() bool { return home.OCPP().Connected(id) })
	return ch
}

// TestSiteAcrossTwoNodes runs a site whose two chargers are held by two
// nodes of a cluster: one node's load manager allocates the site (the
// other's never runs) and its limits reach the charger on the other node;
// a site changed through the other node is re-allocated; when the leading
// node stops, the other one takes over, and a stop there moves the
// stopped charger's share to the other charger.
func TestSiteAcrossTwoNodes(t *testing.T) {
	dsn := pgtest.Schema(t)
	ns := natstest.Start(t)
	wa, wb := newSiteWatch(t, 16), newSiteWatch(t, 16)
	a := startLoadNode(t, dsn, ns.URL(), "a", wa)
	for _, id := range []string{"CP-A", "CP-B"} {
		registerCharger(t, a, id)
	}
	put := func(s *cbtest.Server, kw string, chargers ...string) {
		t.Helper()
		ids, max := []string{}, []string{}
		for _, c := range chargers {
			ids, max = append(ids, `"`+c+`"`), append(max, `"`+c+`":11`)
		}
		st, body := call(t, s, http.MethodPut, "/api/v1/sites/HQ", `{"name":"Head office","max_power_kw":`+kw+
			`,"chargers":[`+strings.Join(ids, ",")+`],"charger_max_kw":{`+strings.Join(max, ",")+`}}`)
		if st != http.StatusOK {
			t.Fatalf("PUT site through %s = %d %s; want 200", s.Config.NodeID, st, body)
		}
	}
	// Through a, alone: a leads, and its load manager shows the site.
	put(a, "16")
	wa.await("a's load manager to run the site", func(st loadmgmt.SiteStatus) bool { return st.ID == "HQ" })
	b := startLoadNode(t, dsn, ns.URL(), "b", wb)

	// Both charge before they join the site, so that the first allocation
	// has both (a connector that starts later is counted at its maximum
	// until its limit is confirmed, which the watch would report).
	sims := map[string]*sim.Charger{"CP-A": nodeSim(t, "CP-A", a, b), "CP-B": nodeSim(t, "CP-B", b, a)}
	for i, id := range []string{"CP-A", "CP-B"} {
		if err := sims[id].StartSession(1, "TAG-"+string(rune('1'+i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both chargers to charge", func() bool { return sims["CP-A"].Charging(1) && sims["CP-B"].Charging(1) })
	// Through b, which does not lead: a hears of it and allocates.
	put(b, "16", "CP-A", "CP-B")
	// atChargers waits until the charging chargers' limits in force are
	// want (kW, within the rounding of a limit in A) and checks their sum.
	atChargers := func(what string, want map[string]float64, siteKW float64) {
		t.Helper()
		waitFor(t, what, func() bool {
			for id, kw := range want {
				if math.Abs(sims[id].LimitW(1)-kw*1000) > 100 {
					return false
				}
			}
			return true
		})
		sum := 0.0
		for id := range want {
			sum += sims[id].LimitW(1)
		}
		if sum > siteKW*1000+1e-6 {
			t.Fatalf("%s: the chargers' limits add up to %.0f W > the site's %.0f kW", what, sum, siteKW)
		}
	}
	both := func(kw float64) func(loadmgmt.SiteStatus) bool {
		return func(st loadmgmt.SiteStatus) bool {
			l, ok := limitsInForce(st, 2)
			return ok && near(l["CP-A"], kw) && near(l["CP-B"], kw)
		}
	}
	wa.await("a to give each charger 8 kW", both(8))
	atChargers("each charger at 8 kW", map[string]float64{"CP-A": 8, "CP-B": 8}, 16)
	before := map[string]int64{"CP-A": sims["CP-A"].Stats().ProfilesSet, "CP-B": sims["CP-B"].Stats().ProfilesSet}

	// Changed through b again: a re-allocates it, and each charger gets
	// its new share once, from a.
	for _, w := range []*siteWatch{wa, wb} {
		w.mu.Lock()
		w.limitW = 18000
		w.mu.Unlock()
	}
	put(b, "18", "CP-A", "CP-B")
	wa.await("a to give each charger 9 kW", both(9))
	atChargers("each charger at 9 kW", map[string]float64{"CP-A": 9, "CP-B": 9}, 18)
	for id, n := range before {
		if got := sims[id].Stats().ProfilesSet - n; got != 1 {
			t.Errorf("%s accepted %d charging profiles for the change to 18 kW; want 1 (from one load manager)", id, got)
		}
	}
	// b's API shows the allocation a announced.
	waitFor(t, "b's API to show a's allocation", func() bool {
		var st loadmgmt.SiteStatus
		return b.GetJSON("/api/v1/sites/HQ", &st) == http.StatusOK && st.LimitKW == 18 && both(9)(st)
	})
	wb.mu.Lock()
	if wb.last.ID != "" {
		t.Errorf("b's load manager ran while a led: it reported %+v", wb.last)
	}
	wb.mu.Unlock()

	// a stops: CP-A moves to b, b's load manager takes the site over from
	// the store, and a stop on CP-B gives CP-A the whole 11 kW.
	a.Stop()
	waitFor(t, "CP-A to move to b", func() bool { return b.OCPP().Connected("CP-A") })
	wb.await("b to take the site over", both(9))
	if err := sims["CP-B"].StopSession(1, "Local"); err != nil {
		t.Fatal(err)
	}
	wb.await("b to give CP-A 11 kW", func(st loadmgmt.SiteStatus) bool {
		l, ok := limitsInForce(st, 1)
		return ok && near(l["CP-A"], 11)
	})
	atChargers("CP-A at 11 kW", map[string]float64{"CP-A": 11}, 18)
	wa.check()
	wb.check()
}
