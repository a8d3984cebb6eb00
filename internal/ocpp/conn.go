package ocpp

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
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
// read buffer is taken only while frames are arriving, and messages are
// handled on a goroutine that ends once the charger is quiet (a busy
// charger's lingers for its next frame: linger). Where the socket cannot
// be parked (TLS, or not Linux) one goroutine per charger waits for the
// next frame, with no buffer of its own and a stack that never grows with
// handler work.
type Conn struct {
	id       string
	protocol string
	remote   string
	srv      *Server
	nc       net.Conn
	handler  Handler
	// Data is the handler's per-connection state, set in Handler.Connected.
	Data any

	// rb is a pooled read buffer (readbuf.go) held only while frames are
	// being read, or an upgrade left bytes buffered; nil when idle.
	rb *readBuf
	// hdr receives the first two bytes of each frame without a buffer;
	// hdrRead says waitFrame has read them for the next readFrame.
	hdr     [2]byte
	hdrRead bool
	// ext receives a frame's extended length and masking key (read side
	// only): arrays on readFrame's stack escaped through io.ReadFull, a
	// heap allocation per frame.
	ext [12]byte
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
	// arrive is c.readArrived, made once (waitArrived), and arriveErr
	// the error its read met. Read side only.
	arrive    func(fd uintptr) bool
	arriveErr error
	// idleSince is when the read side last ran out of frames (Unix
	// nanoseconds) and quick how many frames in a row came within
	// busyGap of that: a charger sending back to back (quick reaches
	// busyFrames) lingers for its next frame (linger). Read side only.
	idleSince int64
	quick     int
	// lingerState says whether the read side lingers (lingerOn, since
	// lingerSince) or was told to stop (lingerKicked, the read deadline
	// set in the past by the server's upkeep); lmu orders that deadline
	// against the reader's clearing it.
	lingerState atomic.Int32
	lingerSince atomic.Int64
	lmu         sync.Mutex

	// wmu serializes writes and guards writeBy, the write deadline set
	// on the socket (Unix nanoseconds; 0 when a ping or a close frame set
	// one of its own).
	wmu     sync.Mutex
	writeBy int64
	// callSlot holds the one outbound call allowed in flight.
	callSlot chan struct{}
	// answering says a CALL of the charger is being handled and not yet
	// answered; an outbound call waits for that answer (waitAnswered), so
	// that what the server sends because of a call (a charging profile for
	// the transaction StartTransaction just opened) reaches the charger
	// after the answer that tells it about it. answerWait (under amu) is
	// closed by the answer when an outbound call waits on it.
	answering  atomic.Bool
	waiting    atomic.Bool
	amu        sync.Mutex
	answerWait chan struct{}
	// callID and callAction name the CALL being handled (read side,
	// during HandleCall); deferring is the Deferred its handler took
	// (Defer), deferOut says one was taken and its answer not yet waited
	// for; deferState says whether that answer is written, and
	// deferWait receives a token when it is written while the read side
	// waits for it (deferred.go).
	callID, callAction string
	deferring          *Deferred
	deferOut           bool
	deferState         atomic.Int32
	deferWait          chan struct{}
	// attempt is c.writeAttempt, bound once, and wb, wn, werr its
	// buffer and outcome (tryWrite; under wmu).
	attempt func(fd uintptr) bool
	wb      []byte
	wn      int
	werr    error
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

// answered ends the handling of a charger's CALL: its answer was written
// (or could not be), and an outbound call waiting for it may go.
func (c *Conn) answered() {
	c.answering.Store(false)
	if c.waiting.Load() {
		c.amu.Lock()
		if c.answerWait != nil {
			close(c.answerWait)
			c.answerWait = nil
		}
		c.waiting.Store(false)
		c.amu.Unlock()
	}
}

// waitAnswered waits until no CALL of the charger is being handled. An
// outbound call is made on another goroutine than the handler's (a handler
// that wants to call the charger uses AfterAnswer), so the answer comes.
func (c *Conn) waitAnswered(ctx context.Context, timeout <-chan time.Time) error {
	for c.answering.Load() {
		c.amu.Lock()
		// waiting is set before answering is read again: either answered
		// sees it and closes answerWait, or this sees answering false.
		c.waiting.Store(true)
		if !c.answering.Load() {
			c.amu.Unlock()
			return nil
		}
		if c.answerWait == nil {
			c.answerWait = make(chan struct{})
		}
		ch := c.answerWait
		c.amu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return ErrClosed
		case <-timeout:
			return fmt.Errorf("waiting for the answer to the charger's call: %w", ErrCallTimeout)
		}
	}
	return nil
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
	if err := c.waitAnswered(ctx, timeout.C); err != nil {
		return nil, fmt.Errorf("%s: %w", action, err)
	}

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
	return c.awaitAnswer(ctx, p, timeout.C)
}

