package ocpi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// The outbox delivers pushes to peers durably and in order.
//
// Every push is a document (kind ocpi_outbox) written before anything is
// sent, owned by its peer, with a sequence number that is both its id
// suffix and its Updated time (microseconds since the epoch, strictly
// increasing, close to the wall clock), so ListDocs returns a peer's
// pushes in the order they were made. One worker per peer sends them one
// at a time, oldest first, and deletes each once the peer accepted it. A
// push that fails for a reason that may pass (peer down, HTTP 5xx, OCPI
// 3xxx) is retried with exponential backoff between RetryMin and
// RetryMax, forever, and nothing behind it is sent meanwhile: so nothing
// is lost and nothing is reordered, whether the peer is down for a minute
// or a day, and across restarts (Start resumes every peer's queue). A push
// the peer refuses (HTTP 4xx, OCPI 2xxx) is tried maxRefusals times and
// then dropped with an error log, so one bad object cannot stop a peer's
// queue for good.
//
// Delivery is at least once: a crash after the peer accepted a push and
// before its document is deleted sends it again. PUT and PATCH are
// idempotent; a repeated CDR POST is refused by a careful eMSP (the CDR
// exists) and dropped. The outbox assumes one chargebridge node delivers
// (several nodes on one database would each send every push).
type outbox struct {
	c *CPO

	// mu guards the fields below.
	mu      sync.Mutex
	lastSeq int64
	running map[string]bool
	dirty   map[string]bool
	started bool
	// kicks end a peer's backoff pause early (an operator's retry).
	kicks map[string]chan struct{}

	// Delivery counts since start, for /metrics.
	delivered, failed, dropped atomic.Int64
}

// maxRefusals is how often a push the peer refuses is tried.
const maxRefusals = 3

