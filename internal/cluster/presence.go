package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// key is a charger id as a key of the presence bucket: a charger id has
// letters, digits and - _ . :, a key no ':' and no empty dot-separated
// token, so '.' and ':' are escaped (ids have no '=', so this is
// one-to-one).
func key(chargerID string) string {
	return strings.NewReplacer(".", "=2E", ":", "=3A").Replace(chargerID)
}

func (n *Node) stripe(chargerID string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(chargerID))
	return &n.stripes[h.Sum32()%uint32(len(n.stripes))]
}

func (n *Node) value(chargerID string, at time.Time) []byte {
	b, _ := json.Marshal(Entry{Charger: chargerID, Node: n.cfg.NodeID, ConnectedAt: at})
	return b
}

// Hold records that this node holds a charger's socket: the entry is
// overwritten at once, whichever node held it before (the charger
// reconnected here). A failed write is logged; the next refresh writes it
// again.
func (n *Node) Hold(chargerID string) {
	l := n.stripe(chargerID)
	l.Lock()
	defer l.Unlock()
	at := time.Now().UTC()
	var rev uint64
	var prev Entry
	var held bool
	err := n.Ready() // without NATS, a connection waits for no timeout: the refresh writes it
	if err == nil {
		ctx, cancel := context.WithTimeout(n.stopCtx, opTimeout)
		prev, held, _ = n.Holder(ctx, chargerID)
		rev, err = n.presence.Put(ctx, key(chargerID), n.value(chargerID, at))
		cancel()
	}
	if err == nil && held && prev.Node != n.cfg.NodeID {
		// The node it left may still hold a half-open socket of it.
		b, _ := json.Marshal(prev)
		_ = n.nc.Publish(evictSubject+prev.Node, b)
	}
	n.mu.Lock()
	n.held[chargerID] = holding{rev: rev, at: at}
	n.mu.Unlock()
	if err != nil && n.stopCtx.Err() == nil {
		n.log.Warn("cluster: presence not recorded; retried at the next refresh", "charger", chargerID, "err", err)
	}
}

// onEvict closes this node's socket of a charger another node took over,
// if it is still the connection the other node's entry replaced.
func (n *Node) onEvict(m *nats.Msg) {
	var e Entry
	if json.Unmarshal(m.Data, &e) != nil || e.Node != n.cfg.NodeID {
		return
	}
	l := n.stripe(e.Charger)
	l.Lock()
	n.mu.Lock()
	h, ok := n.held[e.Charger]
	if ok && h.at.Equal(e.ConnectedAt) {
		delete(n.held, e.Charger)
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
// closed). Its entry is deleted only while it is still this node's: a
// charger that reconnected elsewhere keeps the other node's entry.
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
	n.mu.Unlock()
	if ok && n.Ready() == nil { // without NATS, the entry expires by its TTL
		n.deleteOurs(chargerID, h)
	}
}

// deleteOurs deletes a charger's entry if it is still the one this node
// wrote for the connection h.
func (n *Node) deleteOurs(chargerID string, h holding) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	e, err := n.presence.Get(ctx, key(chargerID))
	if err != nil {
		return // expired, deleted, or NATS is away: the TTL ends it
	}
	var cur Entry
	if json.Unmarshal(e.Value(), &cur) != nil || cur.Node != n.cfg.NodeID || !cur.ConnectedAt.Equal(h.at) {
		return
	}
	if err := n.presence.Delete(ctx, key(chargerID), jetstream.LastRevision(e.Revision())); err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		n.log.Warn("cluster: presence not deleted; it expires with its TTL", "charger", chargerID, "err", err)
	}
}

// Holder returns the presence entry of a charger; ok is false when no
// node holds it. Without NATS it fails at once.
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
	return e, true, nil
}

// Connected reports whether some node of the cluster holds a charger's
// socket: this one, or one with a presence entry. When NATS does not
// answer, only this node's sockets count.
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

// refresh rewrites every entry this node holds, so that none expires while
// the node lives. An entry another node wrote since (the charger
// reconnected there) is left to it and forgotten here; an entry that
// expired (NATS was away) is written again.
func (n *Node) refresh() {
	n.mu.Lock()
	ids := make([]string, 0, len(n.held))
	for id := range n.held {
		ids = append(ids, id)
	}
	n.mu.Unlock()
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(8, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				n.refreshOne(id)
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

func (n *Node) refreshOne(chargerID string) {
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
	var err error
	if h.rev == 0 {
		rev, err = n.presence.Put(ctx, k, v)
	} else {
		rev, err = n.presence.Update(ctx, k, v, h.rev)
	}
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		e, ok, gerr := n.Holder(ctx, chargerID)
		switch {
		case gerr != nil:
			err = gerr
		case !ok: // expired: still ours
			rev, err = n.presence.Put(ctx, k, v)
		case e.Node != n.cfg.NodeID || !e.ConnectedAt.Equal(h.at):
			n.mu.Lock()
			delete(n.held, chargerID)
			n.mu.Unlock()
			n.log.Info("cluster: charger reconnected to another node; this node's connection is stale", "charger", chargerID, "holder", e.Node)
			return
		default: // ours, at another revision
			rev, err = n.presence.Put(ctx, k, v)
		}
	}
	if err != nil {
		if n.stopCtx.Err() == nil {
			n.log.Warn("cluster: presence not refreshed", "charger", chargerID, "err", err)
		}
		return
	}
	n.mu.Lock()
	if cur, ok := n.held[chargerID]; ok && cur.at.Equal(h.at) {
		n.held[chargerID] = holding{rev: rev, at: h.at}
	}
	n.mu.Unlock()
}
