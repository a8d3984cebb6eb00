package ocpp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// sizeHandler answers every CALL with the size of its payload.
type sizeHandler struct{}

func (sizeHandler) Connected(context.Context, *Conn) {}
func (sizeHandler) Disconnected(*Conn)               {}
func (sizeHandler) HandleCall(_ context.Context, _ *Conn, _ string, p json.RawMessage) (json.RawMessage, *Error) {
	return json.RawMessage(`{"size":` + strconv.Itoa(len(p)) + `}`), nil
}
func (sizeHandler) HandleResult(*Conn, Frame) {}

// startServer serves s on 127.0.0.1:0 with its upkeep running and returns
// its address; everything stops with the test.
func startServer(t testing.TB, s *Server) string {
	t.Helper()
	addr := serveOCPP(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { _ = s.Run(ctx); close(ran) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := s.Shutdown(sctx); err != nil {
			t.Error(err)
		}
		cancel()
		<-ran
	})
	return addr
}

// rawClient is a charger that writes frames by hand.
type rawClient struct {
	t  *testing.T
	nc net.Conn
}

func dialRaw(t *testing.T, addr, id string) *rawClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, _, _, err := ws.Dialer{Protocols: []string{"ocpp1.6"}}.Dial(ctx, "ws://"+addr+"/ocpp/"+id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawClient{t: t, nc: nc}
}

// frame writes one masked client frame.
func (c *rawClient) frame(op ws.OpCode, fin bool, payload []byte) {
	c.t.Helper()
	f := ws.NewFrame(op, fin, bytes.Clone(payload))
	f = ws.MaskFrameInPlace(f)
	if err := ws.WriteFrame(c.nc, f); err != nil {
		c.t.Fatal(err)
	}
}

// call builds a MeterValues-like CALL whose payload has about n bytes.
func call(id string, n int) []byte {
	pad := strings.Repeat("x", max(0, n-12))
	return []byte(`[2,"` + id + `","Heartbeat",{"p":"` + pad + `"}]`)
}

// next reads the server's next data frame, answering nothing; pongs are
// returned too.
func (c *rawClient) next() (ws.OpCode, []byte) {
	c.t.Helper()
	h, err := ws.ReadHeader(c.nc)
	if err != nil {
		c.t.Fatal(err)
	}
	p := make([]byte, h.Length)
	if _, err := ioReadFull(c.nc, p); err != nil {
		c.t.Fatal(err)
	}
	return h.OpCode, p
}