// awaitAnswer waits for the answer to p. An answer that has arrived wins
// over the connection's end, ctx and the timeout: a charger may answer
// and close at once (a Reset it accepts), and select picks at random
// among ready cases, so the end is looked at only when no answer came.
func (c *Conn) awaitAnswer(ctx context.Context, p *pendingCall, timeout <-chan time.Time) (json.RawMessage, error) {
	var err error
	select {
	case f := <-p.ch:
		return answerOf(f)
	case <-ctx.Done():
		err = ctx.Err()
	case <-c.done:
		err = ErrClosed
	case <-timeout:
		err = fmt.Errorf("%s: %w", p.action, ErrCallTimeout)
	}
	select {
	case f := <-p.ch:
		return answerOf(f)
	default:
		return nil, err
	}
}

// answerOf is a CALLRESULT's payload, or a CALLERROR as an *Error.
func answerOf(f Frame) (json.RawMessage, error) {
	if f.Type == CallError {
		e := &Error{Code: f.ErrorCode, Description: f.ErrorDescription}
		_ = json.Unmarshal(f.ErrorDetails, &e.Details)
		return nil, e
	}
	return f.Payload, nil
}

// Close ends the connection with a WebSocket close frame.
func (c *Conn) Close(code ws.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.wmu.Lock()
		c.setWriteDeadline(time.Second)
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

// frameHeadroom is the room an answer buffer keeps in front of the
// message for its frame header (writeAnswer).
const frameHeadroom = 10

// putFrameHeader writes the header of an unmasked final frame of op
// carrying n bytes into the end of head (frameHeadroom bytes) and returns
// where it starts.
func putFrameHeader(head []byte, op ws.OpCode, n int) int {
	switch {
	case n < 126:
		head[8] = 0x80 | byte(op)
		head[9] = byte(n)
		return 8
	case n <= 0xffff:
		head[6] = 0x80 | byte(op)
		head[7] = 126
		binary.BigEndian.PutUint16(head[8:], uint16(n))
		return 6
	default:
		head[0] = 0x80 | byte(op)
		head[1] = 127
		binary.BigEndian.PutUint64(head[2:], uint64(n))
		return 0
	}
}

// writeAnswer writes the text message in buf[frameHeadroom:] as one frame
// with a single write: its header goes into the headroom, so the frame
// needs neither a second buffer nor a writev.
func (c *Conn) writeAnswer(buf []byte) error {
	msg := buf[frameHeadroom:]
	c.srv.cfg.Frames.record(c.id, "out", msg)
	start := putFrameHeader(buf[:frameHeadroom], ws.OpText, len(msg))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(buf[start:])
}

// writeFrame writes one unmasked frame with a single write (small
// payloads, copied behind their header) or writev.
func (c *Conn) writeFrame(op ws.OpCode, payload []byte) error {
	var hb [frameHeadroom + 128]byte
	start := putFrameHeader(hb[:frameHeadroom], op, len(payload))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(payload) <= len(hb)-frameHeadroom {
		n := copy(hb[frameHeadroom:], payload)
		return c.writeLocked(hb[start : frameHeadroom+n])
	}
	if err := c.writeDeadline(); err != nil {
		return err
	}
	bufs := net.Buffers{hb[start:frameHeadroom], payload}
	_, err := bufs.WriteTo(c.nc)
	return err
}

// writeLocked writes b, a whole frame; c.wmu is held.
func (c *Conn) writeLocked(b []byte) error {
	if err := c.writeDeadline(); err != nil {
		return err
	}
	_, err := c.nc.Write(b)
	return err
}

// writeDeadline makes sure the next write has at least half the write
// timeout left, and fails on a closed connection; c.wmu is held. The
// deadline is moved only when less than half of it is left, not on every
// frame: setting one is a runtime timer update per answer (about 1 µs of
// a busy charger's call), and a write that can take between WriteTimeout/2
// and WriteTimeout is bounded just as well.
func (c *Conn) writeDeadline() error {
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	now := c.srv.now()
	if c.writeBy-now < int64(c.srv.cfg.WriteTimeout)/2 {
		c.writeBy = now + int64(c.srv.cfg.WriteTimeout)
		_ = c.nc.SetWriteDeadline(time.Unix(0, c.writeBy))
	}
	return nil
}

// setWriteDeadline sets a write deadline of its own (a ping, a close
// frame) and makes the next frame set its usual one again; c.wmu is held.
func (c *Conn) setWriteDeadline(d time.Duration) {
	c.writeBy = 0
	_ = c.nc.SetWriteDeadline(time.Now().Add(d))
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
	if c.rb == nil {
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
// either lingers for the next frame (a busy charger) or starts a fresh
// waitFrame or parks the socket.
func (c *Conn) serveFrames() {
	if !c.srv.enter(&c.srv.inflight) {
		c.finish(errStopReading) // shutting down: take no new calls
		return
	}
	c.arrived()
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
		if c.rb != nil {
			continue // the next frame is buffered
		}
		c.idleSince = c.srv.now()
		if c.quick < busyFrames || c.pollRaw == nil || !c.srv.upkeep.Load() {
			break
		}
		c.srv.inflight.Done()
		if err := c.linger(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.quick = 0
				c.idle()
			} else {
				c.finish(err)
			}
			return
		}
		if !c.srv.enter(&c.srv.inflight) {
			c.finish(errStopReading)
			return
		}
		c.quick++
	}
	c.srv.inflight.Done()
	c.idle()
}

// A charger whose last busyFrames frames each came within busyGap of the
// answer before is busy: after answering, its goroutine waits for the next
// frame in the runtime's network poller (linger) instead of parking the
// socket with the idle poller and ending. Under saturation that saves,
// per frame, an epoll_ctl, the idle poller's wake-up, a goroutine start and
// the growth of its fresh stack to the handler's depth (about 10 µs of a
// 70 µs call, CPU profile in BENCHMARKS.md). The goroutine, its stack and a
// pooled reader are held while it lingers, which a busy charger holds
// anyway for its call in flight; a charger paced at one call a second (or
// an idle one, or one booting) never lingers, and one that lingers is
// parked again by the server's upkeep once silent for lingerMax.
const (
	busyGap    = 100 * time.Millisecond
	busyFrames = 4
	lingerMax  = 500 * time.Millisecond
)

// arrived counts a frame that came while the read side was idle.
func (c *Conn) arrived() {
	if c.idleSince != 0 && c.srv.now()-c.idleSince < int64(busyGap) {
		c.quick++
	} else {
		c.quick = 0
	}
}

// linger (called by serveFrames once the frame is handled and idleSince
// set) waits for the next frame in the runtime's network poller, holding
// no buffer (a pooled reader held while waiting was 4 KB of every busy
// charger's memory, #16), and reads what arrives. It fails with
// os.ErrDeadlineExceeded when the server's upkeep ended the wait
// (kickLinger), or with the read's error.
func (c *Conn) linger() error {
	// serveFrames took the time just before (idleSince): one clock read
	// fewer per frame.
	c.lingerSince.Store(c.idleSince)
	c.lingerState.Store(lingerOn)
	if !c.srv.upkeep.Load() {
		// The upkeep stopped (kickAll) and may have missed this linger.
		if c.lingerState.CompareAndSwap(lingerOn, lingerOff) {
			return os.ErrDeadlineExceeded
		}
	}
	// serveFrames lingers only once nothing is buffered (c.rb is nil).
	err := c.waitArrived()
	if !c.lingerState.CompareAndSwap(lingerOn, lingerOff) {
		// Kicked: the read deadline is in the past (or about to be,
		// under lmu); clear it before anything else reads.
		c.lmu.Lock()
		_ = c.nc.SetReadDeadline(time.Time{})
		c.lingerState.Store(lingerOff)
		c.lmu.Unlock()
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return os.ErrDeadlineExceeded
		}
		return err
	}
	return nil
}

