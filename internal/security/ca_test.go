package security

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"testing"
	"time"
)

func csrPEM(t *testing.T, cn string, key crypto.Signer) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func TestSignCSR(t *testing.T) {
	ca, _, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name string
		csr  string
		ok   bool
	}{
		{"p256", csrPEM(t, "CP-1", p256), true},
		{"rsa-2048", csrPEM(t, "CP-1", rsa2048), true},
		{"other-cn", csrPEM(t, "CP-2", p256), false},
		{"rsa-1024", csrPEM(t, "CP-1", rsa1024), false},
		{"p224", csrPEM(t, "CP-1", p224), false},
		{"ed25519", csrPEM(t, "CP-1", ed), false},
		{"not-pem", "hello", false},
		{"certificate-not-csr", string(ca.CertPEM()), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chain, leaf, err := ca.SignCSR(tt.csr, "CP-1", 24*time.Hour)
			if !tt.ok {
				if err == nil || !errors.Is(err, ErrBadCSR) {
					t.Fatalf("SignCSR = %v; want ErrBadCSR", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if leaf.Subject.CommonName != "CP-1" || leaf.CheckSignatureFrom(ca.Cert) != nil || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
				t.Fatalf("leaf %+v; want CN CP-1, client auth, signed by the CA", leaf.Subject)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Fatalf("leaf does not verify as a client certificate: %v", err)
			}
			if n := len(pemBlocks(chain)); n != 2 {
				t.Fatalf("chain has %d certificates; want leaf and CA", n)
			}
		})
	}
}

func pemBlocks(s string) []*pem.Block {
	var out []*pem.Block
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return out
		}
		out = append(out, b)
	}
}

// FuzzSignCSR: whatever a charger sends as its CSR, signing never panics
// and signs only a CSR for the charger's own id.
func FuzzSignCSR(f *testing.F) {
	ca, _, err := NewCA("fuzz CA", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "CP-1"}}, key)
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})))
	f.Add("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, csr string) {
		_, leaf, err := ca.SignCSR(csr, "CP-1", time.Hour)
		if err == nil && leaf.Subject.CommonName != "CP-1" {
			t.Fatalf("signed a certificate for %q", leaf.Subject.CommonName)
		}
	})
}
