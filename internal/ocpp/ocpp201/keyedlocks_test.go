package ocpp201

import (
	"sync"
	"testing"
)

// One charger's device model lock does not hold another's, excludes the
// same charger's, and is dropped once nobody uses it.
func TestKeyedLocks(t *testing.T) {
	var k keyedLocks
	unlockA := k.lock("A")
	unlockB := k.lock("B") // would deadlock with one lock for all
	unlockB()

	var wg sync.WaitGroup
	counter := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				unlock := k.lock("C")
				counter++ // the race detector sees any overlap
				unlock()
			}
		}()
	}
	wg.Wait()
	if counter != 800 {
		t.Errorf("counter = %d; want 800", counter)
	}

	got, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished) // after the unlock below
		defer k.lock("A")()
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("A locked twice at once")
	default:
	}
	unlockA()
	<-got
	<-finished // got closes before the goroutine's unlock runs
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.m) != 0 {
		t.Errorf("%d locks kept after use; want 0", len(k.m))
	}
}
