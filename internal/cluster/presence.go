package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Presence is two buckets. A node's heartbeat is its entry in the nodes
// bucket, rewritten every Refresh and expiring TTL after the last one. A
// charger's record in the presence bucket (which node holds it, which
// run of that node, since when) has no TTL: it is written once when the
// charger connects and deleted when its socket closes, if it is still
// this node's (compare-and-set on the record's revision). A record is
// believed only while its node's heartbeat is there with the same run:
// a dead node's chargers are unreachable once its heartbeat expires,
// without any write per charger to keep the others alive (a node holding
// 20 000 chargers would otherwise rewrite 2 000 records a second), and a
// stale record is deleted by the first lookup that finds it (or
// overwritten when the charger connects again).

// key is a charger id as a key of the presence bucket: a charger id has
// letters, digits and - _ . :, a key no ':' and no empty dot-separated
// token, so '.' and ':' are escaped (ids have no '=', so this is
// one-to-one).
func key(chargerID string) string {
	return strings.NewReplacer(".", "=2E", ":", "=3A").Replace(chargerID)
}

// newRun names one run of a node: a node restarted under the same id
// does not revive its previous run's records.
func newRun() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (n *Node) stripe(chargerID string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(chargerID))
	return &n.stripes[h.Sum32()%uint32(len(n.stripes))]
}

func (n *Node) value(chargerID string, at time.Time) []byte {
	b, _ := json.Marshal(Entry{Charger: chargerID, Node: n.cfg.NodeID, Run: n.run, ConnectedAt: at})
	return b
}

// ours reports whether a record is this node's, for the connection made
// at at.
func (n *Node) ours(e Entry, at time.Time) bool {
	return e.Node == n.cfg.NodeID && e.Run == n.run && e.ConnectedAt.Equal(at)
}

// Hold records that this node holds a charger's socket: the record is
// overwritten at once, whichever node held it before (the charger
// reconnected here). A failed write is logged and retried at the next
// refresh.
func (n *Node) Hold(chargerID string) {
	l := n.stripe(chargerID)
	l.Lock()
	defer l.Unlock()
	n.write(chargerID, time.Now().UTC(), false)
}

// HoldSoon is Hold without waiting for NATS: the charger is this node's
// at once (Held counts it, a Release undoes it) and its record is written
// by one of the node's hold writers, in the order of the charger's other
// presence writes (the stripe). A connection's handshake calls it: with
// Hold, each waited for a key-value write behind the other writes of its
// stripe, and under a fleet's ramp (100 000 chargers over six nodes) the
// node that also relays the cluster's events had 5 749 handshakes waiting
// there; their chargers, whose BootNotification was not read meanwhile,
// gave up after their call timeout and dialled again. A record not
// written (NATS away, the queue full) is written by the next repair.
func (n *Node) HoldSoon(chargerID string) {
	n.mu.Lock()
	n.held[chargerID] = holding{at: time.Now().UTC()}
	n.pending[chargerID] = struct{}{}
	n.mu.Unlock()
	select {
	case n.holds <- chargerID:
	default: // left pending: the next repair writes it
	}
}

// Hold writers: how many records HoldSoon's writers write at once (one
// per stripe at most is in flight anyway), and how many chargers may wait
// for one before the rest are left to the repair.
const (
	holdWriters = 64
	holdQueue   = 1 << 16
)

// writeHolds writes the records of the chargers HoldSoon took, until the
// node stops.
func (n *Node) writeHolds() {
	defer n.loopWG.Done()
	for {
		select {
		case <-n.stopCtx.Done():
			return
		case id := <-n.holds:
			n.writeHeld(id)
		}
	}
}

// writeHeld writes a held charger's record if it is still to be written:
// not released meanwhile, nor written by a repair.
func (n *Node) writeHeld(chargerID string) {
	l := n.stripe(chargerID)
	l.Lock()
	defer l.Unlock()
	n.mu.Lock()
	h, ok := n.held[chargerID]
	_, pending := n.pending[chargerID]
	n.mu.Unlock()
	if !ok || !pending || h.rev != 0 {
		return
	}
	n.write(chargerID, h.at, true)
}

