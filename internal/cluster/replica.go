package cluster

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Each node keeps a copy of the presence bucket in memory, kept by a watch
// of the bucket: which node each charger's record names. A command for a
// charger another node holds is sent to the node the copy names, with no
// key-value lookup first (under load a lookup cost as much as the
// forward itself: one more NATS round trip, measured in BENCHMARKS.md).
// The copy may lag (a charger that just moved, a record not deleted yet),
// so it is only a hint: the receiving node runs a command only for a
// charger it holds and otherwise answers notHere, and a node that is gone
// has no responders; either way the caller asks the bucket (Holder) and
// forwards once more.

// replica is the copy; mu guards its fields.
type replica struct {
	mu sync.RWMutex
	// by maps a charger's key to the node its record names; names interns
	// the node ids, so a record costs the key and a string header.
	by    map[string]string
	names map[string]string
	// synced says the copy has every record the bucket had when the
	// watch began, and the changes since.
	synced bool
	// version counts the changes the copy has seen (PresenceVersion).
	version atomic.Uint64
}

// known reports whether the copy is synced and has a record of the
// charger: when it is synced and has none, the bucket most likely has
// none either (a record written in the last moments may not be in yet).
func (r *replica) known(chargerID string) (synced, has bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, has = r.by[key(chargerID)]
	return r.synced, has
}

func (r *replica) markSynced() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.synced = true
}

func (r *replica) holder(chargerID string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	node, ok := r.by[key(chargerID)]
	return node, ok
}

func (r *replica) put(k, node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name, ok := r.names[node]
	if !ok {
		name = node
		r.names[node] = node
	}
	r.by[k] = name
	r.version.Add(1)
}

func (r *replica) forget(k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.by, k)
	r.version.Add(1)
}

func (r *replica) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.by, r.names, r.synced = map[string]string{}, map[string]string{}, false
	r.version.Add(1)
}

// size is how many records the copy holds.
func (r *replica) size() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.by)
}

// PresenceVersion changes whenever this node's copy of the presence
// records sees a change: a charger connected to, or left, any node. A
// view that shows which chargers are connected reloads when it changes;
// the count in the nodes' heartbeats is not enough, because a node's
// heartbeat with its new count may arrive before the charger's record is
// deleted (and a view read in between shows the charger still there),
// and because one charger may leave as another comes.
func (n *Node) PresenceVersion() uint64 { return n.replica.version.Load() }

// watchPresence keeps the replica until the node stops: a watch of every
// key (the current records first, then each change). When the watch ends
// (NATS went away and the watcher gave up) the copy is emptied, so that
// commands ask the bucket, and a new watch starts.
func (n *Node) watchPresence() {
	defer n.loopWG.Done()
	for n.stopCtx.Err() == nil {
		w, err := n.presence.WatchAll(n.stopCtx)
		if err == nil {
			n.follow(w)
			_ = w.Stop()
		}
		n.replica.reset()
		select {
		case <-n.stopCtx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (n *Node) follow(w jetstream.KeyWatcher) {
	for {
		select {
		case <-n.stopCtx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil { // the current records are in
				n.replica.markSynced()
				continue
			}
			var rec Entry
			if e.Operation() == jetstream.KeyValuePut && json.Unmarshal(e.Value(), &rec) == nil {
				n.replica.put(e.Key(), rec.Node)
			} else {
				n.replica.forget(e.Key())
			}
		}
	}
}
