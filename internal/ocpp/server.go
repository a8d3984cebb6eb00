package ocpp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ratelog"
)

// Handler serves one OCPP version's messages.
type Handler interface {
	// Connected is called once a charger's connection is registered, before
	// its first message is read.
	Connected(ctx context.Context, c *Conn)
	// Disconnected is called when the connection has ended.
	Disconnected(c *Conn)
	// HandleCall answers one CALL with a response payload (a JSON object) or
	// an *Error that is sent as a CALLERROR. payload is never modified
	// after the call, so what the handler keeps may share its memory
	// (NewSharedDecoder); TestHandlerPayloadIsNeverReused holds the server
	// to that.
	HandleCall(ctx context.Context, c *Conn, action string, payload json.RawMessage) (json.RawMessage, *Error)
	// HandleResult is told of a CALLRESULT or CALLERROR that matched no
	// outstanding call (late, after its timeout).
	HandleResult(c *Conn, f Frame)
}

// DuplicatePolicy says what happens when a charger connects while a
// connection with the same id is open.
type DuplicatePolicy int

const (
	// ReplaceExisting closes the old connection and keeps the new one: the
	// usual case is a charger that reconnected before the old TCP connection
	// timed out.
	ReplaceExisting DuplicatePolicy = iota
	// RefuseNew keeps the old connection and refuses the new one.
	RefuseNew
)

// ErrNotConnected is returned for a call to a charger that has no connection.
var ErrNotConnected = errors.New("charger is not connected")

// ErrUnknownCharger is what Config.Admit returns for a charger that may not
// connect.
var ErrUnknownCharger = errors.New("unknown charger")

// Config configures a Server.
type Config struct {
	// Protocols maps a WebSocket subprotocol ("ocpp1.6") to its handler, in
	// order of preference.
	Protocols []Protocol
	// Admit decides whether a charger may connect; an error wrapping
	// ErrUnknownCharger refuses it with 404. Nil admits everyone. What it
	// returns (the charger's record it read, say) is the connection's
	// Data when the handler's Connected is called, unless Register
	// returns something: a handler need not read it again.
	Admit func(ctx context.Context, chargerID string) (any, error)
	// Register, when set, runs after the WebSocket handshake and before
	// the connection is registered (so before anything sees the charger
	// connected): work the charger need not wait for to complete its
	// handshake, such as writing its record. An error closes the
	// connection with 1011. A non-nil result is the connection's Data
	// when Connected is called.
	Register func(ctx context.Context, chargerID string) (any, error)
	// Authenticate checks a connection attempt's credentials (security
	// profiles) before anything else looks at it; a *Refusal answers with
	// its status, any other error with 500. Nil accepts everyone.
	Authenticate func(r *http.Request, chargerID string) error
	// Duplicates is the policy for a second connection with the same id.
	Duplicates DuplicatePolicy
	// MaxHandshakes bounds the connection attempts worked on at once,
	// from authentication until the charger is registered and its
	// handler's Connected has returned (the part of a connection that
	// waits on the store and the cluster). An attempt beyond it waits up
	// to HandshakeWait for a place, then is refused with 503 and a
	// Retry-After: when a whole fleet reconnects at once (a restart, a
	// node lost), the store then takes the chargers in at its own pace,
	// instead of every attempt waiting on it past the charger's connect
	// timeout and being made again. Zero: no bound.
	MaxHandshakes int
	HandshakeWait time.Duration
	// PingInterval is how often the server pings a quiet charger; a charger
	// silent for PingInterval+PongWait is disconnected. Zero disables pings
	// and the idle timeout.
	PingInterval time.Duration
	PongWait     time.Duration
	// CallTimeout bounds a call to a charger, including waiting for the
	// previous one.
	CallTimeout time.Duration
	// HandlerTimeout bounds the handling of one incoming call (give or
	// take a sixty-fourth: calls starting together share a context).
	HandlerTimeout time.Duration
	// WriteTimeout bounds one frame write; FrameTimeout bounds the arrival
	// of the rest of a frame once its first bytes came.
	WriteTimeout time.Duration
	FrameTimeout time.Duration
	// MaxMessageSize is the largest message accepted; larger ones close the
	// connection with 1009.
	MaxMessageSize int
	// Frames, when set, records the messages of the chargers it watches.
	Frames *FrameLog
	Log    *slog.Logger
}

