package security

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Limits bound the connections the listener holds, so that slow or idle
// clients cannot take every file descriptor: the operator API and
// /metrics keep a reserve, and chargers get a fast 503 with Retry-After at
// the limit instead of a hang.
type Limits struct {
	// MaxConns caps open connections of every kind (chargers included);
	// beyond it a connection is closed at once. 0: the process's open-file
	// limit less 128 (the database, logs and outgoing calls need some).
	MaxConns int
	// Reserve is how many of MaxConns only operator requests (API,
	// dashboard, metrics, probes) may use: past MaxConns-Reserve, other
	// requests get 503.
	Reserve int
	// MaxPending caps connections that have not become a charger's
	// WebSocket (HTTP requests in progress, idle keep-alives, handshakes);
	// at the cap the oldest one that is not in a handler is closed to make
	// room, or, when none may be, the new one gets 503.
	MaxPending int
	// PerAddr caps the pending connections of one source address.
	PerAddr int
	// Evictable is how long a connection may go without a request in a
	// handler before it may be closed to make room (default 2 s).
	Evictable time.Duration
}

// DefaultLimits are the limits of a server given no flags: the reserve is
// 64 connections, 4096 pending connections at most, 256 per address.
func DefaultLimits() Limits { return Limits{Reserve: 64, MaxPending: 4096, PerAddr: 256} }

// LimitStats are the listener's counters.
type LimitStats struct {
	Open, Pending                           atomic.Int64
	RejectedFull, RejectedAddr, RejectedPen atomic.Int64
	Evicted, Reserved503                    atomic.Int64
}

// Limiter enforces Limits on a listener (Listener) and its HTTP server
// (ConnState, ConnContext, Wrap).
type Limiter struct {
	cfg   Limits
	tls   bool
	Stats LimitStats

	// mu guards pending and perAddr.
	mu      sync.Mutex
	pending map[*limConn]struct{}
	perAddr map[string]int
}

// NewLimiter returns a Limiter; isTLS says whether the listener it wraps
// is under a TLS listener (then refusals cannot be written in plain HTTP,
// and the connection is closed instead).
func NewLimiter(cfg Limits, isTLS bool) *Limiter {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = fdLimit() - 128
	}
	cfg.MaxConns = max(cfg.MaxConns, 16)
	cfg.Reserve = min(max(cfg.Reserve, 0), cfg.MaxConns/2)
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = cfg.MaxConns
	}
	if cfg.PerAddr <= 0 {
		cfg.PerAddr = cfg.MaxPending
	}
	if cfg.Evictable <= 0 {
		cfg.Evictable = 2 * time.Second
	}
	return &Limiter{cfg: cfg, tls: isTLS, pending: make(map[*limConn]struct{}), perAddr: make(map[string]int)}
}

// Limits returns the limits in force.
func (l *Limiter) Limits() Limits { return l.cfg }

func fdLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 {
		return 1 << 20
	}
	return int(r.Cur)
}

// limConn is one accepted connection.
type limConn struct {
	net.Conn
	l      *Limiter
	addr   string
	at     time.Time
	closed atomic.Bool
	// pending is true until the connection is hijacked (a WebSocket);
	// guarded by l.mu.
	pending bool
	// busy counts requests in a handler; reserved marks a connection
	// accepted inside the operator reserve.
	busy     atomic.Int32
	reserved bool
}

// SyscallConn is the socket's, so that a server can watch a hijacked
// connection with epoll (the OCPP server parks idle chargers' sockets).
func (c *limConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

func (c *limConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c)
	}
	return c.Conn.Close()
}

type limListener struct {
	net.Listener
	l *Limiter
}

// Listener wraps ln (the plain TCP listener, under any TLS listener).
func (l *Limiter) Listener(ln net.Listener) net.Listener { return &limListener{Listener: ln, l: l} }

func (ll *limListener) Accept() (net.Conn, error) {
	for {
		nc, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c := ll.l.admit(nc); c != nil {
			return c, nil
		}
	}
}

