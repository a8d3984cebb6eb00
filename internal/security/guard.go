package security

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chargebridge/chargebridge/internal/ocpp"
	"github.com/chargebridge/chargebridge/internal/ratelog"
)

// EventAuthFailure is the kind of the charger event recorded for refused
// connection attempts with a charger's id (shown on its page).
const EventAuthFailure = "SecurityAuthFailure"

// Events records charger events (charging.Service does).
type Events interface {
	RecordEvent(ctx context.Context, chargerID, kind string, payload []byte) error
}

// GuardConfig configures a Guard.
type GuardConfig struct {
	// MinProfile is the lowest profile any charger may connect with
	// (--min-security-profile); a charger's own profile can only raise it.
	MinProfile int
	// Docs keeps the security records; nil keeps none (then only
	// MinProfile 0, or profile 3 with a certificate, lets chargers in).
	Docs Docs
	// Events receives a security event per logged refusal; may be nil.
	Events Events
	// Known reports whether a charger is registered; refusals of unknown
	// ids are logged but never stored. Nil treats every id as unknown.
	Known func(ctx context.Context, id string) bool
	// KnownMany, when set, is Known for many ids in one query (the
	// writer of last authentications asks it once per batch).
	KnownMany func(ctx context.Context, ids []string) (map[string]bool, error)
	// ClientCAs verify profile-3 chargers' client certificates
	// (--tls-client-ca, --ca-cert); nil refuses every certificate.
	ClientCAs *x509.CertPool
	Log       *slog.Logger
	Now       func() time.Time
}

// Guard decides, before the WebSocket upgrade, whether a connection attempt
// may speak for a charger: it is the ocpp.Config.Authenticate hook.
type Guard struct {
	cfg  GuardConfig
	recs records
	ver  *verifier
	// perCharger backs off a charger id from one address; perAddr an
	// address whatever ids it tries.
	perCharger *Backoff
	perAddr    *Backoff
	logs       *ratelog.Limiter

	// mu guards pending (failures not yet written to a record).
	mu      sync.Mutex
	pending map[string]int64

	// loader batches the handshakes' record reads (nil when the store
	// reads one document at a time).
	loader *loader
	// seenMu guards seen, the last authentications Run has not written
	// yet; kick asks Run for an early flush.
	seenMu sync.Mutex
	seen   map[string]seenEntry
	kick   chan struct{}

	// Failures counts refused attempts (all of them, logged or not).
	Failures atomic.Int64
}

// NewGuard returns a Guard.
func NewGuard(cfg GuardConfig) *Guard {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Guard{
		cfg: cfg, recs: records{cfg.Docs}, ver: newVerifier(),
		perCharger: NewBackoff(3, time.Second, 5*time.Minute),
		perAddr:    NewBackoff(30, time.Second, 5*time.Minute),
		logs:       ratelog.New(10*time.Second, 20),
		pending:    make(map[string]int64),
		seen:       make(map[string]seenEntry),
		kick:       make(chan struct{}, 1),
	}
	if bd, ok := cfg.Docs.(BatchDocs); ok {
		g.loader = newLoader(bd.GetDocs)
	}
	return g
}

// read returns a charger's security record for a handshake: batched with
// the other handshakes' reads when the store can.
func (g *Guard) read(ctx context.Context, id string) (Record, error) {
	if g.loader != nil {
		return g.loader.load(ctx, id)
	}
	return g.recs.get(ctx, id)
}

// MinProfile is the configured minimum profile.
func (g *Guard) MinProfile() int { return g.cfg.MinProfile }

// Record returns a charger's security record with its last
// authentication.
func (g *Guard) Record(ctx context.Context, id string) (Record, error) {
	rec, err := g.recs.get(ctx, id)
	if err != nil {
		return Record{}, err
	}
	la, err := g.seenOf(ctx, id)
	if err != nil {
		return Record{}, err
	}
	return withSeen(rec, la), nil
}

