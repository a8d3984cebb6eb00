package ocpi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// fuzzCPO is a CPO on an in-memory store (SQLite under the fuzzer's
// coverage instrumentation is far too slow) with one registered peer
// (token "fuzz-token"), a charger CP-F with one connector, a Commander
// that accepts everything at once, and an HTTP client that never leaves
// the process.
func fuzzCPO(t testing.TB) *CPO {
	t.Helper()
	ctx := context.Background()
	st := &memStore{docs: map[string]charging.Doc{}, chargers: map[string]charging.Charger{
		"CP-F": {ID: "CP-F", Connectors: []charging.Connector{{ChargerID: "CP-F", ConnectorID: 1, Availability: charging.Operative, State: charging.StateAvailable, Status: charging.StatusAvailable}}}}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := charging.NewService(st, charging.SystemClock{}, log, charging.Config{})
	offline := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("offline") })}
	c, err := New(svc, acceptAll{}, NewTokenAuthorizer(st, log), log, Config{Party: Party{CountryCode: "NL", PartyID: "CBR"},
		PublicURL: "http://cpo.test", HTTPClient: offline, CommandTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p := Peer{Key: "DE-EMS", CountryCode: "DE", PartyID: "EMS", Status: PeerRegistered, TheirToken: "theirs",
		Roles: []CredentialsRole{{Role: RoleEMSP, CountryCode: "DE", PartyID: "EMS"}}}
	if err := c.peers.setOurToken(ctx, &p, "fuzz-token", false, time.Now()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	return c
}

// memStore is the part of a store the fuzzed endpoints use, in memory.
type memStore struct {
	charging.FullStore // nil: other methods are not used
	mu                 sync.Mutex
	docs               map[string]charging.Doc
	chargers           map[string]charging.Charger
}

func (m *memStore) GetCharger(ctx context.Context, id string) (charging.Charger, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.chargers[id]
	if !ok {
		return charging.Charger{}, charging.ErrNotFound
	}
	return c, nil
}

func (m *memStore) GetSession(ctx context.Context, id string) (charging.Session, error) {
	return charging.Session{}, charging.ErrNotFound
}

func (m *memStore) PutDoc(ctx context.Context, d charging.Doc) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.docs[d.Kind+"\x00"+d.ID] = d
	return nil
}

func (m *memStore) GetDoc(ctx context.Context, kind, id string) (charging.Doc, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.docs[kind+"\x00"+id]
	if !ok {
		return charging.Doc{}, charging.ErrNotFound
	}
	return d, nil
}

func (m *memStore) DeleteDoc(ctx context.Context, kind, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.docs[kind+"\x00"+id]; !ok {
		return charging.ErrNotFound
	}
	delete(m.docs, kind+"\x00"+id)
	return nil
}

func (m *memStore) ListDocs(ctx context.Context, q charging.DocQuery) ([]charging.Doc, int, error) {
	m.mu.Lock()
	var out []charging.Doc
	for _, d := range m.docs {
		if d.Kind == q.Kind && (q.Owner == "" || d.Owner == q.Owner) && (q.From.IsZero() || !d.Updated.Before(q.From)) && (q.To.IsZero() || d.Updated.Before(q.To)) {
			out = append(out, d)
		}
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Updated.Equal(out[j].Updated) {
			return out[i].Updated.Before(out[j].Updated) != q.Newest
		}
		return (out[i].ID < out[j].ID) != q.Newest
	})
	total := len(out)
	out = out[min(q.Offset, len(out)):]
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, total, nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// acceptAll is a command port whose chargers accept everything: the fuzz
// test exercises the HTTP side, not the chargers.
type acceptAll struct{}

var ok = charging.CommandResult{Status: charging.CommandAccepted, Answer: "Accepted"}

func (acceptAll) StartCharging(context.Context, charging.StartCharging) (charging.CommandResult, error) {
	return ok, nil
}
func (acceptAll) StopCharging(context.Context, charging.StopCharging) (charging.CommandResult, error) {
	return ok, nil
}
func (acceptAll) Reserve(context.Context, charging.Reserve) (charging.CommandResult, error) {
	return ok, nil
}
func (acceptAll) CancelReservation(context.Context, charging.CancelReservation) (charging.CommandResult, error) {
	return ok, nil
}
func (acceptAll) Unlock(context.Context, charging.Unlock) (charging.CommandResult, error) {
	return ok, nil
}
func (acceptAll) Reset(context.Context, charging.Reset) (charging.CommandResult, error) {
	return ok, nil
}
func (acceptAll) ChangeAvailability(context.Context, charging.ChangeAvailability) (charging.CommandResult, error) {
	return ok, nil
}
func (acceptAll) SetChargingLimit(context.Context, charging.ChargingLimit) (charging.CommandResult, error) {
	return ok, nil
}

// serve sends one request to the CPO and checks the answer is an OCPI
// envelope with a known status code.
func serve(t *testing.T, c *CPO, method, path string, body []byte) {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", EncodeToken("fuzz-token"))
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	var env Response
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("%s %s %q: answer is not an envelope: %s", method, path, body, rec.Body.Bytes())
	}
	if rec.Code >= 500 {
		t.Fatalf("%s %s %q: HTTP %d %+v", method, path, body, rec.Code, env)
	}
	switch env.StatusCode {
	case StatusSuccess, StatusClientError, StatusInvalidParams, StatusUnknownLocation, StatusUnknownToken, StatusClientAPIError, StatusUnsupportedVersion:
	default:
		t.Fatalf("%s %s %q: status_code %d", method, path, body, env.StatusCode)
	}
}

