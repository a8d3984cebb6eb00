package security

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkTLSHandshake is the cost of one charger's TLS connection to the
// listener (TLS 1.3, the server's ECDSA P-256 certificate from the built-in
// CA, session resumption off: a charger reconnecting after a restart of
// the server pays this): dial on loopback, full handshake, close. The
// ns/op is both sides' CPU; the server's share is about half.
func BenchmarkTLSHandshake(b *testing.B) {
	for _, tc := range []struct {
		name       string
		clientCert bool
	}{{"server-cert", false}, {"mutual-profile-3", true}} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			ca, err := InitCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"), "bench CA", time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			certPEM, keyPEM, err := ca.Issue([]string{"127.0.0.1"}, false, time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			srvCert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				b.Fatal(err)
			}
			srvCfg := &tls.Config{Certificates: []tls.Certificate{srvCert}, MinVersion: tls.VersionTLS12, SessionTicketsDisabled: true}
			cliCfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
			if tc.clientCert {
				srvCfg.ClientCAs, srvCfg.ClientAuth = ca.Pool(), tls.VerifyClientCertIfGiven
				c, k, err := ca.Issue([]string{"CP-1"}, true, time.Hour)
				if err != nil {
					b.Fatal(err)
				}
				pair, err := tls.X509KeyPair(c, k)
				if err != nil {
					b.Fatal(err)
				}
				cliCfg.Certificates = []tls.Certificate{pair}
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			done := make(chan error, 1)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						done <- nil
						return
					}
					tc := tls.Server(c, srvCfg)
					herr := tc.Handshake()
					if herr == nil && tc.ConnectionState().PeerCertificates != nil {
						_ = tc.ConnectionState().PeerCertificates[0].Subject.CommonName
					}
					tc.Close()
				}
			}()
			var verified int
			b.ResetTimer()
			for b.Loop() {
				c, err := tls.Dial("tcp", ln.Addr().String(), cliCfg)
				if err != nil {
					b.Fatal(err)
				}
				if len(c.ConnectionState().VerifiedChains) > 0 {
					verified++
				}
				c.Close()
			}
			b.StopTimer()
			ln.Close()
			<-done
			if verified == 0 {
				b.Fatal("no handshake verified the server")
			}
		})
	}
}

// BenchmarkBasicAuth is the cost of checking a charger's password: the
// bcrypt check of its first connection, and the keyed-hash check of a
// reconnect with the same password.
func BenchmarkBasicAuth(b *testing.B) {
	pw := GeneratePassword()
	h, err := HashPassword(pw)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("first-bcrypt", func(b *testing.B) {
		for b.Loop() {
			if !newVerifier().verify("CP-1", h, pw) {
				b.Fatal("password refused")
			}
		}
	})
	b.Run("reconnect-cached", func(b *testing.B) {
		v := newVerifier()
		v.verify("CP-1", h, pw)
		for b.Loop() {
			if !v.verify("CP-1", h, pw) {
				b.Fatal("password refused")
			}
		}
	})
}
