package signing

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrReplay is returned by ReplayGuard.Check for a message already seen
// within the window.
var ErrReplay = errors.New("replayed message")

// ReplayGuard remembers (subscriber id, message id) pairs of verified
// messages for a fixed window and rejects a pair seen again inside it. Set
// the window to at least the longest signature lifetime you accept plus the
// skew: after that Verify rejects the replay as expired anyway.
//
// Memory is bounded by capacity. When the guard is full of unexpired entries
// it forgets the oldest one, so under a flood of more than capacity messages
// per window, replays of the oldest messages are no longer detected (the
// signature's own expiry still bounds them). It is safe for concurrent use.
type ReplayGuard struct {
	clock    Clock
	window   time.Duration
	capacity int

	// mu guards the fields below. seen maps each remembered pair to its
	// expiry; queue[head:] holds the same pairs in insertion order, which is
	// expiry order because the window is fixed.
	mu    sync.Mutex
	seen  map[replayKey]time.Time
	queue []replayEntry
	head  int
}

type replayKey struct{ subscriber, message string }

type replayEntry struct {
	key     replayKey
	expires time.Time
}

// NewReplayGuard returns a guard that remembers each pair for window, holding
// at most capacity pairs. A nil clock means the system clock.
func NewReplayGuard(clock Clock, window time.Duration, capacity int) (*ReplayGuard, error) {
	if window <= 0 {
		return nil, fmt.Errorf("replay guard: window %s must be positive", window)
	}
	if capacity <= 0 {
		return nil, fmt.Errorf("replay guard: capacity %d must be positive", capacity)
	}
	return &ReplayGuard{
		clock:    clockOrSystem(clock),
		window:   window,
		capacity: capacity,
		seen:     make(map[replayKey]time.Time),
	}, nil
}

// Check records the pair and returns nil the first time it is seen within
// the window, and an error wrapping ErrReplay after that. Call it only for
// messages whose signature verified, so forged traffic cannot fill the
// guard.
func (g *ReplayGuard) Check(subscriberID, messageID string) error {
	now := g.clock.Now()
	k := replayKey{subscriber: subscriberID, message: messageID}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expire(now)
	if exp, ok := g.seen[k]; ok {
		return fmt.Errorf("%w: message %q from %s was already received (remembered until %s)",
			ErrReplay, messageID, subscriberID, exp.UTC().Format(time.RFC3339))
	}
	for len(g.seen) >= g.capacity && g.head < len(g.queue) {
		g.dropOldest()
	}
	exp := now.Add(g.window)
	g.seen[k] = exp
	g.queue = append(g.queue, replayEntry{key: k, expires: exp})
	return nil
}

// Len returns the number of pairs currently remembered.
func (g *ReplayGuard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.seen)
}

// expire forgets entries whose window has passed.
func (g *ReplayGuard) expire(now time.Time) {
	for g.head < len(g.queue) && !now.Before(g.queue[g.head].expires) {
		g.dropOldest()
	}
}

// dropOldest forgets the oldest pair.
func (g *ReplayGuard) dropOldest() {
	if g.head >= len(g.queue) {
		return
	}
	e := g.queue[g.head]
	g.queue[g.head] = replayEntry{}
	g.head++
	delete(g.seen, e.key)
	// Compact once the consumed prefix dominates, so the slice does not
	// grow without bound.
	if g.head > 64 && g.head*2 >= len(g.queue) {
		n := copy(g.queue, g.queue[g.head:])
		clear(g.queue[n:])
		g.queue = g.queue[:n]
		g.head = 0
	}
}
