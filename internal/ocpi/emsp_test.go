package ocpi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/ocpi"
	"github.com/chargebridge/chargebridge/internal/server"
)

// emsp is an eMSP implemented in the test: a real HTTP server on
// 127.0.0.1:0 that registers with chargebridge (or lets chargebridge
// register with it), receives its pushes and calls its Sender interfaces.
type emsp struct {
	t   testing.TB
	srv *httptest.Server

	// mu guards the fields below.
	mu sync.Mutex
	// down makes the eMSP drop every connection (an outage); dropped
	// counts the requests it dropped.
	down    bool
	dropped int
	// refuse, when set, answers matching pushes with this HTTP status.
	refuse func(method, path string) int
	// tokenA is what it accepts from a CPO registering with it.
	tokenA string
	// tokenB is what the CPO calls it with (its token B or C).
	tokenB string
	// cpoToken is what it calls the CPO with (token A, then C).
	cpoToken string
	// received are the pushes (calls to its receiver interfaces).
	received []received
	// results are the CommandResults POSTed to its response URLs.
	results []received
	// country and party are its OCPI identity (DE EMS unless set before
	// register).
	country, party string
}

type received struct {
	Method, Path string
	Body         json.RawMessage
	Header       http.Header
	At           time.Time
}

func newEMSP(t testing.TB) *emsp {
	e := &emsp{t: t, tokenB: "emsp-token-b-" + t.Name(), tokenA: "emsp-token-a", country: "DE", party: "EMS"}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *emsp) url() string         { return e.srv.URL }
func (e *emsp) versionsURL() string { return e.srv.URL + "/emsp/versions" }
func (e *emsp) setDown(down bool)   { e.mu.Lock(); e.down = down; e.mu.Unlock() }
func (e *emsp) droppedCount() int   { e.mu.Lock(); defer e.mu.Unlock(); return e.dropped }
func (e *emsp) credentials() ocpi.Credentials {
	return ocpi.Credentials{Token: e.tokenB, URL: e.versionsURL(), Roles: []ocpi.CredentialsRole{{
		Role: "EMSP", BusinessDetails: ocpi.BusinessDetails{Name: "Test eMSP"}, PartyID: e.party, CountryCode: e.country}}}
}

func (e *emsp) pushes() []received {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]received(nil), e.received...)
}

func (e *emsp) commandResults() []received {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]received(nil), e.results...)
}