// write records that this node holds a charger since at, with the
// charger's stripe held. With onlyIfCurrent (HoldSoon's writes), the
// bookkeeping is left alone when the charger connected here again
// meanwhile: that newer connection has a write of its own coming.
func (n *Node) write(chargerID string, at time.Time, onlyIfCurrent bool) {
	var rev uint64
	var prev Entry
	var held bool
	err := n.Ready() // without NATS, a connection waits for no timeout: the refresh writes it
	if err == nil {
		ctx, cancel := context.WithTimeout(n.stopCtx, opTimeout)
		// The record as it is, alive or not: a node that seems dead may
		// still hold a half-open socket of it. A charger the presence
		// copy has no record of (the usual case: a charger's first
		// connection) is created without a lookup; if a record came in
		// the last moments (the copy lags), the create fails and the
		// record is read and replaced as for any other.
		lookup := true
		if synced, has := n.replica.known(chargerID); synced && !has {
			rev, err = n.presence.Create(ctx, key(chargerID), n.value(chargerID, at))
			lookup = errors.Is(err, jetstream.ErrKeyExists)
		}
		if lookup {
			if kve, gerr := n.presence.Get(ctx, key(chargerID)); gerr == nil {
				held = json.Unmarshal(kve.Value(), &prev) == nil
			}
			rev, err = n.presence.Put(ctx, key(chargerID), n.value(chargerID, at))
		}
		cancel()
	}
	if err == nil && held && (prev.Node != n.cfg.NodeID || prev.Run != n.run) {
		b, _ := json.Marshal(prev)
		_ = n.nc.Publish(n.names.evict+prev.Node, b)
	}
	n.mu.Lock()
	if cur, ok := n.held[chargerID]; !onlyIfCurrent || (ok && cur.at.Equal(at)) {
		n.held[chargerID] = holding{rev: rev, at: at}
		if err != nil {
			n.pending[chargerID] = struct{}{}
		} else {
			delete(n.pending, chargerID)
		}
	}
	n.mu.Unlock()
	if err != nil && n.stopCtx.Err() == nil {
		n.log.Warn("cluster: presence not recorded; retried at the next refresh", "charger", chargerID, "err", err)
	}
}

// onEvict closes this node's socket of a charger another node took over,
// if it is still the connection the other node's record replaced.
func (n *Node) onEvict(m *nats.Msg) {
	var e Entry
	if json.Unmarshal(m.Data, &e) != nil || e.Node != n.cfg.NodeID || e.Run != n.run {
		return
	}
	l := n.stripe(e.Charger)
	l.Lock()
	n.mu.Lock()
	h, ok := n.held[e.Charger]
	if ok && h.at.Equal(e.ConnectedAt) {
		delete(n.held, e.Charger)
		delete(n.pending, e.Charger)
	} else {
		ok = false
	}
	n.mu.Unlock()
	l.Unlock()
	if ok && n.cfg.Evict != nil {
		n.log.Info("cluster: charger connected to another node; its socket here is closed", "charger", e.Charger)
		n.cfg.Evict(e.Charger)
	}
}

// Release forgets a charger whose socket closed, unless this node holds
// it again (Local says so: a newer connection replaced the one that
// closed). Its record is deleted only while it is still this node's: a
// charger that reconnected elsewhere keeps the other node's record. A
// delete that fails (NATS is away) is retried at each refresh.
func (n *Node) Release(chargerID string) {
	l := n.stripe(chargerID)
	l.Lock()
	defer l.Unlock()
	if n.cfg.Local(chargerID) {
		return
	}
	n.mu.Lock()
	h, ok := n.held[chargerID]
	delete(n.held, chargerID)
	delete(n.pending, chargerID)
	n.mu.Unlock()
	if ok && !n.deleteOurs(chargerID, h) {
		n.mu.Lock()
		n.releasing[chargerID] = h
		n.mu.Unlock()
	}
}

// deleteOurs deletes a charger's record if it is still the one this node
// wrote for the connection h; false if that is unknown (NATS did not
// answer).
func (n *Node) deleteOurs(chargerID string, h holding) bool {
	if n.Ready() != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	rev := h.rev
	if rev == 0 { // its write's answer was lost, or it was never written
		e, err := n.presence.Get(ctx, key(chargerID))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return true
		}
		if err != nil {
			return false
		}
		var cur Entry
		if json.Unmarshal(e.Value(), &cur) != nil || !n.ours(cur, h.at) {
			return true
		}
		rev = e.Revision()
	}
	err := n.presence.Delete(ctx, key(chargerID), jetstream.LastRevision(rev))
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		if n.stopCtx.Err() == nil {
			n.log.Warn("cluster: presence not deleted; retried at the next refresh", "charger", chargerID, "err", err)
		}
		return false
	}
	return true
}

// Holder returns the presence record of a charger; ok is false when no
// live node holds it: no record, or one whose node's heartbeat has
// expired or is another run's (that stale record is deleted, unless the
// charger connected somewhere since). Without NATS it fails at once.
func (n *Node) Holder(ctx context.Context, chargerID string) (e Entry, ok bool, err error) {
	if err := n.Ready(); err != nil {
		return Entry{}, false, err
	}
	kve, err := n.presence.Get(ctx, key(chargerID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, err
	}
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		return Entry{}, false, err
	}
	alive, err := n.alive(ctx, e.Node, e.Run)
	if err != nil {
		return Entry{}, false, err
	}
	if !alive {
		err := n.presence.Delete(ctx, key(chargerID), jetstream.LastRevision(kve.Revision()))
		if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			n.log.Debug("cluster: stale presence record not deleted", "charger", chargerID, "node", e.Node, "err", err)
		}
		return Entry{}, false, nil
	}
	return e, true, nil
}

