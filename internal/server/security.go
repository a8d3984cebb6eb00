package server

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	"crypto/tls"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp201"
	"github.com/chargebridge/chargebridge/internal/security"
)

// SecurityConfig is the listener's TLS and the chargers' security profiles.
type SecurityConfig struct {
	// TLSCert and TLSKey make the one listener TLS (wss://, https://).
	TLSCert, TLSKey string
	// TLSClientCA asks chargers for client certificates and verifies them
	// against these CA certificates (security profile 3).
	TLSClientCA string
	// CACert and CAKey are the built-in CA (chargebridge ca init): it
	// signs chargers' CSRs (SignCertificate → CertificateSigned) and its
	// certificate verifies client certificates like --tls-client-ca.
	CACert, CAKey string
	// MinProfile is the lowest security profile any charger may use.
	MinProfile int
	// Limits bound the listener's connections.
	Limits security.Limits
	// Payloads bound the DataTransfer payloads stored per charger;
	// Retention is how long they are kept (0: forever).
	Payloads  security.PayloadLimits
	Retention time.Duration
}

func (c *SecurityConfig) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate (PEM, with its chain) that makes the listener wss:// and https://; reloaded on SIGHUP or when the file changes")
	fs.StringVar(&c.TLSKey, "tls-key", "", "private key (PEM) of --tls-cert")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", "", "CA certificates (PEM) that sign chargers' client certificates; asks for and verifies them (security profile 3)")
	fs.StringVar(&c.CACert, "ca-cert", "", "built-in CA certificate (chargebridge ca init): signs chargers' certificate requests (SignCertificate) and verifies their client certificates")
	fs.StringVar(&c.CAKey, "ca-key", "", "private key of --ca-cert")
	d := security.DefaultLimits()
	fs.IntVar(&c.Limits.MaxConns, "max-connections", 0, "most open connections (chargers included); 0: the open-file limit less 128")
	fs.IntVar(&c.Limits.Reserve, "operator-reserve", d.Reserve, "connections of --max-connections kept for the operator API, dashboard and /metrics; past the rest, chargers and peers get 503 with Retry-After")
	fs.IntVar(&c.Limits.MaxPending, "max-pending-connections", d.MaxPending, "most connections not (yet) a charger's WebSocket: HTTP requests, idle keep-alives, handshakes; at the cap the oldest idle one is closed")
	fs.IntVar(&c.Limits.PerAddr, "max-connections-per-address", d.PerAddr, "most such pending connections from one source address")
	fs.IntVar(&c.Payloads.MaxBytes, "datatransfer-max-bytes", 16<<10, "largest DataTransfer stored; larger ones are answered Rejected and counted in /metrics (0: no limit)")
	fs.IntVar(&c.Payloads.PerMinute, "datatransfer-per-minute", 60, "DataTransfers stored per charger per minute (a minute's worth may come at once); more are answered Rejected and counted (0: no limit)")
	fs.DurationVar(&c.Retention, "datatransfer-retention", 30*24*time.Hour, "how long DataTransfer payloads (and refused-connection events) are kept (0: forever)")
	fs.IntVar(&c.MinProfile, "min-security-profile", 0, "lowest OCPP security profile any charger may connect with: 0 none, 1 Basic auth, 2 Basic auth over TLS, 3 TLS client certificate (production: 2)")
}

func (c *SecurityConfig) validate() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together: give both (certificate and its private key, PEM)")
	}
	if (c.CACert == "") != (c.CAKey == "") {
		return fmt.Errorf("--ca-cert and --ca-key go together (make them with chargebridge ca init)")
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		return fmt.Errorf("--tls-client-ca needs TLS: give --tls-cert and --tls-key too")
	}
	if c.Limits.MaxConns < 0 || c.Limits.Reserve < 0 || c.Limits.MaxPending < 0 || c.Limits.PerAddr < 0 {
		return fmt.Errorf("--max-connections, --operator-reserve, --max-pending-connections and --max-connections-per-address cannot be negative")
	}
	if c.Payloads.MaxBytes < 0 || c.Payloads.PerMinute < 0 || c.Retention < 0 {
		return fmt.Errorf("--datatransfer-max-bytes, --datatransfer-per-minute and --datatransfer-retention cannot be negative (0 means no limit)")
	}
	if c.MinProfile < 0 || c.MinProfile > security.MaxProfile {
		return fmt.Errorf("--min-security-profile %d: use 0 (none), 1 (Basic auth), 2 (Basic auth over TLS) or 3 (client certificates)", c.MinProfile)
	}
	if c.MinProfile >= 2 && c.TLSCert == "" {
		return fmt.Errorf("--min-security-profile %d needs TLS: give --tls-cert and --tls-key", c.MinProfile)
	}
	if c.MinProfile == 3 && c.TLSClientCA == "" && c.CACert == "" {
		return fmt.Errorf("--min-security-profile 3 needs client certificates: give --tls-client-ca or --ca-cert")
	}
	return nil
}

