package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// started is the session StartSession must return for r.
func started(r charging.StartSession, tx string) charging.Session {
	return charging.Session{
		ID:             r.ID,
		ChargerID:      r.ChargerID,
		ConnectorID:    r.ConnectorID,
		TransactionID:  tx,
		IDTag:          r.IDTag,
		Status:         r.Status,
		ReservationID:  r.ReservationID,
		MeterStartWh:   r.MeterStartWh,
		LastRegisterWh: float64(r.MeterStartWh),
		StartedAt:      r.StartedAt,
		LastUpdated:    r.ReceivedAt,
	}
}

func testStartSession(t *testing.T, open func(t *testing.T) charging.Store) {
	var s starter
	withReservation := s.req("cp-1", 1, "TAG-1")
	withReservation.ReservationID = ptr(int64(77))
	withReservation.StartedAt = withReservation.StartedAt.In(cet)
	invalid := s.req("cp-1", 2, "TAG-BAD")
	invalid.Status = charging.SessionInvalid
	zeroMeter := s.req("cp-1", 3, "TAG-3")
	zeroMeter.MeterStartWh = 0
	tests := []struct {
		name string
		req  charging.StartSession
	}{
		{"active", s.req("cp-1", 1, "TAG-1")},
		{"reservation", withReservation},
		{"invalid-tag", invalid},
		{"zero-meter-start", zeroMeter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t)
			createCharger(t, st, "cp-1")
			got := start(t, st, tt.req)
			if txNum(t, got.TransactionID) <= 0 {
				t.Errorf("transaction id: got %s; want > 0", got.TransactionID)
			}
			want := started(tt.req, got.TransactionID)
			if d := diff(want, got); d != "" {
				t.Errorf("StartSession mismatch (-want +got):\n%s", d)
			}
			if d := diff(want, getSession(t, st, tt.req.ID)); d != "" {
				t.Errorf("GetSession after StartSession mismatch (-want +got):\n%s", d)
			}
			byTx, err := st.SessionByTransaction(ctx(t), got.ChargerID, got.TransactionID)
			if err != nil {
				t.Fatalf("SessionByTransaction(%s): %v", got.TransactionID, err)
			}
			if d := diff(want, byTx); d != "" {
				t.Errorf("SessionByTransaction mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func testStartIdempotent(t *testing.T, open func(t *testing.T) charging.Store) {
	tests := []struct {
		name string
		// between runs after the first start, before the retry.
		between func(t *testing.T, st charging.Store, first charging.Session) charging.Session
	}{
		{"retry", func(t *testing.T, st charging.Store, first charging.Session) charging.Session { return first }},
		{"retry-after-meter-values", func(t *testing.T, st charging.Store, first charging.Session) charging.Session {
			appendValues(t, st, charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, TransactionID: &first.TransactionID,
				Samples: []charging.MeterSample{sample(at(time.Hour), register(50))}, ReceivedAt: at(time.Hour)})
			return getSession(t, st, first.ID)
		}},
		{"retry-after-stop", func(t *testing.T, st charging.Store, first charging.Session) charging.Session {
			stopped, err := st.StopSession(ctx(t), charging.StopSession{ChargerID: "cp-1", TransactionID: first.TransactionID,
				MeterStopWh: 60000, EndedAt: at(2 * time.Hour), Reason: "Local", Status: charging.SessionCompleted, ReceivedAt: at(2 * time.Hour)})
			if err != nil {
				t.Fatalf("StopSession: %v", err)
			}
			return stopped
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t)
			createCharger(t, st, "cp-1")
			var s starter
			r := s.req("cp-1", 1, "TAG-1")
			first := start(t, st, r)
			want := tt.between(t, st, first)

			retry := r
			retry.ID = "sess-retry" // the caller picks a fresh id for every request
			retry.ReceivedAt = at(3 * time.Hour)
			got, created, err := st.StartSession(ctx(t), retry)
			if err != nil {
				t.Fatalf("StartSession retry: %v", err)
			}
			if created {
				t.Errorf("StartSession retry: got created true; want false")
			}
			if got.TransactionID != first.TransactionID {
				t.Errorf("StartSession retry: got transaction id %s; want %s", got.TransactionID, first.TransactionID)
			}
			if d := diff(want, got); d != "" {
				t.Errorf("StartSession retry returned (-want +got):\n%s", d)
			}
			_, err = st.GetSession(ctx(t), retry.ID)
			wantErr(t, "GetSession of the retry's unused id", err, charging.ErrNotFound)
			list, _, err := st.ListSessions(ctx(t), charging.SessionFilter{Limit: 10})
			if err != nil {
				t.Fatalf("ListSessions: %v", err)
			}
			if len(list) != 1 {
				t.Errorf("ListSessions after a retry: got %d sessions; want 1", len(list))
			}
		})
	}
}

func testStartClosesOpen(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	createCharger(t, st, "cp-1")
	createCharger(t, st, "cp-2")
	var s starter
	done := start(t, st, s.req("cp-1", 1, "TAG-D"))
	if _, err := st.StopSession(ctx(t), charging.StopSession{ChargerID: "cp-1", TransactionID: done.TransactionID, MeterStopWh: 5000,
		EndedAt: at(90 * time.Second), Reason: "Local", Status: charging.SessionCompleted, ReceivedAt: at(91 * time.Second)}); err != nil {
		t.Fatalf("StopSession: %v", err)
	}
	done = getSession(t, st, done.ID)
	lost := start(t, st, s.req("cp-1", 1, "TAG-A"))
	otherConnector := start(t, st, s.req("cp-1", 2, "TAG-B"))
	otherCharger := start(t, st, s.req("cp-2", 1, "TAG-C"))
	next := s.req("cp-1", 1, "TAG-E")
	newer := start(t, st, next)

	wantLost := lost
	wantLost.Status = charging.SessionInterrupted
	wantLost.EndedAt = ptr(next.ReceivedAt)
	wantLost.LastUpdated = next.ReceivedAt
	for _, want := range []charging.Session{wantLost, done, otherConnector, otherCharger, newer} {
		if d := diff(want, getSession(t, st, want.ID)); d != "" {
			t.Errorf("session %s (%s/%d) mismatch (-want +got):\n%s", want.ID, want.ChargerID, want.ConnectorID, d)
		}
	}
	if newer.Status != charging.SessionActive {
		t.Errorf("new session status: got %s; want active", newer.Status)
	}
}

func testTransactionIDs(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	createCharger(t, st, "cp-1")
	var s starter
	var last int64
	for i := range 100 {
		sess := start(t, st, s.req("cp-1", i+1, "TAG"))
		if n := txNum(t, sess.TransactionID); n <= last {
			t.Fatalf("start %d: got transaction id %s; want > %d", i, sess.TransactionID, last)
		}
		last = txNum(t, sess.TransactionID)
		byTx, err := st.SessionByTransaction(ctx(t), "cp-1", sess.TransactionID)
		if err != nil {
			t.Fatalf("SessionByTransaction(%s): %v", sess.TransactionID, err)
		}
		if byTx.ID != sess.ID {
			t.Errorf("SessionByTransaction(%s): got session %s; want %s", sess.TransactionID, byTx.ID, sess.ID)
		}
	}
}

func testConcurrentStarts(t *testing.T, open func(t *testing.T) charging.Store) {
	const workers, perWorker = 16, 25

	t.Run("distinct-ids", func(t *testing.T) {
		st := open(t)
		createCharger(t, st, "cp-1")
		type result struct {
			id  string
			tx  string
			err error
		}
		results := make(chan result, workers*perWorker)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range perWorker {
					r := charging.StartSession{
						ID: fmt.Sprintf("s-%d-%d", w, i), StartKey: fmt.Sprintf("k-%d-%d", w, i),
						ChargerID: "cp-1", ConnectorID: w*perWorker + i + 1, IDTag: "TAG",
						Status: charging.SessionActive, StartedAt: t0, ReceivedAt: t0,
					}
					sess, _, err := st.StartSession(ctx(t), r)
					results <- result{r.ID, sess.TransactionID, err}
				}
			})
		}
		wg.Wait()
		close(results)
		seen := map[string]string{}
		for r := range results {
			if r.err != nil {
				t.Fatalf("StartSession(%s): %v", r.id, r.err)
			}
			if prev, ok := seen[r.tx]; ok {
				t.Errorf("transaction id %s given to %s and %s", r.tx, prev, r.id)
			}
			seen[r.tx] = r.id
		}
		if len(seen) != workers*perWorker {
			t.Errorf("got %d distinct transaction ids; want %d", len(seen), workers*perWorker)
		}
		for tx, id := range seen {
			sess, err := st.SessionByTransaction(ctx(t), "cp-1", tx)
			if err != nil || sess.ID != id {
				t.Errorf("SessionByTransaction(%s): got %s, %v; want %s", tx, sess.ID, err, id)
			}
		}
	})

	t.Run("same-start-key", func(t *testing.T) {
		st := open(t)
		createCharger(t, st, "cp-1")
		var (
			mu      sync.Mutex
			created int
			txs     = map[string]bool{}
			ids     = map[string]bool{}
			wg      sync.WaitGroup
		)
		for w := range workers {
			wg.Go(func() {
				r := charging.StartSession{ID: fmt.Sprintf("s-%d", w), StartKey: "same", ChargerID: "cp-1", ConnectorID: 1,
					IDTag: "TAG", Status: charging.SessionActive, StartedAt: t0, ReceivedAt: t0}
				sess, c, err := st.StartSession(ctx(t), r)
				if err != nil {
					t.Errorf("StartSession(%s): %v", r.ID, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if c {
					created++
				}
				txs[sess.TransactionID] = true
				ids[sess.ID] = true
			})
		}
		wg.Wait()
		if created != 1 || len(txs) != 1 || len(ids) != 1 {
			t.Errorf("%d concurrent retries: got %d created, %d transaction ids, %d session ids; want 1, 1, 1",
				workers, created, len(txs), len(ids))
		}
	})

	t.Run("same-connector", func(t *testing.T) {
		st := open(t)
		createCharger(t, st, "cp-1")
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				r := charging.StartSession{ID: fmt.Sprintf("s-%d", w), StartKey: fmt.Sprintf("k-%d", w), ChargerID: "cp-1",
					ConnectorID: 1, IDTag: "TAG", Status: charging.SessionActive, StartedAt: t0, ReceivedAt: t0}
				if _, _, err := st.StartSession(ctx(t), r); err != nil {
					t.Errorf("StartSession(%s): %v", r.ID, err)
				}
			})
		}
		wg.Wait()
		list := allSessions(t, st, charging.SessionFilter{})
		count := map[charging.SessionStatus]int{}
		for _, s := range list {
			count[s.Status]++
		}
		want := map[charging.SessionStatus]int{charging.SessionActive: 1, charging.SessionInterrupted: workers - 1}
		if d := diff(want, count); d != "" {
			t.Errorf("statuses after %d starts on one connector (-want +got):\n%s", workers, d)
		}
		if len(list) > 0 && list[0].Status != charging.SessionActive {
			t.Errorf("newest session: got status %s; want active (only the last start stays open)", list[0].Status)
		}
	})
}

// allSessions pages through ListSessions, failing on a page that repeats a
// session or never ends.
func allSessions(t *testing.T, st charging.Store, f charging.SessionFilter) []charging.Session {
	t.Helper()
	var all []charging.Session
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatalf("ListSessions(%+v): paging does not end", f)
		}
		items, next, err := st.ListSessions(ctx(t), f)
		if err != nil {
			t.Fatalf("ListSessions(%+v): %v", f, err)
		}
		if f.Limit > 0 && len(items) > f.Limit {
			t.Fatalf("ListSessions(%+v): got %d items; want at most %d", f, len(items), f.Limit)
		}
		for _, s := range items {
			if seen[s.ID] {
				t.Fatalf("ListSessions(%+v): session %s on two pages", f, s.ID)
			}
			seen[s.ID] = true
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		if len(items) == 0 {
			t.Fatalf("ListSessions(%+v): empty page with next cursor %q", f, next)
		}
		f.Cursor = next
	}
}
