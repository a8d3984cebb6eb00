package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
	"github.com/chargebridge/chargebridge/internal/sim"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
	"github.com/chargebridge/chargebridge/internal/testenv"
)

// TestNodesSpreadTheFleetAndSendCommandsAcross runs `bench --nodes 2`'s
// plumbing on a few chargers: two serve processes on one PostgreSQL
// database and an embedded NATS server, each charger on the node its id
// picks, per-node counts from the nodes' gauges and from the cluster view,
// and commands sent both to the holding node and to the other one. It
// checks what was counted, not how fast.
func TestNodesSpreadTheFleetAndSendCommandsAcross(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the chargebridge binary and runs three processes; skipped with -short")
	}
	db := pgtest.URL(t)
	ns := natstest.Start(t)
	bin := cbtest.BuildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress strings.Builder
	rep, err := Run(ctx, Options{
		Exe: bin, Nodes: 2, DB: db, NATS: ns.URL(),
		Scenarios: []Scenario{{Name: "mixed", Chargers: 6, MeterInterval: time.Second}},
		Window:    2 * time.Second, PerWorker: 3, CommandRate: 10, Progress: &progress,
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, progress.String())
	}
	if len(rep.Results) != 1 {
		t.Fatalf("got %d results; want 1", len(rep.Results))
	}
	r := rep.Results[0]
	if r.Workers != 2 || r.Connected != 6 || len(r.Nodes) != 2 {
		t.Fatalf("got %d workers, %d connected, %d nodes; want 2, 6, 2\n%s", r.Workers, r.Connected, len(r.Nodes), progress.String())
	}
	// The chargers are B0-00001…3 and B1-00001…3; each is on its home node.
	want := make([]int64, 2)
	for w := range 2 {
		for i := 1; i <= 3; i++ {
			want[sim.HomeNode(fmt.Sprintf("B%d-%05d", w, i), 2)]++
		}
	}
	for i, n := range r.Nodes {
		if n.Chargers != want[i] || int64(n.Presence) != want[i] {
			t.Errorf("node %s holds %d chargers, the cluster view says %d; want %d", n.ID, n.Chargers, n.Presence, want[i])
		}
		if n.RSSConnMB <= 0 || n.FDLimit <= 0 {
			t.Errorf("node %s: RSS %.1f MB, fd limit %d; want them read", n.ID, n.RSSConnMB, n.FDLimit)
		}
	}
	if r.Local == nil || r.Cross == nil || r.Local.Count == 0 || r.Cross.Count == 0 {
		t.Fatalf("got local %+v, cross-node %+v; want commands answered both ways", r.Local, r.Cross)
	}
	var table strings.Builder
	rep.WriteTable(&table)
	for _, s := range []string{r.Nodes[0].ID, r.Nodes[1].ID, "cross-node commands", "local commands"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("the table does not show %q:\n%s", s, table.String())
		}
	}
}

// TestNATSOfItsOwn: without --nats each scenario runs a nats-server of its
// own with JetStream, gone when the scenario ends.
func TestNATSOfItsOwn(t *testing.T) {
	if _, err := exec.LookPath("nats-server"); err != nil {
		testenv.Missing(t, "nats-server is not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, stop, err := startNATS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(u)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Errorf("JetStream on %s: %v", u, err)
	}
	nc.Close()
	stop()
	if nc, err := nats.Connect(u, nats.NoReconnect()); err == nil {
		nc.Close()
		t.Errorf("%s still answers after stop", u)
	}
}

// TestForwardPhasesFromMetrics: the forwarded commands' phases are read
// from two scrapes of the nodes' histograms (summed over nodes, the
// difference between scrapes), and an estimate beyond the largest bucket
// still encodes as JSON.
func TestForwardPhasesFromMetrics(t *testing.T) {
	page := func(lookupFast, lookupSlow, runSlow int) []byte {
		return []byte(fmt.Sprintf(`# TYPE chargebridge_cluster_forward_seconds histogram
chargebridge_cluster_forward_seconds_bucket{phase="lookup",le="0.001"} %d
chargebridge_cluster_forward_seconds_bucket{phase="lookup",le="10"} %d
chargebridge_cluster_forward_seconds_bucket{phase="lookup",le="+Inf"} %d
chargebridge_cluster_forward_seconds_sum{phase="lookup"} %g
chargebridge_cluster_forward_seconds_count{phase="lookup"} %d
chargebridge_cluster_forward_seconds_bucket{phase="run",le="10"} 0
chargebridge_cluster_forward_seconds_bucket{phase="run",le="+Inf"} %d
chargebridge_cluster_forward_seconds_sum{phase="run"} %d
chargebridge_cluster_forward_seconds_count{phase="run"} %d
chargebridge_chargers_connected 3
`, lookupFast, lookupFast+lookupSlow, lookupFast+lookupSlow, float64(lookupFast)*0.0005+float64(lookupSlow)*5, lookupFast+lookupSlow, runSlow, 20*runSlow, runSlow))
	}
	before, after := forwardHist{}, forwardHist{}
	before.add(page(10, 0, 0)) // node 1
	before.add(page(0, 0, 0))  // node 2
	after.add(page(10+98, 2, 0))
	after.add(page(0, 0, 4))
	got := after.since(before, []string{"lookup", "request", "run"})
	want := []PhaseTime{
		{Phase: "lookup", Count: 100, MeanMs: (98*0.5 + 2*5000) / 100.0, P50ms: 1, P99ms: 10000},
		{Phase: "run", Count: 4, MeanMs: 20000, P50ms: -1, P99ms: -1},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	if _, err := json.Marshal(CommandLatency{Phases: got}); err != nil {
		t.Errorf("phases do not encode as JSON: %v", err)
	}
}
