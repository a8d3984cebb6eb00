package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
)

// TestConnectedSetIsTheLiveNodesChargers: the fleet view has every
// charger a live node holds, a released one no more, and a dead node's
// none once its heartbeat expired (nothing written per charger).
func TestConnectedSetIsTheLiveNodesChargers(t *testing.T) {
	ns := natstest.Start(t)
	const ttl = 1200 * time.Millisecond
	a, b, la, lb := twoNodes(t, ns.URL(), ttl)
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

// TestPresenceVersionFollowsOtherNodesRecords: b's PresenceVersion changes
// when a charger connects to a and again when its record on a is deleted,
// so that b's dashboard reloads after the record it reads is gone (a's
// heartbeat with the new count may come first).
func TestPresenceVersionFollowsOtherNodesRecords(t *testing.T) {
	ns := natstest.Start(t)
	a, b, la, _ := twoNodes(t, ns.URL(), 5*time.Second)
	v0 := b.PresenceVersion()
	la.set("CP1", true)
	a.Hold("CP1")
	within(t, "b's copy to see CP1 connect", func() bool { _, ok := b.replica.holder("CP1"); return ok })
	v1 := b.PresenceVersion()
	if v1 == v0 {
		t.Fatalf("b's presence version stayed %d after a charger connected to a", v0)
	}
	la.set("CP1", false)
	a.Release("CP1")
	within(t, "b's copy to see CP1 leave", func() bool { _, ok := b.replica.holder("CP1"); return !ok })
	if v2 := b.PresenceVersion(); v2 == v1 {
		t.Errorf("b's presence version stayed %d after the charger's record was deleted", v1)
	}
}

// TestCommandFindsAHolderWhoseRecordIsNotWritten: a command through b for a
// charger a holds but whose presence record a has not written yet (its
// writers are behind, as at a fleet's ramp: HoldSoon) is forwarded to a,
// because a's heartbeat tells of records not written and a answers b's
// question; it failed as not connected. With every record written, a
// command for a charger no node holds fails at once, as before.
func TestCommandFindsAHolderWhoseRecordIsNotWritten(t *testing.T) {
	ns := natstest.Start(t)
	var la, lb localSet
	onA := &answers{by: map[string]func(context.Context) (charging.CommandResult, error){
		"CP-LATE": func(context.Context) (charging.CommandResult, error) {
			return charging.CommandResult{Status: charging.CommandAccepted, Answer: "Accepted"}, nil
		},
	}}
	a := join(t, ns.URL(), "a", time.Minute, &la, onA)
	b := join(t, ns.URL(), "b", time.Minute, &lb, nil)
	viaB := NewRouter(b, &answers{by: map[string]func(context.Context) (charging.CommandResult, error){}}, sessions{})
	ctx := context.Background()

	// a took CP-LATE (HoldSoon's bookkeeping) and its writer has not
	// written the record yet; a's heartbeat says so.
	la.set("CP-LATE", true)
	a.mu.Lock()
	a.held["CP-LATE"] = holding{at: time.Now().UTC()}
	a.pending["CP-LATE"] = struct{}{}
	a.mu.Unlock()
	a.beat()
	res, err := viaB.Unlock(ctx, charging.Unlock{ChargerID: "CP-LATE", ConnectorID: 1})
	if err != nil || res.Answer != "Accepted" {
		t.Fatalf("unlock through b of a charger a holds without a record: %+v, %v; want it forwarded to a and accepted", res, err)
	}

	// Every record written: no question asked, not connected at once.
	a.mu.Lock()
	delete(a.pending, "CP-LATE")
	a.mu.Unlock()
	la.set("CP-LATE", false)
	a.beat()
	asked := b.whoAsked.Load()
	if _, err := viaB.Unlock(ctx, charging.Unlock{ChargerID: "CP-GONE", ConnectorID: 1}); !errors.Is(err, charging.ErrNotConnected) {
		t.Fatalf("unlock of a charger no node holds: %v; want not connected", err)
	}
	if n := b.whoAsked.Load() - asked; n != 0 {
		t.Errorf("a command for a charger no node holds asked the nodes %d times with every record written; want none (no wait)", n)
	}
}
