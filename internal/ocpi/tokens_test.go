package ocpi_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/ocpi"
	"github.com/chargebridge/chargebridge/internal/server"
)

func token(uid, whitelist string, valid bool) map[string]any {
	return map[string]any{"country_code": "DE", "party_id": "EMS", "uid": uid, "type": "RFID", "contract_id": "DE-EMS-" + uid,
		"issuer": "Test eMSP", "valid": valid, "whitelist": whitelist, "last_updated": "2026-01-01T00:00:00Z"}
}

func authorize(t testing.TB, c *cbtest.Client, tag string) string {
	t.Helper()
	var conf struct {
		IDTagInfo struct {
			Status string `json:"status"`
		} `json:"idTagInfo"`
	}
	c.MustCall("Authorize", map[string]any{"idTag": tag}, &conf)
	return conf.IDTagInfo.Status
}

func TestTokensReceiverAndAuthorization(t *testing.T) {
	s := startCPO(t, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = false }))
	e := newEMSP(t)
	e.register(s)
	base := s.URL() + "/ocpi/2.2.1/tokens/DE/EMS/"
	put := func(t *testing.T, tok map[string]any, want int) {
		t.Helper()
		st, env, _ := e.call(http.MethodPut, base+tok["uid"].(string), tok)
		if st != want {
			t.Fatalf("PUT token %s: HTTP %d %+v; want %d", tok["uid"], st, env, want)
		}
	}
	t.Run("spec-example-put-and-get", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join("testdata", "spec", "token_example_2_full_rfid.json"))
		if err != nil {
			t.Fatal(err)
		}
		// The example is TNM's token: a hub may push any party's tokens,
		// an eMSP only its own; DE-EMS gets 403 for it.
		st, env, _ := e.call(http.MethodPut, s.URL()+"/ocpi/2.2.1/tokens/DE/TNM/12345678905880", json.RawMessage(b))
		if st != http.StatusForbidden {
			t.Fatalf("PUT another party's token: HTTP %d %+v; want 403", st, env)
		}
		var ex map[string]any
		_ = json.Unmarshal(b, &ex)
		ex["party_id"] = "EMS"
		put(t, ex, http.StatusCreated)
		put(t, ex, http.StatusOK)
		st, env, _ = e.call(http.MethodGet, base+"12345678905880?type=RFID", nil)
		if st != 200 || env.StatusCode != 1000 {
			t.Fatalf("GET token: HTTP %d %+v", st, env)
		}
		checkAgainstExample(t, "stored Token", env.Data, "token_example_2_full_rfid.json", nil, nil)
	})
	t.Run("patch-spec-example", func(t *testing.T) {
		b, _ := os.ReadFile(filepath.Join("testdata", "spec", "token_patch_example.json"))
		st, env, _ := e.call(http.MethodPatch, base+"12345678905880", json.RawMessage(b))
		if st != 200 || env.StatusCode != 1000 {
			t.Fatalf("PATCH token: HTTP %d %+v", st, env)
		}
		_, env, _ = e.call(http.MethodGet, base+"12345678905880", nil)
		var got map[string]any
		_ = json.Unmarshal(env.Data, &got)
		if got["valid"] != false || got["last_updated"] != "2019-06-19T02:11:11Z" || got["issuer"] != "TheNewMotion" {
			t.Fatalf("after PATCH: %s", env.Data)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, tt := range []struct {
			name, method, path string
			body               any
			want, code         int
		}{
			{"unknown-token", "GET", "NOPE", nil, 404, 2004},
			{"patch-unknown", "PATCH", "NOPE", map[string]any{"valid": false, "last_updated": "2026-01-01T00:00:00Z"}, 404, 2004},
			{"patch-without-last-updated", "PATCH", "12345678905880", map[string]any{"valid": true}, 400, 2001},
			{"uid-mismatch", "PUT", "OTHER", token("X1", "ALWAYS", true), 400, 2001},
			{"bad-whitelist", "PUT", "X1", token("X1", "SOMETIMES", true), 400, 2001},
			{"bad-type", "GET", "X1?type=CARD", nil, 400, 2001},
			{"not-json", "PUT", "X1", json.RawMessage(`{"uid":`), 400, 2000},
		} {
			t.Run(tt.name, func(t *testing.T) {
				st, env, _ := e.call(tt.method, base+tt.path, tt.body)
				if st != tt.want || env.StatusCode != tt.code {
					t.Fatalf("HTTP %d status_code %d (%s); want %d %d", st, env.StatusCode, env.StatusMessage, tt.want, tt.code)
				}
			})
		}
	})

	put(t, token("WL-1", "ALWAYS", true), http.StatusCreated)
	put(t, token("WL-BLOCKED", "ALWAYS", false), http.StatusCreated)
	put(t, token("OK-RT", "NEVER", true), http.StatusCreated)
	put(t, token("NO-RT", "NEVER", true), http.StatusCreated)
	put(t, token("OK-OFF", "ALLOWED_OFFLINE", true), http.StatusCreated)
	put(t, token("OK-NEVER-OFF", "NEVER", true), http.StatusCreated)
	c := s.MustDial("CP-TOK")
	c.MustCall("BootNotification", map[string]any{"chargePointVendor": "Acme", "chargePointModel": "AC22"}, nil)

	t.Run("ocpp-authorize", func(t *testing.T) {
		for _, tt := range []struct{ tag, want string }{
			{"WL-1", "Accepted"},
			{"WL-BLOCKED", "Blocked"},
			{"OK-RT", "Accepted"},
			{"NO-RT", "Blocked"},
			{"UNKNOWN-TAG", "Invalid"},
		} {
			if got := authorize(t, c, tt.tag); got != tt.want {
				t.Errorf("Authorize %s: %s; want %s", tt.tag, got, tt.want)
			}
		}
		var asked []string
		for _, p := range e.pushes() {
			if strings.HasSuffix(p.Path, "/authorize") {
				asked = append(asked, p.Path)
				var loc map[string]any
				_ = json.Unmarshal(p.Body, &loc)
				if loc["location_id"] != "CP-TOK" {
					t.Errorf("authorize body %s; want location_id CP-TOK", p.Body)
				}
			}
		}
		if strings.Join(asked, " ") != "/tokens/OK-RT/authorize /tokens/NO-RT/authorize" {
			t.Fatalf("real-time requests %v; want OK-RT and NO-RT only (ALWAYS is whitelisted)", asked)
		}
	})
	t.Run("session-carries-emsp-token-and-reference", func(t *testing.T) {
		var start struct {
			TransactionID int64 `json:"transactionId"`
		}
		c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "OK-RT", "meterStart": 0, "timestamp": time.Now().UTC().Format(time.RFC3339)}, &start)
		waitFor(t, "session PUT", func() bool { return len(pushesTo(e, "PUT", "/sessions/")) > 0 })
		var sess map[string]any
		_ = json.Unmarshal(pushesTo(e, "PUT", "/sessions/")[0].Body, &sess)
		tok, _ := sess["cdr_token"].(map[string]any)
		if sess["auth_method"] != "AUTH_REQUEST" || sess["authorization_reference"] != "AUTH-OK-RT" || tok["party_id"] != "EMS" || tok["contract_id"] != "DE-EMS-OK-RT" {
			t.Fatalf("session %v; want the eMSP's token, AUTH_REQUEST and its reference", sess)
		}
	})
	t.Run("emsp-unreachable-falls-back", func(t *testing.T) {
		e.setDown(true)
		defer e.setDown(false)
		if got := authorize(t, c, "OK-OFF"); got != "Accepted" {
			t.Errorf("ALLOWED_OFFLINE with the eMSP down: %s; want Accepted", got)
		}
		if got := authorize(t, c, "OK-NEVER-OFF"); got != "Invalid" {
			t.Errorf("NEVER with the eMSP down: %s; want Invalid", got)
		}
	})
}