// Protocol pairs a subprotocol name with its handler.
type Protocol struct {
	Name    string
	Handler Handler
}

// Server accepts charger WebSocket connections at /ocpp/{chargePointId}.
type Server struct {
	cfg Config
	log *slog.Logger

	// mu guards conns.
	mu    sync.RWMutex
	conns map[string]*Conn

	readBufs sync.Pool
	msgID    atomic.Uint64
	idPrefix string
	// gate orders WaitGroup.Add against Shutdown's Wait: Adds happen
	// under the read lock and only while closing is false.
	gate     sync.RWMutex
	closing  atomic.Bool
	inflight sync.WaitGroup
	connWG   sync.WaitGroup
	stop     chan struct{}
	bgWG     sync.WaitGroup
	// upkeep says maintain runs: only then may a busy charger linger
	// (maintain ends the lingering).
	upkeep atomic.Bool

	// handshakes holds a token per connection attempt in progress
	// (Config.MaxHandshakes; nil: no bound).
	handshakes chan struct{}
	// poller parks idle chargers' sockets (nil where it cannot: then
	// each idle charger keeps a goroutine).
	poller *idlePoller

	stats Stats
	// calls is the context calls starting now are handled under
	// (callContext).
	calls atomic.Pointer[callContext]
	// badLogs samples the log lines about bad input (per charger or
	// address); Stats counts all of it.
	badLogs *ratelog.Limiter
}

// Stats are the server's counters.
type Stats struct {
	Connected     atomic.Int64
	Accepted      atomic.Int64
	Refused       atomic.Int64
	CallsHandled  atomic.Int64
	CallErrors    atomic.Int64
	BadFrames     atomic.Int64
	CallsSent     atomic.Int64
	CallsTimedOut atomic.Int64
	AuthFailures  atomic.Int64
	// NoSubprotocol counts connections that offered no subprotocol,
	// tolerated as the first one.
	NoSubprotocol atomic.Int64
	// GaveUp counts connections the charger had closed by the end of
	// the handshake (also in Refused).
	GaveUp atomic.Int64
	// Deferred counts attempts refused with 503 because MaxHandshakes
	// were in progress for HandshakeWait (also in Refused); Handshaking
	// is the number in progress now.
	Deferred    atomic.Int64
	Handshaking atomic.Int64
	// ReadBuffers is the number of read buffers (4 KB each) held now:
	// one per connection whose frames are being read, none by an idle or
	// lingering one.
	ReadBuffers atomic.Int64
	// AnsweredOnCommit counts calls whose handler left the answer to the
	// store, given once the write was durable (Conn.Defer); they are in
	// CallsHandled or CallErrors too once answered.
	AnsweredOnCommit atomic.Int64
}

