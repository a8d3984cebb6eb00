package postgres

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// twoNodes opens two stores on one schema: two pools, as two processes
// sharing the database have.
func twoNodes(t *testing.T) (a, b *Store) {
	t.Helper()
	return openTest(t).(*Store), openTest(t).(*Store)
}

// terminate ends a backend from a third connection, as the server does
// when a node's connection drops (the node died).
func terminate(t *testing.T, s *Store, pid uint32) {
	t.Helper()
	var ok bool
	if err := s.pool.QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d): %v, %v", pid, ok, err)
	}
}

// advisoryHolders returns the backends that hold the advisory lock key.
func advisoryHolders(t *testing.T, s *Store, key int64) []uint32 {
	t.Helper()
	k := uint64(key)
	rows, err := s.pool.Query(t.Context(), `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1`,
		int64(k>>32), int64(k&0xffffffff))
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, p := range pids {
		out = append(out, uint32(p))
	}
	return out
}

func TestLockSerializesNodes(t *testing.T) {
	a, b := twoNodes(t)
	ctx := t.Context()

	unlock, err := a.Lock(ctx, "order-1")
	if err != nil {
		t.Fatalf("a.Lock: %v", err)
	}
	defer unlock() // on failure; unlock is idempotent
	// While node a holds the order, node b waits: its Lock ends with its
	// context, not with the lock.
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	ub, err := b.Lock(wctx, "order-1")
	cancel()
	if err == nil {
		ub()
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b.Lock of an order a holds: got %v; want it to wait until its deadline", err)
	}
	// Another order is not held up.
	u2, err := b.Lock(ctx, "order-2")
	if err != nil {
		t.Fatalf("b.Lock of another order: %v", err)
	}
	u2()
	// b waits until a unlocks, then has it.
	got := make(chan error, 1)
	go func() {
		u, err := b.Lock(ctx, "order-1")
		if err == nil {
			u()
		}
		got <- err
	}()
	unlock()
	if err := <-got; err != nil {
		t.Fatalf("b.Lock after a unlocked: %v", err)
	}

	// Many callers on both nodes: never two inside at once.
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range 10 {
				u, err := s.Lock(ctx, "order-3")
				if err != nil {
					t.Errorf("Lock: %v", err)
					return
				}
				n := inside.Add(1)
				if n > most.Load() {
					most.Store(n)
				}
				time.Sleep(time.Millisecond)
				inside.Add(-1)
				u()
			}
		})
	}
	wg.Wait()
	if m := most.Load(); m != 1 {
		t.Errorf("callers inside one order's lock at once: got %d; want 1", m)
	}
}

func TestLockFreedWhenNodeDies(t *testing.T) {
	a, b := twoNodes(t)
	ctx := t.Context()
	unlock, err := a.Lock(ctx, "order-1")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	holders := advisoryHolders(t, b, a.cluster.key("lock", "order-1"))
	if len(holders) != 1 {
		t.Fatalf("advisory lock holders: got %v; want one", holders)
	}
	terminate(t, b, holders[0])
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u, err := b.Lock(wctx, "order-1")
	if err != nil {
		t.Fatalf("b.Lock after a's connection dropped: %v", err)
	}
	u()
}

