package ocpi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
// suffix and its Updated time read as microseconds since the epoch, so
// ListDocs returns a peer's pushes in the order they were made. The
// number comes from the store (charging.Sequencer: a PostgreSQL sequence,
// a SQLite AUTOINCREMENT), so nodes sharing a database never draw the
// same one; it started at the wall clock's microseconds, so it is not a
// time (a push's time is its Created). A store without a sequence gets
// strictly increasing wall-clock microseconds of this process.
//
// One worker per peer sends them one at a time, oldest first, and deletes
// each once the peer accepted it. A push that fails for a reason that may
// pass (peer down, HTTP 5xx, OCPI 3xxx) is retried with exponential
// backoff between RetryMin and RetryMax, forever, and nothing behind it
// is sent meanwhile: so nothing is lost and nothing is reordered, whether
// the peer is down for a minute or a day, and across restarts (Start
// resumes every peer's queue). A push the peer refuses (HTTP 4xx, OCPI
// 2xxx) is tried maxRefusals times and then dropped with an error log, so
// one bad object cannot stop a peer's queue for good.
//
// Nodes sharing a store deliver a peer's queue one at a time: a worker
// delivers only while it holds the peer's lease (charging.Leases), which
// it renews every OutboxLease/3 and which expires OutboxLease after its
// holder stopped renewing it (died). A worker that finds the lease taken
// polls every OutboxLease/5 until the queue is empty, and every node looks
// at every peer's queue every OutboxLease, so a dead node's queues are
// taken over within about OutboxLease (15 s by default). When a renewal
// fails the worker's context is cancelled, which ends its request in
// flight before the lease can expire. A store without leases (one
// process) delivers without.
//
// A PATCH carries its whole object (push.Full): a party that was never sent
// the object (it registered while the session ran) gets a PUT of the whole
// instead, and so does one that refuses the PATCH (HTTP 4xx, OCPI 2xxx:
// "unknown object"). Which objects a party has is recorded per party
// (docSeen) when it accepts a PUT.
//
// Delivery is at least once: a crash after the peer accepted a push and
// before its document is deleted sends it again (the next holder of the
// lease does). PUT and PATCH are idempotent. A CDR's POST is not: it is
// delivered once, as outbox_once.go says (and under what condition).
type outbox struct {
	c *CPO
	// seq and leases are the store's, when it has them; holder names
	// this process's workers as lease holders.
	seq    charging.Sequencer
	leases charging.Leases
	holder string

	// mu guards the fields below.
	mu      sync.Mutex
	lastSeq int64
	running map[string]bool
	dirty   map[string]bool
	started bool
	// kicks end a peer's backoff pause early (an operator's retry).
	kicks map[string]chan struct{}
	// cdrURLs is, per party, what its CDR URLs (the Location of a CDR
	// POST's answer) start with, when they end with the CDR's id.
	cdrURLs map[string]string

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
	// Full, for a PATCH, is the whole object and FullPath its address: a
	// peer that has not been sent the object (it registered later) gets a
	// PUT of it instead, and so does one that refuses the PATCH (OCPI
	// 2.2.1: an eMSP cannot apply a PATCH to an object it does not have).
	Full     json.RawMessage `json:"full,omitempty"`
	FullPath string          `json:"full_path,omitempty"`
	// Track records, once the peer accepted this PUT, that it has the
	// object (a doc of kind docSeen), so later PATCHes are sent as such.
	Track bool `json:"track,omitempty"`
	// Once is the id of an object the party must get once (a CDR, whose
	// POST is not idempotent): see deliverOnce.
	Once string `json:"once,omitempty"`
	// Sending says a POST of Once began and how it ended was not
	// recorded: its sender died or lost the queue during the request.
	Sending bool `json:"sending,omitempty"`
	// Created is when the push was made; Attempts and LastError say how
	// delivery went so far.
	Created   time.Time `json:"created"`
	Attempts  int       `json:"attempts"`
	Refusals  int       `json:"refusals,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

func newOutbox(c *CPO) *outbox {
	holder := "ocpi-" + charging.NewID()
	if c.cfg.Node != "" {
		holder = "ocpi-" + c.cfg.Node + "-" + charging.NewID()
	}
	o := &outbox{c: c, holder: holder, cdrURLs: map[string]string{}, running: map[string]bool{}, dirty: map[string]bool{}, kicks: map[string]chan struct{}{}}
	o.seq, _ = c.docs.(charging.Sequencer)
	o.leases, _ = c.docs.(charging.Leases)
	return o
}

// leaseName is the name of a peer's queue lease.
func leaseName(peer string) string { return "ocpi outbox " + peer }

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
	if err := o.pruneSeen(ctx); err != nil {
		return fmt.Errorf("ocpi outbox: %w", err)
	}
	ps, err := o.c.peers.list(ctx)
	if err != nil {
		return fmt.Errorf("ocpi outbox: %w", err)
	}
	for _, p := range ps {
		o.wake(p.Key)
	}
	if o.leases != nil {
		o.c.goBG(o.sweep)
	}
	return nil
}

// sweep looks at every peer's queue every OutboxLease, so the queues of a
// node that died are delivered by this one once their leases expired.
func (o *outbox) sweep(ctx context.Context) {
	t := time.NewTicker(o.c.cfg.OutboxLease)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ps, err := o.c.peers.list(ctx)
		if err != nil {
			if ctx.Err() == nil {
				o.c.log.Warn("ocpi outbox: parties not listed; their queues are looked at next time", "err", err)
			}
			continue
		}
		for _, p := range ps {
			o.wake(p.Key)
		}
	}
}

// nextSeq draws the sequence number of a push.
func (o *outbox) nextSeq(ctx context.Context) (int64, error) {
	if o.seq != nil {
		return o.seq.NextSeq(ctx)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lastSeq = max(o.lastSeq+1, o.c.now().UnixMicro())
	return o.lastSeq, nil
}

// add stores pushes (each has Peer set) and wakes their peers' workers.
func (o *outbox) add(ctx context.Context, ps ...push) error {
	for i := range ps {
		p := &ps[i]
		seq, err := o.nextSeq(ctx)
		if err != nil {
			return fmt.Errorf("ocpi outbox: %w", err)
		}
		p.Seq = seq
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

// run delivers a peer's pushes until its queue is empty, while it holds
// the peer's lease; when another node holds it, run waits until that one
// emptied the queue, or died and its lease expired.
func (o *outbox) run(ctx context.Context, peer string) {
	for ctx.Err() == nil {
		wctx, release, held := o.hold(ctx, peer)
		if held {
			done := o.drain(wctx, peer)
			release()
			if done {
				if o.finish(peer) {
					return
				}
				continue // a push came meanwhile
			}
		}
		if ctx.Err() != nil {
			break
		}
		// Another node holds the queue (or took it over): stop once it is
		// empty, else look again shortly.
		o.mu.Lock()
		o.dirty[peer] = false
		o.mu.Unlock()
		if _, n, err := o.c.docs.ListDocs(ctx, charging.DocQuery{Kind: docOutbox, Owner: peer, Limit: 1}); err == nil && n == 0 {
			if o.finish(peer) {
				return
			}
			continue
		}
		if !o.pause(ctx, peer, o.c.cfg.OutboxLease/5) {
			break
		}
	}
	o.mu.Lock()
	delete(o.running, peer)
	o.mu.Unlock()
}

// finish ends the peer's worker unless a push was added since its queue
// was last found empty (then the worker goes on); it reports whether it
// ended. Checking and ending under one lock means a push added at any
// time either finds the worker running or starts a new one.
func (o *outbox) finish(peer string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dirty[peer] {
		return false
	}
	delete(o.running, peer)
	return true
}

// hold takes the peer's lease and keeps renewing it until release; the
// context it returns ends when a renewal fails (another node may take the
// queue over once the lease expires). held is false when another node
// holds the lease. Without leases it holds at once.
func (o *outbox) hold(ctx context.Context, peer string) (wctx context.Context, release func(), held bool) {
	if o.leases == nil {
		return ctx, func() {}, true
	}
	ttl := o.c.cfg.OutboxLease
	ok, err := o.leases.AcquireLease(ctx, leaseName(peer), o.holder, ttl)
	if err != nil && ctx.Err() == nil {
		o.c.log.Warn("ocpi outbox: lease not taken; trying again", "peer", peer, "err", err)
	}
	if !ok {
		return nil, nil, false
	}
	wctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stopped:
				return
			case <-wctx.Done():
				return
			case <-t.C:
			}
			ok, err := o.leases.AcquireLease(wctx, leaseName(peer), o.holder, ttl)
			if !ok || err != nil {
				if wctx.Err() == nil {
					o.c.log.Warn("ocpi outbox: lease lost; delivery stops here", "peer", peer, "err", err)
				}
				cancel()
				return
			}
		}
	})
	return wctx, func() {
		close(stopped)
		wg.Wait()
		cancel()
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		if err := o.leases.ReleaseLease(rctx, leaseName(peer), o.holder); err != nil {
			o.c.log.Warn("ocpi outbox: lease not released; it expires", "peer", peer, "err", err)
		}
	}, true
}

// drain delivers a peer's pushes until its queue is empty (done) or ctx
// ends (not done).
func (o *outbox) drain(ctx context.Context, peer string) (done bool) {
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
			dirty := o.dirty[peer]
			o.mu.Unlock()
			if !dirty {
				return true
			}
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
	return false
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
	if e.Once != "" {
		switch has, err := o.hasOnce(ctx, p, e); {
		case err != nil:
			if ctx.Err() == nil {
				o.c.log.Warn("ocpi outbox: whether the party has the object is not known yet; asking again later", "peer", e.Peer, "object", e.Object, "err", err)
			}
			return true
		case has:
			o.remove(ctx, d.ID)
			return false
		}
		// Recorded before the request: a node that takes the queue over
		// after this one died mid-request asks the party first.
		e.Sending = true
		if err := o.update(ctx, d, e); err != nil {
			return true
		}
	}
	sent := e
	if e.patchesWhole() && !o.seen(ctx, e.Peer, e.FullPath) {
		sent = e.whole()
		o.c.log.Info("party has not been sent the object: PUT of the whole instead of a PATCH", "peer", e.Peer, "object", e.Object)
	}
	hdr, err := o.send(ctx, p, url, sent)
	if err != nil && !retryable(err) && sent.Method == http.MethodPatch && e.patchesWhole() {
		o.c.log.Info("party refused a PATCH: PUT of the whole object", "peer", e.Peer, "object", e.Object, "err", err)
		sent = e.whole()
		hdr, err = o.send(ctx, p, url, sent)
	}
	if err == nil {
		o.delivered.Add(1)
		o.c.log.Debug("pushed", "peer", e.Peer, "method", sent.Method, "object", e.Object, "attempts", e.Attempts+1)
		o.track(ctx, sent)
		if e.Once != "" {
			o.learnCDRURL(ctx, e, hdr.Get("Location"))
			if err := o.markDelivered(ctx, e); err != nil {
				// The entry stays, marked as being sent: the next
				// attempt asks the party before sending again.
				o.c.log.Warn("ocpi outbox: delivery not recorded; the party is asked before the next attempt", "peer", e.Peer, "object", e.Object, "err", err)
				return true
			}
		}
		o.remove(ctx, d.ID)
		return false
	}
	if ctx.Err() != nil {
		return true
	}
	var ce *callError
	if e.Sending && errors.As(err, &ce) && ce.HTTP != 0 {
		// The party answered: it did not take it.
		e.Sending = false
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
	_ = o.update(ctx, d, e)
	return true
}

// update stores e as the outbox entry d.
func (o *outbox) update(ctx context.Context, d charging.Doc, e push) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	d.Body = b
	if err := o.c.docs.PutDoc(ctx, d); err != nil {
		if ctx.Err() == nil {
			o.c.log.Error("ocpi outbox entry not updated", "id", d.ID, "err", err)
		}
		return err
	}
	return nil
}

// patchesWhole reports whether e is a PATCH that carries its whole object.
func (e push) patchesWhole() bool {
	return e.Method == http.MethodPatch && len(e.Full) > 0 && e.FullPath != ""
}

// whole is the PUT of e's whole object.
func (e push) whole() push {
	e.Method, e.Path, e.Body, e.Track = http.MethodPut, e.FullPath, e.Full, true
	e.Full, e.FullPath = nil, ""
	return e
}

// send makes the HTTP request of push e (url is the address of e.Path; a
// PUT of the whole object may have another path).
func (o *outbox) send(ctx context.Context, p *Peer, url string, e push) (http.Header, error) {
	if e.URL == "" && e.Path != "" {
		url = strings.TrimRight(p.EndpointURL(e.Module, RoleReceiver), "/") + e.Path
	}
	var body any
	if len(e.Body) > 0 {
		body = e.Body
	}
	_, hdr, err := o.c.call(ctx, p, p.TheirToken, e.Method, url, body)
	return hdr, err
}

// docSeen records that a peer has accepted a PUT of an object (ID: peer and
// path), so a PATCH of it may be sent as a PATCH.
const docSeen = "ocpi_seen"

func seenID(peer, path string) string { return peer + " " + path }

// seen reports whether peer has been sent the whole object at path. When
// the store cannot tell, it says no: a PUT of the whole is always right.
func (o *outbox) seen(ctx context.Context, peer, path string) bool {
	_, err := o.c.docs.GetDoc(ctx, docSeen, seenID(peer, path))
	return err == nil
}

// track records, once a party accepted a tracked PUT, that it has the
// object. The records of a party are pruned when they are older than
// seenRetention (at start): a PATCH of an object whose record went is sent
// as a PUT of the whole, which is always right.
func (o *outbox) track(ctx context.Context, e push) {
	if !e.Track || e.Method != http.MethodPut || e.Path == "" {
		return
	}
	id := seenID(e.Peer, e.Path)
	if err := o.c.docs.PutDoc(ctx, charging.Doc{Kind: docSeen, ID: id, Owner: e.Peer, Body: []byte("{}"), Updated: o.c.now()}); err != nil && ctx.Err() == nil {
		o.c.log.Warn("ocpi: record of a pushed object not kept (the next PATCH goes as a PUT)", "id", id, "err", err)
	}
}

// seenRetention is how long a record that a party has an object is kept.
const seenRetention = 30 * 24 * time.Hour

// pruneSeen deletes the records of objects sent longer ago than
// seenRetention.
func (o *outbox) pruneSeen(ctx context.Context) error {
	for _, kind := range []string{docSeen, docSent} {
		for {
			docs, _, err := o.c.docs.ListDocs(ctx, charging.DocQuery{Kind: kind, To: o.c.now().Add(-seenRetention), Limit: 500})
			if err != nil {
				return err
			}
			if len(docs) == 0 {
				break
			}
			for _, d := range docs {
				if err := o.c.docs.DeleteDoc(ctx, kind, d.ID); err != nil && !errors.Is(err, charging.ErrNotFound) {
					return err
				}
			}
		}
	}
	return nil
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
		var e push
		if len(docs) == 1 && json.Unmarshal(docs[0].Body, &e) == nil {
			st.Oldest = e.Created // Updated is the sequence number
		}
		out = append(out, st)
	}
	return out, nil
}
