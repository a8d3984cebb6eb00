package cbtest

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/security"
)

// PKI is a test's certificates, made with crypto/x509: an operator CA
// and the server's certificate for 127.0.0.1 and localhost, as files.
type PKI struct {
	CA                 *security.CA
	Dir                string
	CAFile             string
	CertFile, KeyFile  string
	CAKeyFile          string
	Pool               *x509.CertPool
	serverCertValidity time.Duration
}

// NewPKI makes a CA and a server certificate in a temporary directory.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	p := &PKI{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), CAKeyFile: filepath.Join(dir, "ca-key.pem"),
		CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server-key.pem")}
	ca, err := security.InitCA(p.CAFile, p.CAKeyFile, "chargebridge test CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p.CA, p.Pool = ca, ca.Pool()
	p.IssueServer(t, 24*time.Hour)
	return p
}

// IssueServer (re)writes the server certificate with the given validity.
func (p *PKI) IssueServer(t testing.TB, validity time.Duration) {
	t.Helper()
	c, k, err := p.CA.Issue([]string{"127.0.0.1", "localhost"}, false, validity)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p.KeyFile, k)
	writeFile(t, p.CertFile, c)
}

// ClientCert issues a charger's client certificate with CN id and writes
// it to files; it returns them and the loaded pair.
func (p *PKI) ClientCert(t testing.TB, id string) (certFile, keyFile string, pair tls.Certificate) {
	t.Helper()
	c, k, err := p.CA.Issue([]string{id}, true, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(p.Dir, id+".pem"), filepath.Join(p.Dir, id+"-key.pem")
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	pair, err = tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pair
}

// ClientTLS is a client configuration that trusts the test CA.
func (p *PKI) ClientTLS(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.Pool, Certificates: certs, MinVersion: tls.VersionTLS12}
}

// WithTLS serves TLS with the PKI's server certificate; with clientCA it
// also verifies client certificates against the PKI's CA.
func WithTLS(p *PKI, clientCA bool) Option {
	return func(s *Setup) {
		s.Config.Security.TLSCert, s.Config.Security.TLSKey = p.CertFile, p.KeyFile
		if clientCA {
			s.Config.Security.TLSClientCA = p.CAFile
		}
		s.pki = p
	}
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// httpClient is the client of a test server: one that trusts the test CA
// when it serves TLS.
func httpClient(p *PKI) *http.Client {
	if p == nil {
		return http.DefaultClient
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: p.ClientTLS()}}
}