func ioReadFull(nc net.Conn, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := nc.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// wantResult reads the next frame and checks it is the CALLRESULT of id
// with the payload size want.
func (c *rawClient) wantResult(id string, want int) {
	c.t.Helper()
	op, p := c.next()
	wantMsg := `[3,"` + id + `",{"size":` + strconv.Itoa(want) + `}]`
	if op != ws.OpText || string(p) != wantMsg {
		c.t.Fatalf("got %v %.80q; want text %q", op, p, wantMsg)
	}
}

// TestBusyChargerFramePath sends calls back to back, so that the charger
// counts as busy and its connection lingers for the next frame, and mixes
// into that stream what the frame reader must get right however the bytes
// arrive: a message in three fragments, frames with 16-bit and 64-bit
// lengths (larger than the reader's buffer), a ping (answered with a pong
// carrying its payload, between answers), and a frame split over two
// writes with a pause between them.
func TestBusyChargerFramePath(t *testing.T) {
	s := NewServer(Config{Protocols: []Protocol{{Name: "ocpp1.6", Handler: sizeHandler{}}}})
	c := dialRaw(t, startServer(t, s), "CP-BUSY")
	payloadSize := func(msg []byte) int {
		f, err := ParseFrame(msg)
		if err != nil {
			t.Fatal(err)
		}
		return len(f.Payload)
	}
	for round := range 3 {
		for i := range 2 * busyFrames {
			id := fmt.Sprintf("r%d-%d", round, i)
			msg := call(id, 300)
			c.frame(ws.OpText, true, msg)
			c.wantResult(id, payloadSize(msg))
		}
		// Fragmented: text + two continuations, a ping between them
		// (control frames may come between fragments).
		id := fmt.Sprintf("frag-%d", round)
		msg := call(id, 5000)
		c.frame(ws.OpText, false, msg[:7])
		c.frame(ws.OpContinuation, false, msg[7:3000])
		c.frame(ws.OpPing, true, []byte("ping-"+id))
		c.frame(ws.OpContinuation, true, msg[3000:])
		if op, p := c.next(); op != ws.OpPong || string(p) != "ping-"+id {
			t.Fatalf("got %v %q; want the pong of ping-%s", op, p, id)
		}
		c.wantResult(id, payloadSize(msg))

		for _, n := range []int{125, 126, 4095, 4096, 4097, 70000} {
			id := fmt.Sprintf("big-%d-%d", round, n)
			msg := call(id, n)
			c.frame(ws.OpText, true, msg)
			c.wantResult(id, payloadSize(msg))
		}

		// One frame in two writes: the reader must wait for the rest.
		id = fmt.Sprintf("split-%d", round)
		msg = call(id, 2000)
		f := ws.MaskFrameInPlace(ws.NewFrame(ws.OpText, true, bytes.Clone(msg)))
		var buf bytes.Buffer
		if err := ws.WriteFrame(&buf, f); err != nil {
			t.Fatal(err)
		}
		wire := buf.Bytes()
		for _, cut := range [][2]int{{0, 1}, {1, 9}, {9, len(wire)}} {
			if _, err := c.nc.Write(wire[cut[0]:cut[1]]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		c.wantResult(id, payloadSize(msg))

		// Two calls in one write: the second is already buffered.
		var two bytes.Buffer
		for j := range 2 {
			m := call(fmt.Sprintf("pair-%d-%d", round, j), 200)
			if err := ws.WriteFrame(&two, ws.MaskFrameInPlace(ws.NewFrame(ws.OpText, true, m))); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.nc.Write(two.Bytes()); err != nil {
			t.Fatal(err)
		}
		for j := range 2 {
			id := fmt.Sprintf("pair-%d-%d", round, j)
			c.wantResult(id, payloadSize(call(id, 200)))
		}
	}
	if got := s.Stats().CallsHandled.Load(); got != 3*(2*busyFrames+1+6+1+2) {
		t.Errorf("calls handled = %d; want %d", got, 3*(2*busyFrames+1+6+1+2))
	}
}

// TestBusyChargerLingersThenParks: a charger sending back to back keeps a
// goroutine waiting for its next frame (no park and restart per frame);
// once it stops sending, the server's upkeep ends the wait and the socket
// is parked with the idle poller, where it is still answered.
func TestBusyChargerLingersThenParks(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the idle poller is Linux only")
	}
	s := NewServer(Config{Protocols: []Protocol{{Name: "ocpp1.6", Handler: sizeHandler{}}}})
	c := dialRaw(t, startServer(t, s), "CP-LINGER")
	c.frame(ws.OpText, true, call("first", 100))
	c.wantResult("first", len(`{"p":"`+strings.Repeat("x", 88)+`"}`))
	conn, ok := s.Conn("CP-LINGER")
	if !ok {
		t.Fatal("CP-LINGER not registered")
	}
	// Calls back to back until the charger is seen lingering: busyFrames
	// in a row must each come within busyGap of the answer before, which
	// a test descheduled on a loaded machine may miss a few times.
	busy := func(what, prefix string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for i := 0; conn.lingerState.Load() != lingerOn; i++ {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen lingering after %d calls back to back", what, i)
			}
			id := prefix + strconv.Itoa(i)
			c.frame(ws.OpText, true, call(id, 100))
			c.wantResult(id, len(`{"p":"`+strings.Repeat("x", 88)+`"}`))
		}
	}
	busy("the busy charger to linger", "a")
	// A lingering charger holds no read buffer. (The pause gives a wait
	// that took one the time to take it.)
	time.Sleep(20 * time.Millisecond)
	if n := s.Stats().ReadBuffers.Load(); conn.lingerState.Load() == lingerOn && n != 0 {
		t.Errorf("%d read buffers held while the one charger lingers; want 0", n)
	}
	waitUntil(t, "the silent charger to be parked", func() bool {
		return conn.lingerState.Load() == lingerOff && conn.readState.Load() == readParked
	})
	c.frame(ws.OpText, true, call("after", 100))
	c.wantResult("after", len(`{"p":"`+strings.Repeat("x", 88)+`"}`))
	// A ping to a parked charger is answered too.
	c.frame(ws.OpPing, true, []byte("parked"))
	if op, p := c.next(); op != ws.OpPong || string(p) != "parked" {
		t.Fatalf("got %v %q; want pong parked", op, p)
	}
	// Hanging up while lingering ends the connection.
	busy("the busy charger to linger again", "b")
	_ = wsutil.WriteClientMessage(c.nc, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	select {
	case <-conn.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the connection did not end after the charger closed it")
	}
	waitUntil(t, "the charger to be unregistered", func() bool { return !s.Connected("CP-LINGER") })
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
