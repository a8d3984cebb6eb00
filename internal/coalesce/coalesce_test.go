package coalesce

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestCallsArrivingTogetherShareABatch: calls made while batches are out
// run together in the next one, each gets its own result, and a call
// whose caller gave up before its batch formed is not run.
func TestCallsArrivingTogetherShareABatch(t *testing.T) {
	const n = 100
	gate := make(chan struct{})
	var batches, inputs atomic.Int64
	b := &Batcher[int, string]{Runners: 2, Do: func(_ context.Context, in []int) ([]string, error) {
		<-gate
		batches.Add(1)
		inputs.Add(int64(len(in)))
		out := make([]string, len(in))
		for i, v := range in {
			out[i] = fmt.Sprint(v * 2)
		}
		return out, nil
	}}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Call(gone, -1); err == nil {
		t.Fatal("a call whose context had ended returned no error")
	}
	var wg sync.WaitGroup
	var arrived atomic.Int64
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if arrived.Add(1) == n {
				close(gate)
			}
			got, err := b.Call(context.Background(), i)
			if err == nil && got != fmt.Sprint(i*2) {
				err = fmt.Errorf("call %d got %q; want %d", i, got, i*2)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b.Wait()
	// The call whose caller had gone is not run.
	if got := inputs.Load(); got != n {
		t.Errorf("%d inputs run for %d calls", got, n)
	}
	if got := batches.Load(); got > 6 {
		t.Errorf("%d calls made together ran in %d batches; want a few", n, got)
	}
}
