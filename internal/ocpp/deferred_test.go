package ocpp

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// deferringHandler defers every CALL and hands its Deferred to the test.
type deferringHandler struct {
	sizeHandler
	calls chan *Deferred
}

func (h *deferringHandler) HandleCall(_ context.Context, c *Conn, _ string, _ json.RawMessage) (json.RawMessage, *Error) {
	d := c.Defer()
	if d == nil {
		return nil, &Error{Code: InternalError, Description: "Defer returned nil on a plain socket"}
	}
	h.calls <- d
	return nil, nil
}

// TestDeferredAnswers: a deferred CALL is answered from another goroutine
// with its own message id; a second CALL the charger sends before that
// answer is handled only after it, and its answer follows the first.
func TestDeferredAnswers(t *testing.T) {
	h := &deferringHandler{calls: make(chan *Deferred, 2)}
	s := NewServer(Config{Protocols: []Protocol{{Name: "ocpp1.6", Handler: h}}})
	addr := startServer(t, s)
	c := dialRaw(t, addr, "cp-deferred")
	c.frame(ws.OpText, true, []byte(`[2,"a1","MeterValues",{}]`))
	c.frame(ws.OpText, true, []byte(`[2,"a2","MeterValues",{}]`))
	var first *Deferred
	select {
	case first = <-h.calls:
	case <-time.After(10 * time.Second):
		t.Fatal("the first CALL was not handled")
	}
	// Give the second frame every chance to be handled early; with the
	// ordering it waits for the answer below.
	time.Sleep(50 * time.Millisecond)
	if n := len(h.calls); n != 0 {
		// Answer them all, or the server's stop would wait for them.
		first.Answer(nil, nil)
		(<-h.calls).Answer(nil, nil)
		t.Fatalf("%d more CALLs handled before the first was answered; want 0", n)
	}
	first.Answer(json.RawMessage(`{"n":1}`), nil)
	var second *Deferred
	select {
	case second = <-h.calls:
	case <-time.After(10 * time.Second):
		t.Fatal("the second CALL was not handled after the first's answer")
	}
	second.Answer(nil, &Error{Code: GenericError, Description: "no"})
	if _, f := c.next(); string(f) != `[3,"a1",{"n":1}]` {
		t.Fatalf("first answer %s; want [3,\"a1\",{\"n\":1}]", f)
	}
	if _, f := c.next(); !strings.HasPrefix(string(f), `[4,"a2","GenericError","no"`) {
		t.Fatalf("second answer %s; want a2's CALLERROR", f)
	}
	if got := s.Stats().CallsHandled.Load(); got != 1 {
		t.Errorf("calls handled = %d; want 1", got)
	}
	if got := s.Stats().CallErrors.Load(); got != 1 {
		t.Errorf("call errors = %d; want 1", got)
	}
}

// TestDeferredAnswerDoesNotWait: the goroutine that answers (the store's
// writer, answering a whole commit) never waits for a charger that does
// not read: what its socket does not take is written by a goroutine of
// its own, and arrives whole once the charger reads.
func TestDeferredAnswerDoesNotWait(t *testing.T) {
	h := &deferringHandler{calls: make(chan *Deferred, 1)}
	s := NewServer(Config{Protocols: []Protocol{{Name: "ocpp1.6", Handler: h}}})
	addr := startServer(t, s)
	c := dialRaw(t, addr, "cp-slow")
	c.frame(ws.OpText, true, []byte(`[2,"big","DataTransfer",{}]`))
	d := <-h.calls
	// Far more than a loopback socket's buffers hold.
	big := `{"data":"` + strings.Repeat("x", 32<<20) + `"}`
	answered := make(chan struct{})
	go func() {
		d.Answer(json.RawMessage(big), nil)
		close(answered)
	}()
	select {
	case <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("Answer waited for a charger that does not read")
	}
	_ = c.nc.SetDeadline(time.Now().Add(60 * time.Second))
	if _, f := c.next(); string(f) != `[3,"big",`+big+`]` {
		t.Fatalf("answer of %d bytes, starting %.40s; want the whole %d-byte answer", len(f), f, len(big)+10)
	}
}
