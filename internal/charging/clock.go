package charging

import "time"

// Clock tells the time. The core never calls time.Now directly, so tests can
// control reservations, heartbeats and timestamps.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }
