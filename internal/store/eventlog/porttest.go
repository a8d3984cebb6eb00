package eventlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// Port is a store with an event log, as the port tests need it.
type Port interface {
	charging.EventPort
	PruneEventLog(ctx context.Context, now time.Time) (int64, error)
	Close() error
}

// consumer runs Consume as name in a goroutine and hands the events over;
// stop ends it and waits.
type consumer struct {
	got    chan charging.Event
	cancel context.CancelFunc
	done   chan error
}

func consume(t *testing.T, p Port, name string, h func(charging.Event) error) *consumer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{got: make(chan charging.Event, 10_000), cancel: cancel, done: make(chan error, 1)}
	go func() {
		c.done <- p.Consume(ctx, name, func(_ context.Context, e charging.Event) error {
			if h != nil {
				if err := h(e); err != nil {
					return err
				}
			}
			c.got <- e
			return nil
		})
	}()
	t.Cleanup(c.stop)
	return c
}

func (c *consumer) stop() {
	if c.cancel != nil {
		c.cancel()
		<-c.done
		c.cancel = nil
	}
}

func (c *consumer) take(t *testing.T, n int) []charging.Event {
	t.Helper()
	out := make([]charging.Event, 0, n)
	timeout := time.After(30 * time.Second) // a hang guard, not a speed assert
	for len(out) < n {
		select {
		case e := <-c.got:
			out = append(out, e)
		case <-timeout:
			t.Fatalf("got %d events of %d", len(out), n)
		}
	}
	return out
}

func ev(charger, session string, seq int64) charging.Event {
	return charging.Event{Kind: charging.SessionChanged, ChargerID: charger, SessionID: session, Seq: seq,
		At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Session: &charging.Session{ID: session, ChargerID: charger, LastRegisterWh: 1500}}
}

// RunPortTests checks an EventPort on a real store; open opens (or, the
// second time in a test, reopens) the test's database.
func RunPortTests(t *testing.T, open func(t *testing.T) Port) {
	t.Run("restart-resume", func(t *testing.T) {
		ctx := t.Context()
		p := open(t)
		for i := range 3 {
			if err := p.Publish(ctx, ev("CP1", "s1", int64(i+1))); err != nil {
				t.Fatal(err)
			}
		}
		c := consume(t, p, "ocpi", nil)
		first := c.take(t, 3)
		if first[2].Session == nil || first[2].Session.KWh() != 1.5 || first[2].ID == "" {
			t.Fatalf("event read back as %+v; want its session (1.5 kWh) and id", first[2])
		}
		c.stop()
		for i := range 2 {
			if err := p.Publish(ctx, ev("CP1", "s1", int64(i+4))); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		p = open(t)
		c = consume(t, p, "ocpi", nil)
		rest := c.take(t, 2)
		if rest[0].Seq != 4 || rest[1].Seq != 5 {
			t.Fatalf("after a restart got seqs %d, %d; want 4, 5 (resume after the last acknowledged)", rest[0].Seq, rest[1].Seq)
		}
		// A new durable consumer starts at the log's beginning, an
		// ephemeral one at its end.
		all := consume(t, p, "pricer", nil).take(t, 5)
		if all[0].Seq != 1 {
			t.Fatalf("new durable consumer started at seq %d; want 1", all[0].Seq)
		}
		eph := consume(t, p, "", nil)
		// The ephemeral consumer takes its position at some moment after
		// it starts: publish until one event reaches it. It must never get
		// the older events of s1.
		var got charging.Event
		for i := 1; got.Seq == 0; i++ {
			if i > 300 {
				t.Fatal("the ephemeral consumer got none of 300 events")
			}
			if err := p.Publish(ctx, ev("CP1", "s2", int64(i))); err != nil {
				t.Fatal(err)
			}
			select {
			case got = <-eph.got:
			case <-time.After(100 * time.Millisecond): // publish again
			}
		}
		if got.SessionID != "s2" {
			t.Fatalf("ephemeral consumer got %s; want only events published after it started", got.SessionID)
		}
	})

	t.Run("concurrent-writers-ordered-per-session", func(t *testing.T) {
		ctx := t.Context()
		p := open(t)
		const writers, each = 8, 40
		c := consume(t, p, "web", nil)
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					if err := p.Publish(ctx, ev("CP", fmt.Sprintf("s%d", w), int64(i+1))); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		last := map[string]int64{}
		ids := map[string]bool{}
		for _, e := range c.take(t, writers*each) {
			if e.Seq != last[e.SessionID]+1 {
				t.Fatalf("session %s: seq %d after %d", e.SessionID, e.Seq, last[e.SessionID])
			}
			last[e.SessionID] = e.Seq
			if ids[e.ID] {
				t.Fatalf("event %s delivered twice", e.ID)
			}
			ids[e.ID] = true
		}
	})

	t.Run("redelivery-after-handler-error", func(t *testing.T) {
		ctx := t.Context()
		p := open(t)
		for i := range 2 {
			if err := p.Publish(ctx, ev("CP1", "s1", int64(i+1))); err != nil {
				t.Fatal(err)
			}
		}
		failed := false
		c := consume(t, p, "beckn", func(e charging.Event) error {
			if e.Seq == 1 && !failed {
				failed = true
				return errors.New("peer down")
			}
			return nil
		})
		got := c.take(t, 2)
		if !failed || got[0].Seq != 1 || got[1].Seq != 2 {
			t.Fatalf("failed=%v, got seqs %d, %d; want seq 1 redelivered before 2", failed, got[0].Seq, got[1].Seq)
		}
	})

	t.Run("retention", func(t *testing.T) {
		ctx := t.Context()
		p := open(t)
		for i := range 3 {
			if err := p.Publish(ctx, ev("CP1", "s1", int64(i+1))); err != nil {
				t.Fatal(err)
			}
		}
		a := consume(t, p, "a", nil)
		a.take(t, 3)
		a.stop()
		b := consume(t, p, "b", func(e charging.Event) error {
			if e.Seq >= 2 {
				return errors.New("stuck")
			}
			return nil
		})
		b.take(t, 1)
		b.stop()
		// b acknowledged only seq 1: only it may go, and only when old.
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if n, err := p.PruneEventLog(ctx, at.Add(Retention-time.Hour)); err != nil || n != 0 {
			t.Fatalf("prune of events younger than the retention: %d, %v; want 0", n, err)
		}
		if n, err := p.PruneEventLog(ctx, at.Add(Retention+time.Hour)); err != nil || n != 1 {
			t.Fatalf("prune: %d, %v; want 1 (what every consumer acknowledged)", n, err)
		}
		rest := consume(t, p, "c", nil).take(t, 2)
		if rest[0].Seq != 2 {
			t.Fatalf("after pruning a new consumer starts at seq %d; want 2", rest[0].Seq)
		}
		// b, stuck at seq 1, holds the rest back until its position has
		// stood still for Abandoned (it stopped running); then it no
		// longer does. (Every position here was saved just now.)
		if n, err := p.PruneEventLog(ctx, time.Now().Add(Abandoned-time.Hour)); err != nil || n != 0 {
			t.Fatalf("prune while b's position is recent: %d, %v; want 0", n, err)
		}
		if n, err := p.PruneEventLog(ctx, time.Now().Add(Abandoned+time.Hour)); err != nil || n != 2 {
			t.Fatalf("prune past an abandoned consumer: %d, %v; want 2", n, err)
		}
	})
}
