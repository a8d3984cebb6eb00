package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

func TestClusterCommand(t *testing.T) {
	s := cbtest.Start(t, cbtest.Configure(func(c *server.Config) { c.NodeID = "solo-1" }))
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"cluster"}, []string{"node solo-1 runs alone", "solo-1 (answered)", "NODE", "CHARGERS"}},
		{[]string{"cluster", "--json"}, []string{`"mode": "single"`, `"id": "solo-1"`}},
	} {
		out, err := runCLI(t, append(tt.args, "--server", s.URL())...)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v printed %q; want it to contain %q", tt.args, out, w)
			}
		}
	}
}

// TestClusterCommandShowsConsumers: a node of a cluster lists the shared
// event consumers and their lag after its nodes.
func TestClusterCommandShowsConsumers(t *testing.T) {
	ns := natstest.Start(t)
	s := cbtest.Start(t, cbtest.Configure(func(c *server.Config) {
		c.DB, c.NATS, c.NodeID = pgtest.Schema(t), ns.URL(), "node-1"
	}))
	want := []string{"node-1 (answered)", "CONSUMER", "PENDING", "UNACKNOWLEDGED", "pricer"}
	deadline := time.Now().Add(10 * time.Second) // the pricer registers as the server starts
	for {
		out, err := runCLI(t, "cluster", "--server", s.URL())
		if err != nil {
			t.Fatal(err)
		}
		missing := ""
		for _, w := range want {
			if !strings.Contains(out, w) {
				missing = w
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster printed %q; want it to contain %q", out, missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
