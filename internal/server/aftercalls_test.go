package server

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
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

// TestAfterCallsTimeout: a send's context ends at its timeout, exactly,
// on synctest's clock (no waiting).
func TestAfterCallsTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAfterCalls()
		defer a.stop()
		start := time.Now()
		var (
			ended atomic.Bool
			took  time.Duration
			err   error
		)
		a.Go(time.Minute, func(ctx context.Context) {
			<-ctx.Done()
			took, err = time.Since(start), ctx.Err()
			ended.Store(true)
		})
		time.Sleep(time.Minute - time.Nanosecond)
		synctest.Wait()
		if ended.Load() {
			t.Fatal("the send's context ended before its timeout")
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if !ended.Load() {
			t.Fatal("the send's context had not ended at its timeout")
		}
		if took != time.Minute || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("ended after %v with %v; want %v, %v", took, err, time.Minute, context.DeadlineExceeded)
		}
	})
}
