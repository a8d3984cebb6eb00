package ocpp

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

type nopHandler struct{}

func (nopHandler) Connected(context.Context, *Conn) {}
func (nopHandler) Disconnected(*Conn)               {}
func (nopHandler) HandleCall(context.Context, *Conn, string, json.RawMessage) (json.RawMessage, *Error) {
	return json.RawMessage(`{}`), nil
}
func (nopHandler) HandleResult(*Conn, Frame) {}

// dialStatus dials id and returns the HTTP status of a refused upgrade
// (0 when it upgraded) and the refusal's Retry-After header.
func dialStatus(t *testing.T, addr, id string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var status int
	var retry string
	d := ws.Dialer{Protocols: []string{"ocpp1.6"}, OnStatusError: func(st int, _ []byte, resp io.Reader) {
		status = st
		if r, err := http.ReadResponse(bufio.NewReader(resp), nil); err == nil {
			retry = r.Header.Get("Retry-After")
		}
	}}
	nc, _, _, err := d.Dial(ctx, "ws://"+addr+"/ocpp/"+id)
	if err == nil {
		t.Cleanup(func() { nc.Close() })
		return 0, ""
	}
	if status == 0 {
		t.Fatalf("dial %s: %v", id, err)
	}
	return status, retry
}

// TestHandshakesAreBounded: with MaxHandshakes attempts waiting on the
// store (here, an authentication that blocks), the next attempt waits
// HandshakeWait and is told to retry later with 503 and a Retry-After,
// instead of adding to what waits on the store; an attempt refused, or
// one that completed, gives its place back.
func TestHandshakesAreBounded(t *testing.T) {
	hold := make(chan struct{})
	s := NewServer(Config{
		Protocols:     []Protocol{{Name: "ocpp1.6", Handler: nopHandler{}}},
		MaxHandshakes: 2, HandshakeWait: 50 * time.Millisecond,
		Authenticate: func(r *http.Request, id string) error {
			switch {
			case strings.HasPrefix(id, "HOLD"):
				<-hold
			case strings.HasPrefix(id, "BAD"):
				return &Refusal{Status: http.StatusUnauthorized, Reason: "wrong password"}
			}
			return nil
		},
	})
	addr := startServer(t, s)

	// Refused attempts, more than the bound one after the other, each
	// give their place back: every one is answered 401, none 503.
	for i := range 5 {
		if st, _ := dialStatus(t, addr, "BAD-"+strconv.Itoa(i)); st != http.StatusUnauthorized {
			t.Fatalf("refused attempt %d: status %d; want 401 (a refused attempt kept its place)", i, st)
		}
	}

	var wg sync.WaitGroup
	held := make([]int, 2)
	for i := range 2 {
		wg.Go(func() { held[i], _ = dialStatus(t, addr, "HOLD-"+strconv.Itoa(i)) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Handshaking.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("handshakes in progress = %d; want 2", s.Stats().Handshaking.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}

	st, retry := dialStatus(t, addr, "CP-3")
	if st != http.StatusServiceUnavailable {
		t.Fatalf("third attempt with two in progress: status %d; want 503", st)
	}
	if n, err := strconv.Atoi(retry); err != nil || n < 5 || n > 15 {
		t.Errorf("Retry-After = %q; want 5 to 15 seconds", retry)
	}
	if got := s.Stats().Deferred.Load(); got != 1 {
		t.Errorf("deferred = %d; want 1", got)
	}
	if s.Connected("CP-3") {
		t.Error("the deferred charger is connected")
	}

	close(hold)
	wg.Wait()
	for i, st := range held {
		if st != 0 {
			t.Errorf("HOLD-%d: status %d; want it upgraded once the store answered", i, st)
		}
	}
	if st, _ := dialStatus(t, addr, "CP-3"); st != 0 {
		t.Fatalf("CP-3 after the others completed: status %d; want it upgraded", st)
	}
	for s.Stats().Handshaking.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("handshakes in progress after all completed = %d; want 0", s.Stats().Handshaking.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !s.Connected("HOLD-0") || !s.Connected("HOLD-1") || !s.Connected("CP-3") {
		t.Error("not every completed charger is connected")
	}
}