// NewServer returns a Server; Close stops it.
func NewServer(cfg Config) *Server {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.HandlerTimeout <= 0 {
		cfg.HandlerTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.FrameTimeout <= 0 {
		cfg.FrameTimeout = 10 * time.Second
	}
	if cfg.PongWait <= 0 {
		cfg.PongWait = 30 * time.Second
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = 256 << 10
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.HandshakeWait <= 0 {
		cfg.HandshakeWait = 5 * time.Second
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Log,
		conns:    make(map[string]*Conn),
		stop:     make(chan struct{}),
		idPrefix: strconv.FormatInt(time.Now().UnixNano()%1e6, 36) + "-",
		badLogs:  ratelog.New(10*time.Second, 50),
	}
	if cfg.MaxHandshakes > 0 {
		s.handshakes = make(chan struct{}, cfg.MaxHandshakes)
	}
	if p, err := newIdlePoller(); err == nil {
		s.poller = p
	} else {
		s.log.Info("idle chargers each keep a goroutine: no poller", "err", err)
	}
	return s
}

// Run does the connections' upkeep (pings, idle and slow-frame timeouts)
// until ctx is done or the server shuts down. The owner of the server runs
// it; without it no charger is pinged or timed out.
func (s *Server) Run(ctx context.Context) error {
	s.gate.Lock()
	if s.closing.Load() {
		s.gate.Unlock()
		return nil
	}
	s.bgWG.Add(1)
	s.gate.Unlock()
	defer s.bgWG.Done()
	s.maintain(ctx)
	return nil
}

// Stats returns the server's live counters.
func (s *Server) Stats() *Stats { return &s.stats }

func (s *Server) idleTimeout() time.Duration {
	if s.cfg.PingInterval <= 0 {
		return 0
	}
	return s.cfg.PingInterval + s.cfg.PongWait
}

func (s *Server) newMessageID() string {
	return s.idPrefix + strconv.FormatUint(s.msgID.Add(1), 36)
}

// Conn returns the open connection of a charger.
func (s *Server) Conn(chargerID string) (*Conn, bool) {
	s.mu.RLock()
	c, ok := s.conns[chargerID]
	s.mu.RUnlock()
	return c, ok
}

// Connected reports whether a charger has an open connection.
func (s *Server) Connected(chargerID string) bool {
	_, ok := s.Conn(chargerID)
	return ok
}

// Call sends a CALL to a connected charger and returns its answer.
// ErrNotConnected comes back at once for a charger that is not connected.
func (s *Server) Call(ctx context.Context, chargerID, action string, payload []byte) (json.RawMessage, error) {
	c, ok := s.Conn(chargerID)
	if !ok {
		return nil, fmt.Errorf("%s to %s: %w", action, chargerID, ErrNotConnected)
	}
	s.stats.CallsSent.Add(1)
	res, err := c.Call(ctx, action, payload)
	if errors.Is(err, ErrCallTimeout) {
		s.stats.CallsTimedOut.Add(1)
	}
	return res, err
}

// ServeHTTP upgrades /ocpp/{chargePointId} to an OCPP WebSocket.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.closing.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	raw := r.PathValue("id")
	if raw == "" {
		raw = strings.TrimPrefix(r.URL.EscapedPath(), "/ocpp/")
	}
	id, err := url.PathUnescape(raw)
	if err == nil {
		err = charging.ValidateChargerID(id)
	}
	if err != nil {
		s.stats.Refused.Add(1)
		if ok, held := s.badLogs.Allow(r.RemoteAddr, time.Now()); ok {
			s.log.Warn("charger connection refused: bad charge point id", "id", clip([]byte(raw), 64), "remote", r.RemoteAddr, "reason", err.Error(), "held_back", held)
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	release, ok := s.beginHandshake(w, r, id)
	if !ok {
		return
	}
	defer release()
	if !s.authenticate(w, r, id) {
		return
	}
	var data any
	if s.cfg.Admit != nil {
		var err error
		if data, err = s.cfg.Admit(r.Context(), id); err != nil {
			s.stats.Refused.Add(1)
			if errors.Is(err, ErrUnknownCharger) {
				if ok, held := s.badLogs.Allow(id, time.Now()); ok {
					s.log.Warn("unknown charger refused; register it with `chargebridge chargers add "+id+"` (or POST /api/v1/chargers), or start the server with --auto-register",
						"charger", id, "remote", r.RemoteAddr, "held_back", held)
				}
				http.Error(w, "unknown charge point", http.StatusNotFound)
				return
			}
			s.log.Error("charger admission failed", "charger", id, "err", err)
			http.Error(w, "admission failed", http.StatusInternalServerError)
			return
		}
	}
	if s.cfg.Duplicates == RefuseNew && s.Connected(id) {
		s.stats.Refused.Add(1)
		s.log.Warn("second connection refused: charger already connected", "charger", id, "remote", r.RemoteAddr)
		http.Error(w, "charge point already connected", http.StatusConflict)
		return
	}
	offered := r.Header.Get("Sec-WebSocket-Protocol") != ""
	var handler Handler
	var proto string
	up := ws.HTTPUpgrader{
		Timeout: 10 * time.Second,
		Protocol: func(p string) bool {
			for _, pr := range s.cfg.Protocols {
				if pr.Name == p {
					handler, proto = pr.Handler, p
					return true
				}
			}
			return false
		},
	}
	nc, rw, _, err := up.Upgrade(r, w)
	if err != nil {
		s.stats.Refused.Add(1)
		s.log.Warn("websocket upgrade failed", "charger", id, "remote", r.RemoteAddr, "err", err)
		return
	}
	if handler == nil {
		if offered {
			// OCPP-J: complete the handshake without a subprotocol, then close.
			s.stats.Refused.Add(1)
			s.log.Warn("charger offered no supported OCPP subprotocol; connection closed", "charger", id,
				"offered", r.Header.Get("Sec-WebSocket-Protocol"), "supported", s.protocolNames())
			_ = ws.WriteFrame(nc, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusProtocolError, "unsupported subprotocol")))
			_ = nc.Close()
			return
		}
		// Tolerated: some chargers send no Sec-WebSocket-Protocol at all.
		handler, proto = s.cfg.Protocols[0].Handler, s.cfg.Protocols[0].Name
		s.stats.NoSubprotocol.Add(1)
		s.log.Info("charger sent no subprotocol; tolerated as "+proto, "charger", id)
	}
	if s.gaveUp(nc, id, r.RemoteAddr) {
		return
	}
	if s.cfg.Register != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HandlerTimeout)
		reg, err := s.cfg.Register(ctx, id)
		cancel()
		if reg != nil {
			data = reg
		}
		if err != nil {
			s.stats.Refused.Add(1)
			s.log.Error("charger not registered; connection closed", "charger", id, "err", err)
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			_ = ws.WriteFrame(nc, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusInternalServerError, "registration failed")))
			_ = nc.Close()
			return
		}
	}
	if s.cfg.Register != nil && s.gaveUp(nc, id, r.RemoteAddr) {
		return
	}
	c := &Conn{
		id: id, protocol: proto, remote: r.RemoteAddr, srv: s, nc: nc, handler: handler,
		callSlot: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	c.Data = data
	if s.poller != nil {
		c.pollRaw = pollable(nc)
	}
	c.lastSeen.Store(s.now())
	if rw != nil {
		c.rb = s.adoptBuffered(rw.Reader)
	}
	// Counted before it is registered: a Close from then on (another
	// node evicting it) uncounts it.
	c.counted.Store(true)
	s.stats.Connected.Add(1)
	if !s.register(c) {
		s.stats.Refused.Add(1)
		c.Close(ws.StatusPolicyViolation, "already connected")
		return
	}
	s.stats.Accepted.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HandlerTimeout)
	handler.Connected(ctx, c)
	cancel()
	release()
	if !s.enter(&s.connWG) {
		s.forgetEarly(c)
		return
	}
	c.idle()
}

