package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// lockedRecorder is a ResponseWriter a test may read while a handler writes.
type lockedRecorder struct {
	mu  sync.Mutex
	hdr http.Header
	b   strings.Builder
}

func (l *lockedRecorder) Header() http.Header { return l.hdr }
func (l *lockedRecorder) WriteHeader(int)     {}
func (l *lockedRecorder) Flush()              {}
func (l *lockedRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedRecorder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func sessionEvent(id string, kwh float64) charging.Event {
	s := &charging.Session{ID: id, ChargerID: "CP-1", ConnectorID: 1, Status: charging.SessionActive, LastRegisterWh: kwh * 1000}
	return charging.Event{Kind: charging.SessionChanged, ChargerID: "CP-1", Session: s}
}

// TestStreamDropsForSlowClients checks that the core's publish never waits
// for a browser: a client that does not read loses events, and is told to
// resync when it reads again.
func TestStreamDropsForSlowClients(t *testing.T) {
	s := newStream(time.Now, func() int64 { return 3 }, nil)
	slow := s.add()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < streamBuffer+10; i++ {
			s.publish(sessionEvent("S-1", float64(i)))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publish blocked on a client that does not read")
	}
	if got := s.dropped.Load(); got != 10 {
		t.Fatalf("got %d dropped frames; want 10", got)
	}
	if !slow.lost.Load() {
		t.Fatal("the slow client is not marked as having lost events")
	}

	// When the client reads again it first hears that it must resync.
	w := &lockedRecorder{hdr: http.Header{}}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		s.serve(w, httptest.NewRequest("GET", "/api/v1/stream", nil).WithContext(ctx), slow)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(w.String(), "event: session") < streamBuffer && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-served
	out := w.String()
	if n := strings.Count(out, "event: session"); n != streamBuffer {
		t.Errorf("got %d session events; want the %d buffered", n, streamBuffer)
	}
	resync, first := strings.Index(out, "event: resync"), strings.Index(out, "event: session")
	if resync < 0 || resync > first {
		t.Errorf("resync at %d, first session at %d; want resync before the events:\n%.300s", resync, first, out)
	}
	if !strings.HasPrefix(out, "retry: 2000\n\nevent: presence\ndata: {\"online\":3}\n\n") {
		t.Errorf("stream starts %.80q; want the retry interval and the presence", out)
	}
}

func TestStreamClose(t *testing.T) {
	s := newStream(time.Now, func() int64 { return 0 }, nil)
	c := s.add()
	w := &lockedRecorder{hdr: http.Header{}}
	served := make(chan struct{})
	go func() {
		defer close(served)
		s.serve(w, httptest.NewRequest("GET", "/api/v1/stream", nil), c)
	}()
	s.close()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("close did not end the stream")
	}
	if s.add() != nil {
		t.Error("a closed stream accepted a new client")
	}
	s.remove(c)
	s.publish(sessionEvent("S-1", 1)) // no clients, closed: a no-op
}

// TestStreamPresenceFollowsTheSetNotOnlyTheCount: a page learns that the
// set of connected chargers changed even when their number did not (in a
// cluster, a node's heartbeat with its new count can come before the
// presence record the page reads is deleted; the page must reload once
// more when the record goes).
func TestStreamPresenceFollowsTheSetNotOnlyTheCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var version atomic.Uint64
		s := newStream(time.Now, func() int64 { return 1 }, version.Load)
		c := s.add()
		w := &lockedRecorder{hdr: http.Header{}}
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan struct{})
		go func() {
			defer close(served)
			s.serve(w, httptest.NewRequest("GET", "/api/v1/stream", nil).WithContext(ctx), c)
		}()
		time.Sleep(3 * presenceEvery)
		synctest.Wait()
		if n := strings.Count(w.String(), "event: presence"); n != 1 {
			t.Fatalf("%d presence events with nothing changed; want the first only", n)
		}
		version.Add(1)
		time.Sleep(presenceEvery)
		synctest.Wait()
		if n := strings.Count(w.String(), "event: presence"); n != 2 {
			t.Errorf("%d presence events after the set changed with the count the same; want 2:\n%s", n, w.String())
		}
		cancel()
		<-served
	})
}
