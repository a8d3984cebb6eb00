package sim

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"reflect"

	"github.com/gobwas/ws"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// chargerSecurity is what a charger authenticates with (OCPP security
// profiles): its Basic-auth password, which the central system may change
// (AuthorizationKey), and its client certificate, which a CertificateSigned
// may replace. Guarded by Charger.mu.
type chargerSecurity struct {
	password string
	cert     *tls.Certificate
	// csrKey is the private key of the last SignCertificate request.
	csrKey crypto.Signer
}

// LoadTLS builds the TLS configuration of `chargebridge sim --ca --cert
// --key`: caFile (PEM) holds the CA certificates that sign the central
// system's certificate (the system's roots when empty); certFile and
// keyFile the client certificate for security profile 3 (none when empty).
func LoadTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--ca %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("--cert and --key go together")
	}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

// dialSecurity fills the dialer's credentials; called with mu held.
func (c *Charger) dialSecurity(d *ws.Dialer) {
	if c.sec.password != "" {
		h := make(map[string][]string, 1)
		h["Authorization"] = []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(c.id+":"+c.sec.password))}
		d.Header = ws.HandshakeHeaderHTTP(h)
	}
	if c.cfg.TLS != nil {
		t := c.cfg.TLS.Clone()
		if c.sec.cert != nil {
			t.Certificates = []tls.Certificate{*c.sec.cert}
		}
		d.TLSConfig = t
	}
}

// onAuthorizationKey takes a new Basic-auth password (OCPP 1.6 Security
// Whitepaper: 16–40 characters); once the answer is out, the charger
// reconnects with it.
func (c *Charger) onAuthorizationKey(value string) (any, func(), *ocpp.Error) {
	if len(value) < 16 || len(value) > 40 {
		return rejected, nil, nil
	}
	return accepted, func() {
		c.sec.password = value
		c.log.Info("AuthorizationKey changed; reconnecting with the new password")
		c.disconnect(true)
	}, nil
}

// takeSignedCertificate keeps a signed certificate whose key is the one of
// the last CSR, so that the next connection presents it.
func (c *Charger) takeSignedCertificate(chain string) {
	if c.sec.csrKey == nil {
		return
	}
	var ders [][]byte
	rest := []byte(chain)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			ders = append(ders, b.Bytes)
		}
	}
	if len(ders) == 0 {
		return
	}
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil || !reflect.DeepEqual(leaf.PublicKey, c.sec.csrKey.Public()) {
		return
	}
	c.sec.cert = &tls.Certificate{Certificate: ders, PrivateKey: c.sec.csrKey, Leaf: leaf}
}

// Certificate returns the client certificate the charger presents (nil
// for none).
func (c *Charger) Certificate() *x509.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sec.cert != nil {
		if c.sec.cert.Leaf != nil {
			return c.sec.cert.Leaf
		}
		if l, err := x509.ParseCertificate(c.sec.cert.Certificate[0]); err == nil {
			return l
		}
	}
	if c.cfg.TLS != nil && len(c.cfg.TLS.Certificates) > 0 {
		if l, err := x509.ParseCertificate(c.cfg.TLS.Certificates[0].Certificate[0]); err == nil {
			return l
		}
	}
	return nil
}

// Password returns the Basic-auth password the charger uses now.
func (c *Charger) Password() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sec.password
}
