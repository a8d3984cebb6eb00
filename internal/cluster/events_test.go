package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
	"github.com/chargebridge/chargebridge/internal/store/postgres"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// eventNode is a node of a test cluster: its NATS connection, its own
// connection pool to the shared database, and its JetStream event port.
type eventNode struct {
	node  *Node
	store *postgres.Store
	ev    *Events
}

func startEventNode(t testing.TB, natsURL, dsn, id string) *eventNode {
	t.Helper()
	return startEventNodeWait(t, natsURL, dsn, id, 2*time.Second)
}

func startEventNodeWait(t testing.TB, natsURL, dsn, id string, ackWait time.Duration) *eventNode {
	t.Helper()
	ctx := context.Background()
	n, err := Join(ctx, Config{URL: natsURL, NodeID: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ev, err := n.Events(ctx, EventsConfig{Store: st, AckWait: ackWait, Backoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return &eventNode{node: n, store: st, ev: ev}
}

// run runs f in a goroutine until stop (or the test's end) cancels it.
func goRun(t testing.TB, f func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("stopped on its own: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func sessionEvent(session string, seq int64) charging.Event {
	return charging.Event{Kind: charging.SessionChanged, ChargerID: "CP." + session, SessionID: session, Seq: seq,
		At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func publishN(t testing.TB, p charging.EventPort, sessions, each int) {
	t.Helper()
	for i := range each {
		for s := range sessions {
			if err := p.Publish(context.Background(), sessionEvent(fmt.Sprintf("s%d", s), int64(i+1))); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// handled records which node handled which event, in handling order.
type handled struct {
	mu    sync.Mutex
	order []charging.Event
	by    map[string][]string // event id -> nodes
	ch    chan struct{}
}

func newHandled() *handled { return &handled{by: map[string][]string{}, ch: make(chan struct{}, 1)} }

func (h *handled) add(node string, e charging.Event) {
	h.mu.Lock()
	h.order = append(h.order, e)
	h.by[e.ID] = append(h.by[e.ID], node)
	h.mu.Unlock()
	select {
	case h.ch <- struct{}{}:
	default:
	}
}

// wait waits until n distinct events are handled (a hang guard of 60 s,
// not a speed assert).
func (h *handled) wait(t testing.TB, n int) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		h.mu.Lock()
		got := len(h.by)
		h.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-h.ch:
		case <-timeout:
			t.Fatalf("%d of %d events handled", got, n)
		}
	}
}

// TestEventsReachEveryNode: an event committed through node a's port is
// relayed by a and seen live by node b's consumer of new events.
func TestEventsReachEveryNode(t *testing.T) {
	ns := natstest.Start(t)
	dsn := pgtest.Schema(t)
	a := startEventNode(t, ns.URL(), dsn, "a")
	b := startEventNode(t, ns.URL(), dsn, "b")
	goRun(t, a.ev.Relay)
	live := make(chan charging.Event, 100)
	goRun(t, func(ctx context.Context) error {
		return b.ev.Consume(ctx, "", func(_ context.Context, e charging.Event) error { live <- e; return nil })
	})
	// b's consumer starts at the stream's end at some moment after it is
	// started: publish until one event reaches it.
	timeout := time.After(60 * time.Second)
	for i := int64(1); ; i++ {
		want := charging.Event{Kind: charging.SessionChanged, ChargerID: "CP.1 x", SessionID: "s-on-a", Seq: i, TransactionID: "42",
			At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		if err := a.ev.Publish(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-live:
			if got.SessionID != want.SessionID || got.ChargerID != want.ChargerID || got.TransactionID != "42" || got.ID == "" || got.Pos == 0 {
				t.Fatalf("b got %+v; want a's event with its id, charger, session, transaction and a stream position", got)
			}
			return
		case <-time.After(200 * time.Millisecond): // publish again
		case <-timeout:
			t.Fatal("node b saw none of node a's events")
		}
	}
}

// TestDurableConsumerIsSharedByTheNodes: three nodes consume as "ocpi"; each
// event is handled once, by one of them, and each session's events in
// their order.
func TestDurableConsumerIsSharedByTheNodes(t *testing.T) {
	ns := natstest.Start(t)
	dsn := pgtest.Schema(t)
	a := startEventNode(t, ns.URL(), dsn, "a")
	b := startEventNode(t, ns.URL(), dsn, "b")
	c := startEventNode(t, ns.URL(), dsn, "c")
	goRun(t, a.ev.Relay)
	goRun(t, b.ev.Relay) // more relays: the stream drops the second copy
	goRun(t, c.ev.Relay)
	// "ocpi" read the store's log before the nodes joined a cluster.
	if _, err := pgConn(t, dsn).Exec(t.Context(), `INSERT INTO event_consumers (name, xid, pos, updated_at) VALUES ('ocpi', '0', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	h := newHandled()
	for _, n := range []*eventNode{a, b, c} {
		goRun(t, func(ctx context.Context) error {
			return n.ev.Consume(ctx, "ocpi", func(_ context.Context, e charging.Event) error { h.add(n.node.ID(), e); return nil })
		})
	}
	const sessions, each = 4, 30
	publishN(t, a.ev, sessions, each)
	h.wait(t, sessions*each)
	// Anything delivered twice comes within the ack wait; give it time.
	time.Sleep(3 * time.Second)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.order) != sessions*each {
		t.Fatalf("%d deliveries of %d events; want each once", len(h.order), sessions*each)
	}
	last := map[string]int64{}
	for _, e := range h.order {
		if e.Seq != last[e.SessionID]+1 {
			t.Fatalf("session %s: seq %d handled after %d", e.SessionID, e.Seq, last[e.SessionID])
		}
		last[e.SessionID] = e.Seq
	}
	info, err := a.ev.js.Stream(t.Context(), EventStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != sessions*each {
		t.Fatalf("the stream has %d messages for %d events relayed by two nodes", n, sessions*each)
	}
	var kept int
	if err := pgConn(t, dsn).QueryRow(t.Context(), `SELECT count(*) FROM event_consumers WHERE name = 'ocpi'`).Scan(&kept); err != nil || kept != 0 {
		t.Fatalf("the store keeps %d positions of ocpi (%v); want none once it reads the stream", kept, err)
	}
	lag, err := a.ev.Lag(t.Context())
	if err != nil || len(lag) != 1 || lag[0].Name != "ocpi" || lag[0].Pending != 0 {
		t.Fatalf("Lag = %+v, %v; want ocpi, nothing pending", lag, err)
	}
}

// TestASlowHandlerKeepsItsEvent: a handler that runs longer than the ack
// wait keeps its event (the node reports progress); no other node gets it.
func TestASlowHandlerKeepsItsEvent(t *testing.T) {
	ns := natstest.Start(t)
	dsn := pgtest.Schema(t)
	const ackWait = time.Second
	a := startEventNodeWait(t, ns.URL(), dsn, "a", ackWait)
	b := startEventNodeWait(t, ns.URL(), dsn, "b", ackWait)
	goRun(t, a.ev.Relay)
	h := newHandled()
	for _, n := range []*eventNode{a, b} {
		goRun(t, func(ctx context.Context) error {
			return n.ev.Consume(ctx, "pricer", func(ctx context.Context, e charging.Event) error {
				h.add(n.node.ID(), e)
				if e.Seq == 1 {
					time.Sleep(3 * ackWait)
				}
				return nil
			})
		})
	}
	publishN(t, a.ev, 1, 3)
	h.wait(t, 3)
	time.Sleep(2 * ackWait)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.order) != 3 {
		t.Fatalf("%d deliveries of 3 events; the slow one went to %v", len(h.order), h.by[h.order[0].ID])
	}
}

// TestANodeDiesMidStream: node a dies (its NATS connection closes, no
// shutdown) while it handles an event; node b handles every event a had
// not acknowledged, the one a held included, and none a acknowledged.
func TestANodeDiesMidStream(t *testing.T) {
	ns := natstest.Start(t)
	dsn := pgtest.Schema(t)
	a := startEventNode(t, ns.URL(), dsn, "a")
	b := startEventNode(t, ns.URL(), dsn, "b")
	goRun(t, b.ev.Relay)
	const total = 60
	publishN(t, b.ev, 1, total)
	h := newHandled()
	stuck, release := make(chan charging.Event, 1), make(chan struct{})
	var aDone int
	stopA := goRun(t, func(ctx context.Context) error {
		return a.ev.Consume(ctx, "beckn", func(_ context.Context, e charging.Event) error {
			if aDone == 20 {
				stuck <- e
				<-release // a dies holding this one
				return nil
			}
			aDone++
			h.add("a", e)
			return nil
		})
	})
	var inFlight charging.Event
	select {
	case inFlight = <-stuck:
	case <-time.After(60 * time.Second):
		t.Fatal("node a never handled 20 events")
	}
	// b joins the consumer only now, so a has acknowledged 20 events.
	goRun(t, func(ctx context.Context) error {
		return b.ev.Consume(ctx, "beckn", func(_ context.Context, e charging.Event) error { h.add("b", e); return nil })
	})
	a.node.abandon() // the crash: a's connection closes
	close(release)   // its handler returns into a dead connection
	stopA()
	h.wait(t, total)
	time.Sleep(3 * time.Second) // room for a wrong redelivery
	h.mu.Lock()
	defer h.mu.Unlock()
	ackedByA := 0
	for id, nodes := range h.by {
		if nodes[0] == "a" {
			ackedByA++
			if len(nodes) != 1 {
				t.Errorf("event %s acknowledged by a was handled again by %v", id, nodes[1:])
			}
		}
	}
	if ackedByA != 20 {
		t.Fatalf("a acknowledged %d events; want 20", ackedByA)
	}
	if nodes := h.by[inFlight.ID]; len(nodes) == 0 || nodes[0] != "b" {
		t.Fatalf("the event a held when it died was handled by %v; want b", nodes)
	}
	if len(h.by) != total {
		t.Fatalf("%d of %d events handled", len(h.by), total)
	}
}

// TestRelayDeduplicates: a relay that starts again from an old position
// (or a second relay) publishes events the stream has: the stream keeps
// one message per event id.
func TestRelayDeduplicates(t *testing.T) {
	ns := natstest.Start(t)
	dsn := pgtest.Schema(t)
	a := startEventNode(t, ns.URL(), dsn, "a")
	e := sessionEvent("s1", 1)
	e.ID = "event-1"
	for i, want := range []bool{false, true} {
		dup, err := a.ev.publish(t.Context(), e)
		if err != nil || dup != want {
			t.Fatalf("publish #%d of one event id: duplicate %v, %v; want %v", i+1, dup, err, want)
		}
	}
	const n = 25
	publishN(t, a.ev, 1, n)
	msgs := func() uint64 {
		st, err := a.ev.js.Stream(t.Context(), EventStream)
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().State.Msgs
	}
	relayed := func() {
		stop := goRun(t, a.ev.Relay)
		defer stop()
		deadline := time.Now().Add(60 * time.Second)
		for msgs() < n+1 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		// Wait for the relay to save its position at the log's end.
		for !relayDone(t, dsn, n) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	relayed()
	if got := msgs(); got != n+1 {
		t.Fatalf("the stream has %d messages after the relay; want %d", got, n+1)
	}
	// The relay forgets its position: it publishes the whole log again.
	resetRelay(t, dsn)
	relayed()
	if got := msgs(); got != n+1 {
		t.Fatalf("the stream has %d messages after the log was relayed twice; want %d", got, n+1)
	}
}

func pgConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// relayDone reports whether the relay's saved position is at the n-th
// event of the log.
func relayDone(t *testing.T, dsn string, n int) bool {
	var behind int
	err := pgConn(t, dsn).QueryRow(t.Context(), `SELECT count(*) FROM event_log l, event_consumers c
		WHERE c.name = $1 AND (l.xid, l.pos) > (c.xid, c.pos)`, RelayConsumer).Scan(&behind)
	if err != nil && !strings.Contains(err.Error(), "no rows") {
		t.Fatal(err)
	}
	var saved int
	if err := pgConn(t, dsn).QueryRow(t.Context(), `SELECT count(*) FROM event_consumers WHERE name = $1`, RelayConsumer).Scan(&saved); err != nil {
		t.Fatal(err)
	}
	return saved == 1 && behind == 0
}

func resetRelay(t *testing.T, dsn string) {
	if _, err := pgConn(t, dsn).Exec(t.Context(), `DELETE FROM event_consumers WHERE name = $1`, RelayConsumer); err != nil {
		t.Fatal(err)
	}
}

func TestTokenIsOneToOne(t *testing.T) {
	seen := map[string]string{}
	for _, s := range []string{"", "=", "a", "a.b", "a=2Eb", "a b", "a*", ">", "CP-1_x", "ü", "a=", "=3D"} {
		tok := Token(s)
		if strings.ContainsAny(tok, ".*> \t") || tok == "" {
			t.Fatalf("Token(%q) = %q is not one subject token", s, tok)
		}
		if prev, ok := seen[tok]; ok {
			t.Fatalf("Token(%q) = Token(%q) = %q", s, prev, tok)
		}
		seen[tok] = s
	}
}

func FuzzDecodeEvent(f *testing.F) {
	e := sessionEvent("s1", 3)
	e.ID, e.TransactionID = "x", "7"
	b, err := encodeEvent(e)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"id":"x","kind":"session","body":{"session":{"id":"s"}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEvent(data)
		if err != nil {
			return
		}
		out, err := encodeEvent(e)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", e, err)
		}
		if _, err := decodeEvent(out); err != nil {
			t.Fatalf("decode of re-encoded %s: %v", out, err)
		}
	})
}

// TestTheStreamIsMadeAgain: when the stream is lost (a NATS server that
// restarted without its store), the relay and the consumers make it again
// and the events committed after go through.
func TestTheStreamIsMadeAgain(t *testing.T) {
	ns := natstest.Start(t)
	dsn := pgtest.Schema(t)
	a := startEventNode(t, ns.URL(), dsn, "a")
	b := startEventNode(t, ns.URL(), dsn, "b")
	goRun(t, a.ev.Relay)
	h := newHandled()
	goRun(t, func(ctx context.Context) error {
		return b.ev.Consume(ctx, "pricer", func(_ context.Context, e charging.Event) error { h.add("b", e); return nil })
	})
	publishN(t, a.ev, 1, 3)
	h.wait(t, 3)
	if err := a.ev.js.DeleteStream(t.Context(), EventStream); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := a.ev.Publish(t.Context(), sessionEvent("s-after", int64(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	h.wait(t, 6)
}

// BenchmarkEventRelay: events relayed from the database's log to the
// stream per second (ns/op is one event).
func BenchmarkEventRelay(b *testing.B) {
	ns := natstest.Start(b)
	a := startEventNode(b, ns.URL(), pgtest.Schema(b), "a")
	publishN(b, a.ev, 20, max(b.N/20, 1))
	want := uint64(max(b.N/20, 1) * 20)
	b.ResetTimer()
	stop := goRun(b, a.ev.Relay)
	defer stop()
	waitStream(b, a.ev, want)
}

// waitStream waits until the stream holds n messages.
func waitStream(tb testing.TB, ev *Events, n uint64) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second) // a hang guard
	for {
		st, err := ev.js.Stream(tb.Context(), EventStream)
		if err != nil {
			tb.Fatal(err)
		}
		if st.CachedInfo().State.Msgs >= n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the stream has %d of %d messages", st.CachedInfo().State.Msgs, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkSharedConsumer: events handled per second by one durable
// consumer shared by two nodes (ns/op is one event).
func BenchmarkSharedConsumer(b *testing.B) {
	ns := natstest.Start(b)
	dsn := pgtest.Schema(b)
	x := startEventNode(b, ns.URL(), dsn, "x")
	y := startEventNode(b, ns.URL(), dsn, "y")
	each := max(b.N/20, 1)
	publishN(b, x.ev, 20, each)
	stop := goRun(b, x.ev.Relay)
	waitStream(b, x.ev, uint64(each*20))
	stop()
	h := newHandled()
	b.ResetTimer()
	for _, n := range []*eventNode{x, y} {
		goRun(b, func(ctx context.Context) error {
			return n.ev.Consume(ctx, "bench", func(_ context.Context, e charging.Event) error { h.add(n.node.ID(), e); return nil })
		})
	}
	h.wait(b, each*20)
}

// TestTheRelayFailsOver: with the store's leadership only one node relays;
// when it dies (its database connections close), another takes over.
func TestTheRelayFailsOver(t *testing.T) {
	ns := natstest.Start(t)
	dsn := pgtest.Schema(t)
	a := startEventNode(t, ns.URL(), dsn, "a")
	b := startEventNode(t, ns.URL(), dsn, "b")
	for _, n := range []*eventNode{a, b} {
		n.ev.cfg.Leader, n.ev.cfg.LeadCheck = n.store, 100*time.Millisecond
	}
	stopA := goRun(t, a.ev.Relay)
	h := newHandled()
	goRun(t, func(ctx context.Context) error {
		return b.ev.Consume(ctx, "pricer", func(_ context.Context, e charging.Event) error { h.add("b", e); return nil })
	})
	publishN(t, a.ev, 1, 2)
	h.wait(t, 2) // a leads: it relayed before b asked
	goRun(t, b.ev.Relay)
	if ok, err := b.store.Lead(t.Context(), relayLeaderJob); err != nil || ok {
		t.Fatalf("b leads the relay too (%v, %v) while a does", ok, err)
	}
	// a dies: its relay stops and its database connections close.
	stopA()
	_ = a.store.Close()
	publishN(t, b.ev, 1, 3)
	h.wait(t, 5)
}

// A live (ordered) consumer whose NATS server went away stops when its
// context ends: the library's own recovery of an ordered consumer retries
// for ever inside a fetch, deaf to the context, and held a node's shutdown.
func TestLiveConsumerStopsAfterNATSWentAway(t *testing.T) {
	ns := natstest.Start(t)
	dsn := pgtest.Schema(t)
	a := startEventNode(t, ns.URL(), dsn, "a")
	goRun(t, a.ev.Relay)
	live := make(chan charging.Event, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- a.ev.Consume(ctx, "", func(_ context.Context, e charging.Event) error { live <- e; return nil })
	}()
	timeout := time.After(30 * time.Second)
	for i := int64(1); len(live) == 0; i++ {
		if err := a.ev.Publish(t.Context(), sessionEvent("s-live", i)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-timeout:
			t.Fatal("the live consumer saw nothing")
		}
	}
	// The stream goes away under the consumer (as with a NATS server
	// restarted without its store), and then the node stops.
	if err := a.ev.js.DeleteStream(t.Context(), EventStream); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the consumer's heartbeats stop: it recovers in a fetch
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the live consumer did not stop within 20 s of its context ending")
	}
}
