package bench

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

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
