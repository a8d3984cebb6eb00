package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/security"
)

// SessionCookie is the name of the dashboard's login cookie.
const SessionCookie = "chargebridge_session"

// SessionLifetime is how long a dashboard login lasts.
const SessionLifetime = 12 * time.Hour

// Auth guards the dashboard and the operator API with one operator token
// (--api-token). API clients send "Authorization: Bearer TOKEN"; browsers
// log in with a form and then carry a session cookie. The cookie holds its
// expiry and an HMAC of it keyed by the token, so it needs no server-side
// state, survives restarts and is void once the token changes.
//
// Without a token everything is open; the server only allows that on a
// loopback listener, and Auth then answers only requests addressed to a
// loopback name, so a web page the operator visits cannot reach the open
// server by rebinding a DNS name to 127.0.0.1.
//
// Either way, state-changing requests that a browser marks as cross-origin
// are refused (http.CrossOriginProtection), so another site cannot press
// the dashboard's buttons with the operator's cookie.
type Auth struct {
	token []byte
	key   []byte
	now   func() time.Time
	cop   *http.CrossOriginProtection
	// fails backs off an address after wrong tokens (form or bearer): 5
	// free, then 1 s doubling to 5 min, answered 429 without looking at
	// the token, so guessing it is slow.
	fails *security.Backoff
}

// NewAuth returns the guard for token ("" for an open server). now is the
// clock for cookie expiry (time.Now when nil).
func NewAuth(token string, now func() time.Time) *Auth {
	if now == nil {
		now = time.Now
	}
	a := &Auth{now: now, cop: http.NewCrossOriginProtection(), fails: security.NewBackoff(5, time.Second, 5*time.Minute)}
	if token != "" {
		a.token = []byte(token)
		m := hmac.New(sha256.New, a.token)
		m.Write([]byte("chargebridge dashboard session v1"))
		a.key = m.Sum(nil)
	}
	return a
}

// Open reports whether no token is set.
func (a *Auth) Open() bool { return a.token == nil }

// area is the part of the URL space a request falls in.
type area int

const (
	areaPublic    area = iota // protocol endpoints with their own auth, probes, login, assets
	areaAPI                   // the operator API: bearer token or cookie
	areaDashboard             // pages: cookie, else a redirect to the login form
)

// publicPrefixes are left alone by Auth: chargers, OCPI and Beckn peers
// authenticate in their own protocols; probes and metrics are for the
// machines that run the server; the login form and its assets must be
// reachable before logging in.
var publicPrefixes = []string{"/ocpp/", "/ocpi/", "/beckn/", "/static/"}

var publicPaths = map[string]bool{
	"/healthz": true, "/readyz": true, "/metrics": true, "/login": true, "/favicon.ico": true, "/ocpi": true,
}

func areaOf(path string) area {
	if publicPaths[path] {
		return areaPublic
	}
	for _, p := range publicPrefixes {
		if strings.HasPrefix(path, p) {
			return areaPublic
		}
	}
	if path == "/api" || strings.HasPrefix(path, "/api/") {
		return areaAPI
	}
	return areaDashboard
}

// Wrap returns h guarded by the token.
func (a *Auth) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ar := areaOf(r.URL.Path)
		if ar == areaPublic {
			h.ServeHTTP(w, r)
			return
		}
		if a.Open() {
			if !loopbackHost(r.Host) {
				writeError(w, http.StatusForbidden, "this server has no --api-token, so it answers only requests addressed to localhost or 127.0.0.1; set --api-token to reach it under another name")
				return
			}
			if err := a.cop.Check(r); err != nil {
				writeError(w, http.StatusForbidden, "cross-origin request refused")
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		if authz := r.Header.Get("Authorization"); authz != "" {
			// A request that names credentials is judged by them alone.
			if wait := a.throttled(r); wait > 0 {
				tooMany(w, wait)
				return
			}
			if a.bearerOK(authz) {
				h.ServeHTTP(w, r)
				return
			}
			a.failed(r)
			w.Header().Set("WWW-Authenticate", `Bearer realm="chargebridge", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "bad token: send Authorization: Bearer TOKEN with the server's --api-token")
			return
		}
		if a.cookieOK(r) {
			if err := a.cop.Check(r); err != nil {
				writeError(w, http.StatusForbidden, "cross-origin request refused")
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		if ar == areaDashboard && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="chargebridge"`)
		writeError(w, http.StatusUnauthorized, "login required: send Authorization: Bearer TOKEN with the server's --api-token")
	})
}

func (a *Auth) bearerOK(authz string) bool {
	scheme, tok, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return a.tokenOK(strings.TrimSpace(tok))
}

func (a *Auth) tokenOK(tok string) bool {
	// Compare MACs of both so the time taken says nothing about the length.
	x := sha256.Sum256([]byte(tok))
	y := sha256.Sum256(a.token)
	return subtle.ConstantTimeCompare(x[:], y[:]) == 1
}

// cookieValue makes a session cookie value that expires at exp:
// "v1.<unix expiry>.<base64url HMAC>".
func (a *Auth) cookieValue(exp time.Time) string {
	payload := "v1." + strconv.FormatInt(exp.Unix(), 10)
	return payload + "." + a.mac(payload)
}

func (a *Auth) mac(payload string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *Auth) cookieOK(r *http.Request) bool {
	if a.Open() {
		return true
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(c.Value, '.')
	if i < 0 {
		return false
	}
	payload, sig := c.Value[:i], c.Value[i+1:]
	if !hmac.Equal([]byte(sig), []byte(a.mac(payload))) {
		return false
	}
	v, ok := strings.CutPrefix(payload, "v1.")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(v, 10, 64)
	return err == nil && a.now().Unix() < exp
}

// LoggedIn reports whether r carries a valid session cookie (always true on
// an open server).
func (a *Auth) LoggedIn(r *http.Request) bool { return a.cookieOK(r) }

// throttled returns how long r's address must wait after failed logins.
func (a *Auth) throttled(r *http.Request) time.Duration {
	return a.fails.Wait(remoteHost(r), a.now())
}

func (a *Auth) failed(r *http.Request) { a.fails.Fail(remoteHost(r), a.now()) }

func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// tooMany answers a throttled login attempt.
func tooMany(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	writeError(w, http.StatusTooManyRequests, "too many wrong tokens from this address; wait and retry")
}

// login checks a token from the form and, when right, sets the cookie.
// A throttled address gets retry > 0 and its token is not looked at.
func (a *Auth) login(w http.ResponseWriter, r *http.Request, token string) (ok bool, retry time.Duration) {
	if a.Open() {
		return false, 0
	}
	if wait := a.throttled(r); wait > 0 {
		return false, wait
	}
	if !a.tokenOK(token) {
		a.failed(r)
		return false, 0
	}
	a.fails.Succeed(remoteHost(r))
	exp := a.now().Add(SessionLifetime)
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: a.cookieValue(exp), Path: "/",
		Expires: exp, MaxAge: int(SessionLifetime.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure(r),
	})
	return true, 0
}

func (a *Auth) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure(r)})
}

// secure tells whether the browser reached us over TLS (directly or through
// a proxy that says so), so the cookie is only sent back over TLS.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// safeNext returns the local path to go to after logging in: next when it is
// a path on this server, "/" otherwise (no open redirect).
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}
