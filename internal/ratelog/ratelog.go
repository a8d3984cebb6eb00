// Package ratelog bounds log lines about untrusted input: one line per key
// (a charger, an address) per interval and a burst over all keys, counting
// what was held back so the next line can say how many. The full counts
// belong in /metrics; the log only samples.
package ratelog

import (
	"sync"
	"time"
)

// Limiter lets through one log line per key per Every, and at most
// Burst lines per Every over all keys; it counts what it held back so the
// next line can say how many.
type Limiter struct {
	Every time.Duration
	Burst int

	mu     sync.Mutex
	last   map[string]time.Time
	held   map[string]int
	window time.Time
	n      int
}

// New returns a Limiter.
func New(every time.Duration, burst int) *Limiter {
	return &Limiter{Every: every, Burst: burst, last: make(map[string]time.Time), held: make(map[string]int)}
}

// Allow reports whether a line for key may be written at now, and how many
// lines for key were held back since the last one written.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= l.Every {
		l.window, l.n = now, 0
	}
	if t, seen := l.last[key]; (seen && now.Sub(t) < l.Every) || l.n >= l.Burst {
		if len(l.held) < 100_000 || l.held[key] > 0 {
			l.held[key]++
		}
		return false, 0
	}
	if len(l.last) >= 100_000 {
		clear(l.last)
	}
	l.n++
	l.last[key] = now
	suppressed = l.held[key]
	delete(l.held, key)
	return true, suppressed
}
