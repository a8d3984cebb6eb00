package ocpp

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// ErrClosed is returned by calls on a connection that has gone.
var ErrClosed = errors.New("charger connection closed")

// ErrCallTimeout is returned when a charger does not answer a call in time.
var ErrCallTimeout = errors.New("charger did not answer in time")

// Conn is one charger's WebSocket connection.
//
// Memory per connection is kept small on purpose (the server holds tens of
// thousands): an idle charger's socket is parked with the server's epoll
// poller (idlePoller), so it holds no goroutine and no buffer; a pooled
// bufio.Reader is taken only while frames are arriving, and every message is
// handled on a short-lived goroutine. Where the socket cannot be parked (TLS,
// or not Linux) one goroutine per charger waits for the next frame, with no
// buffer of its own and a stack that never grows with handler work.
type Conn struct {
	id       string
	protocol string
	remote   string
	srv      *Server
	nc       net.Conn
	handler  Handler
	// Data is the handler's per-connection state, set in Handler.Connected.
	Data any

	// br is a pooled reader held only while a frame is being read, or an
	// upgrade left bytes buffered; nil when idle.
	br *bufio.Reader
	// hdr receives the first two bytes of each frame without a buffer;
	// hdrRead says waitFrame has read them for the next readFrame.
	hdr     [2]byte
	hdrRead bool
	// partial is a fragmented message being assembled. The read-side
	// fields belong to whichever of waitFrame and serveFrames runs; they
	// never run at once.
	partial []byte
	// afterAnswer runs once the answer to the CALL being handled is
	// written (AfterAnswer); read side only, like partial.
	afterAnswer []func()
	// pollRaw is the socket when the server's idle poller can watch it
	// (nil otherwise); pollID names the connection to the poller once
	// parked (read side only). readState says who owns the read side:
	// readRunning a goroutine of the connection, readParked the poller
	// (the poller's event or Close takes it from there, by CAS),
	// readFinished nobody (closed while parked).
	pollRaw   syscall.RawConn
	pollID    uint64
	readState atomic.Int32

	// wmu serializes writes.
	wmu sync.Mutex
	// callSlot holds the one outbound call allowed in flight.
	callSlot chan struct{}
	// pmu guards pending.
	pmu     sync.Mutex
	pending *pendingCall

	closeOnce sync.Once
	done      chan struct{}
	replaced  atomic.Bool
	// counted says the connection is in Stats.Connected: from its
	// registration until it is closed or its read side ends, whichever
	// comes first (uncount).
	counted atomic.Bool

	// lastSeen is when the last frame arrived; frameStart is when the frame
	// being read began (0 when none); lastPing is when the last ping went
	// out. Unix nanoseconds, read by the maintenance loop.
	lastSeen   atomic.Int64
	frameStart atomic.Int64
	lastPing   atomic.Int64
}

// States of Conn.readState.
const (
	readRunning int32 = iota
	readParked
	readFinished
)

type pendingCall struct {
	id     string
	action string
	ch     chan Frame
}

// AfterAnswer makes f run once the answer to the CALL being handled has
// been written, on the connection's reading goroutine (f must not block):
// a handler that wants to send the charger a CALL of its own after
// answering (a station's first boot asks for its device model) calls it
// from HandleCall. When the answer cannot be written f does not run.
func (c *Conn) AfterAnswer(f func()) { c.afterAnswer = append(c.afterAnswer, f) }

// ID returns the charge point identity from the URL.
func (c *Conn) ID() string { return c.id }

// Protocol returns the negotiated OCPP subprotocol, e.g. "ocpp1.6".
func (c *Conn) Protocol() string { return c.protocol }

// RemoteAddr returns the charger's network address.
func (c *Conn) RemoteAddr() string { return c.remote }

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Call sends a CALL to the charger and waits for its answer. Only one call is
// in flight per charger; others wait their turn (or ctx). A CALLERROR comes
// back as an *Error. The server's call timeout applies on top of ctx.
func (c *Conn) Call(ctx context.Context, action string, payload []byte) (json.RawMessage, error) {
	timeout := time.NewTimer(c.srv.cfg.CallTimeout)
	defer timeout.Stop()
	select {
	case c.callSlot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, ErrClosed
	case <-timeout.C:
		return nil, fmt.Errorf("%s: waiting for the previous call: %w", action, ErrCallTimeout)
	}
	defer func() { <-c.callSlot }()

	p := &pendingCall{id: c.srv.newMessageID(), action: action, ch: make(chan Frame, 1)}
	c.pmu.Lock()
	c.pending = p
	c.pmu.Unlock()
	defer func() {
		c.pmu.Lock()
		c.pending = nil
		c.pmu.Unlock()
	}()
	if err := c.writeText(AppendCall(nil, p.id, action, payload)); err != nil {
		// A socket that cannot be written is a connection that ended.
		return nil, fmt.Errorf("send %s: %w: %w", action, ErrClosed, err)
	}
	select {
	case f := <-p.ch:
		if f.Type == CallError {
			e := &Error{Code: f.ErrorCode, Description: f.ErrorDescription}
			_ = json.Unmarshal(f.ErrorDetails, &e.Details)
			return nil, e
		}
		return f.Payload, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, ErrClosed
	case <-timeout.C:
		return nil, fmt.Errorf("%s: %w", action, ErrCallTimeout)
	}
}