// setupSecurity builds the charger Guard and, with --tls-cert, the
// listener's TLS configuration.
func (s *Server) setupSecurity(clock charging.Clock) error {
	sc := s.cfg.Security
	var docs security.Docs
	if full, ok := s.store.(charging.FullStore); ok {
		docs = full
	}
	s.payloads = security.NewBudget(sc.Payloads)
	s.guard = security.NewGuard(security.GuardConfig{
		MinProfile: sc.MinProfile,
		Docs:       docs,
		Events:     s.svc,
		Known: func(ctx context.Context, id string) bool {
			_, err := s.store.GetCharger(ctx, id)
			return err == nil
		},
		KnownMany: knownMany(s.store),
		Log:       s.log,
		Now:       clock.Now,
	})
	if sc.CACert != "" {
		ca, err := security.LoadCA(sc.CACert, sc.CAKey)
		if err != nil {
			return fmt.Errorf("--ca-cert/--ca-key: %w", err)
		}
		s.ca = ca
	}
	if sc.TLSCert == "" {
		s.limiter = security.NewLimiter(sc.Limits, false)
		return nil
	}
	certs, err := security.NewCertReloader(sc.TLSCert, sc.TLSKey, s.log)
	if err != nil {
		return err
	}
	var pool *x509.CertPool
	if sc.TLSClientCA != "" {
		if pool, err = security.LoadCertPool(sc.TLSClientCA); err != nil {
			return fmt.Errorf("--tls-client-ca: %w", err)
		}
	}
	if s.ca != nil {
		if pool == nil {
			pool = x509.NewCertPool()
		}
		pool.AddCert(s.ca.Cert)
	}
	s.certs = certs
	s.tls = security.ServerTLS(certs, pool)
	s.guard.SetClientCAs(pool)
	s.limiter = security.NewLimiter(sc.Limits, true)
	return nil
}

// knownMany is the store's lookup of many chargers in one query, when it
// has one (PostgreSQL).
func knownMany(st charging.Store) func(ctx context.Context, ids []string) (map[string]bool, error) {
	if m, ok := st.(interface {
		ChargersExist(ctx context.Context, ids []string) (map[string]bool, error)
	}); ok {
		return m.ChargersExist
	}
	return nil
}

// securityRoutes serves the per-charger security API.
func (s *Server) securityRoutes() {
	rt := &security.Routes{
		Guard: s.guard,
		Caps:  security.Capabilities{TLS: s.tls != nil, ClientCA: s.tls != nil && s.tls.ClientCAs != nil},
		Configure: func(ctx context.Context, id, key, value string) (string, error) {
			if key == "AuthorizationKey" && s.ocpp.Protocol(id) == ocpp201.Subprotocol {
				return ocpp201.SetBasicAuthPassword(ctx, s.cmd201, id, value, "security rotation")
			}
			p, _ := json.Marshal(map[string]string{"key": key, "value": value})
			res, err := s.cmd.Send(ctx, id, "ChangeConfiguration", p, "security rotation")
			if err != nil {
				return "", err
			}
			var ans struct{ Status string }
			if err := json.Unmarshal(res, &ans); err != nil {
				return "", err
			}
			return ans.Status, nil
		},
		Chargers: func(r *http.Request) ([]string, error) {
			cs, err := s.store.ListChargers(r.Context())
			ids := make([]string, len(cs))
			for i, c := range cs {
				ids[i] = c.ID
			}
			return ids, err
		},
	}
	rt.Register(s.mux)
}

// ReloadTLS reads the TLS certificate files again (on SIGHUP).
func (s *Server) ReloadTLS() error {
	if s.certs == nil {
		return nil
	}
	return s.certs.Reload()
}

