package beckn_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/beckn"
	"github.com/chargebridge/chargebridge/internal/beckn/signing"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/server"
)

func TestRequestsAreVerified(t *testing.T) {
	x := start(t)
	b := x.bap
	body := func(mutate func(*beckn.Context)) []byte {
		c := b.ctx("status", charging.NewID())
		if mutate != nil {
			mutate(&c)
		}
		out, _ := json.Marshal(map[string]any{"context": c, "message": orderRef("order-x")})
		return out
	}
	stranger, err := signing.GenerateKeyFile(filepath.Join(t.TempDir(), "k.json"), bapID, "unregistered-key")
	if err != nil {
		t.Fatal(err)
	}
	other, err := signing.GenerateKeyFile(filepath.Join(t.TempDir(), "o.json"), "other.bap.test", "bap-key-1")
	if err != nil {
		t.Fatal(err)
	}
	signAt := func(created, expires time.Time) func([]byte) string {
		return func(body []byte) string {
			h, err := b.keys.Sign(body, created, expires)
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
	}
	replayed := body(nil)
	if st, ack, _ := b.post("status", replayed, b.sign); st != http.StatusOK || ack.AckStatus != beckn.ACK {
		t.Fatalf("first delivery: HTTP %d %+v; want ACK", st, ack)
	}
	now := time.Now()
	tests := []struct {
		name   string
		action string
		body   []byte
		sign   func([]byte) string
		status int
		code   string
	}{
		{"no-signature", "status", body(nil), nil, http.StatusUnauthorized, beckn.CodeAuthentication},
		{"malformed-header", "status", body(nil), func([]byte) string { return `Signature keyId="x"` }, http.StatusUnauthorized, beckn.CodeAuthentication},
		{"bad-signature", "status", body(nil), func(b2 []byte) string {
			// Signed, then the body altered in transit.
			return b.sign(append([]byte(nil), []byte(strings.Replace(string(b2), "order-x", "order-y", 1))...))
		}, http.StatusUnauthorized, beckn.CodeInvalidSignature},
		{"expired", "status", body(nil), signAt(now.Add(-2*time.Minute), now.Add(-time.Minute)), http.StatusUnauthorized, beckn.CodeExpiredSignature},
		{"not-yet-valid", "status", body(nil), signAt(now.Add(time.Minute), now.Add(2*time.Minute)), http.StatusUnauthorized, beckn.CodeInvalidSignature},
		{"too-long-lived", "status", body(nil), signAt(now, now.Add(48*time.Hour)), http.StatusUnauthorized, beckn.CodeInvalidSignature},
		{"unknown-key", "status", body(nil), func(b2 []byte) string {
			h, _ := stranger.Sign(b2, time.Now(), time.Now().Add(time.Minute))
			return h
		}, http.StatusUnauthorized, beckn.CodeKeyNotFound},
		{"wrong-algorithm", "status", body(nil), func(b2 []byte) string {
			return strings.Replace(b.sign(b2), `algorithm="ed25519"`, `algorithm="rsa-sha256"`, 1)
		}, http.StatusUnauthorized, beckn.CodeAlgorithmMismatch},
		{"signer-is-not-the-bap", "status", body(func(c *beckn.Context) { c.BapID = "other.bap.test" }), b.sign, http.StatusUnauthorized, beckn.CodeInvalidSignature},
		{"key-of-another-subscriber", "status", body(nil), func(b2 []byte) string {
			h, _ := other.Sign(b2, time.Now(), time.Now().Add(time.Minute))
			return h
		}, http.StatusUnauthorized, beckn.CodeKeyNotFound},
		{"replay", "status", replayed, b.sign, http.StatusUnauthorized, beckn.CodeAuthentication},
		{"malformed-body", "status", []byte(`{"context": {"action": "status"`), b.sign, http.StatusBadRequest, beckn.CodeInvalidRequest},
		{"not-an-object", "status", []byte(`[1,2,3]`), b.sign, http.StatusBadRequest, beckn.CodeInvalidRequest},
		{"no-message", "status", []byte(`{"context":` + string(mustJSON(b.ctx("status", "t1"))) + `}`), b.sign, http.StatusBadRequest, beckn.CodeInvalidRequest},
		{"message-without-order-id", "status", []byte(`{"context":` + string(mustJSON(b.ctx("status", "t1"))) + `,"message":{"order":{}}}`), b.sign, http.StatusBadRequest, beckn.CodeInvalidRequest},
		{"wrong-action", "status", body(func(c *beckn.Context) { c.Action = "cancel" }), b.sign, http.StatusBadRequest, beckn.CodeContextError},
		{"no-message-id", "status", body(func(c *beckn.Context) { c.MessageID = "" }), b.sign, http.StatusBadRequest, beckn.CodeContextError},
		{"bad-bap-uri", "status", body(func(c *beckn.Context) { c.BapURI = "ftp://x" }), b.sign, http.StatusBadRequest, beckn.CodeContextError},
		{"bad-ttl", "status", body(func(c *beckn.Context) { c.TTL = "30 seconds" }), b.sign, http.StatusBadRequest, beckn.CodeContextError},
		{"other-bpp", "status", body(func(c *beckn.Context) { c.BppID = "someone.else" }), b.sign, http.StatusBadRequest, beckn.CodeContextError},
		{"old-version", "status", body(func(c *beckn.Context) { c.Version = "1.1.0" }), b.sign, http.StatusBadRequest, beckn.CodeVersionNotSupported},
		{"other-domain", "status", body(func(c *beckn.Context) { c.Domain = "retail" }), b.sign, http.StatusBadRequest, beckn.CodeDomainNotSupported},
		{"bad-filter", "discover", func() []byte {
			c := b.ctx("discover", "t2")
			out, _ := json.Marshal(map[string]any{"context": c, "message": map[string]any{"filters": map[string]any{"type": "jsonpath", "expression": "$[?(@.x ==="}}})
			return out
		}(), b.sign, http.StatusBadRequest, beckn.CodeInvalidRequest},
		{"unknown-action", "search", body(nil), b.sign, http.StatusNotFound, beckn.CodeActionNotApplicable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, ack, h := b.post(tt.action, tt.body, tt.sign)
			if st != tt.status || ack.AckStatus != beckn.NACK || ack.Error == nil || ack.Error.Code != tt.code {
				t.Fatalf("HTTP %d %+v; want %d NACK with code %s", st, ack, tt.status, tt.code)
			}
			if ack.Error.Message == "" || ack.Timestamp == "" {
				t.Errorf("NACK %+v lacks a message or timestamp", ack)
			}
			if st == http.StatusUnauthorized && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Signature ") {
				t.Errorf("401 without a WWW-Authenticate: Signature challenge")
			}
		})
	}
	// None of them was queued for processing, so none can produce a
	// callback; the first delivery was, and did.
	b.wait("the first delivery's on_status", func(in inbound) bool { return in.Action == "on_status" })
	resp, err := http.Get(x.s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, _ := io.ReadAll(resp.Body)
	for _, line := range []string{"chargebridge_beckn_requests_acked_total 1", fmt.Sprintf("chargebridge_beckn_requests_nacked_total %d", len(tests))} {
		if !strings.Contains(string(m), line+"\n") {
			t.Errorf("/metrics lacks %q: only the first delivery may be acknowledged", line)
		}
	}
	if n := b.count(func(in inbound) bool { return true }); n != 1 {
		t.Errorf("%d callbacks; want only the first delivery's", n)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestReplayRefusedAfterRestart: a signed request accepted before a
// restart is refused after it while its signature is still valid (the
// message id is kept in the database, shared by every node).
func TestReplayRefusedAfterRestart(t *testing.T) {
	var bc server.BecknConfig
	x := start(t, func(c *server.BecknConfig, _ *signing.KeyPair) { bc = *c })
	b := x.bap
	body, _ := json.Marshal(map[string]any{"context": b.ctx("status", charging.NewID()), "message": orderRef("order-x")})
	header := b.sign(body)
	sameSignature := func([]byte) string { return header }
	if st, ack, _ := b.post("status", body, sameSignature); st != http.StatusOK || ack.AckStatus != beckn.ACK {
		t.Fatalf("first delivery: HTTP %d %+v; want ACK", st, ack)
	}
	x.s.Stop()
	s2 := cbtest.StartWithDB(t, x.s.DBPath, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.Beckn = bc }))
	b.bppURL = s2.URL() + "/beckn"
	st, ack, _ := b.post("status", body, sameSignature)
	if st != http.StatusUnauthorized || ack.AckStatus != beckn.NACK || ack.Error == nil || ack.Error.Code != beckn.CodeAuthentication {
		t.Fatalf("replay after a restart: HTTP %d %+v; want 401 NACK %s", st, ack, beckn.CodeAuthentication)
	}
	// A new message id with the same signature key is accepted.
	fresh, _ := json.Marshal(map[string]any{"context": b.ctx("status", charging.NewID()), "message": orderRef("order-x")})
	if st, ack, _ := b.post("status", fresh, b.sign); st != http.StatusOK || ack.AckStatus != beckn.ACK {
		t.Fatalf("a new message after the restart: HTTP %d %+v; want ACK", st, ack)
	}
}
