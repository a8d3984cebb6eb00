package ocpp

import (
	"sync"
	"sync/atomic"
	"time"
)

// FrameLog keeps the last OCPP messages of chargers an operator chose to
// watch, in both directions, for troubleshooting. It is off for every
// charger until switched on (messages carry id tags, which are personal
// data), is kept in memory only and is off again after a restart. When no
// charger is watched, recording costs one atomic load per message.
type FrameLog struct {
	size    int
	now     func() time.Time
	watched atomic.Int32

	mu    sync.RWMutex
	rings map[string]*frameRing
}

// LoggedFrame is one recorded message.
type LoggedFrame struct {
	At time.Time `json:"at"`
	// Dir is "in" (from the charger) or "out" (to it).
	Dir     string `json:"dir"`
	Message string `json:"message"`
}

type frameRing struct {
	mu     sync.Mutex
	frames []LoggedFrame
	next   int
	full   bool
}

// maxLoggedMessage bounds one recorded message; longer ones are cut.
const maxLoggedMessage = 4096

// NewFrameLog returns a log keeping the last size messages of each
// watched charger.
func NewFrameLog(size int, now func() time.Time) *FrameLog {
	if size <= 0 {
		size = 100
	}
	if now == nil {
		now = time.Now
	}
	return &FrameLog{size: size, now: now, rings: map[string]*frameRing{}}
}

// Watch switches recording for a charger on or off; off forgets what was
// recorded.
func (l *FrameLog) Watch(chargerID string, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, was := l.rings[chargerID]
	switch {
	case on && !was:
		l.rings[chargerID] = &frameRing{frames: make([]LoggedFrame, l.size)}
		l.watched.Add(1)
	case !on && was:
		delete(l.rings, chargerID)
		l.watched.Add(-1)
	}
}

// Watching reports whether a charger's messages are recorded.
func (l *FrameLog) Watching(chargerID string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.rings[chargerID]
	return ok
}

// Frames returns a charger's recorded messages, oldest first.
func (l *FrameLog) Frames(chargerID string) []LoggedFrame {
	l.mu.RLock()
	r := l.rings[chargerID]
	l.mu.RUnlock()
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []LoggedFrame
	if r.full {
		out = append(out, r.frames[r.next:]...)
	}
	return append(out, r.frames[:r.next]...)
}

// record keeps a message of a watched charger.
func (l *FrameLog) record(chargerID, dir string, msg []byte) {
	if l == nil || l.watched.Load() == 0 {
		return
	}
	l.mu.RLock()
	r := l.rings[chargerID]
	l.mu.RUnlock()
	if r == nil {
		return
	}
	s := string(msg[:min(len(msg), maxLoggedMessage)])
	if len(msg) > maxLoggedMessage {
		s += "…"
	}
	f := LoggedFrame{At: l.now().UTC(), Dir: dir, Message: s}
	r.mu.Lock()
	r.frames[r.next] = f
	r.next++
	if r.next == len(r.frames) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}
