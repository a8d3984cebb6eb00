package killtest

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
	"github.com/chargebridge/chargebridge/internal/loadmgmt"
	"github.com/chargebridge/chargebridge/internal/sim"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// TestLoadManagementAfterANodeIsKilled runs a 30 kW site of three 11 kW
// chargers on three nodes: CP-A on a (which leads load management), CP-B
// and CP-C on b, c idle. b is killed with SIGKILL, so it sends no
// disconnect notices. CP-C reconnects to c; CP-B cannot (it knows only
// b). Once b's heartbeat expired, a counts CP-B offline (at its maximum,
// as after a disconnect) instead of at the limit it last confirmed, and
// CP-A and CP-C share the rest; CP-C, connected again, is not counted
// offline. Then a, the leader, is killed: c takes load management over
// from the store and, once a's heartbeat expired, counts CP-A offline
// too. Last c is killed, and d starts once every heartbeat expired: it
// takes the lead with no node left to see go, and counts every charger
// offline from the start.
func TestLoadManagementAfterANodeIsKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills chargebridge processes; skipped with -short")
	}
	dsn := pgtest.Schema(t)
	ns := natstest.Start(t)
	bin := cbtest.BuildBinary(t)
	start := func(id string) *cbtest.Process {
		p := cbtest.StartServe(t, bin, id, "", "--db", dsn, "--nats", ns.URL(), "--node-id", id,
			"--auto-register", "--accept-unknown-tags", "--log-level", "warn")
		p.WaitReady(t)
		return p
	}
	a := start("a")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("a's log:\n%s", a.Out)
		}
	})
	req, _ := http.NewRequest(http.MethodPut, a.Base+"/api/v1/sites/HQ", bytes.NewReader([]byte(
		`{"name":"Head office","max_power_kw":30,"chargers":["CP-A","CP-B","CP-C"],"charger_max_kw":{"CP-A":11,"CP-B":11,"CP-C":11}}`)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT site: status %d", resp.StatusCode)
	}
	leader := a
	status := func() loadmgmt.SiteStatus {
		var st loadmgmt.SiteStatus
		leader.GetJSON(t, "/api/v1/sites/HQ", &st)
		return st
	}
	// a leads: its load manager runs the site (it started first).
	waitUntil(t, "a's load manager to run the site", 30*time.Second, func() bool { return !status().At.IsZero() })
	b := start("b")
	c := start("c")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("c's log:\n%s", c.Out)
		}
	})

	run := func(id string, urls ...string) *sim.Charger {
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
		return ch
	}
	// CP-C tries b first, then c.
	cUrls := []string{"", ""}
	h := sim.HomeNode("CP-C", 2)
	cUrls[h], cUrls[1-h] = b.WSURL(), c.WSURL()
	sims := map[string]*sim.Charger{"CP-A": run("CP-A", a.WSURL()), "CP-B": run("CP-B", b.WSURL()), "CP-C": run("CP-C", cUrls...)}
	held := func(p *cbtest.Process) map[string]int {
		var st struct {
			Nodes []struct {
				ID       string `json:"id"`
				Chargers int    `json:"chargers"`
			} `json:"nodes"`
		}
		p.GetJSON(t, "/api/v1/cluster", &st)
		out := map[string]int{}
		for _, n := range st.Nodes {
			out[n.ID] = n.Chargers
		}
		return out
	}
	waitUntil(t, "CP-A on a, CP-B and CP-C on b", 30*time.Second, func() bool {
		n := held(a)
		return n["a"] == 1 && n["b"] == 2 && n["c"] == 0
	})
	for id, ch := range sims {
		if err := ch.StartSession(1, "TAG-"+id); err != nil {
			t.Fatal(err)
		}
	}
	limits := func(st loadmgmt.SiteStatus) map[string]loadmgmt.ConnectorStatus {
		out := map[string]loadmgmt.ConnectorStatus{}
		for _, c := range st.Connectors {
			out[c.ChargerID] = c
		}
		return out
	}
	at := func(c loadmgmt.ConnectorStatus, kw float64) bool {
		return c.State == "charging" && c.LimitKW != nil && math.Abs(*c.LimitKW-kw) < 0.002
	}
	waitUntil(t, "each charger held at 10 kW", 30*time.Second, func() bool {
		l := limits(status())
		return at(l["CP-A"], 10) && at(l["CP-B"], 10) && at(l["CP-C"], 10)
	})

	b.Kill(t)
	killed := time.Now()
	var st loadmgmt.SiteStatus
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the site as last read: %+v", st)
		}
	})
	offline := func(c loadmgmt.ConnectorStatus) bool { return c.State == "uncontrolled" && c.Reason == "offline" }
	waitUntil(t, "CP-B counted offline at 11 kW, CP-A and CP-C sharing 19 kW", time.Minute, func() bool {
		st = status()
		l := limits(st)
		return offline(l["CP-B"]) && st.ReservedKW == 11 && at(l["CP-A"], 9.5) && at(l["CP-C"], 9.5)
	})
	t.Logf("CP-B counted offline %v after b was killed", time.Since(killed).Round(100*time.Millisecond))
	if got := sims["CP-A"].LimitW(1) + sims["CP-C"].LimitW(1); got > 19000+1e-6 {
		t.Errorf("CP-A and CP-C are limited to %.0f W together; want at most 19 kW", got)
	}

	a.Kill(t)
	killed = time.Now()
	leader = c
	waitUntil(t, "c to take over, CP-A and CP-B counted offline, CP-C at 8 kW", time.Minute, func() bool {
		st = status()
		l := limits(st)
		return offline(l["CP-A"]) && offline(l["CP-B"]) && st.ReservedKW == 22 && at(l["CP-C"], 8)
	})
	t.Logf("CP-A counted offline by c %v after a, the leader, was killed", time.Since(killed).Round(100*time.Millisecond))
	if got := sims["CP-C"].LimitW(1); got > 8000+1e-6 {
		t.Errorf("CP-C is limited to %.0f W; want at most 8 kW", got)
	}

	// c dies too, and d starts only once c's heartbeat expired: d takes
	// the lead with no node gone to see, and counts every charger whose
	// node is gone offline from the start (CP-C knows only b and c).
	c.Kill(t)
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	heartbeats, err := js.KeyValue(context.Background(), "cb_nodes")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "every node's heartbeat to expire", time.Minute, func() bool {
		_, err := heartbeats.Keys(context.Background())
		return errors.Is(err, jetstream.ErrNoKeysFound)
	})
	d := start("d")
	leader = d
	waitUntil(t, "d to count every charger offline", time.Minute, func() bool {
		st = status()
		l := limits(st)
		return offline(l["CP-A"]) && offline(l["CP-B"]) && offline(l["CP-C"])
	})
	d.Stop(t)
}