// push is one outbox entry.
type push struct {
	Seq  int64  `json:"seq"`
	Peer string `json:"peer"`
	// Object names what the push is about, for logs ("session 1234").
	Object string `json:"object"`
	// Module and Path address the peer's receiver interface of the module
	// (looked up when sending, so changed endpoints are used); URL, when
	// set, is an absolute address instead (a command's response_url).
	Module string          `json:"module,omitempty"`
	Path   string          `json:"path,omitempty"`
	URL    string          `json:"url,omitempty"`
	Method string          `json:"method"`
	Body   json.RawMessage `json:"body,omitempty"`
	// Created is when the push was made; Attempts and LastError say how
	// delivery went so far.
	Created   time.Time `json:"created"`
	Attempts  int       `json:"attempts"`
	Refusals  int       `json:"refusals,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

func newOutbox(c *CPO) *outbox {
	return &outbox{c: c, running: map[string]bool{}, dirty: map[string]bool{}, kicks: map[string]chan struct{}{}}
}

func outboxID(peer string, seq int64) string {
	return peer + "/" + strconv.FormatInt(seq, 10)
}

// start resumes the queues a previous run left.
func (o *outbox) start(ctx context.Context) error {
	docs, _, err := o.c.docs.ListDocs(ctx, charging.DocQuery{Kind: docOutbox, Newest: true, Limit: 1})
	if err != nil {
		return fmt.Errorf("ocpi outbox: %w", err)
	}
	o.mu.Lock()
	if len(docs) == 1 {
		o.lastSeq = docs[0].Updated.UnixMicro()
	}
	o.started = true
	o.mu.Unlock()
	ps, err := o.c.peers.list(ctx)
	if err != nil {
		return fmt.Errorf("ocpi outbox: %w", err)
	}
	for _, p := range ps {
		o.wake(p.Key)
	}
	return nil
}

func (o *outbox) nextSeq() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lastSeq = max(o.lastSeq+1, time.Now().UnixMicro())
	return o.lastSeq
}

// add stores pushes (each has Peer set) and wakes their peers' workers.
func (o *outbox) add(ctx context.Context, ps ...push) error {
	for i := range ps {
		p := &ps[i]
		p.Seq = o.nextSeq()
		if p.Created.IsZero() {
			p.Created = o.c.now()
		}
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if err := o.c.docs.PutDoc(ctx, charging.Doc{Kind: docOutbox, ID: outboxID(p.Peer, p.Seq), Owner: p.Peer, Body: b, Updated: time.UnixMicro(p.Seq).UTC()}); err != nil {
			return fmt.Errorf("ocpi outbox: %w", err)
		}
	}
	for _, p := range ps {
		o.wake(p.Peer)
	}
	return nil
}

// wake makes sure the peer's worker runs and looks at its queue again.
func (o *outbox) wake(peer string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dirty[peer] = true
	if !o.started || o.running[peer] {
		return
	}
	o.running[peer] = true
	o.c.goBG(func(ctx context.Context) { o.run(ctx, peer) })
}

// run delivers a peer's pushes until its queue is empty.
func (o *outbox) run(ctx context.Context, peer string) {
	backoff := o.c.cfg.RetryMin
	for ctx.Err() == nil {
		o.mu.Lock()
		o.dirty[peer] = false
		o.mu.Unlock()
		docs, _, err := o.c.docs.ListDocs(ctx, charging.DocQuery{Kind: docOutbox, Owner: peer, Limit: 50})
		if err != nil {
			if ctx.Err() == nil {
				o.c.log.Error("ocpi outbox unreadable", "peer", peer, "err", err)
			}
			if !o.pause(ctx, peer, backoff) {
				break
			}
			backoff = min(2*backoff, o.c.cfg.RetryMax)
			continue
		}
		if len(docs) == 0 {
			o.mu.Lock()
			if !o.dirty[peer] {
				delete(o.running, peer)
				o.mu.Unlock()
				return
			}
			o.mu.Unlock()
			continue
		}
		p, err := o.c.peers.get(ctx, peer)
		if err != nil && !errors.Is(err, charging.ErrNotFound) {
			if !o.pause(ctx, peer, backoff) {
				break
			}
			continue
		}
		for _, d := range docs {
			if ctx.Err() != nil {
				break
			}
			failed := o.deliverDoc(ctx, &p, d)
			if failed {
				if !o.pause(ctx, peer, backoff) {
					break
				}
				backoff = min(2*backoff, o.c.cfg.RetryMax)
				break // list again: the head is still first
			}
			backoff = o.c.cfg.RetryMin
		}
	}
	o.mu.Lock()
	delete(o.running, peer)
	o.mu.Unlock()
}

// kickChan is the peer's kick channel.
func (o *outbox) kickChan(peer string) chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	ch := o.kicks[peer]
	if ch == nil {
		ch = make(chan struct{}, 1)
		o.kicks[peer] = ch
	}
	return ch
}

// kick makes the peer's worker try again now instead of finishing its
// backoff pause.
func (o *outbox) kick(peer string) {
	ch := o.kickChan(peer)
	select {
	case ch <- struct{}{}:
	default:
	}
	o.wake(peer)
}

// pause waits d, or less when the peer is kicked; it reports whether the
// worker should go on (false when ctx ended).
func (o *outbox) pause(ctx context.Context, peer string, d time.Duration) bool {
	ch := o.kickChan(peer)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	case <-ch:
		return true
	}
}

// deliverDoc sends one push; it reports whether it is still due (to be
// retried after a pause).
func (o *outbox) deliverDoc(ctx context.Context, p *Peer, d charging.Doc) (retry bool) {
	var e push
	if err := json.Unmarshal(d.Body, &e); err != nil {
		o.c.log.Error("ocpi outbox entry unreadable; dropped", "id", d.ID, "err", err)
		o.remove(ctx, d.ID)
		return false
	}
	if p.Key == "" || p.Status != PeerRegistered {
		// Unregistered (or forgotten) peers get nothing more.
		o.c.log.Info("push to a party that is not registered dropped", "peer", e.Peer, "object", e.Object)
		o.remove(ctx, d.ID)
		return false
	}
	url := e.URL
	if url == "" {
		base := p.EndpointURL(e.Module, RoleReceiver)
		if base == "" {
			o.c.log.Info("push dropped: the party has no receiver endpoint for the module", "peer", e.Peer, "module", e.Module, "object", e.Object)
			o.remove(ctx, d.ID)
			return false
		}
		url = strings.TrimRight(base, "/") + e.Path
	}
	var body any
	if len(e.Body) > 0 {
		body = e.Body
	}
	_, _, err := o.c.call(ctx, p, p.TheirToken, e.Method, url, body)
	if err == nil {
		o.delivered.Add(1)
		o.c.log.Debug("pushed", "peer", e.Peer, "method", e.Method, "object", e.Object, "attempts", e.Attempts+1)
		o.remove(ctx, d.ID)
		return false
	}
	if ctx.Err() != nil {
		return true
	}
	o.failed.Add(1)
	e.Attempts++
	e.LastError = err.Error()
	if !retryable(err) {
		e.Refusals++
		if e.Refusals >= maxRefusals {
			o.dropped.Add(1)
			o.c.log.Error("push refused by the party; dropped", "peer", e.Peer, "method", e.Method, "object", e.Object, "attempts", e.Attempts, "err", err)
			o.remove(ctx, d.ID)
			return false
		}
	}
	if e.Attempts == 1 || e.Attempts%10 == 0 {
		o.c.log.Warn("push failed; will retry", "peer", e.Peer, "method", e.Method, "object", e.Object, "attempts", e.Attempts, "err", err)
	}
	if b, err := json.Marshal(e); err == nil {
		d.Body = b
		if err := o.c.docs.PutDoc(ctx, d); err != nil && ctx.Err() == nil {
			o.c.log.Error("ocpi outbox entry not updated", "id", d.ID, "err", err)
		}
	}
	return true
}

func (o *outbox) remove(ctx context.Context, id string) {
	if err := o.c.docs.DeleteDoc(context.WithoutCancel(ctx), docOutbox, id); err != nil && !errors.Is(err, charging.ErrNotFound) {
		o.c.log.Error("ocpi outbox entry not removed (it will be sent again)", "id", id, "err", err)
	}
}

// Pending returns how many pushes wait for a peer ("" for all peers).
func (c *CPO) Pending(ctx context.Context, peer string) (int, error) {
	_, n, err := c.docs.ListDocs(ctx, charging.DocQuery{Kind: docOutbox, Owner: peer, Limit: 1})
	return n, err
}

// PushCounts says how pushes went since start: delivered (the party took
// them), failed (an attempt that will be retried, or was refused) and
// dropped (refused too often, given up).
func (c *CPO) PushCounts() (delivered, failed, dropped int64) {
	return c.out.delivered.Load(), c.out.failed.Load(), c.out.dropped.Load()
}

// OutboxStat is one party's queue of pushes waiting to be delivered.
type OutboxStat struct {
	Peer string
	// Depth is how many pushes wait; Oldest is when the oldest was made
	// (zero when none waits).
	Depth  int
	Oldest time.Time
}

// OutboxStats returns the outbox of every party we know, registered or
// not (an unregistered party's pushes are dropped when next looked at).
// It costs one query per party.
func (c *CPO) OutboxStats(ctx context.Context) ([]OutboxStat, error) {
	ps, err := c.peers.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]OutboxStat, 0, len(ps))
	for _, p := range ps {
		docs, n, err := c.docs.ListDocs(ctx, charging.DocQuery{Kind: docOutbox, Owner: p.Key, Limit: 1})
		if err != nil {
			return nil, err
		}
		st := OutboxStat{Peer: p.Key, Depth: n}
		if len(docs) == 1 {
			st.Oldest = docs[0].Updated
		}
		out = append(out, st)
	}
	return out, nil
}

// sleep waits d or until ctx is done; it reports whether it slept.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