// Guard returns the chargers' security guard.
func (s *Server) Guard() *security.Guard { return s.guard }

// scheme is "https" when the listener is TLS.
func (s *Server) scheme() string {
	if s.tls != nil {
		return "https"
	}
	return "http"
}

// wrapListener bounds the listener's connections and makes it TLS when
// configured.
func (s *Server) wrapListener(ln net.Listener) net.Listener {
	ln = s.limiter.Listener(ln)
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	return ln
}

// newHTTPServer bounds what a client may hold: the request head must come
// within ReadHeaderTimeout and a body within 30 s (Limiter.Wrap; not
// ReadTimeout, which would also end the dashboard's long event streams),
// so slow clients are cut off instead of holding a file descriptor; an
// idle keep-alive connection is closed after IdleTimeout; the Limiter caps
// connections per address and keeps a reserve for the operator. The server's own error log (TLS
// handshake failures of scanners, mostly) goes to debug.
func (s *Server) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           s.limiter.Wrap(h, operatorPath, 30*time.Second),
		ConnState:         s.limiter.ConnState,
		ConnContext:       s.limiter.ConnContext,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// operatorPath reports whether a request is the operator's (API,
// dashboard, metrics, probes), which may use the connection reserve;
// chargers and partners may not.
func operatorPath(p string) bool {
	for _, pre := range []string{"/ocpp/", "/ocpi", "/beckn/"} {
		if strings.HasPrefix(p, pre) {
			return false
		}
	}
	return true
}

// securityMetrics adds the charger authentication and listener counters.
func (s *Server) securityMetrics(gauge, counter func(name, help string, f func() float64)) {
	ls := &s.limiter.Stats
	counter("ocpp_auth_failures_total", "Charger connection attempts refused by the security profile checks (wrong, missing credentials; backoff).", func() float64 { return float64(s.guard.Failures.Load()) })
	gauge("http_connections_open", "Open connections on the listener (chargers included).", func() float64 { return float64(ls.Open.Load()) })
	gauge("http_connections_pending", "Open connections that are not a charger's WebSocket.", func() float64 { return float64(ls.Pending.Load()) })
	counter("http_connections_refused_full_total", "Connections closed at accept: --max-connections reached.", func() float64 { return float64(ls.RejectedFull.Load()) })
	counter("http_connections_refused_address_total", "Connections refused at accept: --max-connections-per-address reached.", func() float64 { return float64(ls.RejectedAddr.Load()) })
	counter("http_connections_refused_pending_total", "Connections refused at accept: --max-pending-connections reached and none idle to close.", func() float64 { return float64(ls.RejectedPen.Load()) })
	counter("http_connections_evicted_total", "Idle or slow pending connections closed to make room.", func() float64 { return float64(ls.Evicted.Load()) })
	gauge("charger_certificates_expiring", "Chargers whose client certificate expires within 30 days or has expired (alert on > 0).", func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		recs, err := s.guard.StoredRecords(ctx)
		if err != nil {
			return math.NaN()
		}
		n := 0
		for _, r := range recs {
			if s.guard.View(r).CertWarning != "" {
				n++
			}
		}
		return float64(n)
	})
	counter("datatransfer_dropped_size_total", "DataTransfers answered Rejected and not stored: over --datatransfer-max-bytes.", func() float64 { return float64(s.payloads.DroppedSize.Load()) })
	counter("datatransfer_dropped_rate_total", "DataTransfers answered Rejected and not stored: over --datatransfer-per-minute for the charger.", func() float64 { return float64(s.payloads.DroppedRate.Load()) })
	counter("datatransfer_pruned_total", "DataTransfer events deleted after --datatransfer-retention.", func() float64 { return float64(s.pruned.Load()) })
	counter("http_reserve_refusals_total", "Non-operator requests answered 503 inside the operator reserve.", func() float64 { return float64(ls.Reserved503.Load()) })
}

// allowPayload is the OCPP handler's check of a free-form payload.
func (s *Server) allowPayload(chargerID string, size int) error {
	return s.payloads.Allow(chargerID, size, time.Now())
}

// pruner is a store that deletes old events.
type pruner interface {
	PruneEvents(ctx context.Context, kind string, before time.Time, limit int) (int64, error)
}