// seeds adds the spec's examples of testdata/spec to a corpus.
func seeds(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", "spec", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzTokenBody(f *testing.F) {
	seeds(f, "token_example_1_app_user.json", "token_example_2_full_rfid.json", "token_patch_example.json")
	f.Add([]byte(`{"country_code":"DE","party_id":"EMS","uid":"U1","type":"RFID","contract_id":"C","issuer":"I","valid":true,"whitelist":"ALWAYS","last_updated":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"last_updated":"2026-01-01T00:00:00"}`))
	c := fuzzCPO(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		serve(t, c, http.MethodPut, "/ocpi/2.2.1/tokens/DE/EMS/U1", body)
		serve(t, c, http.MethodPatch, "/ocpi/2.2.1/tokens/DE/EMS/U1", body)
		// decode → encode → decode is stable.
		var t1 Token
		if json.Unmarshal(body, &t1) != nil {
			return
		}
		b1, err := json.Marshal(t1)
		if err != nil {
			t.Fatalf("encode %+v: %v", t1, err)
		}
		var t2 Token
		if err := json.Unmarshal(b1, &t2); err != nil {
			t.Fatalf("decode our own %s: %v", b1, err)
		}
		b2, _ := json.Marshal(t2)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("unstable: %s then %s", b1, b2)
		}
	})
}

func FuzzCommandBody(f *testing.F) {
	f.Add("START_SESSION", []byte(`{"response_url":"http://emsp.test/r/1","token":{"country_code":"DE","party_id":"EMS","uid":"U1","type":"RFID","contract_id":"C","issuer":"I","valid":true,"whitelist":"ALWAYS","last_updated":"2026-01-01T00:00:00Z"},"location_id":"CP-F","evse_uid":"CP-F-1","connector_id":"1"}`))
	f.Add("STOP_SESSION", []byte(`{"response_url":"http://emsp.test/r/2","session_id":"s"}`))
	f.Add("RESERVE_NOW", []byte(`{"response_url":"http://emsp.test/r/3","token":{"uid":"U1"},"expiry_date":"2030-01-01T00:00:00Z","reservation_id":"R","location_id":"CP-F"}`))
	f.Add("CANCEL_RESERVATION", []byte(`{"response_url":"http://emsp.test/r/4","reservation_id":"R"}`))
	f.Add("UNLOCK_CONNECTOR", []byte(`{"response_url":"http://emsp.test/r/5","location_id":"CP-F","evse_uid":"CP-F-1","connector_id":"1"}`))
	c := fuzzCPO(f)
	f.Fuzz(func(t *testing.T, command string, body []byte) {
		if len(command) == 0 || len(command) > 40 || strings.Trim(command, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
			return // not a plain path segment (the mux or the URL parser deals with those)
		}
		serve(t, c, http.MethodPost, "/ocpi/2.2.1/commands/"+command, body)
	})
}

func FuzzCredentialsBody(f *testing.F) {
	seeds(f, "credentials_example.json")
	f.Add([]byte(`{"token":"t","url":"http://emsp.test/versions","roles":[{"role":"EMSP","party_id":"EMS","country_code":"DE","business_details":{"name":"x"}}]}`))
	c := fuzzCPO(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		// PUT: the peer is registered; fetching its versions fails
		// (offline client), so nothing changes.
		serve(t, c, http.MethodPut, "/ocpi/2.2.1/credentials", body)
		var c1 Credentials
		if json.Unmarshal(body, &c1) != nil {
			return
		}
		b1, _ := json.Marshal(c1)
		var c2 Credentials
		if err := json.Unmarshal(b1, &c2); err != nil {
			t.Fatalf("decode our own %s: %v", b1, err)
		}
		if b2, _ := json.Marshal(c2); !bytes.Equal(b1, b2) {
			t.Fatalf("unstable: %s then %s", b1, b2)
		}
	})
}

func FuzzAuthorizationHeader(f *testing.F) {
	for _, s := range []string{"Token ZnV6ei10b2tlbg==", "Token fuzz-token", "token ZnV6ei10b2tlbgo=", "Token ", "Bearer x", "Token ====", "Token \x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		for _, tok := range DecodeTokenHeader(h) {
			if !validToken(tok) {
				t.Fatalf("DecodeTokenHeader(%q) gave invalid token %q", h, tok)
			}
		}
	})
}

// TestFuzzSeeds runs the envelope check on the spec's examples sent to
// every body-taking endpoint, as a quick guard outside fuzzing.
func TestFuzzSeeds(t *testing.T) {
	c := fuzzCPO(t)
	files, _ := filepath.Glob(filepath.Join("testdata", "spec", "*.json"))
	for _, fn := range files {
		b, _ := os.ReadFile(fn)
		for _, path := range []string{"/ocpi/2.2.1/tokens/DE/EMS/U1", "/ocpi/2.2.1/commands/START_SESSION", "/ocpi/2.2.1/credentials"} {
			for _, m := range []string{http.MethodPut, http.MethodPatch, http.MethodPost} {
				req := httptest.NewRequest(m, path, bytes.NewReader(b))
				req.Header.Set("Authorization", EncodeToken("fuzz-token"))
				rec := httptest.NewRecorder()
				c.ServeHTTP(rec, req)
				if rec.Code >= 500 {
					t.Errorf("%s %s with %s: HTTP %d %s", m, path, filepath.Base(fn), rec.Code, rec.Body)
				}
			}
		}
	}
}
