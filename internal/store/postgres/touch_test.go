package postgres

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// TestTouchesTogether: heartbeats of many chargers at once (written in
// shared statements) each land on their own charger, and each of an
// unknown charger is ErrNotFound, as one at a time.
func TestTouchesTogether(t *testing.T) {
	st := openTest(t).(*Store)
	const n = 150
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for i := range n {
		if err := st.CreateCharger(t.Context(), charging.Charger{ID: fmt.Sprintf("cp-%03d", i), CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	for i := range 2 * n { // the second half is unknown
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.TouchCharger(t.Context(), fmt.Sprintf("cp-%03d", i), at.Add(time.Duration(i)*time.Second))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i < n && err != nil:
			t.Errorf("touch of cp-%03d: %v", i, err)
		case i >= n && !errors.Is(err, charging.ErrNotFound):
			t.Errorf("touch of unknown cp-%03d: %v; want ErrNotFound", i, err)
		}
	}
	for _, i := range []int{0, 77, n - 1} {
		c, err := st.GetCharger(t.Context(), fmt.Sprintf("cp-%03d", i))
		if want := at.Add(time.Duration(i) * time.Second); err != nil || c.LastSeenAt == nil || !c.LastSeenAt.Equal(want) {
			t.Errorf("cp-%03d last seen %v (err %v); want %v", i, c.LastSeenAt, err, want)
		}
	}
}

// TestTouchesShareStatements: heartbeats that arrive while others are
// being written are written together (at 100 000 chargers a heartbeat a
// minute each is 1 700 statements a second, one per heartbeat before).
// The writes are held back until every heartbeat has been made, so they
// are concurrent by construction.
func TestTouchesShareStatements(t *testing.T) {
	const n = 120
	var arrived, writes atomic.Int64
	var holding atomic.Bool // set: writes wait for gate
	gate := make(chan struct{})
	st, err := Open(t.Context(), pgtest.Schema(t), WithCommitObserver(func(time.Duration) {
		if holding.Load() {
			writes.Add(1)
			<-gate
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for i := range n {
		if err := st.CreateCharger(t.Context(), charging.Charger{ID: fmt.Sprintf("cp-%03d", i), CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	released := sync.OnceFunc(func() { close(gate) })
	holding.Store(true)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if arrived.Add(1) == n {
				released()
			}
			if err := st.TouchCharger(t.Context(), fmt.Sprintf("cp-%03d", i), at); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := writes.Load(); got > n/10 {
		t.Fatalf("%d heartbeats made together took %d statements; want at most %d", n, got, n/10)
	}
}
