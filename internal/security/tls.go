package security

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// CertReloader serves the listener's certificate and loads it again when
// its files change (checked at most every CheckEvery, on a handshake) or
// when Reload is called (on SIGHUP), so a renewed certificate needs no
// restart. A failed reload keeps the certificate in use and logs why.
type CertReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	// CheckEvery bounds how often the files' modification times are read.
	CheckEvery time.Duration

	// mu guards the fields below.
	mu      sync.Mutex
	cert    *tls.Certificate
	modCert time.Time
	modKey  time.Time
	checked time.Time
}

// NewCertReloader loads the certificate and key, failing when they do not
// make a pair.
func NewCertReloader(certFile, keyFile string, log *slog.Logger) (*CertReloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &CertReloader{certFile: certFile, keyFile: keyFile, log: log, CheckEvery: 5 * time.Second}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the files again.
func (r *CertReloader) Reload() error {
	mc, mk := modTime(r.certFile), modTime(r.keyFile)
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load --tls-cert %s / --tls-key %s: %w", r.certFile, r.keyFile, err)
	}
	r.mu.Lock()
	r.cert, r.modCert, r.modKey, r.checked = &c, mc, mk, time.Now()
	r.mu.Unlock()
	if c.Leaf != nil {
		r.log.Info("TLS certificate loaded", "file", r.certFile, "subject", c.Leaf.Subject.String(), "not_after", c.Leaf.NotAfter.UTC())
	}
	return nil
}

// GetCertificate is tls.Config.GetCertificate.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	stale := time.Since(r.checked) >= r.CheckEvery
	if stale {
		r.checked = time.Now()
	}
	cert, mc, mk := r.cert, r.modCert, r.modKey
	r.mu.Unlock()
	if stale && (!modTime(r.certFile).Equal(mc) || !modTime(r.keyFile).Equal(mk)) {
		if err := r.Reload(); err != nil {
			r.log.Error("TLS certificate files changed but did not load; still serving the previous certificate", "err", err)
		} else {
			r.mu.Lock()
			cert = r.cert
			r.mu.Unlock()
		}
	}
	return cert, nil
}

func modTime(path string) time.Time {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// ServerTLS returns the listener's TLS configuration: TLS 1.2 or newer
// (OCPP security profile 2 and 3), the reloading certificate, and, when
// clientCAs is set, client certificates asked for (naming those CAs) but
// not verified in the handshake: the Guard verifies them for profile-3
// chargers (GuardConfig.ClientCAs), so that a profile-2 charger that
// presents some other certificate (a manufacturer's) is not cut off in
// the handshake, and a wrong certificate gets a clear 403.
func ServerTLS(certs *CertReloader, clientCAs *x509.CertPool) *tls.Config {
	c := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: certs.GetCertificate,
		NextProtos:     []string{"http/1.1"},
	}
	if clientCAs != nil {
		c.ClientCAs = clientCAs
		c.ClientAuth = tls.RequestClientCert
	}
	return c
}

// LoadCertPool reads PEM certificates from a file.
func LoadCertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return p, nil
}