func (e *emsp) reply(w http.ResponseWriter, status int, data any) {
	var raw json.RawMessage
	if data != nil {
		raw, _ = json.Marshal(data)
	}
	b, _ := json.Marshal(map[string]any{"data": raw, "status_code": 1000, "timestamp": time.Now().UTC().Format(time.RFC3339)})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// authorized checks the Authorization header against the accepted tokens.
func (e *emsp) authorized(r *http.Request, tokens ...string) bool {
	for _, tok := range tokens {
		if tok != "" && r.Header.Get("Authorization") == "Token "+base64.StdEncoding.EncodeToString([]byte(tok)) {
			return true
		}
	}
	return false
}

func (e *emsp) serve(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	down, refuse, tokenA, tokenB := e.down, e.refuse, e.tokenA, e.tokenB
	if down {
		e.dropped++
	}
	e.mu.Unlock()
	if down {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	base := "/emsp/2.2.1"
	switch {
	case r.URL.Path == "/emsp/versions" || r.URL.Path == base:
		if !e.authorized(r, tokenA, tokenB) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/emsp/versions" {
			e.reply(w, 200, []ocpi.VersionInfo{{Version: "2.1.1", URL: e.url() + "/emsp/2.1.1"}, {Version: "2.2.1", URL: e.url() + base}})
			return
		}
		var eps []ocpi.Endpoint
		for _, m := range []string{"credentials", "locations", "sessions", "cdrs", "tariffs", "tokens", "commands"} {
			role := "RECEIVER"
			if m == "tokens" || m == "commands" {
				role = "SENDER"
			}
			if m == "credentials" {
				role = "SENDER"
			}
			eps = append(eps, ocpi.Endpoint{Identifier: m, Role: role, URL: e.url() + base + "/" + m})
		}
		e.reply(w, 200, ocpi.VersionDetails{Version: "2.2.1", Endpoints: eps})
	case r.URL.Path == base+"/credentials":
		e.serveCredentials(w, r, body, tokenA, tokenB)
	case strings.HasPrefix(r.URL.Path, "/emsp/results/"):
		e.mu.Lock()
		e.results = append(e.results, received{Method: r.Method, Path: r.URL.Path, Body: body, Header: r.Header.Clone(), At: time.Now()})
		e.mu.Unlock()
		e.reply(w, 200, nil)
	case strings.HasPrefix(r.URL.Path, base+"/"):
		if !e.authorized(r, tokenB) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if refuse != nil {
			if st := refuse(r.Method, r.URL.Path); st != 0 {
				w.WriteHeader(st)
				return
			}
		}
		if r.Method != http.MethodGet && r.Header.Get("X-Request-ID") == "" {
			e.t.Errorf("push %s %s without X-Request-ID", r.Method, r.URL.Path)
		}
		if strings.HasSuffix(r.URL.Path, "/authorize") {
			e.serveAuthorize(w, r, body)
			return
		}
		e.mu.Lock()
		e.received = append(e.received, received{Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, base), Body: body, Header: r.Header.Clone(), At: time.Now()})
		e.mu.Unlock()
		e.reply(w, 200, nil)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// serveAuthorize answers real-time authorization: tokens starting with
// "OK" are allowed, others blocked.
func (e *emsp) serveAuthorize(w http.ResponseWriter, r *http.Request, body []byte) {
	parts := strings.Split(r.URL.Path, "/")
	uid := parts[len(parts)-2]
	allowed := "BLOCKED"
	if strings.HasPrefix(uid, "OK") {
		allowed = "ALLOWED"
	}
	e.mu.Lock()
	e.received = append(e.received, received{Method: r.Method, Path: "/tokens/" + uid + "/authorize", Body: body, At: time.Now()})
	e.mu.Unlock()
	e.reply(w, 200, map[string]any{"allowed": allowed, "token": map[string]any{"country_code": "DE", "party_id": "EMS", "uid": uid, "type": "RFID",
		"contract_id": "DE-EMS-" + uid, "issuer": "Test eMSP", "valid": true, "whitelist": "NEVER", "last_updated": "2026-01-01T00:00:00Z"},
		"authorization_reference": "AUTH-" + uid})
}

// serveCredentials is the eMSP's credentials module, for a CPO that
// registers with it (token A from us, token B in the body, token C back).
func (e *emsp) serveCredentials(w http.ResponseWriter, r *http.Request, body []byte, tokenA, tokenB string) {
	switch r.Method {
	case http.MethodPost:
		if !e.authorized(r, tokenA) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var cr ocpi.Credentials
		if err := json.Unmarshal(body, &cr); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		// Like a real eMSP, read the CPO's versions with its token B
		// before answering.
		e.mu.Lock()
		e.cpoToken = cr.Token
		e.mu.Unlock()
		st, env, _ := e.call(http.MethodGet, cr.URL, nil)
		if st != 200 || env.StatusCode != 1000 {
			e.t.Errorf("eMSP could not read the CPO's versions with token B: HTTP %d %+v", st, env)
		}
		e.reply(w, 200, e.credentials())
	case http.MethodPut:
		if !e.authorized(r, tokenB) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var cr ocpi.Credentials
		_ = json.Unmarshal(body, &cr)
		e.mu.Lock()
		e.cpoToken = cr.Token
		e.tokenB += "-renewed"
		e.mu.Unlock()
		e.reply(w, 200, e.credentials())
	case http.MethodDelete:
		if !e.authorized(r, tokenB) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		e.reply(w, 200, nil)
	default:
		e.reply(w, 200, e.credentials())
	}
}

// envelope is a decoded OCPI answer.
type envelope struct {
	Data          json.RawMessage `json:"data"`
	StatusCode    int             `json:"status_code"`
	StatusMessage string          `json:"status_message"`
	Timestamp     string          `json:"timestamp"`
}

// call sends a request to the CPO with the eMSP's current token for it.
func (e *emsp) call(method, url string, body any) (int, envelope, http.Header) {
	e.mu.Lock()
	tok := e.cpoToken
	e.mu.Unlock()
	return callWith(e.t, "Token "+base64.StdEncoding.EncodeToString([]byte(tok)), method, url, body)
}

func callWith(t testing.TB, auth, method, url string, body any) (int, envelope, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		if raw, ok := body.(json.RawMessage); ok {
			b = raw
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("X-Request-ID", "req-1")
	req.Header.Set("X-Correlation-ID", "corr-1")
	req.Header.Set("OCPI-from-country-code", "DE")
	req.Header.Set("OCPI-from-party-id", "EMS")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env envelope
	if len(b) > 0 {
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatalf("%s %s: HTTP %d, body is not an OCPI envelope: %s", method, url, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, env, resp.Header
}

// register runs the handshake in which the eMSP registers with
// chargebridge: token A from the operator, versions, POST credentials.
func (e *emsp) register(s *cbtest.Server) {
	e.t.Helper()
	docs, err := s.Service().Docs()
	if err != nil {
		e.t.Fatal(err)
	}
	tokA, err := ocpi.AddPeer(context.Background(), docs, e.country, e.party, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.cpoToken = tokA
	e.mu.Unlock()
	st, env, _ := e.call(http.MethodPost, s.URL()+"/ocpi/2.2.1/credentials", e.credentials())
	if st != 200 || env.StatusCode != 1000 {
		e.t.Fatalf("POST credentials: HTTP %d %+v", st, env)
	}
	var cr ocpi.Credentials
	if err := json.Unmarshal(env.Data, &cr); err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.cpoToken = cr.Token
	e.mu.Unlock()
}

// startCPO runs chargebridge with short OCPI retries and intervals.
func startCPO(t testing.TB, opts ...cbtest.Option) *cbtest.Server {
	t.Helper()
	return cbtest.Start(t, append(cpoOptions(), opts...)...)
}

func cpoOptions() []cbtest.Option {
	return []cbtest.Option{cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) {
		c.AcceptUnknownTags = true
		c.OCPICountry, c.OCPIParty = "NL", "CBR"
	}), withOCPI(func(c *ocpi.Config) {
		c.RetryMin, c.RetryMax = 20*time.Millisecond, 100*time.Millisecond
		c.SessionPatchInterval = 200 * time.Millisecond
		c.AuthTimeout = time.Second
		c.CommandTimeout = 3 * time.Second
		c.SyncInterval = time.Hour // tests call Sync
	})}
}

func withOCPI(f func(*ocpi.Config)) cbtest.Option {
	return func(s *cbtest.Setup) {
		prev := s.Options.OCPI
		s.Options.OCPI = func(c *ocpi.Config) {
			if prev != nil {
				prev(c)
			}
			f(c)
		}
	}
}

func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