// admit decides on a new connection; nil when it was refused.
func (l *Limiter) admit(nc net.Conn) *limConn {
	addr := hostOf(nc.RemoteAddr().String())
	open := l.Stats.Open.Load()
	if open >= int64(l.cfg.MaxConns) {
		l.Stats.RejectedFull.Add(1)
		l.refuse(nc)
		return nil
	}
	var victim *limConn
	l.mu.Lock()
	if l.perAddr[addr] >= l.cfg.PerAddr {
		l.mu.Unlock()
		l.Stats.RejectedAddr.Add(1)
		l.refuse(nc)
		return nil
	}
	if len(l.pending) >= l.cfg.MaxPending {
		victim = l.oldestIdle(time.Now())
		if victim == nil {
			l.mu.Unlock()
			l.Stats.RejectedPen.Add(1)
			l.refuse(nc)
			return nil
		}
		l.unpend(victim)
	}
	c := &limConn{Conn: nc, l: l, addr: addr, at: time.Now(), pending: true,
		reserved: open >= int64(l.cfg.MaxConns-l.cfg.Reserve)}
	l.pending[c] = struct{}{}
	l.perAddr[addr]++
	n := len(l.pending)
	l.mu.Unlock()
	l.Stats.Open.Add(1)
	l.Stats.Pending.Store(int64(n))
	if victim != nil {
		l.Stats.Evicted.Add(1)
		victim.Close()
	}
	return c
}

// oldestIdle returns the pending connection accepted longest ago that is
// not in a handler and is old enough to be evicted; called with mu held.
func (l *Limiter) oldestIdle(now time.Time) *limConn {
	var best *limConn
	for c := range l.pending {
		if c.busy.Load() == 0 && now.Sub(c.at) >= l.cfg.Evictable && (best == nil || c.at.Before(best.at)) {
			best = c
		}
	}
	return best
}

// unpend removes c from the pending set; called with mu held.
func (l *Limiter) unpend(c *limConn) {
	if !c.pending {
		return
	}
	c.pending = false
	delete(l.pending, c)
	if l.perAddr[c.addr]--; l.perAddr[c.addr] <= 0 {
		delete(l.perAddr, c.addr)
	}
}

func (l *Limiter) release(c *limConn) {
	l.mu.Lock()
	l.unpend(c)
	n := len(l.pending)
	l.mu.Unlock()
	l.Stats.Pending.Store(int64(n))
	l.Stats.Open.Add(-1)
}

// refusal is what a plain-HTTP client refused at accept reads.
const refusal = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain\r\nContent-Length: 28\r\nConnection: close\r\n\r\nserver busy; retry in a few\n"

func (l *Limiter) refuse(nc net.Conn) {
	if !l.tls {
		_ = nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = nc.Write([]byte(refusal))
	}
	_ = nc.Close()
}

func (l *Limiter) conn(nc net.Conn) *limConn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, _ := nc.(*limConn)
	return c
}

// ConnState is http.Server.ConnState: a hijacked connection (a charger's
// WebSocket) is no longer pending.
func (l *Limiter) ConnState(nc net.Conn, st http.ConnState) {
	if st != http.StateHijacked {
		return
	}
	if c := l.conn(nc); c != nil {
		l.mu.Lock()
		l.unpend(c)
		n := len(l.pending)
		l.mu.Unlock()
		l.Stats.Pending.Store(int64(n))
	}
}

type connKey struct{}

// ConnContext is http.Server.ConnContext: it lets Wrap find the
// connection of a request.
func (l *Limiter) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if c := l.conn(nc); c != nil {
		return context.WithValue(ctx, connKey{}, c)
	}
	return ctx
}

// Wrap marks the connection busy while h runs, bounds the reading of a
// request body to bodyTimeout, and answers 503 with Retry-After to a
// request that is not an operator's (operator(path) false) on a
// connection accepted inside the operator reserve.
func (l *Limiter) Wrap(h http.Handler, operator func(path string) bool, bodyTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(connKey{}).(*limConn)
		if c != nil {
			if c.reserved && !operator(r.URL.Path) {
				l.Stats.Reserved503.Add(1)
				w.Header().Set("Retry-After", "5")
				w.Header().Set("Connection", "close")
				http.Error(w, "server busy; retry in a few seconds", http.StatusServiceUnavailable)
				return
			}
			c.busy.Add(1)
			defer c.busy.Add(-1)
		}
		if bodyTimeout > 0 && (r.ContentLength > 0 || len(r.TransferEncoding) > 0) {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
		}
		h.ServeHTTP(w, r)
	})
}