// Close ends the connection with a WebSocket close frame.
func (c *Conn) Close(code ws.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.wmu.Lock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_ = ws.WriteFrame(c.nc, ws.NewCloseFrame(ws.NewCloseFrameBody(code, reason)))
		c.wmu.Unlock()
		_ = c.nc.Close()
		close(c.done)
		c.uncount()
		if c.readState.CompareAndSwap(readParked, readFinished) {
			// Parked with the poller, which a closed socket never
			// reports: the read side ends here.
			go c.finish(errStopReading)
		}
	})
}

// uncount takes a closed connection out of Stats.Connected, once. A
// connection closed by the server (replaced, evicted by another node,
// silent) leaves the count at once, not when its read side notices: that
// may wait for a handler (Handler.Connected, or a call waiting for the
// store), and under load thousands of closed sockets were still counted.
func (c *Conn) uncount() {
	if c.counted.CompareAndSwap(true, false) {
		c.srv.stats.Connected.Add(-1)
	}
}

func (c *Conn) writeText(b []byte) error {
	c.srv.cfg.Frames.record(c.id, "out", b)
	return c.writeFrame(ws.OpText, b)
}

// writeFrame writes one unmasked frame with a single writev.
func (c *Conn) writeFrame(op ws.OpCode, payload []byte) error {
	var hb [10]byte
	hb[0] = 0x80 | byte(op)
	n := 2
	switch l := len(payload); {
	case l < 126:
		hb[1] = byte(l)
	case l <= 0xffff:
		hb[1] = 126
		binary.BigEndian.PutUint16(hb[2:], uint16(l))
		n = 4
	default:
		hb[1] = 127
		binary.BigEndian.PutUint64(hb[2:], uint64(l))
		n = 10
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	bufs := net.Buffers{hb[:n], payload}
	_, err := bufs.WriteTo(c.nc)
	return err
}

// waitFrame is the goroutine that sits on an idle charger. It only waits
// for the first two bytes of a frame, then hands over to a fresh goroutine
// and ends: everything else (the rest of the frame, frames buffered after
// it, handling, even the go statement's bookkeeping) would grow a
// goroutine's stack, and a grown stack stays with it. Measured: 2 KB per
// idle charger this way, 3.5 to 4 KB with one reading loop that waits for a
// handler. Exactly one of waitFrame and serveFrames runs per connection at
// any time, so a charger's calls are handled in order.
func (c *Conn) waitFrame() {
	if c.br == nil {
		if _, err := io.ReadFull(c.nc, c.hdr[:]); err != nil {
			c.finish(err)
			return
		}
		c.hdrRead = true
	}
	go c.serveFrames()
}

// finish ends the read side: the connection is closed and unregistered.
func (c *Conn) finish(err error) {
	c.end(err)
	if c.srv.poller != nil {
		c.srv.poller.forget(c)
	}
	c.srv.forget(c)
	c.srv.connWG.Done()
}

// end closes the connection after the read side failed with err.
func (c *Conn) end(err error) {
	var ce closeError
	switch {
	case errors.Is(err, errStopReading):
	case errors.As(err, &ce):
		c.Close(ce.code, ce.reason)
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.Close(ws.StatusNormalClosure, "")
	default:
		c.srv.log.Info("charger connection ended", "charger", c.id, "reason", err.Error())
		c.Close(ws.StatusGoingAway, "")
	}
}

// errStopReading ends the read loop after the connection was closed on purpose.
var errStopReading = errors.New("stop reading")

// serveFrames reads the frame whose first bytes waitFrame got, and every
// frame already buffered after it, handles each complete message, and then
// starts a fresh waitFrame.
func (c *Conn) serveFrames() {
	if !c.srv.enter(&c.srv.inflight) {
		c.finish(errStopReading) // shutting down: take no new calls
		return
	}
	for {
		op, fin, payload, err := c.readFrame()
		if err == nil && c.frame(op, fin, payload) {
			err = errStopReading
		}
		if err != nil {
			c.srv.inflight.Done()
			c.finish(err)
			return
		}
		if c.br == nil {
			break // nothing buffered: back to waiting
		}
	}
	c.srv.inflight.Done()
	c.idle()
}

// idle waits for the connection's next frame: parked with the server's
// poller when it can watch the socket, else in a waitFrame goroutine.
func (c *Conn) idle() {
	if c.br == nil && c.srv.poller != nil && c.srv.poller.park(c.srv, c) {
		return
	}
	go c.waitFrame()
}

// frame handles one frame; it reports whether reading must stop.
func (c *Conn) frame(op ws.OpCode, fin bool, payload []byte) (stop bool) {
	switch op {
	case ws.OpPing:
		_ = c.writeFrame(ws.OpPong, payload)
		return false
	case ws.OpPong:
		return false
	case ws.OpClose:
		code, _ := ws.ParseCloseFrameData(payload)
		if code == 0 {
			code = ws.StatusNormalClosure
		}
		c.Close(code, "")
		return true
	case ws.OpBinary:
		c.srv.log.Warn("binary frame ignored: OCPP-J uses text frames", "charger", c.id)
		return false
	case ws.OpText:
		c.partial = payload
	case ws.OpContinuation:
		if c.partial == nil {
			c.Close(ws.StatusProtocolError, "continuation without a first frame")
			return true
		}
		if len(c.partial)+len(payload) > c.srv.cfg.MaxMessageSize {
			c.Close(ws.StatusMessageTooBig, "message too big")
			return true
		}
		c.partial = append(c.partial, payload...)
	}
	if !fin {
		return false
	}
	msg := c.partial
	c.partial = nil
	if !utf8.Valid(msg) {
		// RFC 6455 5.6 and 8.1: a text message is UTF-8; one that is not
		// fails the connection with 1007.
		c.Close(ws.StatusInvalidFramePayloadData, "text message is not valid UTF-8")
		return true
	}
	c.srv.cfg.Frames.record(c.id, "in", msg)
	c.srv.dispatch(c, msg)
	return false
}

type closeError struct {
	code   ws.StatusCode
	reason string
}

func (e closeError) Error() string { return "close " + strconv.Itoa(int(e.code)) + ": " + e.reason }

// readFrame reads one WebSocket frame and returns its unmasked payload.
func (c *Conn) readFrame() (op ws.OpCode, fin bool, payload []byte, err error) {
	// No read deadlines here: setting one from this goroutine doubles its
	// stack (measured: 2 KB to 4 KB per connection). The server's
	// maintenance loop enforces the idle and frame timeouts instead.
	if c.hdrRead {
		// waitFrame got the first two bytes without a buffer.
		c.hdrRead = false
		if c.br == nil {
			c.br = c.srv.getReader(c.nc)
		}
	} else {
		if c.br == nil {
			// The poller saw the socket readable.
			c.br = c.srv.getReader(c.nc)
		}
		if _, err = io.ReadFull(c.br, c.hdr[:]); err != nil {
			c.srv.putReader(c.br)
			c.br = nil
			return 0, false, nil, err
		}
	}
	c.frameStart.Store(c.srv.now())
	defer func() {
		c.frameStart.Store(0)
		c.lastSeen.Store(c.srv.now())
		if c.br != nil && (err != nil || c.br.Buffered() == 0) {
			c.srv.putReader(c.br)
			c.br = nil
		}
	}()
	b0, b1 := c.hdr[0], c.hdr[1]
	fin = b0&0x80 != 0
	if b0&0x70 != 0 {
		return 0, false, nil, closeError{ws.StatusProtocolError, "reserved bits set"}
	}
	op = ws.OpCode(b0 & 0x0f)
	if b1&0x80 == 0 {
		return 0, false, nil, closeError{ws.StatusProtocolError, "client frames must be masked"}
	}
	length := uint64(b1 & 0x7f)
	var ext [8]byte
	switch length {
	case 126:
		if _, err = io.ReadFull(c.br, ext[:2]); err != nil {
			return 0, false, nil, err
		}
		length = uint64(binary.BigEndian.Uint16(ext[:2]))
	case 127:
		if _, err = io.ReadFull(c.br, ext[:8]); err != nil {
			return 0, false, nil, err
		}
		length = binary.BigEndian.Uint64(ext[:8])
	}
	if op.IsControl() && (length > 125 || !fin) {
		return 0, false, nil, closeError{ws.StatusProtocolError, "invalid control frame"}
	}
	if length > uint64(c.srv.cfg.MaxMessageSize) {
		return 0, false, nil, closeError{ws.StatusMessageTooBig, "message too big"}
	}
	var mask [4]byte
	if _, err = io.ReadFull(c.br, mask[:]); err != nil {
		return 0, false, nil, err
	}
	payload = make([]byte, length)
	if _, err = io.ReadFull(c.br, payload); err != nil {
		return 0, false, nil, err
	}
	ws.Cipher(payload, mask, 0)
	return op, fin, payload, nil
}

// deliver hands a CALLRESULT or CALLERROR to the call waiting for it.
func (c *Conn) deliver(f Frame) bool {
	c.pmu.Lock()
	p := c.pending
	if p != nil && p.id == f.ID {
		c.pending = nil
	} else {
		p = nil
	}
	c.pmu.Unlock()
	if p == nil {
		return false
	}
	p.ch <- f
	return true
}
