package signing

import (
	"sync"
	"testing"
	"time"
)

func mustStatic(t testing.TB, subs ...Subscriber) *StaticResolver {
	t.Helper()
	r, err := NewStaticResolver(subs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fakeClock is a Clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
