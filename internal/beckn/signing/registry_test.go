package signing

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRegistry is a Beckn registry lookup endpoint served by httptest on
// 127.0.0.1. It answers with the subscriptions registered for the requested
// subscriber_id (all of them, like a registry that filters loosely), or with
// a fixed status code.
type fakeRegistry struct {
	t *testing.T

	mu       sync.Mutex
	subs     []map[string]string
	status   int
	requests []lookupRequest
	auth     []string
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/lookup" || r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("registry got %s %s (%s); want POST /lookup application/json", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req lookupRequest
	if err := json.Unmarshal(body, &req); err != nil {
		f.t.Errorf("registry got body %q: %v", body, err)
	}
	f.requests = append(f.requests, req)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	if f.status != 0 {
		w.WriteHeader(f.status)
		return
	}
	out := []map[string]string{}
	for _, s := range f.subs {
		if s["subscriber_id"] == req.SubscriberID {
			out = append(out, s)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (f *fakeRegistry) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fakeRegistry) set(status int, subs ...map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.subs = status, subs
}

var registryNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func startRegistry(t *testing.T, cfg RegistryConfig) (*fakeRegistry, *RegistryResolver, *fakeClock) {
	t.Helper()
	f := &fakeRegistry{t: t}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("registry listens on %s; want 127.0.0.1", srv.URL)
	}
	clock := newFakeClock(registryNow)
	cfg.LookupURL = srv.URL + "/lookup"
	cfg.Clock = clock
	r, err := NewRegistryResolver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f, r, clock
}

func entry(fields ...string) map[string]string {
	m := map[string]string{
		"subscriber_id":      "example-bap.com",
		"key_id":             "k1",
		"signing_public_key": becknPublicKey,
		"valid_from":         "2026-01-01T00:00:00Z",
		"valid_until":        "2027-01-01T00:00:00Z",
		"status":             "SUBSCRIBED",
		"type":               "BAP",
	}
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] == "" {
			delete(m, fields[i])
		} else {
			m[fields[i]] = fields[i+1]
		}
	}
	return m
}

func TestRegistryLookupAndCache(t *testing.T) {
	f, r, clock := startRegistry(t, RegistryConfig{CacheTTL: time.Minute})
	f.set(0, entry("key_id", "k0"), entry())
	ctx := context.Background()
	_, want := becknKeys(t)

	got, err := r.LookupKey(ctx, "example-bap.com", "k1")
	if err != nil || !got.Equal(want) {
		t.Fatalf("LookupKey = %x, %v; want %x", got, err, want)
	}
	if f.requests[0] != (lookupRequest{SubscriberID: "example-bap.com", KeyID: "k1"}) {
		t.Errorf("lookup request = %+v", f.requests[0])
	}
	if f.auth[0] != "" {
		t.Errorf("unsigned resolver sent Authorization %q", f.auth[0])
	}

	// Within the TTL the cache answers.
	clock.Advance(59 * time.Second)
	if _, err := r.LookupKey(ctx, "example-bap.com", "k1"); err != nil {
		t.Fatal(err)
	}
	if n := f.count(); n != 1 {
		t.Errorf("registry requests after a cached lookup = %d; want 1", n)
	}
	// After it, the registry is asked again.
	clock.Advance(time.Second)
	if _, err := r.LookupKey(ctx, "example-bap.com", "k1"); err != nil {
		t.Fatal(err)
	}
	if n := f.count(); n != 2 {
		t.Errorf("registry requests after the TTL = %d; want 2", n)
	}

	// Verify works end to end through the registry.
	priv, _ := becknKeys(t)
	h, _ := Sign(priv, KeyID{SubscriberID: "example-bap.com", UniqueKeyID: "k1"}, testBody, registryNow, registryNow.Add(time.Minute))
	if _, err := Verify(ctx, r, h, testBody, clock.Now(), DefaultSkew); err != nil {
		t.Errorf("Verify through registry: %v", err)
	}
}

