package killtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
	"github.com/chargebridge/chargebridge/internal/sim"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// TestKillANodeOfThree runs three chargebridge processes on one PostgreSQL
// database joined by NATS, with a fleet of simulated chargers spread over
// them, kills one node with SIGKILL mid-stream, and checks that its
// chargers are served by the other two within a minute, that charging goes
// on, and that every StopTransaction the fleet had acknowledged is a
// completed session, stored once.
func TestKillANodeOfThree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills chargebridge processes; skipped with -short")
	}
	dsn := pgtest.Schema(t)
	ns := natstest.Start(t)
	bin := cbtest.BuildBinary(t)
	var nodes []*cbtest.Process
	var urls []string
	for i := range 3 {
		id := fmt.Sprintf("n%d", i+1)
		p := cbtest.StartServe(t, bin, id, "", "--db", dsn, "--nats", ns.URL(), "--node-id", id,
			"--auto-register", "--accept-unknown-tags", "--log-level", "warn")
		nodes = append(nodes, p)
		urls = append(urls, p.WSURL())
	}
	for _, p := range nodes {
		p.WaitReady(t)
	}

	const chargers = 9
	fleet, err := sim.NewFleet(sim.Config{
		URL: strings.Join(urls, ","), IDPrefix: "KN-", Connectors: 1, MaxPowerKW: 50,
		MeterInterval: 20 * time.Millisecond, SessionLength: sim.DurationRange{Min: 300 * time.Millisecond, Max: 500 * time.Millisecond},
		Energy: sim.KWhRange{Min: 20, Max: 30}, IdleTime: sim.DurationRange{Min: 10 * time.Millisecond, Max: 30 * time.Millisecond},
		FinishingTime: sim.DurationRange{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}, TimeScale: 600,
		IntervalUnit: 10 * time.Millisecond, StepTime: 10 * time.Millisecond, RebootTime: 20 * time.Millisecond,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond, CallTimeout: 3 * time.Second, Seed: 11,
		StopReasons: []sim.StopReasonWeight{{Reason: "Local", Weight: 1}},
	}, chargers)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fleet.Run(ctx) }()
	stopFleet := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("fleet: %v", err)
		}
	}
	defer func() {
		if ctx.Err() == nil {
			stopFleet()
		}
	}()
	held := func(p *cbtest.Process) map[string]int {
		var st api.ClusterStatus
		p.GetJSON(t, "/api/v1/cluster", &st)
		out := map[string]int{}
		for _, n := range st.Nodes {
			out[n.ID] = n.Chargers
		}
		return out
	}
	wait := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s (fleet %+v)", d, what, fleet.Stats())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait("every charger connected and charging on all three nodes", 30*time.Second, func() bool {
		h := held(nodes[1])
		return fleet.Stats().SessionsCompleted >= chargers && h["n1"] > 0 && h["n2"] > 0 && h["n3"] > 0 && h["n1"]+h["n2"]+h["n3"] == chargers
	})
	before := held(nodes[1])
	killedAt := time.Now()
	nodes[0].Kill(t)
	t.Logf("killed n1 holding %d of %d chargers, %d sessions completed so far", before["n1"], chargers, fleet.Stats().SessionsCompleted)
	wait("n1's chargers held by n2 and n3", time.Minute, func() bool {
		h := held(nodes[1])
		return h["n2"]+h["n3"] == chargers
	})
	t.Logf("all %d chargers held by n2 and n3 %v after the kill", chargers, time.Since(killedAt).Round(10*time.Millisecond))
	after := fleet.Stats().SessionsCompleted
	wait("charging to go on", 30*time.Second, func() bool { return fleet.Stats().SessionsCompleted >= after+chargers })
	stopFleet()
	st := fleet.Stats()
	if st.CallErrors != 0 || st.RetryMismatches != 0 {
		t.Errorf("fleet %+v; want no CALLERROR and no retried start answered with another transaction", st)
	}

	// Every acknowledged stop is a completed session, once.
	completed := 0
	seen := map[string]bool{}
	for _, s := range nodes[2].Sessions(t) {
		if seen[s.TransactionID] {
			t.Errorf("transaction %s stored twice", s.TransactionID)
		}
		seen[s.TransactionID] = true
		if s.MeterStopWh != nil {
			if s.Status != "completed" {
				t.Errorf("session %s stopped Local is %s", s.ID, s.Status)
			}
			completed++
			if s.KWh <= 0 {
				t.Errorf("completed session %s without energy", s.ID)
			}
		}
	}
	// Every acknowledged stop is stored; a stop stored but not yet
	// answered when the fleet stopped (one per charger at most) is too.
	if n := int64(completed); n < st.SessionsCompleted || n > st.SessionsCompleted+chargers {
		t.Errorf("%d completed sessions stored; the fleet had %d StopTransactions acknowledged (and at most %d in flight)", completed, st.SessionsCompleted, chargers)
	}
	t.Logf("%d sessions completed across the kill, each stored once", completed)
	for _, p := range nodes[1:] {
		p.Stop(t)
	}
}
