package server

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestAfterCallsStop: stop cancels a running send and waits for it; a send
// asked for after stop does not run.
func TestAfterCallsStop(t *testing.T) {
	a := newAfterCalls()
	started := make(chan struct{})
	var ended atomic.Bool
	a.Go(time.Hour, func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		ended.Store(true)
	})
	<-started
	a.stop()
	if !ended.Load() {
		t.Fatal("stop returned before the running send ended")
	}
	var ran atomic.Bool
	if a.Go(time.Hour, func(context.Context) { ran.Store(true) }) {
		t.Error("Go after stop = true; want false")
	}
	a.stop()
	if ran.Load() {
		t.Error("a send asked for after stop ran")
	}
}
