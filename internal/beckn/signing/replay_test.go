package signing

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestReplayGuard(t *testing.T) {
	clock := newFakeClock(registryNow)
	g, err := NewReplayGuard(clock, time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Check("bap.a", "m1"); err != nil {
		t.Fatalf("first Check = %v", err)
	}
	if err := g.Check("bap.a", "m1"); !errors.Is(err, ErrReplay) {
		t.Errorf("repeat Check = %v; want ErrReplay", err)
	}
	// The same message id from another subscriber is a different message.
	if err := g.Check("bap.b", "m1"); err != nil {
		t.Errorf("Check from another subscriber = %v; want nil", err)
	}
	clock.Advance(time.Minute - time.Nanosecond)
	if err := g.Check("bap.a", "m1"); !errors.Is(err, ErrReplay) {
		t.Errorf("Check just inside the window = %v; want ErrReplay", err)
	}
	clock.Advance(time.Nanosecond)
	if err := g.Check("bap.a", "m1"); err != nil {
		t.Errorf("Check after the window = %v; want nil", err)
	}
	// The re-recorded pair is remembered for a fresh window.
	clock.Advance(30 * time.Second)
	if err := g.Check("bap.a", "m1"); !errors.Is(err, ErrReplay) {
		t.Errorf("Check inside the new window = %v; want ErrReplay", err)
	}
	if n := g.Len(); n != 1 {
		t.Errorf("Len = %d; want 1 (bap.b's entry expired)", n)
	}
}

func TestReplayGuardBounded(t *testing.T) {
	clock := newFakeClock(registryNow)
	g, _ := NewReplayGuard(clock, time.Hour, 3)
	for i := range 5 {
		if err := g.Check("bap", fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	if n := g.Len(); n != 3 {
		t.Errorf("Len = %d; want 3", n)
	}
	// The newest three are remembered (a repeat is not recorded again, so
	// these checks evict nothing); the oldest two were forgotten.
	for _, m := range []string{"m2", "m3", "m4"} {
		if err := g.Check("bap", m); !errors.Is(err, ErrReplay) {
			t.Errorf("Check(%s) = %v; want ErrReplay", m, err)
		}
	}
	if err := g.Check("bap", "m0"); err != nil {
		t.Errorf("Check(m0) after eviction = %v; want nil", err)
	}

	// Memory stays bounded over many windows.
	for i := range 10_000 {
		g.Check("bap", fmt.Sprint("n", i))
		clock.Advance(time.Second)
	}
	g.mu.Lock()
	q := len(g.queue)
	g.mu.Unlock()
	if g.Len() != 3 || q > 200 {
		t.Errorf("after 10000 messages: Len = %d, queue length %d; want 3 and small", g.Len(), q)
	}
}

func TestReplayGuardConcurrent(t *testing.T) {
	g, _ := NewReplayGuard(nil, time.Minute, 1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for range 8 {
		wg.Go(func() {
			for i := range 100 {
				if g.Check("bap", fmt.Sprint("m", i)) == nil {
					mu.Lock()
					accepted++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if accepted != 100 {
		t.Errorf("accepted %d messages; want each of the 100 exactly once", accepted)
	}
}

func TestNewReplayGuardConfig(t *testing.T) {
	if _, err := NewReplayGuard(nil, 0, 10); err == nil {
		t.Error("zero window accepted")
	}
	if _, err := NewReplayGuard(nil, time.Minute, 0); err == nil {
		t.Error("zero capacity accepted")
	}
}
