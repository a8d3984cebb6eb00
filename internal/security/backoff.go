package security

import (
	"sync"
	"time"
)

// Backoff counts failures per key (a charger id and address, an address)
// and says how long a key must wait before its next attempt: Free failures
// cost nothing, then each doubles the wait from Base up to Max. A key is
// forgotten once it has been quiet for Forget; the table holds at most
// MaxKeys keys (the oldest are dropped first), so a spray of random keys
// cannot grow it without bound.
type Backoff struct {
	Free    int
	Base    time.Duration
	Max     time.Duration
	Forget  time.Duration
	MaxKeys int

	// mu guards keys.
	mu   sync.Mutex
	keys map[string]*backoffKey
}

type backoffKey struct {
	failures int
	last     time.Time
	until    time.Time
}

// NewBackoff returns a Backoff with the given free failures, base and max
// wait; keys are forgotten after 15 minutes of quiet, at most 100 000 kept.
func NewBackoff(free int, base, maxWait time.Duration) *Backoff {
	return &Backoff{Free: free, Base: base, Max: maxWait, Forget: 15 * time.Minute, MaxKeys: 100_000, keys: make(map[string]*backoffKey)}
}

// Wait returns how long key must still wait at now (0: it may try).
func (b *Backoff) Wait(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.keys[key]
	if k == nil || !now.Before(k.until) {
		return 0
	}
	return k.until.Sub(now)
}

// Fail records a failure of key at now and returns its failure count and
// the wait it now owes.
func (b *Backoff) Fail(key string, now time.Time) (failures int, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.keys[key]
	if k != nil && now.Sub(k.last) > b.Forget {
		k = nil
	}
	if k == nil {
		if len(b.keys) >= b.MaxKeys {
			b.sweep(now)
		}
		k = &backoffKey{}
		b.keys[key] = k
	}
	k.failures++
	k.last = now
	if over := k.failures - b.Free; over > 0 {
		wait = b.Base
		for i := 1; i < over && wait < b.Max; i++ {
			wait *= 2
		}
		wait = min(wait, b.Max)
		k.until = now.Add(wait)
	}
	return k.failures, wait
}

// Succeed forgets key's failures.
func (b *Backoff) Succeed(key string) {
	b.mu.Lock()
	delete(b.keys, key)
	b.mu.Unlock()
}

// sweep drops quiet keys, and the older half when that is not enough.
func (b *Backoff) sweep(now time.Time) {
	for key, k := range b.keys {
		if now.Sub(k.last) > b.Forget {
			delete(b.keys, key)
		}
	}
	if len(b.keys) < b.MaxKeys {
		return
	}
	var total time.Duration
	for _, k := range b.keys {
		total += now.Sub(k.last) / time.Duration(len(b.keys))
	}
	for key, k := range b.keys {
		if now.Sub(k.last) >= total {
			delete(b.keys, key)
		}
	}
}