func TestRegistryCacheStopsAtValidUntil(t *testing.T) {
	f, r, clock := startRegistry(t, RegistryConfig{CacheTTL: time.Hour})
	f.set(0, entry("valid_until", registryNow.Add(10*time.Minute).Format(time.RFC3339)))
	ctx := context.Background()
	if _, err := r.LookupKey(ctx, "example-bap.com", "k1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Minute)
	// The cached entry has ended, and the registry's entry is no longer
	// valid either.
	if _, err := r.LookupKey(ctx, "example-bap.com", "k1"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("LookupKey after valid_until = %v; want ErrUnknownKey", err)
	}
	if n := f.count(); n != 2 {
		t.Errorf("registry requests = %d; want 2", n)
	}
}

func TestRegistryRejections(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		subs    []map[string]string
		want    error
		wantMsg string
	}{
		{"empty-array", 0, nil, ErrUnknownKey, "no entries"},
		{"not-found", http.StatusNotFound, nil, ErrUnknownKey, "404"},
		{"gone", http.StatusGone, nil, ErrUnknownKey, "410"},
		{"other-key-id", 0, []map[string]string{entry("key_id", "k9")}, ErrUnknownKey, `key "k9"`},
		{"unsubscribed", 0, []map[string]string{entry("status", "UNSUBSCRIBED")}, ErrUnknownKey, "UNSUBSCRIBED"},
		{"not-yet-valid", 0, []map[string]string{entry("valid_from", "2026-06-01T00:00:00Z")}, ErrUnknownKey, "valid from"},
		{"past-valid-until", 0, []map[string]string{entry("valid_until", "2026-02-01T00:00:00Z")}, ErrUnknownKey, "valid until"},
		{"bad-valid-until", 0, []map[string]string{entry("valid_until", "next year")}, ErrUnknownKey, "RFC 3339"},
		{"bad-public-key", 0, []map[string]string{entry("signing_public_key", "AAAA")}, ErrUnknownKey, "signing_public_key"},
		{"server-error", http.StatusBadGateway, nil, nil, "502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, r, _ := startRegistry(t, RegistryConfig{})
			f.set(tt.status, tt.subs...)
			_, err := r.LookupKey(context.Background(), "example-bap.com", "k1")
			if err == nil {
				t.Fatal("LookupKey succeeded; want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("LookupKey error = %v; want %v", err, tt.want)
			}
			if tt.want == nil && errors.Is(err, ErrUnknownKey) {
				t.Errorf("LookupKey error = %v; a registry failure must not read as an unknown key", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("LookupKey error = %v; want it to mention %q", err, tt.wantMsg)
			}
			// Failures are not cached.
			r.LookupKey(context.Background(), "example-bap.com", "k1")
			if n := f.count(); n != 2 {
				t.Errorf("registry requests = %d; want 2", n)
			}
		})
	}
}

func TestRegistryAcceptsEntryWithoutOptionalFields(t *testing.T) {
	f, r, _ := startRegistry(t, RegistryConfig{})
	f.set(0, entry("key_id", "", "valid_from", "", "valid_until", "", "status", ""))
	if _, err := r.LookupKey(context.Background(), "example-bap.com", "k1"); err != nil {
		t.Errorf("LookupKey = %v; want success", err)
	}
}

func TestRegistrySignsLookups(t *testing.T) {
	priv, pub := becknKeys(t)
	signer := &KeyPair{ID: KeyID{SubscriberID: "bpp.example.com", UniqueKeyID: "bk"}, Private: priv, Public: pub}
	f, r, _ := startRegistry(t, RegistryConfig{Signer: signer, SignatureTTL: 20 * time.Second})
	f.set(0, entry())
	if _, err := r.LookupKey(context.Background(), "example-bap.com", "k1"); err != nil {
		t.Fatal(err)
	}
	a, err := ParseAuthorization(f.auth[0])
	if err != nil {
		t.Fatalf("lookup Authorization: %v", err)
	}
	if a.KeyID != signer.ID || a.Created != registryNow.Unix() || a.Expires != registryNow.Unix()+20 {
		t.Errorf("lookup Authorization = %+v", a)
	}
	body, _ := json.Marshal(lookupRequest{SubscriberID: "example-bap.com", KeyID: "k1"})
	keys := mustStatic(t, Subscriber{SubscriberID: "bpp.example.com", UniqueKeyID: "bk", SigningPublicKey: becknPublicKey})
	if _, err := Verify(context.Background(), keys, f.auth[0], body, registryNow, 0); err != nil {
		t.Errorf("lookup signature does not verify: %v", err)
	}
}

func TestRegistryContextCancel(t *testing.T) {
	f, r, _ := startRegistry(t, RegistryConfig{})
	f.set(0, entry())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.LookupKey(ctx, "example-bap.com", "k1"); !errors.Is(err, context.Canceled) {
		t.Errorf("LookupKey with a cancelled context = %v; want context.Canceled", err)
	}
}

func TestRegistryCacheIsBounded(t *testing.T) {
	f, r, _ := startRegistry(t, RegistryConfig{MaxEntries: 3})
	var subs []map[string]string
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		subs = append(subs, entry("subscriber_id", s))
	}
	f.set(0, subs...)
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		if _, err := r.LookupKey(context.Background(), s, "k1"); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	n := len(r.cache)
	r.mu.Unlock()
	if n != 3 {
		t.Errorf("cache holds %d entries; want 3", n)
	}
}

func TestNewRegistryResolverConfig(t *testing.T) {
	for _, u := range []string{"", "registry.example.com/lookup", "ftp://registry.example.com/lookup", "https:///lookup"} {
		if _, err := NewRegistryResolver(RegistryConfig{LookupURL: u}); err == nil {
			t.Errorf("NewRegistryResolver(%q) succeeded; want an error", u)
		}
	}
	if _, err := NewRegistryResolver(RegistryConfig{LookupURL: "https://r.example.com/lookup", CacheTTL: -time.Second}); err == nil {
		t.Error("negative cache TTL accepted")
	}
}