// States of Conn.lingerState.
const (
	lingerOff int32 = iota
	lingerOn
	lingerKicked
)

// kickLinger ends the wait of a charger that has lingered for lingerMax
// (now in Unix nanoseconds), so that its socket is parked: run by the
// server's upkeep, which thereby bounds how long a charger that stopped
// sending holds a goroutine, without a timer per frame.
func (c *Conn) kickLinger(now int64) {
	if c.lingerState.Load() != lingerOn || now-c.lingerSince.Load() < int64(lingerMax) {
		return
	}
	c.lmu.Lock()
	if c.lingerState.CompareAndSwap(lingerOn, lingerKicked) {
		_ = c.nc.SetReadDeadline(time.Unix(1, 0))
	}
	c.lmu.Unlock()
}

// idle waits for the connection's next frame: parked with the server's
// poller when it can watch the socket, else in a waitFrame goroutine.
func (c *Conn) idle() {
	if c.rb == nil && c.srv.poller != nil && c.srv.poller.park(c.srv, c) {
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
	} else if err = c.readFull(c.hdr[:]); err != nil {
		// readFull takes a buffer if there is none (the poller saw the
		// socket readable).
		c.srv.putReadBuf(c.rb)
		c.rb = nil
		return 0, false, nil, err
	}
	c.frameStart.Store(c.srv.now())
	defer func() {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the stream ended inside the frame
		}
		c.frameStart.Store(0)
		c.lastSeen.Store(c.srv.now())
		if c.rb != nil && (err != nil || c.buffered() == 0) {
			c.srv.putReadBuf(c.rb)
			c.rb = nil
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
	ext := c.ext[:8]
	switch length {
	case 126:
		if err = c.readFull(ext[:2]); err != nil {
			return 0, false, nil, err
		}
		length = uint64(binary.BigEndian.Uint16(ext[:2]))
	case 127:
		if err = c.readFull(ext[:8]); err != nil {
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
	if err = c.readFull(c.ext[8:12]); err != nil {
		return 0, false, nil, err
	}
	mask := [4]byte(c.ext[8:12])
	payload = make([]byte, length)
	if err = c.readFull(payload); err != nil {
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
