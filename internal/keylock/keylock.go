// Package keylock is a mutex per string key within one process: the
// SQLite store's charging.Locker, the Beckn BPP's order lock without a
// store's, and the PostgreSQL store's first step before its advisory lock
// (so one process never waits on the database for a key with several
// connections).
package keylock

import (
	"context"
	"sync"
)

// Map holds one lock per key that is held or waited for; a key nobody
// holds costs nothing. The zero Map is ready to use.
type Map struct {
	// mu guards m.
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	ch   chan struct{} // holds a token while the key is locked
	refs int           // holders and waiters
}

// Lock waits until key is free or ctx ends; unlock frees it and must be
// called exactly once.
func (l *Map) Lock(ctx context.Context, key string) (unlock func(), err error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*entry{}
	}
	e := l.m[key]
	if e == nil {
		e = &entry{ch: make(chan struct{}, 1)}
		l.m[key] = e
	}
	e.refs++
	l.mu.Unlock()
	select {
	case e.ch <- struct{}{}:
		return func() {
			<-e.ch
			l.done(key, e)
		}, nil
	case <-ctx.Done():
		l.done(key, e)
		return nil, ctx.Err()
	}
}

func (l *Map) done(key string, e *entry) {
	l.mu.Lock()
	if e.refs--; e.refs == 0 {
		delete(l.m, key)
	}
	l.mu.Unlock()
}

// Len is how many keys are held or waited for.
func (l *Map) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