// beginHandshake takes one of the MaxHandshakes places, waiting up to
// HandshakeWait for one; when none frees up it answers 503 with a
// Retry-After and reports false. The release it returns may be called
// more than once; only the first call gives the place back.
func (s *Server) beginHandshake(w http.ResponseWriter, r *http.Request, id string) (release func(), ok bool) {
	if s.handshakes == nil {
		return func() {}, true
	}
	select {
	case s.handshakes <- struct{}{}:
	default:
		t := time.NewTimer(s.cfg.HandshakeWait)
		defer t.Stop()
		select {
		case s.handshakes <- struct{}{}:
		case <-t.C:
			s.stats.Refused.Add(1)
			s.stats.Deferred.Add(1)
			// Spread the retries: a fleet told the same second comes
			// back the same second.
			wait := 5*time.Second + rand.N(10*time.Second)
			if ok, held := s.badLogs.Allow("\x00busy", time.Now()); ok {
				s.log.Warn("charger connection deferred: too many connection attempts in progress; it was told to retry later",
					"charger", id, "remote", r.RemoteAddr, "in_progress", s.cfg.MaxHandshakes, "retry_after", wait.Round(time.Second).String(), "held_back", held)
			}
			writeRefusal(w, &Refusal{Status: http.StatusServiceUnavailable, Reason: "too many chargers connecting; retry later", RetryAfter: wait})
			return nil, false
		case <-r.Context().Done():
			return nil, false
		}
	}
	s.stats.Handshaking.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			s.stats.Handshaking.Add(-1)
			<-s.handshakes
		})
	}, true
}

// gaveUp closes a connection whose charger has already closed it: one
// that waited in the handshake (authentication, the store) longer than
// the charger's connect timeout. The upgrade's answer is written into
// the closed socket without an error, and such a connection used to be
// registered, counted in Stats.Connected and announced to the cluster
// (whose presence record could make the node where the charger had
// meanwhile connected close that live socket) until its first read
// found it closed. The charger dials again; none of that is done for
// the attempt it abandoned.
func (s *Server) gaveUp(nc net.Conn, id, remote string) bool {
	if !peerGone(nc) {
		return false
	}
	_ = nc.Close()
	s.stats.Refused.Add(1)
	s.stats.GaveUp.Add(1)
	if ok, held := s.badLogs.Allow(id, time.Now()); ok {
		s.log.Info("charger gave up during the handshake; connection dropped", "charger", id, "remote", remote, "held_back", held)
	}
	return true
}