func TestRealTimeAuthorizationTimeout(t *testing.T) {
	s := startCPO(t, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = false }),
		withOCPI(func(c *ocpi.Config) { c.AuthTimeout = 200 * time.Millisecond }))
	e := newEMSP(t)
	e.register(s)
	if st, _, _ := e.call(http.MethodPut, s.URL()+"/ocpi/2.2.1/tokens/DE/EMS/OK-SLOW", token("OK-SLOW", "ALLOWED_OFFLINE", true)); st != 201 {
		t.Fatalf("PUT token: HTTP %d", st)
	}
	release := make(chan struct{})
	e.mu.Lock()
	e.refuse = func(method, path string) int {
		if strings.HasSuffix(path, "/authorize") {
			<-release
		}
		return 0
	}
	e.mu.Unlock()
	defer close(release)
	c := s.MustDial("CP-SLOW")
	c.MustCall("BootNotification", map[string]any{"chargePointVendor": "Acme", "chargePointModel": "AC22"}, nil)
	begin := time.Now()
	if got := authorize(t, c, "OK-SLOW"); got != "Accepted" {
		t.Fatalf("slow eMSP: %s; want Accepted (ALLOWED_OFFLINE fallback)", got)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("Authorize took %v; the timeout is 200ms", d)
	}
}