// alive reports whether a node's run has a heartbeat. A heartbeat seen
// is believed for a moment (aliveFor) without asking again: lookups of
// many chargers, or many commands, cost one key-value get each.
func (n *Node) alive(ctx context.Context, node, run string) (bool, error) {
	if node == n.cfg.NodeID && run == n.run {
		return true, nil
	}
	now := time.Now()
	n.seenMu.Lock()
	s, ok := n.seen[node]
	n.seenMu.Unlock()
	if ok && s.run == run && now.Before(s.until) {
		return true, nil
	}
	kve, err := n.nodes.Get(ctx, node)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var info NodeInfo
	if err := json.Unmarshal(kve.Value(), &info); err != nil {
		return false, err
	}
	n.seenMu.Lock()
	n.seen[node] = seenNode{run: info.Run, until: now.Add(min(aliveFor, n.cfg.Refresh))}
	n.seenMu.Unlock()
	return info.Run == run, nil
}

// forgetGone forgets the heartbeats seen of the nodes (or runs) that are
// not among nodes, the cluster's nodes as just listed: alive would have
// believed them for up to aliveFor more, so that a caller who saw a node
// gone (the site leader's watchNodes) and then looked up its chargers
// found them still held, and counted none of them offline, ever (seen
// in TestLoadManagementAfterANodeIsKilled, which failed now and then).
func (n *Node) forgetGone(nodes []NodeInfo) {
	n.seenMu.Lock()
	defer n.seenMu.Unlock()
	for id, s := range n.seen {
		if !slices.ContainsFunc(nodes, func(i NodeInfo) bool { return i.ID == id && i.Run == s.run }) {
			delete(n.seen, id)
		}
	}
}

// aliveFor is how long a node's heartbeat, once seen, is believed without
// asking again: a dead node's chargers are unreachable within its TTL and
// this.
const aliveFor = time.Second

// seenNode is a heartbeat seen: which run, believed until when.
type seenNode struct {
	run   string
	until time.Time
}

// Connected reports whether some node of the cluster holds a charger's
// socket: this one, or a live one with a presence record. When NATS does
// not answer, only this node's sockets count.
func (n *Node) Connected(chargerID string) bool {
	if n.cfg.Local(chargerID) {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	e, ok, err := n.Holder(ctx, chargerID)
	return err == nil && ok && e.Node != n.cfg.NodeID
}

// Held returns how many chargers this node holds.
func (n *Node) Held() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.held)
}

// refresh writes the node's heartbeat, then the records and deletes
// that failed since the last refresh (repair). The loops do the two
// apart, so that a long repair never holds up the heartbeat.
func (n *Node) refresh() {
	if n.beat() {
		n.lapsed.Store(true)
	}
	n.repair()
}

// repair writes the records and deletes that failed since the last
// repair. When the heartbeat had expired (NATS or this node was away
// longer than the TTL), other nodes may have deleted this node's records
// as stale: every record is checked and written again.
func (n *Node) repair() {
	lapsed := n.lapsed.Swap(false)
	n.mu.Lock()
	ids := make([]string, 0, len(n.pending))
	if lapsed {
		for id := range n.held {
			ids = append(ids, id)
		}
	} else {
		for id := range n.pending {
			ids = append(ids, id)
		}
	}
	gone := make(map[string]holding, len(n.releasing))
	for id, h := range n.releasing {
		gone[id] = h
	}
	n.mu.Unlock()
	if lapsed {
		n.log.Warn("cluster: this node's heartbeat had expired; its presence records are written again", "chargers", len(ids))
	}
	n.resync(ids)
	for id, h := range gone {
		if n.stopCtx.Err() != nil {
			return
		}
		if n.deleteOurs(id, h) {
			n.mu.Lock()
			if cur, ok := n.releasing[id]; ok && cur == h {
				delete(n.releasing, id)
			}
			n.mu.Unlock()
		}
	}
}

