// Package coalesce runs the store calls that many goroutines make at once
// as a few batched calls: group commit for reads and small writes. At a
// fleet's ramp thousands of chargers' handshakes and heartbeats each
// waited for a pooled database connection to run one tiny statement; one
// statement for all of those that arrived meanwhile costs the database
// and the pool about as much as one of them.
package coalesce

import (
	"context"
	"sync"
	"time"
)

// Batcher runs calls of one kind in batches. A call made while Runners
// batches are out waits for the next batch, never joins one already
// sent: every answer is computed after its call was made, so a batched
// read is never older than a direct one. A call whose context is done
// by the time its batch is formed is left out of it.
type Batcher[In, Out any] struct {
	// Do runs one batch and returns one result per input, in order, or
	// an error for all of them.
	Do func(ctx context.Context, in []In) ([]Out, error)
	// Timeout bounds one batch (Do's context; 0: ten seconds).
	Timeout time.Duration
	// Runners is how many batches may be out at once (at least 1); Max
	// the most inputs in one (0: no bound).
	Runners int
	Max     int

	// mu guards queue and running.
	mu      sync.Mutex
	queue   []*call[In, Out]
	running int
	// wg waits for the goroutines running batches.
	wg sync.WaitGroup
}

type call[In, Out any] struct {
	ctx  context.Context
	in   In
	done chan result[Out] // buffered: a batch never waits for its caller
}

type result[Out any] struct {
	out Out
	err error
}

// Call runs in with the next batch and returns its result, or ctx's
// error if ctx ends first.
func (b *Batcher[In, Out]) Call(ctx context.Context, in In) (Out, error) {
	c := &call[In, Out]{ctx: ctx, in: in, done: make(chan result[Out], 1)}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	start := b.running < max(1, b.Runners)
	if start {
		b.running++
		b.wg.Add(1)
	}
	b.mu.Unlock()
	if start {
		go b.run()
	}
	select {
	case r := <-c.done:
		return r.out, r.err
	case <-ctx.Done():
		var zero Out
		return zero, ctx.Err()
	}
}

// Wait waits until no batch is out (a batch outlives a caller that gave
// up by at most Timeout). The owner calls it when it stops.
func (b *Batcher[In, Out]) Wait() { b.wg.Wait() }

// run runs batches until the queue is empty.
func (b *Batcher[In, Out]) run() {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		var batch []*call[In, Out]
		n := 0
		for n < len(b.queue) && (b.Max <= 0 || len(batch) < b.Max) {
			if c := b.queue[n]; c.ctx.Err() == nil {
				batch = append(batch, c)
			}
			n++
		}
		b.queue = append(b.queue[:0], b.queue[n:]...)
		if len(batch) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		in := make([]In, len(batch))
		for i, c := range batch {
			in[i] = c.in
		}
		timeout := b.Timeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		out, err := b.Do(ctx, in)
		cancel()
		for i, c := range batch {
			r := result[Out]{err: err}
			if err == nil && i < len(out) {
				r.out = out[i]
			}
			c.done <- r
		}
	}
}
