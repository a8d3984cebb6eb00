package killtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/beckn"
	"github.com/chargebridge/chargebridge/internal/beckn/signing"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpi"
)

// The peers of the cluster tests: an OCPI eMSP and a Beckn BAP, each a
// real HTTP server on 127.0.0.1 in the test process.

// emsp is an eMSP: it registers with the CPO through the credentials
// handshake, receives Sessions (PUT, PATCH), CDRs (POST, answered with
// the CDR's URL as Location, which it serves to GET) and Locations, and
// keeps every request it got.
type emsp struct {
	t      testing.TB
	srv    *httptest.Server
	tokenB string

	// mu guards the fields below.
	mu sync.Mutex
	// sessions is each session as the pushes left it (PUT replaces,
	// PATCH merges); cdrPosts counts the POSTs of each CDR id; cdrs is
	// each CDR received.
	sessions map[string]map[string]any
	cdrPosts map[string]int
	cdrs     map[string]json.RawMessage
	// holdCDR, when > 0, is the CDR POST (counted from 1) that is kept
	// unanswered, once the CDR is stored, until release is closed;
	// held receives its CDR id then.
	holdCDR, posts int
	held           chan string
	release        chan struct{}
}

const emspBase = "/emsp/2.2.1"

func newEMSP(t testing.TB) *emsp {
	e := &emsp{t: t, tokenB: "emsp-token-b", sessions: map[string]map[string]any{}, cdrPosts: map[string]int{},
		cdrs: map[string]json.RawMessage{}, held: make(chan string, 1), release: make(chan struct{})}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(func() {
		e.unhold()
		e.srv.Close()
	})
	return e
}

// holdNext holds the next CDR POST.
func (e *emsp) holdNext() {
	e.mu.Lock()
	e.holdCDR = e.posts + 1
	e.mu.Unlock()
}

// unhold answers the held CDR POST (its sender is dead by then).
func (e *emsp) unhold() {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.release:
	default:
		close(e.release)
	}
}

func (e *emsp) reply(w http.ResponseWriter, status int, data any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	code := 1000
	if status >= 400 {
		code = 2000
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data, "status_code": code, "timestamp": time.Now().UTC().Format(time.RFC3339)})
}

func (e *emsp) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("Authorization") != ocpi.EncodeToken(e.tokenB) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, emspBase)
	switch {
	case r.URL.Path == "/emsp/versions":
		e.reply(w, 200, []ocpi.VersionInfo{{Version: "2.2.1", URL: e.srv.URL + emspBase}})
	case r.URL.Path == emspBase:
		var eps []ocpi.Endpoint
		for _, m := range []string{"locations", "sessions", "cdrs", "tariffs"} {
			eps = append(eps, ocpi.Endpoint{Identifier: m, Role: "RECEIVER", URL: e.srv.URL + emspBase + "/" + m})
		}
		eps = append(eps, ocpi.Endpoint{Identifier: "credentials", Role: "SENDER", URL: e.srv.URL + emspBase + "/credentials"})
		e.reply(w, 200, ocpi.VersionDetails{Version: "2.2.1", Endpoints: eps})
	case path == "/credentials":
		e.reply(w, 200, e.credentials())
	case strings.HasPrefix(path, "/sessions/"):
		id := path[strings.LastIndex(path, "/")+1:]
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			e.reply(w, 400, nil)
			return
		}
		e.mu.Lock()
		switch r.Method {
		case http.MethodPut:
			e.sessions[id] = v
		case http.MethodPatch:
			s := e.sessions[id]
			if s == nil {
				e.mu.Unlock()
				e.reply(w, 404, nil) // unknown session: the CPO PUTs it whole
				return
			}
			for k, x := range v {
				s[k] = x
			}
		}
		e.mu.Unlock()
		e.reply(w, 200, nil)
	case path == "/cdrs" && r.Method == http.MethodPost:
		var c struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(body, &c); err != nil || c.ID == "" {
			e.reply(w, 400, nil)
			return
		}
		e.mu.Lock()
		e.cdrPosts[c.ID]++
		e.cdrs[c.ID] = body
		e.posts++
		hold := e.posts == e.holdCDR
		e.mu.Unlock()
		if hold {
			e.held <- c.ID
			<-e.release
		}
		w.Header().Set("Location", e.srv.URL+emspBase+"/cdrs/"+c.ID)
		e.reply(w, 201, nil)
	case strings.HasPrefix(path, "/cdrs/") && r.Method == http.MethodGet:
		e.mu.Lock()
		c, ok := e.cdrs[strings.TrimPrefix(path, "/cdrs/")]
		e.mu.Unlock()
		if !ok {
			e.reply(w, 404, nil)
			return
		}
		e.reply(w, 200, c)
	case strings.HasPrefix(path, "/locations/") || strings.HasPrefix(path, "/tariffs/"):
		e.reply(w, 200, nil)
	default:
		e.t.Errorf("eMSP: unexpected %s %s", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
	}
}

