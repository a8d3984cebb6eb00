package sqlite

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/google/go-cmp/cmp"
)

// waitQueued waits until n operations are queued for the writer and not
// taken yet.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s.qmu.Lock()
		queued := len(s.queue)
		s.qmu.Unlock()
		if queued >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("timed out waiting for %d queued writes", n)
}

// TestMeterWritesInOneBatch puts MeterValues into one transaction, as
// group commit does under load: writes over the right version, misses
// over a stale one, two writes over the same version of one session, one
// with a document (which runs in a savepoint of its own), and an
// operation of another kind. The writer may batch their statements; every
// call must still get the result it would get alone, and every sample of
// a successful call, and none of a failed one, must be read back, while
// rounds of the journal write segments, and after a restart.
func TestMeterWritesInOneBatch(t *testing.T) {
	path := t.TempDir() + "/cb.db"
	s := openAt(t, path, WithMaxBatch(256, time.Hour), withJournal(20, 7))
	ctx := t.Context()
	sess := benchSessionsT(t, s, 6)
	want := make([][]charging.MeterSample, len(sess))
	sameTime := cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })
	check := func(when string) {
		t.Helper()
		for i := range sess {
			got, err := s.SessionSamples(ctx, sess[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want[i], got, sameTime); d != "" {
				t.Errorf("%s, session %d: samples (-want +got):\n%s", when, i, d)
			}
		}
	}

	type call struct {
		i       int   // session
		version int64 // written over
		doc     bool
		smp     []charging.MeterSample
		err     error
	}
	const rounds = 8
	for round := range rounds {
		base := t0.Add(time.Duration(round) * time.Hour)
		v := func(i int) int64 { return sess[i].MeterVersion }
		calls := []*call{
			{i: 0, version: v(0)},
			{i: 1, version: v(1) + 7}, // stale: a miss
			{i: 2, version: v(2)},
			{i: 2, version: v(2)}, // the same version twice: one of them wins
			{i: 3, version: v(3), doc: round%2 == 0},
			{i: 4, version: v(4)},
			{i: 5, version: v(5) + 1}, // a miss
			{i: 4, version: v(4) + 1}, // a miss, though the write before it will be at this version once committed
		}
		release := blockWriter(t, s)
		before := s.Stats()
		done := make(chan *call, len(calls)+1)
		for k, c := range calls {
			ts := base.Add(time.Duration(k) * time.Second)
			c.smp = []charging.MeterSample{meterSample(ts, 10*round+k), meterSample(ts.Add(time.Millisecond), 10*round+k)}
			ss := sess[c.i]
			go func() {
				m := charging.MeterValues{ChargerID: ss.ChargerID, ConnectorID: 1, TransactionID: &ss.TransactionID,
					Samples: c.smp, ReceivedAt: ts}
				folded, _ := charging.Fold(ss, m)
				w := charging.MeterWrite{MeterValues: m, Seq: ss.Seq, Version: c.version, Meter: folded.Meter()}
				if c.doc {
					w.Doc = &charging.Doc{Kind: "test", ID: ss.ID + "-" + strconv.Itoa(round), Body: []byte(`{}`), Updated: ts}
				}
				c.err = s.WriteMeterValues(ctx, w)
				done <- c
			}()
		}
		go func() {
			if err := s.TouchCharger(ctx, sess[0].ChargerID, base); err != nil {
				t.Error(err)
			}
			done <- nil
		}()
		waitQueued(t, s, len(calls)+1)
		release()
		for range len(calls) + 1 {
			<-done
		}
		if got := s.Stats().Commits - before.Commits; got != 1 {
			t.Fatalf("round %d: %d commits; want 1 shared by every call", round, got)
		}

		// The writer runs the calls one after the other, in an order the
		// test does not know: the calls that succeeded on a session wrote
		// over its versions v, v+1, … once each.
		wins := make([]int, len(sess))
		won := make([]map[int64]bool, len(sess))
		for k, c := range calls {
			switch {
			case c.err == nil:
				if won[c.i] == nil {
					won[c.i] = map[int64]bool{}
				}
				if won[c.i][c.version] {
					t.Errorf("round %d, call %d: two writes over version %d of session %d succeeded", round, k, c.version, c.i)
				}
				won[c.i][c.version] = true
				wins[c.i]++
				want[c.i] = append(want[c.i], c.smp...)
			case !errors.Is(c.err, charging.ErrConflict):
				t.Errorf("round %d, call %d: %v; want success or ErrConflict", round, k, c.err)
			}
		}
		// Sessions 0, 2 and 3 have one success; 4 one or two (its second
		// write succeeds if it ran after the first); 1 and 5 none.
		for i, w := range []int{1, 0, 1, 1, 1, 0} {
			if wins[i] != w && !(i == 4 && wins[i] == 2) {
				t.Errorf("round %d: %d writes to session %d succeeded; want %d", round, wins[i], i, w)
			}
			for n := range int64(wins[i]) {
				if !won[i][sess[i].MeterVersion+n] {
					t.Errorf("round %d: session %d at version %d: no successful write over version %d (%v)",
						round, i, sess[i].MeterVersion, sess[i].MeterVersion+n, won[i])
				}
			}
			got, err := s.GetSession(ctx, sess[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			if wantV := sess[i].MeterVersion + int64(wins[i]); got.MeterVersion != wantV {
				t.Errorf("round %d: session %d at meter version %d; want %d", round, i, got.MeterVersion, wantV)
			}
			sess[i] = got
		}
		check("round " + strconv.Itoa(round))
	}
	if st := s.Stats(); st.Moved == 0 || st.FailedMoves != 0 {
		t.Errorf("journal: %d samples put into segments, %d failed steps; want segments and no failure", st.Moved, st.FailedMoves)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	check("after a restart")
}
