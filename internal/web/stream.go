package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/charging"
)

// Stream tuning. A client holds at most streamBuffer frames; beyond that
// frames are dropped for it and it is told to resync.
const (
	streamBuffer     = 64
	maxStreamClients = 256
	presenceEvery    = 2 * time.Second
	keepaliveEvery   = 15 * time.Second
	streamWriteLimit = 10 * time.Second
)

// stream fans the core's committed changes out to browsers as server-sent
// events. The core calls publish synchronously, so publish never blocks: it
// encodes the event once and offers it to every client's buffer, dropping
// it for a client whose buffer is full. Each client's HTTP handler owns the
// writing; close ends every handler (the server calls it when it shuts
// down, before it waits for handlers to return).
type stream struct {
	now    func() time.Time
	online func() int64
	// version changes whenever the set of connected chargers may have
	// changed where the count cannot tell (in a cluster: one charger left
	// and another came, or a node's heartbeat with the new count arrived
	// before the charger's presence record was deleted, which is what a
	// page reads). Nil: the count says it all.
	version func() uint64

	// mu guards the fields below.
	mu      sync.Mutex
	clients map[*client]struct{}
	closed  bool
	done    chan struct{}

	dropped atomic.Int64 // frames dropped for slow clients, for tests
}

// client is one browser's connection.
type client struct {
	frames chan []byte
	// lost is set when a frame was dropped; the client is then told to
	// resync (reload what it shows) before the next frame.
	lost atomic.Bool
}

func newStream(now func() time.Time, online func() int64, version func() uint64) *stream {
	if version == nil {
		version = func() uint64 { return 0 }
	}
	return &stream{now: now, online: online, version: version, clients: map[*client]struct{}{}, done: make(chan struct{})}
}

// connectorEvent is the data of a "connector" event.
type connectorEvent struct {
	ChargerID   string                   `json:"charger_id"`
	ConnectorID int                      `json:"connector_id"`
	Status      charging.ConnectorStatus `json:"status"`
	ErrorCode   string                   `json:"error_code,omitempty"`
}

// telemetryEvent is the data of a "session" event for new telemetry: the
// core names the session by its transaction id only, so that it need not
// read the session on every sample.
type telemetryEvent struct {
	ChargerID     string `json:"charger_id"`
	TransactionID string `json:"transaction_id"`
	Telemetry     bool   `json:"telemetry"`
}

// chargerEvent is the data of a "charger" event.
type chargerEvent struct {
	ChargerID string `json:"charger_id"`
}

// presenceEvent is the data of a "presence" event.
type presenceEvent struct {
	Online int64 `json:"online"`
}

// frame encodes one server-sent event.
func frame(event string, data any) []byte {
	b, err := json.Marshal(data)
	if err != nil {
		b = []byte("{}")
	}
	out := make([]byte, 0, len(event)+len(b)+16)
	out = append(out, "event: "...)
	out = append(out, event...)
	out = append(out, "\ndata: "...)
	out = append(out, b...)
	return append(out, "\n\n"...)
}

// publish is the core's listener. It must not block.
func (s *stream) publish(e charging.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.clients) == 0 || s.closed {
		return
	}
	var f []byte
	switch {
	case e.Kind == charging.SessionChanged && e.Session != nil:
		f = frame("session", api.SessionView(*e.Session, s.now()))
	case e.Kind == charging.SessionChanged:
		// Telemetry: the core names the session by its transaction only.
		f = frame("session", telemetryEvent{ChargerID: e.ChargerID, TransactionID: e.TransactionID, Telemetry: true})
	case e.Kind == charging.ConnectorChanged && e.Connector != nil:
		c := e.Connector
		id := c.ChargerID
		if id == "" {
			id = e.ChargerID
		}
		f = frame("connector", connectorEvent{ChargerID: id, ConnectorID: c.ConnectorID, Status: c.Status, ErrorCode: c.ErrorCode})
	default:
		f = frame("charger", chargerEvent{ChargerID: e.ChargerID})
	}
	for c := range s.clients {
		select {
		case c.frames <- f:
		default:
			c.lost.Store(true)
			s.dropped.Add(1)
		}
	}
}

func (s *stream) add() *client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.clients) >= maxStreamClients {
		return nil
	}
	c := &client{frames: make(chan []byte, streamBuffer)}
	s.clients[c] = struct{}{}
	return c
}

func (s *stream) remove(c *client) {
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
}

// close ends every stream and refuses new ones.
func (s *stream) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
}

// clientCount returns the number of connected clients.
func (s *stream) clientCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// ServeHTTP streams events to one client until it goes away or the server
// shuts down. Events: session (the API's session JSON without samples, or
// {"charger_id","transaction_id","telemetry":true} when new telemetry came),
// connector, charger, presence ({"online": N} whenever the number of
// connected chargers, or the set of them, changes) and resync (some events were dropped: reload).
func (s *stream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := s.add()
	if c == nil {
		writeError(w, http.StatusServiceUnavailable, "too many dashboard streams open, or the server is stopping; retry later")
		return
	}
	defer s.remove(c)
	s.serve(w, r, c)
}

// serve writes c's events to w.
func (s *stream) serve(w http.ResponseWriter, r *http.Request, c *client) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	online, version := s.online(), s.version()
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteLimit))
		_, err := w.Write(b)
		return err == nil
	}
	if !write([]byte("retry: 2000\n\n")) || !write(frame("presence", presenceEvent{Online: online})) || rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(presenceEvery)
	defer tick.Stop()
	lastWrite := time.Now()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case f := <-c.frames:
			if c.lost.Swap(false) && !write(frame("resync", struct{}{})) {
				return
			}
			if !write(f) {
				return
			}
			// Send what else is queued in the same flush.
			for n := len(c.frames); n > 0; n-- {
				if !write(<-c.frames) {
					return
				}
			}
			if rc.Flush() != nil {
				return
			}
			lastWrite = time.Now()
		case now := <-tick.C:
			wrote := false
			if n, v := s.online(), s.version(); n != online || v != version {
				online, version = n, v
				if !write(frame("presence", presenceEvent{Online: n})) {
					return
				}
				wrote = true
			} else if now.Sub(lastWrite) >= keepaliveEvery {
				if !write([]byte(": keepalive " + strconv.FormatInt(now.Unix(), 10) + "\n\n")) {
					return
				}
				wrote = true
			}
			if wrote {
				if rc.Flush() != nil {
					return
				}
				lastWrite = now
			}
		}
	}
}
