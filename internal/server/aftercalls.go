package server

import (
	"context"
	"sync"
	"time"
)

// afterCalls owns the sends that follow a charger's call once its answer
// is out, such as the device model request after a 2.0.1 station's first
// boot or CertificateSigned after SignCertificate: each runs in its own goroutine with a deadline, and Shutdown
// cancels them and waits for them.
type afterCalls struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu orders wg.Add against stop (closed).
	mu     sync.Mutex
	closed bool
}

func newAfterCalls() *afterCalls {
	ctx, cancel := context.WithCancel(context.Background())
	return &afterCalls{ctx: ctx, cancel: cancel}
}

// Go runs f with a context that ends after timeout or at stop; after stop
// it does nothing and returns false.
func (a *afterCalls) Go(timeout time.Duration, f func(ctx context.Context)) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(a.ctx, timeout)
		defer cancel()
		f(ctx)
	}()
	return true
}

// stop cancels the running sends and waits for them to end.
func (a *afterCalls) stop() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
}
