package server

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"crypto/tls"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/security"
)

// SecurityConfig is the listener's TLS and the chargers' security profiles.
type SecurityConfig struct {
	// TLSCert and TLSKey make the one listener TLS (wss://, https://).
	TLSCert, TLSKey string
	// TLSClientCA asks chargers for client certificates and verifies them
	// against these CA certificates (security profile 3).
	TLSClientCA string
	// MinProfile is the lowest security profile any charger may use.
	MinProfile int
}

func (c *SecurityConfig) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate (PEM, with its chain) that makes the listener wss:// and https://; reloaded on SIGHUP or when the file changes")
	fs.StringVar(&c.TLSKey, "tls-key", "", "private key (PEM) of --tls-cert")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", "", "CA certificates (PEM) that sign chargers' client certificates; asks for and verifies them (security profile 3)")
	fs.IntVar(&c.MinProfile, "min-security-profile", 0, "lowest OCPP security profile any charger may connect with: 0 none, 1 Basic auth, 2 Basic auth over TLS, 3 TLS client certificate (production: 2)")
}

func (c *SecurityConfig) validate() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together: give both (certificate and its private key, PEM)")
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		return fmt.Errorf("--tls-client-ca needs TLS: give --tls-cert and --tls-key too")
	}
	if c.MinProfile < 0 || c.MinProfile > security.MaxProfile {
		return fmt.Errorf("--min-security-profile %d: use 0 (none), 1 (Basic auth), 2 (Basic auth over TLS) or 3 (client certificates)", c.MinProfile)
	}
	if c.MinProfile >= 2 && c.TLSCert == "" {
		return fmt.Errorf("--min-security-profile %d needs TLS: give --tls-cert and --tls-key", c.MinProfile)
	}
	if c.MinProfile == 3 && c.TLSClientCA == "" {
		return fmt.Errorf("--min-security-profile 3 needs client certificates: give --tls-client-ca")
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
	s.guard = security.NewGuard(security.GuardConfig{
		MinProfile: sc.MinProfile,
		Docs:       docs,
		Events:     s.svc,
		Known: func(ctx context.Context, id string) bool {
			_, err := s.store.GetCharger(ctx, id)
			return err == nil
		},
		Log: s.log,
		Now: clock.Now,
	})
	if sc.TLSCert == "" {
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
	s.certs = certs
	s.tls = security.ServerTLS(certs, pool)
	return nil
}

// securityRoutes serves the per-charger security API.
func (s *Server) securityRoutes() {
	rt := &security.Routes{
		Guard: s.guard,
		Caps:  security.Capabilities{TLS: s.tls != nil, ClientCA: s.tls != nil && s.tls.ClientCAs != nil},
		Configure: func(ctx context.Context, id, key, value string) (string, error) {
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

// wrapListener makes the listener TLS when configured.
func (s *Server) wrapListener(ln net.Listener) net.Listener {
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	return ln
}

// newHTTPServer bounds what a client may hold: the request head must come
// within ReadHeaderTimeout and the body within ReadTimeout (slow clients are
// cut off instead of holding a file descriptor), and an idle keep-alive
// connection is closed after IdleTimeout. No WriteTimeout: the dashboard's
// event streams are long answers. The server's own error log (TLS
// handshake failures of scanners, mostly) goes to debug.
func (s *Server) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}