func (s *Server) protocolNames() string {
	var names []string
	for _, p := range s.cfg.Protocols {
		names = append(names, p.Name)
	}
	return strings.Join(names, ",")
}

// register adds c, replacing or refusing a connection with the same id.
func (s *Server) register(c *Conn) bool {
	s.mu.Lock()
	old, dup := s.conns[c.id]
	if dup && s.cfg.Duplicates == RefuseNew {
		s.mu.Unlock()
		return false
	}
	s.conns[c.id] = c
	s.mu.Unlock()
	if dup {
		old.replaced.Store(true)
		s.log.Info("charger reconnected; old connection replaced", "charger", c.id, "old", old.remote, "new", c.remote)
		old.Close(ws.StatusPolicyViolation, "replaced by a new connection")
	}
	return true
}

// enter adds one to wg unless the server is shutting down.
func (s *Server) enter(wg *sync.WaitGroup) bool {
	s.gate.RLock()
	defer s.gate.RUnlock()
	if s.closing.Load() {
		return false
	}
	wg.Add(1)
	return true
}

// forgetEarly undoes a registration whose read loop never started.
func (s *Server) forgetEarly(c *Conn) {
	c.Close(ws.StatusGoingAway, "server shutting down")
	s.mu.Lock()
	if s.conns[c.id] == c {
		delete(s.conns, c.id)
	}
	s.mu.Unlock()
	c.uncount()
	c.handler.Disconnected(c)
}

// forget unregisters c once its read loop has ended.
func (s *Server) forget(c *Conn) {
	s.mu.Lock()
	if s.conns[c.id] == c {
		delete(s.conns, c.id)
	}
	s.mu.Unlock()
	if c.rb != nil {
		s.putReadBuf(c.rb)
		c.rb = nil
	}
	c.uncount()
	c.handler.Disconnected(c)
}

// dispatch handles one complete text message from a charger.
func (s *Server) dispatch(c *Conn, msg []byte) {
	f, err := ParseFrame(msg)
	if err != nil {
		s.stats.BadFrames.Add(1)
		var fe *FrameError
		errors.As(err, &fe)
		if ok, held := s.badLogs.Allow(c.id, time.Now()); ok {
			s.log.Warn("bad OCPP-J frame", "charger", c.id, "reason", fe.Reason, "frame", clip(msg, 200), "size", len(msg), "held_back", held)
		}
		if fe.ID != "" {
			_ = c.writeText(c.appendCallError(nil, fe.ID, &Error{Code: fe.Code, Description: fe.Reason}))
		}
		return
	}
	switch f.Type {
	case Call:
		c.waitDeferred()
		c.answering.Store(true)
		c.callID, c.callAction = f.ID, f.Action
		res, rerr := c.handler.HandleCall(s.callContext(), c, f.Action, f.Payload)
		c.callID, c.callAction = "", ""
		if c.deferring != nil {
			// Answered by Deferred.Answer, maybe already.
			c.deferring, c.deferOut, c.afterAnswer = nil, true, nil
			return
		}
		buf := getWriteBuf()
		*buf = append((*buf)[:0], make([]byte, frameHeadroom)...)
		if rerr != nil {
			s.stats.CallErrors.Add(1)
			*buf = c.appendCallError(*buf, f.ID, rerr)
		} else {
			s.stats.CallsHandled.Add(1)
			*buf = AppendCallResult(*buf, f.ID, res)
		}
		err := c.writeAnswer(*buf)
		c.answered()
		if err != nil {
			s.log.Info("answer not delivered", "charger", c.id, "action", f.Action, "err", err)
		}
		putWriteBuf(buf)
		if len(c.afterAnswer) > 0 {
			after := c.afterAnswer
			c.afterAnswer = nil
			if err == nil {
				for _, f := range after {
					f()
				}
			}
		}
	case CallResult, CallError:
		if !c.deliver(f) {
			c.handler.HandleResult(c, f)
		}
	}
}

// callContext is a context incoming calls share: its deadline bounds
// each call that was handed it (Config.HandlerTimeout).
type callContext struct {
	ctx context.Context
	// cancel is never called: calls that were handed ctx may still run
	// when it stops being handed out, and its deadline releases it.
	cancel context.CancelFunc
	// until is when it stops being handed out (Unix nanoseconds): its
	// deadline is HandlerTimeout after that.
	until int64
}

