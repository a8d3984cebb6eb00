package ocpp

import (
	"encoding/json"
	"sync"

	"github.com/gobwas/ws"
)

// Deferred is the answer to a charger's CALL that its handler gives
// later, from any goroutine (Conn.Defer). The durable store answers the
// MeterValues of a commit from one goroutine once it is on disk: no
// goroutine per call parks for the commit and is woken to write its
// answer (#16).
type Deferred struct {
	c      *Conn
	id     string
	action string
}

var deferreds = sync.Pool{New: func() any { return new(Deferred) }}

// Defer says that the CALL being handled (in Handler.HandleCall, on the
// reading goroutine) is answered later by the returned Deferred's Answer;
// HandleCall then returns (nil, nil) and nothing is written for it now.
// Until the answer is written the connection handles no further CALL of
// the charger (answers to the server's own calls still go through), and
// the server's calls wait as for any call being handled. AfterAnswer
// hooks are not run for a deferred call. Defer returns nil when the
// connection cannot write without blocking the goroutine that answers (a
// TLS connection, a system without the poller): the handler answers as
// usual then.
func (c *Conn) Defer() *Deferred {
	if c.pollRaw == nil || c.callID == "" || c.deferring != nil {
		return nil
	}
	if c.deferWait == nil {
		c.deferWait = make(chan struct{}, 1)
	}
	d := deferreds.Get().(*Deferred)
	d.c, d.id, d.action = c, c.callID, c.callAction
	c.deferring = d
	c.deferState.Store(deferPending)
	c.srv.inflight.Add(1) // a graceful stop waits for the answer
	c.srv.stats.AnsweredOnCommit.Add(1)
	return d
}

// States of a connection's deferred answer (Conn.deferState): none
// outstanding, not yet written, not yet written and the read side waiting
// for it on deferWait. The answer is nearly always written before the
// charger's next CALL arrives, so the read side most often finds it
// written and does not touch the channel: a channel send per answer and
// a receive per call were 2 % of the server's CPU under saturation (#16).
const (
	deferNone int32 = iota
	deferPending
	deferWaited
)

// waitDeferred waits until the last deferred answer has been written (or
// the connection ended), before the next CALL is handled. Read side only.
func (c *Conn) waitDeferred() {
	if !c.deferOut {
		return
	}
	c.deferOut = false
	if !c.deferState.CompareAndSwap(deferPending, deferWaited) {
		return // written already (deferNone)
	}
	select {
	case <-c.deferWait:
	case <-c.done:
	}
}

// Answer writes the CALLRESULT carrying payload, or the CALLERROR of e
// when e is not nil, once; d is not used again. It does not wait for the
// socket: a frame the socket does not take at once is finished by a
// goroutine of its own, and one that is being written to by another
// goroutine is written by one of its own after it.
func (d *Deferred) Answer(payload json.RawMessage, e *Error) {
	c := d.c
	buf := getWriteBuf()
	*buf = append((*buf)[:0], make([]byte, frameHeadroom)...)
	if e != nil {
		c.srv.stats.CallErrors.Add(1)
		*buf = c.appendCallError(*buf, d.id, e)
	} else {
		c.srv.stats.CallsHandled.Add(1)
		*buf = AppendCallResult(*buf, d.id, payload)
	}
	if !c.wmu.TryLock() {
		go func() { d.finish(buf, c.writeAnswer(*buf)) }()
		return
	}
	msg := (*buf)[frameHeadroom:]
	c.srv.cfg.Frames.record(c.id, "out", msg)
	start := putFrameHeader((*buf)[:frameHeadroom], ws.OpText, len(msg))
	frame := (*buf)[start:]
	n, err := 0, c.writeDeadline()
	if err == nil {
		n, err = c.tryWrite(frame)
	}
	if err != nil || n == len(frame) {
		c.wmu.Unlock()
		d.finish(buf, err)
		return
	}
	// The socket took part of it: the rest, under the lock still held,
	// from a goroutine that may wait.
	go func() {
		err := c.writeLocked(frame[n:])
		c.wmu.Unlock()
		d.finish(buf, err)
	}()
}

// finish ends a deferred call once its answer is written (or failed).
func (d *Deferred) finish(buf *[]byte, err error) {
	c := d.c
	putWriteBuf(buf)
	if err != nil {
		c.srv.log.Info("answer not delivered", "charger", c.id, "action", d.action, "err", err)
	}
	c.answered()
	if c.deferState.Swap(deferNone) == deferWaited {
		select {
		case c.deferWait <- struct{}{}: // the read side waits for it
		default: // never block the answering goroutine
		}
	}
	c.srv.inflight.Done()
	*d = Deferred{}
	deferreds.Put(d)
}