func TestNextSeqAcrossNodes(t *testing.T) {
	a, b := twoNodes(t)
	ctx := t.Context()
	var mu sync.Mutex
	var all []int64
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b, a, b} {
		wg.Go(func() {
			var mine []int64
			for range 50 {
				n, err := s.NextSeq(ctx)
				if err != nil {
					t.Errorf("NextSeq: %v", err)
					return
				}
				mine = append(mine, n)
			}
			if !slices.IsSorted(mine) {
				t.Errorf("one caller's numbers are not increasing: %v", mine)
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(all)
	if n := len(slices.Compact(slices.Clone(all))); n != len(all) {
		t.Errorf("distinct numbers: got %d; want %d", n, len(all))
	}
	// Numbers drawn before the sequence (wall-clock microseconds) stay
	// smaller.
	if min := time.Now().Add(-time.Hour).UnixMicro(); all[0] < min {
		t.Errorf("first number %d; want at least %d (microseconds since the epoch)", all[0], min)
	}
}

func TestLeases(t *testing.T) {
	a, b := twoNodes(t)
	ctx := t.Context()
	const ttl = 400 * time.Millisecond
	acquire := func(s *Store, holder string) bool {
		t.Helper()
		ok, err := s.AcquireLease(ctx, "ocpi/NL-EMS", holder, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !acquire(a, "a") {
		t.Fatal("a could not take a free lease")
	}
	if acquire(b, "b") {
		t.Fatal("b took the lease a holds")
	}
	if !acquire(a, "a") {
		t.Fatal("a could not renew its lease")
	}
	// a stops renewing (it died): b takes over once it expired.
	deadline := time.Now().Add(5 * time.Second)
	for !acquire(b, "b") {
		if time.Now().After(deadline) {
			t.Fatal("b never took over the expired lease")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if acquire(a, "a") {
		t.Fatal("a renewed a lease b took over")
	}
	if err := a.ReleaseLease(ctx, "ocpi/NL-EMS", "a"); err != nil {
		t.Fatal(err)
	}
	if acquire(a, "a") {
		t.Fatal("a's release gave up b's lease")
	}
	if err := b.ReleaseLease(ctx, "ocpi/NL-EMS", "b"); err != nil {
		t.Fatal(err)
	}
	if !acquire(a, "a") {
		t.Fatal("a could not take a released lease")
	}
}

// TestLeadership runs a job on two nodes tick by tick: only the leader
// runs it, and when the leader's connection drops the other runs it from
// the next tick on.
func TestLeadership(t *testing.T) {
	a, b := twoNodes(t)
	ctx := t.Context()
	runs := map[string]int{}
	tick := func() {
		t.Helper()
		ran := 0
		for name, s := range map[string]*Store{"a": a, "b": b} {
			lead, err := s.Lead(ctx, "expiry")
			if err != nil {
				t.Logf("%s.Lead: %v", name, err)
			}
			if lead {
				runs[name]++
				ran++
			}
		}
		if ran != 1 {
			t.Fatalf("nodes that ran the job in one tick: got %d; want 1", ran)
		}
	}
	for range 5 {
		tick()
	}
	first, other := a, b
	if runs["b"] > 0 {
		first, other = b, a
	}
	if runs["a"]+runs["b"] != 5 || runs["a"]*runs["b"] != 0 {
		t.Fatalf("runs: got %v; want one node to run all 5 ticks", runs)
	}
	// Another job may have another leader, and does not disturb this one.
	if lead, err := other.Lead(ctx, "reconcile"); err != nil || !lead {
		t.Fatalf("other.Lead of another job: %v, %v; want it to lead", lead, err)
	}

	// The leader's connection drops (its node died): the other node runs
	// the job from the next tick on.
	first.cluster.mu.Lock()
	pid := first.cluster.leader.PgConn().PID()
	first.cluster.mu.Unlock()
	terminate(t, other, pid)
	// The server frees the lock once the backend has gone, a moment after
	// pg_terminate_backend returned.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		lead, err := other.Lead(ctx, "expiry")
		if lead {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other node never took over after the leader's connection dropped (last: %v)", err)
		}
	}
	clear(runs)
	for range 5 {
		tick()
	}
	if name := map[*Store]string{a: "a", b: "b"}[other]; runs[name] != 5 {
		t.Errorf("runs after the takeover: got %v; want all 5 by %s", runs, name)
	}
	// Closing the store gives leadership up too.
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	// The server frees the lock once the closed connection's backend is
	// gone, a moment after Close returned.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		lead, err := first.Lead(ctx, "expiry")
		if lead {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Lead after the leader closed: %v, %v; want it to lead", lead, err)
		}
	}
}

// TestDurableConsumerRunsOnOneNode: two nodes run the same durable
// consumer; each event is handled by one of them, once, and when the
// leading node dies (its consumer stops, its connection drops) the other
// handles what follows.
func TestDurableConsumerRunsOnOneNode(t *testing.T) {
	a, b := twoNodes(t)
	ctx := t.Context()
	var mu sync.Mutex
	seen := map[int64]int{}
	by := map[*Store]int{}
	var wg sync.WaitGroup
	stop := map[*Store]context.CancelFunc{}
	defer func() {
		for _, c := range stop {
			c()
		}
		wg.Wait()
	}()
	for _, s := range []*Store{a, b} {
		ctx, cancel := context.WithCancel(ctx)
		stop[s] = cancel
		wg.Go(func() {
			_ = s.Consume(ctx, "pricer", func(_ context.Context, e charging.Event) error {
				time.Sleep(time.Millisecond)
				mu.Lock()
				seen[e.Seq]++
				by[s]++
				mu.Unlock()
				return nil
			})
		})
	}
	publish := func(from, to int64) {
		t.Helper()
		for i := from; i < to; i++ {
			e := charging.Event{Kind: charging.SessionChanged, ChargerID: "CP1", SessionID: "s1", Seq: i, At: time.Now().UTC(),
				Session: &charging.Session{ID: "s1", ChargerID: "CP1"}}
			if err := a.Publish(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitSeen := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			got := len(seen)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("events handled: got %d; want %d", got, n)
			}
		}
	}
	once := func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		for seq, n := range seen {
			if n != 1 {
				t.Fatalf("event %d handled %d times; want once", seq, n)
			}
		}
	}
	publish(1, 41)
	waitSeen(40)
	time.Sleep(2 * consumerLeadCheck) // a second consumer would have caught up by now
	once()
	mu.Lock()
	leader := a
	if by[b] > 0 {
		leader = b
	}
	mu.Unlock()
	other := map[*Store]*Store{a: b, b: a}[leader]

	// The leader dies: its consumer stops, its connection drops. The
	// other node goes on.
	stop[leader]()
	leader.cluster.mu.Lock()
	pid := leader.cluster.leader.PgConn().PID()
	leader.cluster.mu.Unlock()
	terminate(t, other, pid)
	time.Sleep(2 * consumerLeadCheck)
	mu.Lock()
	before := by[other]
	mu.Unlock()
	publish(41, 61)
	waitSeen(60)
	time.Sleep(2 * consumerLeadCheck)
	once()
	mu.Lock()
	defer mu.Unlock()
	if by[other]-before < 20 {
		t.Errorf("events the other node handled after the leader's connection dropped: got %d; want 20", by[other]-before)
	}
}