// callContext returns the context for a call starting now. Calls that
// start within HandlerTimeout/64 of each other share one, whose deadline
// is HandlerTimeout after the last of them may start: a call gets between
// HandlerTimeout and HandlerTimeout*65/64. A context of its own per call
// cost a runtime timer set and stopped per call, about 1 µs of a
// MeterValues under saturation. The shared context is never cancelled
// before its deadline, when its timer releases it.
func (s *Server) callContext() context.Context {
	now := s.now()
	if cc := s.calls.Load(); cc != nil && now < cc.until {
		return cc.ctx
	}
	cc := &callContext{until: now + int64(s.cfg.HandlerTimeout/64)}
	cc.ctx, cc.cancel = context.WithDeadline(context.Background(), time.Unix(0, cc.until).Add(s.cfg.HandlerTimeout))
	s.calls.Store(cc)
	return cc.ctx
}

// writeBufs holds the buffers answers are built in: a write is done with
// its buffer when writeText returns, so a connection keeps none.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getWriteBuf() *[]byte { return writeBufs.Get().(*[]byte) }

// putWriteBuf returns b to the pool unless an unusually large answer grew
// it: the pool should not pin such memory.
func putWriteBuf(b *[]byte) {
	if cap(*b) <= 16<<10 {
		*b = (*b)[:0]
		writeBufs.Put(b)
	}
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// now is the server's time in Unix nanoseconds, for connection bookkeeping.
func (s *Server) now() int64 { return time.Now().UnixNano() }

// maintain runs once a second: it pings each connection once per
// PingInterval, closes a connection silent for longer than PingInterval +
// PongWait, and one whose frame has been arriving for longer than
// FrameTimeout. Doing this here rather than with read deadlines keeps the
// reading goroutines small.
func (s *Server) maintain(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	s.upkeep.Store(true)
	defer s.kickAll()
	var conns []*Conn
	for {
		select {
		case <-s.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		conns = conns[:0]
		s.mu.RLock()
		for _, c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.RUnlock()
		now := s.now()
		idle := int64(s.idleTimeout())
		ping := int64(s.cfg.PingInterval)
		frame := int64(s.cfg.FrameTimeout)
		for _, c := range conns {
			c.kickLinger(now)
			switch {
			case idle > 0 && now-c.lastSeen.Load() > idle:
				s.log.Info("charger silent too long; connection closed", "charger", c.id)
				c.Close(ws.StatusGoingAway, "no traffic")
			case frame > 0 && c.frameStart.Load() != 0 && now-c.frameStart.Load() > frame:
				s.log.Info("frame not completed in time; connection closed", "charger", c.id)
				c.Close(ws.StatusPolicyViolation, "frame timeout")
			case ping > 0 && now-max(c.lastPing.Load(), c.lastSeen.Load()) >= ping:
				// Skip a charger busy writing: it is alive, and this loop
				// must never wait on one slow socket.
				if c.wmu.TryLock() {
					c.lastPing.Store(now)
					c.setWriteDeadline(time.Second)
					_ = ws.WriteFrame(c.nc, ws.NewPingFrame(nil))
					c.wmu.Unlock()
				}
			}
		}
		conns = conns[:cap(conns)]
		clear(conns)
		conns = conns[:0]
	}
}

// kickAll ends every linger once maintain stops: nothing else would.
func (s *Server) kickAll() {
	s.upkeep.Store(false)
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.conns {
		c.kickLinger(math.MaxInt64)
	}
}

// Shutdown stops taking connections and calls, lets in-flight calls finish
// (until ctx is done), then closes every charger socket with 1001.
func (s *Server) Shutdown(ctx context.Context) error {
	s.gate.Lock()
	already := s.closing.Swap(true)
	s.gate.Unlock()
	if already {
		return nil
	}
	close(s.stop)
	if s.poller != nil {
		s.poller.wake()
	}
	s.bgWG.Wait()
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("in-flight calls not finished: %w", ctx.Err())
	}
	s.mu.RLock()
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.RUnlock()
	for _, c := range conns {
		c.Close(ws.StatusGoingAway, "server shutting down")
	}
	s.connWG.Wait()
	if s.poller != nil {
		s.poller.close()
	}
	<-done
	return err
}
