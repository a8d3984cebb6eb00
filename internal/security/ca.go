package security

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// CA is the operator's certificate authority: it signs chargers' client
// certificates (SignCertificate → CertificateSigned) and, for a quick
// set-up, the server's own certificate.
type CA struct {
	Cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
}

// ErrBadCSR says a certificate signing request was refused.
var ErrBadCSR = errors.New("certificate signing request refused")

// NewCA makes a self-signed CA with an ECDSA P-256 key valid for validity.
func NewCA(name string, validity time.Duration) (*CA, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{name}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return &CA{Cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, keyPEM, nil
}

// InitCA makes a CA and writes its certificate and key (mode 0600) to the
// files, refusing to overwrite either.
func InitCA(certFile, keyFile, name string, validity time.Duration) (*CA, error) {
	for _, f := range []string{certFile, keyFile} {
		if _, err := os.Stat(f); err == nil {
			return nil, fmt.Errorf("%s exists; a CA is made once (remove it first to start over: every charger certificate it signed becomes void)", f)
		}
	}
	ca, keyPEM, err := NewCA(name, validity)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(certFile, ca.certPEM, 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

// LoadCA reads a CA's certificate and private key (PEM).
func LoadCA(certFile, keyFile string) (*CA, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	cblk, _ := pem.Decode(cb)
	kblk, _ := pem.Decode(kb)
	if cblk == nil || kblk == nil {
		return nil, fmt.Errorf("%s / %s: not PEM", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	var key any
	switch kblk.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kblk.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(kblk.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(kblk.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok || !cert.IsCA {
		return nil, fmt.Errorf("%s / %s: not a CA certificate and its key", certFile, keyFile)
	}
	return &CA{Cert: cert, key: signer, certPEM: pem.EncodeToMemory(cblk)}, nil
}

// CertPEM is the CA certificate, PEM.
func (ca *CA) CertPEM() []byte { return ca.certPEM }

// Pool is a pool holding the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// CheckChargerKey checks a charger's public key against the OCPP 1.6
// Security Whitepaper (ed. 3, key sizes): RSA of at least 2048 bits or
// elliptic curves of at least 224 bits (NIST P-256, P-384, P-521).
func CheckChargerKey(pub any) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits; at least 2048 are required", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			return fmt.Errorf("elliptic-curve key on %s; use P-256 or larger", k.Curve.Params().Name)
		}
	default:
		return fmt.Errorf("key type %T not allowed; use RSA (2048 bits or more) or ECDSA (P-256 or larger)", pub)
	}
	return nil
}

// SignCSR signs a charger's CSR (PEM) after checking its signature, that
// its CN is chargerID and its key; it returns the certificate chain (leaf
// then CA, PEM) and the leaf.
func (ca *CA) SignCSR(csrPEM, chargerID string, validity time.Duration) (string, *x509.Certificate, error) {
	blk, _ := pem.Decode([]byte(csrPEM))
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" && blk.Type != "NEW CERTIFICATE REQUEST" {
		return "", nil, fmt.Errorf("%w: not a PEM CERTIFICATE REQUEST", ErrBadCSR)
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return "", nil, fmt.Errorf("%w: signature: %w", ErrBadCSR, err)
	}
	if csr.Subject.CommonName != chargerID {
		return "", nil, fmt.Errorf("%w: CN %q is not the charge point id %q", ErrBadCSR, csr.Subject.CommonName, chargerID)
	}
	if err := CheckChargerKey(csr.PublicKey); err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: chargerID, Organization: csr.Subject.Organization},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if _, ok := csr.PublicKey.(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.key)
	if err != nil {
		return "", nil, fmt.Errorf("sign certificate for %s: %w", chargerID, err)
	}
	leaf, _ := x509.ParseCertificate(der)
	chain := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) + string(ca.certPEM)
	return chain, leaf, nil
}

// Issue makes a key pair and a certificate signed by the CA: a server
// certificate for the host names and IP addresses in hosts, or, when
// client is set, a charger's client certificate with CN hosts[0]. It
// returns the certificate chain and the key, PEM.
func (ca *CA) Issue(hosts []string, client bool, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if len(hosts) == 0 {
		return nil, nil, errors.New("issue: give a host name (server) or a charger id (client)")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, err
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.certPEM...)
	return certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
}