// Records returns every stored security record with its last
// authentication, and a record for each charger that authenticated
// without one.
func (g *Guard) Records(ctx context.Context) ([]Record, error) {
	recs, err := g.recs.list(ctx)
	if err != nil {
		return nil, err
	}
	seen, err := g.listSeen(ctx)
	if err != nil {
		return nil, err
	}
	for i, r := range recs {
		if la, ok := seen[r.ChargerID]; ok {
			recs[i] = withSeen(r, la)
			delete(seen, r.ChargerID)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(seen)) {
		recs = append(recs, withSeen(Record{ChargerID: id}, seen[id]))
	}
	return recs, nil
}

// StoredRecords returns every stored security record as stored, without
// the last authentications (the certificate gauge reads them at every
// scrape of /metrics).
func (g *Guard) StoredRecords(ctx context.Context) ([]Record, error) { return g.recs.list(ctx) }

// Authenticate checks a connection attempt by charger id. It returns nil
// to let it upgrade, or an *ocpp.Refusal.
func (g *Guard) Authenticate(r *http.Request, id string) error {
	ctx := r.Context()
	now := g.cfg.Now()
	addr := hostOf(r.RemoteAddr)
	if w := g.perCharger.Wait(id+"\x00"+addr, now); w > 0 {
		g.Failures.Add(1)
		return &ocpp.Refusal{Status: http.StatusTooManyRequests, Reason: "too many failed attempts; retry later", RetryAfter: w}
	}
	rec, err := g.read(ctx, id)
	if err != nil {
		return err
	}
	// An address that failed for many ids is slowed down, except for a
	// charger that last authenticated from it: many chargers share one
	// address behind a mobile operator's NAT, and one misconfigured
	// neighbour must not lock them out.
	if w := g.perAddr.Wait(addr, now); w > 0 {
		la, err := g.seenOf(ctx, id)
		if err != nil {
			return err
		}
		if hostOf(withSeen(rec, la).LastAuthRemote) != addr {
			g.Failures.Add(1)
			return &ocpp.Refusal{Status: http.StatusTooManyRequests, Reason: "too many failed attempts from this address; retry later", RetryAfter: w}
		}
	}
	need := max(rec.Profile, g.cfg.MinProfile)
	var ok auth
	var why string
	var status int
	switch need {
	case 0:
		ok = auth{profile: 0}
		// A charger that already sends its password (on its way up to
		// profile 1 or 2) is recorded at the profile it could pass.
		if r.Header.Get("Authorization") != "" && (rec.HasPassword() || rec.PendingHash != "") {
			if a, _, why := g.basic(r, id, rec); why == "" {
				ok = a
				ok.profile = 1
				if r.TLS != nil {
					ok.profile = 2
				}
			}
		}
	case 1, 2:
		if need == 2 && r.TLS == nil {
			status, why = http.StatusForbidden, fmt.Sprintf("security profile %d needs TLS (wss://)", need)
			break
		}
		ok, status, why = g.basic(r, id, rec)
		ok.profile = need
	case 3:
		ok, status, why = g.clientCert(r, id, now)
		ok.profile = 3
	}
	if why != "" {
		return g.refuse(ctx, id, addr, now, rec, status, why)
	}
	g.perCharger.Succeed(id + "\x00" + addr)
	return g.succeed(ctx, rec, ok, r.RemoteAddr, now)
}

// auth is what a successful check found.
type auth struct {
	profile  int
	pending  bool // the pending (rotated) password was used
	cert     *x509.Certificate
	password bool
}

func (g *Guard) basic(r *http.Request, id string, rec Record) (auth, int, string) {
	user, pw, err := ParseBasic(r.Header.Get("Authorization"))
	switch {
	case errors.Is(err, ErrNoCredentials):
		return auth{}, http.StatusUnauthorized, "basic authorization required"
	case err != nil:
		return auth{}, http.StatusUnauthorized, err.Error()
	case user != id:
		return auth{}, http.StatusUnauthorized, "basic authorization user is not the charge point id"
	case !rec.HasPassword() && rec.PendingHash == "":
		return auth{}, http.StatusUnauthorized, "no password is set for this charger (chargebridge chargers security " + id + " --profile N --generate)"
	}
	if g.ver.verify(id, rec.PasswordHash, pw) {
		return auth{password: true}, 0, ""
	}
	if rec.PendingHash != "" && g.ver.verify(id+"\x00pending", rec.PendingHash, pw) {
		return auth{password: true, pending: true}, 0, ""
	}
	return auth{}, http.StatusUnauthorized, "wrong password"
}

// clientCert checks a profile-3 connection: TLS with a client certificate
// that chains to the operator's CA, for client authentication, whose CN is
// the charger id.
func (g *Guard) clientCert(r *http.Request, id string, now time.Time) (auth, int, string) {
	if r.TLS == nil {
		return auth{}, http.StatusForbidden, "security profile 3 needs TLS with a client certificate"
	}
	peers := r.TLS.PeerCertificates
	if len(peers) == 0 {
		return auth{}, http.StatusForbidden, "security profile 3 needs a client certificate"
	}
	leaf := peers[0]
	if g.cfg.ClientCAs == nil {
		return auth{}, http.StatusForbidden, "no client CA is configured (--tls-client-ca or --ca-cert)"
	}
	inter := x509.NewCertPool()
	for _, c := range peers[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: g.cfg.ClientCAs, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return auth{}, http.StatusForbidden, "client certificate not accepted: " + err.Error()
	}
	if leaf.Subject.CommonName != id {
		return auth{}, http.StatusForbidden, fmt.Sprintf("client certificate is for %q, not this charge point", leaf.Subject.CommonName)
	}
	return auth{cert: leaf}, 0, ""
}

func (g *Guard) refuse(ctx context.Context, id, addr string, now time.Time, rec Record, status int, why string) error {
	g.Failures.Add(1)
	n, wait := g.perCharger.Fail(id+"\x00"+addr, now)
	_, wa := g.perAddr.Fail(addr, now)
	wait = max(wait, wa)
	g.mu.Lock()
	if len(g.pending) < 100_000 || g.pending[id] > 0 {
		g.pending[id]++
	}
	g.mu.Unlock()
	if ok, held := g.logs.Allow(id, now); ok {
		g.cfg.Log.Warn("charger connection refused", "charger", id, "remote", addr, "reason", why,
			"failures", n, "held_back_lines", held, "backoff", wait.String())
		g.flushFailures(ctx, id, addr, now, why)
	}
	return &ocpp.Refusal{Status: status, Reason: why, RetryAfter: wait}
}

// flushFailures writes the failures counted since the last flush into the
// charger's record and its events (registered chargers only: a spray of
// made-up ids must not fill the store).
func (g *Guard) flushFailures(ctx context.Context, id, addr string, now time.Time, why string) {
	g.mu.Lock()
	n := g.pending[id]
	delete(g.pending, id)
	g.mu.Unlock()
	if g.cfg.Known == nil || !g.cfg.Known(ctx, id) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if g.cfg.Events != nil {
		p, _ := json.Marshal(map[string]any{"remote": addr, "reason": why, "attempts": n})
		if err := g.cfg.Events.RecordEvent(ctx, id, EventAuthFailure, p); err != nil {
			g.cfg.Log.Debug("security event not recorded", "charger", id, "err", err)
		}
	}
	if g.cfg.Docs == nil {
		return
	}
	rec, err := g.recs.get(ctx, id)
	if err != nil {
		return
	}
	rec.FailedAttempts += n
	t := now
	rec.LastFailureAt, rec.LastFailureRemote = &t, addr
	rec.UpdatedAt = now
	if err := g.recs.put(ctx, rec); err != nil {
		g.cfg.Log.Debug("security record not updated", "charger", id, "err", err)
	}
}

// succeed records a successful authentication. What decides later
// connections is written before the charger is accepted: a rotated
// password it used becomes its only one (an error refuses the attempt,
// both passwords still valid, so that a charger is never told it is in
// while the store would still take its old password), and a client
// certificate not seen before is noted (bookkeeping: logged when it
// fails). When, from where and at which profile it authenticated is
// written after the handshake, in batches (Run): the handshake no longer
// waits for that write, and a crash loses at most a second of it.
func (g *Guard) succeed(ctx context.Context, rec Record, a auth, remote string, now time.Time) error {
	if g.cfg.Docs == nil {
		return nil
	}
	recorded := !rec.UpdatedAt.IsZero()
	certNew := a.cert != nil && (rec.CertSerial != a.cert.SerialNumber.Text(16) || rec.CertNotAfter == nil || !rec.CertNotAfter.Equal(a.cert.NotAfter.UTC()))
	if certNew && !recorded && g.cfg.Known != nil && !g.cfg.Known(ctx, rec.ChargerID) {
		certNew = false
	}
	if a.pending || certNew {
		t := now
		rec.LastAuthAt, rec.LastAuthRemote, rec.LastAuthProfile = &t, remote, a.profile
		if a.pending {
			// The charger took the rotated password: the old one is void.
			rec.PasswordHash, rec.PendingHash, rec.PendingSince = rec.PendingHash, "", nil
		}
		if a.cert != nil {
			na := a.cert.NotAfter.UTC()
			rec.CertSerial, rec.CertNotAfter = a.cert.SerialNumber.Text(16), &na
		}
		rec.UpdatedAt = now
		if err := g.recs.put(ctx, rec); err != nil {
			if a.pending {
				return fmt.Errorf("charger %s used its new password, which could not be made its only one: %w", rec.ChargerID, err)
			}
			g.cfg.Log.Error("security record not updated", "charger", rec.ChargerID, "err", err)
		} else {
			recorded = true
			if a.pending {
				g.cfg.Log.Info("charger reconnected with its new password; the old one is no longer accepted", "charger", rec.ChargerID)
			}
		}
	}
	g.noteAuth(rec.ChargerID, lastAuth{At: now, Remote: remote, Profile: a.profile}, recorded)
	return nil
}

func hostOf(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// NoteCertificate records the client certificate signed for a charger (its
// serial and expiry), before it ever connects with it.
func (g *Guard) NoteCertificate(ctx context.Context, id string, cert *x509.Certificate) error {
	rec, err := g.recs.get(ctx, id)
	if err != nil {
		return err
	}
	na := cert.NotAfter.UTC()
	rec.CertSerial, rec.CertNotAfter, rec.UpdatedAt = cert.SerialNumber.Text(16), &na, g.cfg.Now()
	return g.recs.put(ctx, rec)
}

// SetClientCAs sets the CAs that verify profile-3 client certificates; it
// is called once, before the listener starts.
func (g *Guard) SetClientCAs(pool *x509.CertPool) { g.cfg.ClientCAs = pool }
