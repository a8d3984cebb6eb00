package ocpp

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// callingHandler answers "Start" only after another goroutine has begun a
// CALL of its own to the same charger (as load management sends a profile
// for the transaction a StartTransaction opens), and once that CALL waits
// or has been written.
type callingHandler struct {
	sizeHandler
	sent chan error
}

func (h *callingHandler) HandleCall(ctx context.Context, c *Conn, action string, p json.RawMessage) (json.RawMessage, *Error) {
	if action != "Start" {
		return h.sizeHandler.HandleCall(ctx, c, action, p)
	}
	go func() {
		_, err := c.Call(context.Background(), "SetChargingProfile", json.RawMessage(`{"transactionId":7}`))
		h.sent <- err
	}()
	// Without the ordering, the CALL is written at once; with it, it
	// waits. Either way the answer is written after this, and the client
	// sees which came first.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && !c.waiting.Load(); {
		time.Sleep(time.Millisecond)
	}
	return json.RawMessage(`{"transactionId":7}`), nil
}

// TestAnswerBeforeOutboundCall: a CALL the server sends a charger while
// one of the charger's CALLs is being handled reaches the charger after
// that call's answer, so a charger is never asked about a transaction id
// it has not been given yet.
func TestAnswerBeforeOutboundCall(t *testing.T) {
	h := &callingHandler{sent: make(chan error, 1)}
	s := NewServer(Config{Protocols: []Protocol{{Name: "ocpp1.6", Handler: h}}})
	addr := startServer(t, s)
	c := dialRaw(t, addr, "cp-order")
	c.frame(ws.OpText, true, []byte(`[2,"s1","Start",{}]`))
	_, first := c.next()
	if want := `[3,"s1",{"transactionId":7}]`; string(first) != want {
		t.Fatalf("first frame to the charger: %s; want the answer %s", first, want)
	}
	_, second := c.next()
	if !strings.HasPrefix(string(second), `[2,"`) || !strings.Contains(string(second), `"SetChargingProfile"`) {
		t.Fatalf("second frame: %s; want the server's SetChargingProfile", second)
	}
	var f []json.RawMessage
	if err := json.Unmarshal(second, &f); err != nil || len(f) < 2 {
		t.Fatalf("server CALL %s: %v", second, err)
	}
	c.frame(ws.OpText, true, []byte(`[3,`+string(f[1])+`,{"status":"Accepted"}]`))
	if err := <-h.sent; err != nil {
		t.Fatalf("the server's call: %v", err)
	}
}
