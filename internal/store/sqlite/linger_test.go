package sqlite

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// TestSmallBatchWaitsForMoreCallers: once a batch has had several
// operations, a batch of one waits (here without end: the linger and the
// batch's time are an hour) for more, and commits when lingerOps have
// come, all in one transaction. Without the wait the first one commits
// alone.
func TestSmallBatchWaitsForMoreCallers(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "l.db"), WithMaxBatch(256, time.Hour), func(c *config) { c.commitLinger = time.Hour })
	ctx := t.Context()
	create := func(id string) error {
		return s.CreateCharger(ctx, charging.Charger{ID: id, Registered: true, CreatedAt: t0})
	}

	// A batch of three: the first operation holds the writer until the
	// other two are queued behind it.
	hold, held := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.write(ctx, func(w *writer) error { close(held); <-hold; return nil }); err != nil {
			t.Error(err)
		}
	})
	<-held
	for i := range 2 {
		wg.Go(func() {
			if err := create(fmt.Sprintf("first-%d", i)); err != nil {
				t.Error(err)
			}
		})
	}
	for s.queued() < 2 {
		time.Sleep(time.Millisecond)
	}
	close(hold)
	wg.Wait()

	// One operation, then, a while later, the rest of lingerOps.
	before := s.Stats().Commits
	wg.Go(func() {
		if err := create("late-0"); err != nil {
			t.Error(err)
		}
	})
	for s.queued() > 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the writer has it and waits
	for i := 1; i < lingerOps; i++ {
		wg.Go(func() {
			if err := create(fmt.Sprintf("late-%d", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := s.Stats().Commits - before; got != 1 {
		t.Errorf("%d operations took %d commits; want them in one", lingerOps, got)
	}
}

// queued is the number of operations handed over and not taken yet.
func (s *Store) queued() int {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.queue) + len(s.taken) - s.next
}
