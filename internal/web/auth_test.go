package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const testToken = "test-token-0123456789abcdef"

// guarded returns Auth.Wrap around a handler that answers 200 "reached".
func guarded(a *Auth) http.Handler {
	return a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("reached"))
	}))
}

func TestAuthWithToken(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	a := NewAuth(testToken, func() time.Time { return now })
	good := a.cookieValue(now.Add(time.Hour))
	expired := a.cookieValue(now.Add(-time.Second))
	forged := NewAuth("another-token-0123456789", func() time.Time { return now }).cookieValue(now.Add(time.Hour))
	tests := []struct {
		name     string
		method   string
		path     string
		header   map[string]string
		cookie   string
		want     int
		location string
	}{
		{"api-without-credentials", "GET", "/api/v1/chargers", nil, "", 401, ""},
		{"api-with-bearer", "GET", "/api/v1/chargers", map[string]string{"Authorization": "Bearer " + testToken}, "", 200, ""},
		{"api-with-lowercase-scheme", "GET", "/api/v1/chargers", map[string]string{"Authorization": "bearer " + testToken}, "", 200, ""},
		{"api-with-wrong-bearer", "GET", "/api/v1/chargers", map[string]string{"Authorization": "Bearer nope"}, "", 401, ""},
		{"api-with-basic", "GET", "/api/v1/chargers", map[string]string{"Authorization": "Basic " + testToken}, "", 401, ""},
		{"api-wrong-bearer-beats-good-cookie", "GET", "/api/v1/chargers", map[string]string{"Authorization": "Bearer nope"}, good, 401, ""},
		{"api-with-cookie", "GET", "/api/v1/sessions", nil, good, 200, ""},
		{"api-with-expired-cookie", "GET", "/api/v1/sessions", nil, expired, 401, ""},
		{"api-with-cookie-of-other-token", "GET", "/api/v1/sessions", nil, forged, 401, ""},
		{"api-with-garbage-cookie", "GET", "/api/v1/sessions", nil, "v1.99999999999.AAAA", 401, ""},
		{"api-post-with-bearer", "POST", "/api/v1/chargers", map[string]string{"Authorization": "Bearer " + testToken}, "", 200, ""},
		{"api-post-cookie-same-origin", "POST", "/api/v1/chargers/X/commands/Reset", map[string]string{"Sec-Fetch-Site": "same-origin"}, good, 200, ""},
		{"api-post-cookie-cross-site", "POST", "/api/v1/chargers/X/commands/Reset", map[string]string{"Sec-Fetch-Site": "cross-site"}, good, 403, ""},
		{"api-post-cookie-foreign-origin", "POST", "/api/v1/chargers/X/commands/Reset", map[string]string{"Origin": "https://evil.example"}, good, 403, ""},
		{"page-without-cookie-redirects", "GET", "/sessions?status=active", nil, "", 303, "/login?next=" + url.QueryEscape("/sessions?status=active")},
		{"page-with-cookie", "GET", "/chargers", nil, good, 200, ""},
		{"page-post-without-cookie", "POST", "/logout", nil, "", 401, ""},
		{"pprof-is-guarded", "GET", "/debug/pprof/", nil, "", 303, "/login?next=" + url.QueryEscape("/debug/pprof/")},
		{"ocpp-is-public", "GET", "/ocpp/CP-1", nil, "", 200, ""},
		{"ocpi-is-public", "GET", "/ocpi/versions", nil, "", 200, ""},
		{"beckn-is-public", "POST", "/beckn/search", nil, "", 200, ""},
		{"healthz-is-public", "GET", "/healthz", nil, "", 200, ""},
		{"metrics-is-public", "GET", "/metrics", nil, "", 200, ""},
		{"login-is-public", "GET", "/login", nil, "", 200, ""},
		{"assets-are-public", "GET", "/static/app.css", nil, "", 200, ""},
		{"any-host-with-token", "GET", "/api/v1/chargers", map[string]string{"Authorization": "Bearer " + testToken, "Host": "cb.example.com"}, "", 200, ""},
	}
	h := guarded(a)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "http://127.0.0.1:8080"+tt.path, nil)
			for k, v := range tt.header {
				if k == "Host" {
					r.Host = v
					continue
				}
				r.Header.Set(k, v)
			}
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: SessionCookie, Value: tt.cookie})
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("got %d %q; want %d", w.Code, w.Body.String(), tt.want)
			}
			if tt.location != "" && w.Header().Get("Location") != tt.location {
				t.Errorf("got Location %q; want %q", w.Header().Get("Location"), tt.location)
			}
			if w.Code == 401 && !strings.Contains(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("got WWW-Authenticate %q; want a Bearer challenge", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestAuthOpen(t *testing.T) {
	a := NewAuth("", nil)
	tests := []struct {
		name   string
		host   string
		method string
		path   string
		header map[string]string
		want   int
	}{
		{"api-on-loopback-ip", "127.0.0.1:8080", "GET", "/api/v1/chargers", nil, 200},
		{"page-on-localhost", "localhost:8080", "GET", "/", nil, 200},
		{"page-on-ipv6-loopback", "[::1]:8080", "GET", "/", nil, 200},
		{"rebound-name-refused", "attacker.example:8080", "GET", "/api/v1/sessions", nil, 403},
		{"lan-address-refused", "192.168.1.20:8080", "GET", "/", nil, 403},
		{"cross-site-post-refused", "127.0.0.1:8080", "POST", "/api/v1/chargers/X/commands/Reset", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-origin-post", "127.0.0.1:8080", "POST", "/api/v1/chargers/X/commands/Reset", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"cli-post", "127.0.0.1:8080", "POST", "/api/v1/chargers", nil, 200},
		{"ocpp-any-host", "charger-gw.example:8080", "GET", "/ocpp/CP-1", nil, 200},
	}
	h := guarded(a)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "http://"+tt.host+tt.path, nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("got %d %q; want %d", w.Code, w.Body.String(), tt.want)
			}
		})
	}
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/sessions?status=active", "/sessions?status=active"},
		{"//evil.example/x", "/"},
		{"/\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"/chargers/CP-1", "/chargers/CP-1"},
		{"/x\r\nSet-Cookie: a=b", "/"},
	}
	for _, tt := range tests {
		if got := safeNext(tt.in); got != tt.want {
			t.Errorf("safeNext(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// TestLoginBackoff: after five wrong tokens an address is answered 429
// with Retry-After and its tokens are not even looked at (the right one
// included) until the wait is over; another address is not affected.
func TestLoginBackoff(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := NewAuth("the-right-token-1234", func() time.Time { return now })
	h := a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	call := func(addr, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/chargers", nil)
		r.RemoteAddr = addr + ":5555"
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 5 {
		if w := call("192.0.2.1", "wrong-token"); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d; want 401", i, w.Code)
		}
	}
	var codes []int
	for range 500 {
		codes = append(codes, call("192.0.2.1", "wrong-token").Code)
	}
	if codes[0] != http.StatusUnauthorized {
		t.Fatalf("6th wrong token: %d; want 401 (it sets the first wait)", codes[0])
	}
	for i, c := range codes[1:] {
		if c != http.StatusTooManyRequests {
			t.Fatalf("wrong token %d after the backoff began: %d; want 429", i+7, c)
		}
	}
	if w := call("192.0.2.1", "the-right-token-1234"); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("right token while throttled: %d; want 429 with Retry-After", w.Code)
	}
	if w := call("192.0.2.2", "the-right-token-1234"); w.Code != http.StatusOK {
		t.Fatalf("another address: %d; want 200", w.Code)
	}
	now = now.Add(10 * time.Minute)
	if w := call("192.0.2.1", "the-right-token-1234"); w.Code != http.StatusOK {
		t.Fatalf("right token after the wait: %d; want 200", w.Code)
	}
}
