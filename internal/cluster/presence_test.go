package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
)

// writes returns how many messages a bucket's stream has taken: every
// put and delete is one.
func writes(t *testing.T, n *Node, bucket string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := n.js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// record returns a charger's presence record as stored, believed or not.
func record(t *testing.T, n *Node, charger string) (Entry, bool) {
	t.Helper()
	kve, err := n.presence.Get(context.Background(), key(charger))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var e Entry
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		t.Fatal(err)
	}
	return e, true
}

// TestHeldChargersCostOnlyTheHeartbeat: a node's refresh writes its
// heartbeat, one key-value write, however many chargers it holds.
func TestHeldChargersCostOnlyTheHeartbeat(t *testing.T) {
	ns := natstest.Start(t)
	a, b, la, _ := twoNodes(t, ns.URL(), time.Hour) // its loop never refreshes: the test does
	const held = 200
	for i := range held {
		id := fmt.Sprintf("CP%03d", i)
		la.set(id, true)
		a.Hold(id)
	}
	a.refresh() // the heartbeat tells the new count
	p0, h0 := writes(t, a, PresenceBucket), writes(t, a, NodesBucket)
	const refreshes = 10
	for range refreshes {
		a.refresh()
	}
	if got := writes(t, a, PresenceBucket) - p0; got != 0 {
		t.Errorf("%d refreshes of a node holding %d chargers wrote %d presence records; want 0", refreshes, held, got)
	}
	if got := writes(t, a, NodesBucket) - h0; got != refreshes {
		t.Errorf("%d refreshes wrote %d heartbeats; want %d", refreshes, got, refreshes)
	}
	nodes, err := b.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].ID != "a" || nodes[0].Chargers != held {
		t.Errorf("nodes %+v; want a holding %d", nodes, held)
	}
	for _, id := range []string{"CP000", "CP199"} {
		if got := holder(t, b, id); got != "a" {
			t.Errorf("holder of %s seen from b: %q; want a", id, got)
		}
	}
}

// TestDeadNodesChargersGoWithItsHeartbeat: the records need no refresh
// while their node lives, and are not believed once its heartbeat
// expires; a lookup deletes them.
func TestDeadNodesChargersGoWithItsHeartbeat(t *testing.T) {
	ns := natstest.Start(t)
	const ttl = 1200 * time.Millisecond
	a, b, la, _ := twoNodes(t, ns.URL(), ttl)
	var cps []string
	for i := range 20 {
		id := fmt.Sprintf("CP%02d", i)
		cps = append(cps, id)
		la.set(id, true)
		a.Hold(id)
	}
	p0 := writes(t, b, PresenceBucket)
	time.Sleep(2 * ttl) // 12 refreshes
	for _, id := range cps {
		if got := holder(t, b, id); got != "a" {
			t.Fatalf("after 2 TTLs of a live node: holder of %s %q; want a", id, got)
		}
	}
	if got := writes(t, b, PresenceBucket) - p0; got != 0 {
		t.Errorf("a live node's refreshes wrote %d presence records; want 0", got)
	}

	a.abandon() // its heartbeat expires; nothing is written per charger
	within(t, "a's chargers to be unreachable", func() bool { return !b.Connected(cps[0]) })
	for _, id := range cps {
		if b.Connected(id) {
			t.Errorf("b.Connected(%s) = true after a died; want false", id)
		}
		if e, ok := record(t, b, id); ok {
			t.Errorf("stale record %+v of %s kept after a lookup; want it deleted", e, id)
		}
	}
	viaB := NewRouter(b, &answers{}, sessions{})
	if _, err := viaB.Unlock(context.Background(), charging.Unlock{ChargerID: cps[0], ConnectorID: 1}); err == nil || err.Error() != "charger is not connected: "+cps[0] {
		t.Errorf("unlock of a dead node's charger: %v; want the local not connected", err)
	}
}

