package ocpp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
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

// keeper is a handler that keeps every payload it is given, and a copy.
type keeper struct {
	mu     sync.Mutex
	kept   []json.RawMessage
	copies []string
}

func (h *keeper) Connected(context.Context, *Conn) {}
func (h *keeper) Disconnected(*Conn)               {}
func (h *keeper) HandleCall(_ context.Context, _ *Conn, _ string, p json.RawMessage) (json.RawMessage, *Error) {
	h.mu.Lock()
	h.kept = append(h.kept, p)
	h.copies = append(h.copies, string(p))
	h.mu.Unlock()
	return json.RawMessage(`{}`), nil
}
func (h *keeper) HandleResult(*Conn, Frame) {}

// TestHandlerPayloadIsNeverReused: what HandleCall is given stays as it
// was after the call, through later frames read into the same pooled
// buffers, frames that arrive together, and messages in several
// fragments, so handlers may keep strings that share its memory
// (NewSharedDecoder).
func TestHandlerPayloadIsNeverReused(t *testing.T) {
	h := &keeper{}
	s := NewServer(Config{Protocols: []Protocol{{Name: "ocpp1.6", Handler: h}}})
	addr := serveOCPP(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const chargers, calls = 3, 200
	var wg sync.WaitGroup
	errs := make(chan error, chargers)
	for n := range chargers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, _, _, err := ws.Dialer{Protocols: []string{"ocpp1.6"}}.Dial(ctx, fmt.Sprintf("ws://%s/ocpp/CP%d", addr, n))
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			dl, _ := ctx.Deadline()
			_ = nc.SetDeadline(dl)
			var batch []byte
			for i := range calls {
				msg := []byte(fmt.Sprintf(`[2,"%d-%d","MeterValues",{"connectorId":1,"pad":"%s"}]`, n, i, strings.Repeat(string(rune('a'+i%26)), i*7)))
				var frames [][]byte
				if i%5 == 4 { // in three fragments
					a, b := len(msg)/3, 2*len(msg)/3
					frames = [][]byte{frame(ws.OpText, false, msg[:a]), frame(ws.OpContinuation, false, msg[a:b]), frame(ws.OpContinuation, true, msg[b:])}
				} else {
					frames = [][]byte{frame(ws.OpText, true, msg)}
				}
				for _, f := range frames {
					batch = append(batch, f...)
				}
				if i%4 != 3 && i != calls-1 {
					continue // several calls in one write
				}
				if _, err := nc.Write(batch); err != nil {
					errs <- err
					return
				}
				batch = batch[:0]
			}
			for i := 0; i < calls; {
				msgs, err := wsutil.ReadServerMessage(nc, nil)
				if err != nil {
					errs <- err
					return
				}
				i += len(msgs)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.kept) != chargers*calls {
		t.Fatalf("handled %d calls; want %d", len(h.kept), chargers*calls)
	}
	for i, p := range h.kept {
		if string(p) != h.copies[i] {
			t.Fatalf("payload %d changed after its call:\nwas %.80s\nnow %.80s", i, h.copies[i], p)
		}
	}
}

// frame is one masked client frame.
func frame(op ws.OpCode, fin bool, p []byte) []byte {
	f := ws.NewFrame(op, fin, append([]byte(nil), p...))
	f = ws.MaskFrameInPlace(f)
	var b bytes.Buffer
	if err := ws.WriteFrame(&b, f); err != nil {
		panic(err)
	}
	return b.Bytes()
}
