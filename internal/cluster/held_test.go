package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
)

// TestConnectedSetIsTheLiveNodesChargers: the fleet view has every
// charger a live node holds, a released one no more, and a dead node's
// none once its heartbeat expired (nothing written per charger).
func TestConnectedSetIsTheLiveNodesChargers(t *testing.T) {
	ns := natstest.Start(t)
	const ttl = 1200 * time.Millisecond
	var la, lb localSet
	a := join(t, ns.URL(), "a", ttl, &la, nil)
	b := join(t, ns.URL(), "b", ttl, &lb, nil)
	for _, id := range []string{"CP1", "CP2"} {
		la.set(id, true)
		a.Hold(id)
	}
	lb.set("CP3", true)
	b.Hold("CP3")
	lb.set("CP4", true)
	b.Hold("CP4")
	lb.set("CP4", false)
	b.Release("CP4")
	set := func() map[string]bool {
		t.Helper()
		s, err := b.ConnectedSet(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got, want := set(), map[string]bool{"CP1": true, "CP2": true, "CP3": true}; !cmp.Equal(got, want) {
		t.Errorf("b's view %v; want %v", got, want)
	}
	a.abandon()
	within(t, "a's chargers to leave the view", func() bool { return !set()["CP1"] })
	if got, want := set(), map[string]bool{"CP3": true}; !cmp.Equal(got, want) {
		t.Errorf("b's view after a died %v; want %v", got, want)
	}
}
