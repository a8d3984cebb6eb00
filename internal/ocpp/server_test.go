package ocpp

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// slowConnect is a handler whose Connected waits until release is closed
// (a presence write or a store slow under load).
type slowConnect struct {
	connected    chan struct{}
	release      chan struct{}
	disconnected chan struct{}
}

func (h *slowConnect) Connected(context.Context, *Conn) {
	close(h.connected)
	<-h.release
}
func (h *slowConnect) Disconnected(*Conn) { close(h.disconnected) }
func (h *slowConnect) HandleCall(context.Context, *Conn, string, json.RawMessage) (json.RawMessage, *Error) {
	return json.RawMessage(`{}`), nil
}
func (h *slowConnect) HandleResult(*Conn, Frame) {}

// TestClosedConnectionLeavesTheCount: a connection the server closes
// (replaced, evicted by another node) leaves the connected count at once,
// even while its handler has not returned, and only once. Under load the
// count kept thousands of closed sockets whose handlers waited.
func TestClosedConnectionLeavesTheCount(t *testing.T) {
	h := &slowConnect{connected: make(chan struct{}), release: make(chan struct{}), disconnected: make(chan struct{})}
	s := NewServer(Config{Protocols: []Protocol{{Name: "ocpp1.6", Handler: h}}})
	addr := serveOCPP(t, s)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, _, _, err := ws.Dialer{Protocols: []string{"ocpp1.6"}}.Dial(ctx, "ws://"+addr+"/ocpp/CP1")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	select {
	case <-h.connected:
	case <-ctx.Done():
		t.Fatal("Connected was not called")
	}
	if got := s.Stats().Connected.Load(); got != 1 {
		t.Fatalf("connected = %d; want 1", got)
	}
	c, ok := s.Conn("CP1")
	if !ok {
		t.Fatal("CP1 not registered")
	}
	c.Close(ws.StatusPolicyViolation, "replaced by a connection to another node")
	if got := s.Stats().Connected.Load(); got != 0 {
		t.Errorf("connected after the server closed the socket, its handler still waiting = %d; want 0", got)
	}
	close(h.release)
	select {
	case <-h.disconnected:
	case <-ctx.Done():
		t.Fatal("Disconnected was not called")
	}
	if got := s.Stats().Connected.Load(); got != 0 {
		t.Errorf("connected once the read side ended = %d; want 0", got)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
}

// TestCallContextDeadline: every call's context has at least
// HandlerTimeout from the call's start and at most a sixty-fourth more,
// whether it opens a shared context or is handed one already open.
func TestCallContextDeadline(t *testing.T) {
	const timeout = 64 * time.Second
	s := NewServer(Config{Protocols: []Protocol{{Name: "ocpp1.6", Handler: &slowConnect{}}}, HandlerTimeout: timeout})
	for i := range 1000 {
		before := time.Now()
		ctx := s.callContext()
		after := time.Now()
		dl, ok := ctx.Deadline()
		if !ok {
			t.Fatalf("call %d: no deadline", i)
		}
		if dl.Before(before.Add(timeout)) || dl.After(after.Add(timeout+timeout/64)) {
			t.Fatalf("call %d: deadline %v after its start; want %v to %v", i, dl.Sub(before), timeout, timeout+timeout/64)
		}
		if ctx.Err() != nil {
			t.Fatalf("call %d: context already done: %v", i, ctx.Err())
		}
	}
}

// TestAnswerWinsOverClose: a charger that answers a CALL and closes at
// once (it accepted a Reset) has answered; the caller gets the answer,
// not ErrClosed, even when it looks only after both happened. The same
// holds for the context and the timeout. A select over the four picked
// at random, and CI saw "reset: charger connection closed".
func TestAnswerWinsOverClose(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired := make(chan time.Time, 1)
	for i := range 200 {
		done := make(chan struct{})
		close(done)
		c := &Conn{done: done}
		p := &pendingCall{id: "1", action: "Reset", ch: make(chan Frame, 1)}
		p.ch <- Frame{Type: CallResult, ID: "1", Payload: json.RawMessage(`{"status":"Accepted"}`)}
		ctx := context.Background()
		if i%2 == 1 {
			ctx = cancelled
		}
		expired <- time.Time{}
		got, err := c.awaitAnswer(ctx, p, expired)
		if err != nil || string(got) != `{"status":"Accepted"}` {
			t.Fatalf("try %d: answer %s, %v; want the answer that arrived", i, got, err)
		}
		select {
		case <-expired:
		default:
		}
	}
}