// beat writes the node's heartbeat; lapsed is true when its previous one
// had expired (or another process wrote it).
func (n *Node) beat() (lapsed bool) {
	n.beatMu.Lock()
	defer n.beatMu.Unlock()
	n.mu.Lock()
	info := NodeInfo{ID: n.cfg.NodeID, Run: n.run, Chargers: len(n.held), Pending: len(n.pending), StartedAt: n.started, LastSeen: time.Now().UTC()}
	n.mu.Unlock()
	b, _ := json.Marshal(info)
	ctx, cancel := context.WithTimeout(n.stopCtx, opTimeout)
	defer cancel()
	var rev uint64
	var err error
	if n.nodeRev == 0 {
		rev, err = n.nodes.Create(ctx, n.cfg.NodeID, b)
	} else {
		rev, err = n.nodes.Update(ctx, n.cfg.NodeID, b, n.nodeRev)
	}
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		lapsed = n.nodeRev != 0
		rev, err = n.nodes.Put(ctx, n.cfg.NodeID, b)
	}
	if err != nil {
		if n.stopCtx.Err() == nil {
			n.log.Warn("cluster: node heartbeat not written", "err", err)
		}
		return false
	}
	n.nodeRev, n.shown, n.shownPending = rev, info.Chargers, info.Pending > 0
	return lapsed
}

// pendingRecords is how many held chargers' records are not written yet.
func (n *Node) pendingRecords() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.pending)
}

// onWho answers another node's question of which node holds a charger
// (whoHolds): this one answers only if it does.
func (n *Node) onWho(m *nats.Msg) {
	if id := string(m.Data); id != "" && n.cfg.Local(id) {
		_ = m.Respond([]byte(n.cfg.NodeID))
	}
}

// whoHolds asks the nodes which of them holds a charger that has no
// presence record, and only while some live node tells of records it has
// not written yet (HoldSoon's writers behind, as at a fleet's ramp, or
// NATS away for a moment): the charger may be one of those. Otherwise, or
// when no node answers within whoWait, no node holds it. A command for a
// charger that connected a moment ago to another node is then forwarded
// instead of failing as not connected, and one for a charger no node
// holds costs no wait while the records are all written.
func (n *Node) whoHolds(ctx context.Context, chargerID string) (string, bool) {
	nodes, err := n.Nodes(ctx)
	if err != nil {
		return "", false
	}
	pending := false
	for _, info := range nodes {
		pending = pending || (info.ID != n.cfg.NodeID && info.Pending > 0)
	}
	if !pending {
		return "", false
	}
	n.whoAsked.Add(1)
	ctx, cancel := context.WithTimeout(ctx, whoWait)
	defer cancel()
	m, err := n.nc.RequestWithContext(ctx, n.names.who, []byte(chargerID))
	if err != nil || len(m.Data) == 0 || string(m.Data) == n.cfg.NodeID {
		return "", false
	}
	return string(m.Data), true
}

// whoWait is how long whoHolds waits for the node that holds a charger
// to say so.
const whoWait = 500 * time.Millisecond

// resync checks and writes the records of the chargers ids, 8 at a time.
func (n *Node) resync(ids []string) {
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(8, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				n.resyncOne(id)
			}
		}()
	}
	for _, id := range ids {
		if n.stopCtx.Err() != nil {
			break
		}
		work <- id
	}
	close(work)
	wg.Wait()
}

// resyncOne writes a held charger's record again if it is missing (never
// written, or deleted as stale while this node seemed dead). A record
// another node wrote since (the charger reconnected there) is left to it
// and the charger forgotten here, unless this node's own write never
// went through (then this connection is the newer one).
func (n *Node) resyncOne(chargerID string) {
	l := n.stripe(chargerID)
	l.Lock()
	defer l.Unlock()
	n.mu.Lock()
	h, ok := n.held[chargerID]
	n.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(n.stopCtx, opTimeout)
	defer cancel()
	k, v := key(chargerID), n.value(chargerID, h.at)
	var rev uint64
	kve, err := n.presence.Get(ctx, k)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		rev, err = n.presence.Create(ctx, k, v)
	case err != nil:
	default:
		var cur Entry
		_ = json.Unmarshal(kve.Value(), &cur)
		switch {
		case n.ours(cur, h.at):
			rev = kve.Revision()
		case h.rev == 0:
			rev, err = n.presence.Update(ctx, k, v, kve.Revision())
		default:
			n.mu.Lock()
			delete(n.held, chargerID)
			delete(n.pending, chargerID)
			n.mu.Unlock()
			n.log.Info("cluster: charger reconnected to another node; this node's connection is stale", "charger", chargerID, "holder", cur.Node)
			return
		}
	}
	if err != nil {
		if n.stopCtx.Err() == nil {
			n.log.Warn("cluster: presence not written; retried at the next refresh", "charger", chargerID, "err", err)
		}
		n.mu.Lock()
		if cur, ok := n.held[chargerID]; ok && cur.at.Equal(h.at) {
			n.pending[chargerID] = struct{}{}
		}
		n.mu.Unlock()
		return
	}
	n.mu.Lock()
	if cur, ok := n.held[chargerID]; ok && cur.at.Equal(h.at) {
		n.held[chargerID] = holding{rev: rev, at: h.at}
		delete(n.pending, chargerID)
	}
	n.mu.Unlock()
}