// eventLogPruner is a store whose event log keeps what is acknowledged for
// a while (eventlog.Retention).
type eventLogPruner interface {
	PruneEventLog(ctx context.Context, now time.Time) (int64, error)
}

// retention returns the loop that deletes DataTransfer and
// SecurityAuthFailure events older than --datatransfer-retention once a
// minute after start and then every hour, in batches, until ctx ends; nil
// when there is nothing to prune.
//
// It also prunes the event log (charging.EventPort): what every durable
// consumer acknowledged more than a day ago.
//
// Every node sharing a database runs it, without leadership: each pass
// deletes rows past a cutoff, so two at once delete each row once between
// them (the other finds it gone), and an hourly pass costs little.
func (s *Server) retention() func(ctx context.Context) error {
	p, ok := s.store.(pruner)
	ok = ok && s.cfg.Security.Retention > 0
	lp, logOK := s.store.(eventLogPruner)
	if !ok && !logOK {
		return nil
	}
	return func(ctx context.Context) error {
		t := time.NewTimer(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			if ok {
				s.pruneOnce(ctx, p)
			}
			if logOK {
				if _, err := lp.PruneEventLog(ctx, s.svc.Clock().Now()); err != nil && ctx.Err() == nil {
					s.log.Error("event log retention failed; retrying in an hour", "err", err)
				}
			}
			t.Reset(time.Hour)
		}
	}
}

// prunedKinds are the events retention deletes: the free-form payloads
// and the refused-connection events an attacker can cause.
var prunedKinds = []string{charging.EventDataTransfer, security.EventAuthFailure}

// pruneOnce deletes the expired events, 10 000 at a time.
func (s *Server) pruneOnce(ctx context.Context, p pruner) {
	before := s.svc.Clock().Now().Add(-s.cfg.Security.Retention)
	for _, kind := range prunedKinds {
		for range 1000 {
			n, err := p.PruneEvents(ctx, kind, before, 10_000)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("event retention failed; retrying in an hour", "kind", kind, "err", err)
				}
				return
			}
			if kind == charging.EventDataTransfer {
				s.pruned.Add(n)
			}
			if n < 10_000 {
				break
			}
		}
	}
}

// ChargerCertValidity is how long a certificate the built-in CA signs for
// a charger is valid.
const ChargerCertValidity = 2 * 365 * 24 * time.Hour

// answerFirst is how long CertificateSigned waits for the SignCertificate
// answer to reach the charger.
const answerFirst = 200 * time.Millisecond

// signCertificate is the OCPP handler's SignCertificate: it checks and
// signs the CSR at once (so a bad one is answered Rejected), then sends
// CertificateSigned once the answer is out.
func (s *Server) signCertificate(ctx context.Context, chargerID, csr string) error {
	if s.ca == nil {
		return errors.New("no certificate authority is configured (serve --ca-cert/--ca-key)")
	}
	chain, leaf, err := s.ca.SignCSR(csr, chargerID, ChargerCertValidity)
	if err != nil {
		return err
	}
	sent := s.after.Go(answerFirst+s.cfg.CallTimeout+5*time.Second, func(ctx context.Context) {
		// Let the SignCertificate answer go first, as the charger expects.
		select {
		case <-time.After(answerFirst):
		case <-ctx.Done():
			return
		}
		p, _ := json.Marshal(map[string]string{"certificateChain": chain})
		res, err := s.cmd.Send(ctx, chargerID, "CertificateSigned", p, "certificate authority")
		var ans struct{ Status string }
		if err == nil {
			err = json.Unmarshal(res, &ans)
		}
		if err == nil && ans.Status != "Accepted" {
			err = fmt.Errorf("charger answered %s", ans.Status)
		}
		if err != nil {
			s.log.Warn("signed certificate not installed by the charger", "charger", chargerID, "serial", leaf.SerialNumber.Text(16), "err", err)
			return
		}
		if err := s.guard.NoteCertificate(ctx, chargerID, leaf); err != nil {
			s.log.Error("certificate expiry not recorded", "charger", chargerID, "err", err)
		}
		s.log.Info("charger certificate signed and installed", "charger", chargerID, "serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter.UTC())
	})
	if !sent {
		return errors.New("shutting down")
	}
	return nil
}