// TestStaleRecordThenReconnect: a record that points to a dead node (no
// lookup has deleted it yet) is overwritten when the charger connects to
// another node, at once; and a node that comes back under the same id
// (a new run) does not revive its old records.
func TestStaleRecordThenReconnect(t *testing.T) {
	ns := natstest.Start(t)
	const ttl = 1200 * time.Millisecond
	var la, lb, lc, la2 localSet
	onB := &answers{by: map[string]func(context.Context) (charging.CommandResult, error){
		"CP1": func(context.Context) (charging.CommandResult, error) {
			return charging.CommandResult{Status: charging.CommandAccepted, Answer: "Unlocked"}, nil
		},
	}}
	a := join(t, ns.URL(), "a", ttl, &la, nil)
	b := join(t, ns.URL(), "b", ttl, &lb, onB)
	c := join(t, ns.URL(), "c", ttl, &lc, nil)
	for _, id := range []string{"CP1", "CP2"} {
		la.set(id, true)
		a.Hold(id)
	}
	a.abandon()
	within(t, "a's heartbeat to expire", func() bool {
		nodes, err := c.Nodes(context.Background())
		return err == nil && cmp.Equal(ids(nodes), []string{"b", "c"})
	})
	if e, ok := record(t, c, "CP1"); !ok || e.Node != "a" {
		t.Fatalf("CP1's record before any lookup: %+v, %v; want a's, stale", e, ok)
	}

	lb.set("CP1", true)
	b.Hold("CP1")
	if got := holder(t, c, "CP1"); got != "b" {
		t.Fatalf("after reconnecting to b: holder %q; want b", got)
	}
	res, err := NewRouter(c, &answers{}, sessions{}).Unlock(context.Background(), charging.Unlock{ChargerID: "CP1", ConnectorID: 1})
	if err != nil || res.Answer != "Unlocked" {
		t.Errorf("unlock through c after the reconnect: %+v, %v; want b's answer", res, err)
	}

	// a comes back (a new process, same id): CP2 was a's old run's.
	join(t, ns.URL(), "a", ttl, &la2, nil)
	if got := holder(t, c, "CP2"); got != "" {
		t.Errorf("a's old run's charger with a back: holder %q; want none", got)
	}
	if got := holder(t, c, "CP1"); got != "b" {
		t.Errorf("CP1 with a back: holder %q; want b", got)
	}
}

// TestLapsedNodeWritesItsRecordsAgain: a node whose heartbeat expired
// while it lived (NATS or the node stalled) may have had its records
// deleted as stale; its next refresh sees the lapse and writes them
// again, leaving those another node has taken.
func TestLapsedNodeWritesItsRecordsAgain(t *testing.T) {
	ns := natstest.Start(t)
	a, b, la, lb := twoNodes(t, ns.URL(), time.Hour)
	for _, id := range []string{"CP1", "CP2"} {
		la.set(id, true)
		a.Hold(id)
	}
	// As if a's heartbeat had expired.
	if err := b.nodes.Delete(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if got := holder(t, b, "CP1"); got != "" { // deletes the record as stale
		t.Fatalf("with a's heartbeat gone: holder %q; want none", got)
	}
	lb.set("CP2", true)
	b.Hold("CP2") // meanwhile CP2 moved to b
	within(t, "a to close its CP2 socket", func() bool { return cmp.Equal(la.evictions(), []string{"CP2"}) })
	la.set("CP2", false)

	a.refresh()
	if got := holder(t, b, "CP1"); got != "a" {
		t.Errorf("after a's refresh: holder of CP1 %q; want a", got)
	}
	if got := holder(t, b, "CP2"); got != "b" {
		t.Errorf("after a's refresh: holder of CP2 %q; want b", got)
	}
	if a.Held() != 1 {
		t.Errorf("a holds %d; want 1", a.Held())
	}
}

// TestOldPresenceBucketLosesItsTTL: a presence bucket made by a version
// whose records expired by themselves is adopted without its TTL (else
// the records of chargers connected for longer would vanish).
func TestOldPresenceBucketLosesItsTTL(t *testing.T) {
	ns := natstest.Start(t)
	ctx := context.Background()
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: PresenceBucket, History: 1, TTL: 30 * time.Second, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	var la localSet
	join(t, ns.URL(), "a", time.Minute, &la, nil)
	kv, err := js.KeyValue(ctx, PresenceBucket)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != 0 {
		t.Errorf("presence bucket TTL %v after a node joined; want none", st.TTL())
	}
}

// TestHeartbeatWhileRecordsWait: a node whose records take long to
// repair (NATS slow under load, thousands of them) keeps its heartbeat:
// it stays in the cluster view and its chargers stay reachable. Here the
// repair of one record is held up for three TTLs.
func TestHeartbeatWhileRecordsWait(t *testing.T) {
	ns := natstest.Start(t)
	const ttl = 1200 * time.Millisecond
	a, b, la, _ := twoNodes(t, ns.URL(), ttl)
	la.set("CP0", true)
	a.Hold("CP0")
	// CP1's record failed to be written: the next repair writes it, and
	// waits for its stripe.
	stripe := a.stripe("CP1")
	stripe.Lock()
	la.set("CP1", true)
	a.mu.Lock()
	a.held["CP1"] = holding{at: time.Now().UTC()}
	a.pending["CP1"] = struct{}{}
	a.mu.Unlock()
	time.Sleep(3 * ttl)
	nodes, err := b.Nodes(context.Background())
	stripe.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(nodes); !slices.Contains(got, "a") {
		t.Errorf("nodes while a's repair waited = %v; want a among them", got)
	}
	if !b.Connected("CP0") {
		t.Error("a's charger CP0 unreachable while a's repair waited")
	}
	within(t, "CP1's record to be written", func() bool { return holder(t, b, "CP1") == "a" })
}
