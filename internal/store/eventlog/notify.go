package eventlog

import "sync"

// Notifier wakes the consumers of a log after a commit that wrote events.
// Notify never blocks: it closes the channel the waiters hold and makes a
// new one.
type Notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// Wait returns a channel closed by the next Notify. Take it before reading
// the log, so a commit between the read and the wait is not missed.
func (n *Notifier) Wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// Notify wakes every waiter.
func (n *Notifier) Notify() {
	n.mu.Lock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
	n.mu.Unlock()
}
