package charging

import (
	"context"
	"time"
)

// Clock tells the time. The core never calls time.Now directly, so tests can
// control reservations, heartbeats and timestamps.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// Sleep waits d, or less when ctx ends first; it reports whether d passed.
// The background loops (retries, backoff, polling) wait with it so that a
// stopping server never waits out a timer.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
