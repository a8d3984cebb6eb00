package signing

import "time"

// Clock tells the time. The registry cache and the replay guard take one so
// tests can control time; a nil Clock in their configuration means the
// system clock.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func clockOrSystem(c Clock) Clock {
	if c == nil {
		return systemClock{}
	}
	return c
}