func (e *emsp) credentials() ocpi.Credentials {
	return ocpi.Credentials{Token: e.tokenB, URL: e.srv.URL + "/emsp/versions", Roles: []ocpi.CredentialsRole{{
		Role: "EMSP", BusinessDetails: ocpi.BusinessDetails{Name: "Test eMSP"}, PartyID: "EMS", CountryCode: "DE"}}}
}

// register runs the credentials handshake with the CPO at base, with the
// token A the operator issued.
func (e *emsp) register(base, tokenA string) {
	e.t.Helper()
	b, _ := json.Marshal(e.credentials())
	req, _ := http.NewRequest(http.MethodPost, base+"/ocpi/2.2.1/credentials", bytes.NewReader(b))
	req.Header.Set("Authorization", ocpi.EncodeToken(tokenA))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", "r1")
	req.Header.Set("X-Correlation-ID", "c1")
	req.Header.Set("OCPI-from-country-code", "DE")
	req.Header.Set("OCPI-from-party-id", "EMS")
	req.Header.Set("OCPI-to-country-code", "NL")
	req.Header.Set("OCPI-to-party-id", "CBR")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		StatusCode int `json:"status_code"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(raw, &env) != nil || env.StatusCode != 1000 {
		e.t.Fatalf("POST credentials: HTTP %d %s", resp.StatusCode, raw)
	}
}

// cdrCounts returns how often each CDR id was POSTed.
func (e *emsp) cdrCounts() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for k, v := range e.cdrPosts {
		out[k] = v
	}
	return out
}

// session returns the session as the pushes left it (nil if never PUT).
func (e *emsp) session(id string) map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.sessions[id]
	if s == nil {
		return nil
	}
	out := map[string]any{}
	for k, v := range s {
		out[k] = v
	}
	return out
}

// bap is a Beckn BAP: it signs its requests to any node's /beckn and
// keeps every callback whose signature verifies (by the BPP's key).
type bap struct {
	t       testing.TB
	id      string
	keys    *signing.KeyPair
	bppKeys signing.KeyResolver
	srv     *httptest.Server

	// mu guards got.
	mu  sync.Mutex
	got []callback
}

// callback is one callback the BAP received.
type callback struct {
	Action string
	Ctx    beckn.Context
	Msg    map[string]any
}

func newBAP(t testing.TB, keys *signing.KeyPair, bppKeys signing.KeyResolver) *bap {
	b := &bap{t: t, id: keys.ID.SubscriberID, keys: keys, bppKeys: bppKeys}
	b.srv = httptest.NewServer(http.HandlerFunc(b.receive))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *bap) receive(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if _, err := signing.Verify(r.Context(), b.bppKeys, r.Header.Get("Authorization"), body, time.Now(), signing.DefaultSkew); err != nil {
		b.t.Errorf("callback %s: signature does not verify: %v", r.URL.Path, err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var cb struct {
		Context beckn.Context  `json:"context"`
		Message map[string]any `json:"message"`
	}
	if err := json.Unmarshal(body, &cb); err != nil {
		b.t.Errorf("callback %s: %v", r.URL.Path, err)
		return
	}
	b.mu.Lock()
	b.got = append(b.got, callback{Action: strings.TrimPrefix(r.URL.Path, "/bap/"), Ctx: cb.Context, Msg: cb.Message})
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(beckn.AckResponse{TransactionID: cb.Context.TransactionID, Timestamp: time.Now().UTC().Format(time.RFC3339), AckStatus: "ACK"})
}

func (b *bap) callbacks() []callback {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]callback(nil), b.got...)
}

// send posts a signed request to the BPP at bppURL and requires an ACK;
// it returns the request's context.
func (b *bap) send(bppURL, action, txID string, message any) beckn.Context {
	b.t.Helper()
	c := beckn.Context{
		Domain: "beckn.one:deg:ev-charging:*", Action: action, Version: "2.0.0",
		BapID: b.id, BapURI: b.srv.URL + "/bap", BppID: bppID, BppURI: bppURL,
		TransactionID: txID, MessageID: charging.NewID(), Timestamp: time.Now().UTC().Format(time.RFC3339), TTL: "PT30S",
	}
	body, _ := json.Marshal(map[string]any{"context": c, "message": message})
	now := time.Now()
	auth, err := b.keys.Sign(body, now, now.Add(30*time.Second))
	if err != nil {
		b.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, bppURL+"/"+action, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("POST %s: %v", action, err)
	}
	defer resp.Body.Close()
	var ack beckn.AckResponse
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(raw, &ack) != nil || ack.AckStatus != "ACK" {
		b.t.Fatalf("%s: HTTP %d %s; want an ACK", action, resp.StatusCode, raw)
	}
	return c
}

// answer waits (bounded) for the callback answering request c.
func (b *bap) answer(c beckn.Context) callback {
	b.t.Helper()
	var got callback
	waitUntil(b.t, "on_"+c.Action+" to "+c.MessageID, 30*time.Second, func() bool {
		for _, in := range b.callbacks() {
			if in.Action == "on_"+c.Action && in.Ctx.MessageID == c.MessageID {
				got = in
				return true
			}
		}
		return false
	})
	return got
}

// waitUntil polls ok until it holds, failing the test after d.
func waitUntil(t testing.TB, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get walks a decoded JSON value by object keys.
func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}
