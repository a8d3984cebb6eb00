package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
)

// Two clusters on one NATS server (a staging and a production one) never
// see each other: a charger one holds is not connected in the other, and
// each has its own nodes, buckets and stream.
func TestClustersOnOneNATSServerAreApart(t *testing.T) {
	ns := natstest.Start(t)
	joinAs := func(name, id string) *Node {
		t.Helper()
		n, err := Join(context.Background(), Config{URL: ns.URL(), NodeID: id, Name: name, TTL: 3 * time.Second, Refresh: time.Second, CallTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(nil, echo{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		return n
	}
	staging, staging2 := joinAs("staging", "s1"), joinAs("staging", "s2")
	prod := joinAs("", "p1") // the default name
	staging.Hold("CP-1")
	within(t, "the other staging node to see CP-1", func() bool { return staging2.Connected("CP-1") })
	if prod.Connected("CP-1") {
		t.Error("a charger held in the staging cluster is connected in the production one")
	}
	ctx := context.Background()
	nodes, err := prod.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(nodes); len(got) != 1 || got[0] != "p1" {
		t.Errorf("production's nodes: %v; want only p1", got)
	}
	if staging.names.stream == prod.names.stream || staging.names.presence == prod.names.presence || staging.names.cmd == prod.names.cmd {
		t.Errorf("staging %+v and production %+v share a name", staging.names, prod.names)
	}
	if prod.names.stream != EventStream || prod.names.presence != PresenceBucket || prod.names.nodes != NodesBucket {
		t.Errorf("the default cluster's names %+v changed; nodes of older versions would not meet them", prod.names)
	}
	if _, err := Join(ctx, Config{URL: ns.URL(), NodeID: "x", Name: "bad.name"}); err == nil {
		t.Error("a cluster name with a dot (a NATS subject separator) was accepted")
	}
}
