package cluster

import (
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
)

// TestHoldSoonDoesNotWaitForPresenceWrites: a connection's handshake
// takes its charger with HoldSoon, which returns while the charger's
// stripe is busy with another presence write (Hold waited there: at a
// 100 000-charger ramp thousands of handshakes queued behind the
// key-value writes); the record is written once the stripe is free.
func TestHoldSoonDoesNotWaitForPresenceWrites(t *testing.T) {
	ns := natstest.Start(t)
	a, b, la, _ := twoNodes(t, ns.URL(), time.Minute)
	const cp = "CP-SOON"
	la.set(cp, true)

	stripe := a.stripe(cp)
	stripe.Lock() // another write of the stripe in progress
	a.HoldSoon(cp)
	if got := a.Held(); got != 1 {
		t.Errorf("a holds %d chargers after HoldSoon; want 1 at once", got)
	}
	if _, ok := record(t, a, cp); ok {
		t.Errorf("the record was written while its stripe was busy; want it written after")
	}
	stripe.Unlock()
	within(t, "b to see a as the holder", func() bool { return holder(t, b, cp) == "a" })
	if a.Held() != 1 {
		t.Errorf("a holds %d chargers after the write; want 1", a.Held())
	}
}

// TestHoldSoonThenReleaseLeavesNoRecord: a charger that leaves before its
// record was written leaves none, whichever of the write and the release
// runs first, and a write that comes after the release writes nothing.
func TestHoldSoonThenReleaseLeavesNoRecord(t *testing.T) {
	ns := natstest.Start(t)
	var la localSet
	a := join(t, ns.URL(), "a", time.Minute, &la, nil)
	const cp = "CP-GONE"
	la.set(cp, true)

	stripe := a.stripe(cp)
	stripe.Lock()
	a.HoldSoon(cp)
	la.set(cp, false)
	released := make(chan struct{})
	go func() { defer close(released); a.Release(cp) }()
	stripe.Unlock()
	<-released
	a.writeHeld(cp) // the writer's turn comes after the release
	if e, ok := record(t, a, cp); ok {
		t.Fatalf("record %+v left after the charger left; want none", e)
	}
	if a.Held() != 0 {
		t.Errorf("a holds %d chargers; want 0", a.Held())
	}
}

// TestHoldSoonReconnectKeepsTheNewerConnection: two connections of one
// charger to the same node in a row (the second replaced the first before
// either record was written): the record written is the newer one's.
func TestHoldSoonReconnectKeepsTheNewerConnection(t *testing.T) {
	ns := natstest.Start(t)
	var la localSet
	a := join(t, ns.URL(), "a", time.Minute, &la, nil)
	const cp = "CP-TWICE"
	la.set(cp, true)

	stripe := a.stripe(cp)
	stripe.Lock()
	a.HoldSoon(cp)
	a.mu.Lock()
	first := a.held[cp].at
	a.mu.Unlock()
	for {
		a.HoldSoon(cp)
		a.mu.Lock()
		second := a.held[cp].at
		a.mu.Unlock()
		if !second.Equal(first) {
			break
		}
	}
	stripe.Unlock()
	a.mu.Lock()
	want := a.held[cp].at
	a.mu.Unlock()
	written := func() bool {
		a.mu.Lock()
		h := a.held[cp]
		_, pending := a.pending[cp]
		a.mu.Unlock()
		return !pending && h.rev != 0
	}
	within(t, "the record to be written", written)
	e, ok := record(t, a, cp)
	if !ok || !e.ConnectedAt.Equal(want) {
		t.Errorf("record %+v (found %v); want the newer connection's, connected at %v", e, ok, want)
	}
	a.mu.Lock()
	h := a.held[cp]
	a.mu.Unlock()
	if !h.at.Equal(want) {
		t.Errorf("a's bookkeeping %+v; want the newer connection (%v)", h, want)
	}
}
