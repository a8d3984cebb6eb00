package security

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseBasic(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name, header, user, password string
		wantErr                      bool
	}{
		{"plain", "Basic " + b64("CP-1:secret-password-16"), "CP-1", "secret-password-16", false},
		{"scheme-case", "basic " + b64("CP-1:pw"), "CP-1", "pw", false},
		{"colon-in-password", "Basic " + b64("CP-1:a:b:c"), "CP-1", "a:b:c", false},
		{"no-padding", "Basic " + strings.TrimRight(b64("CP-1:pw1"), "="), "CP-1", "pw1", false},
		{"empty", "", "", "", true},
		{"bearer", "Bearer abc", "", "", true},
		{"no-colon", "Basic " + b64("CP-1"), "", "", true},
		{"not-base64", "Basic !!!", "", "", true},
		{"too-long", "Basic " + strings.Repeat("A", 600), "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, p, err := ParseBasic(tt.header)
			if (err != nil) != tt.wantErr || u != tt.user || p != tt.password {
				t.Fatalf("ParseBasic(%q) = %q, %q, %v; want %q, %q, error %v", tt.header, u, p, err, tt.user, tt.password, tt.wantErr)
			}
		})
	}
}

// FuzzParseBasic: never panics, and what it accepts encodes back to a
// header that parses to the same user and password.
func FuzzParseBasic(f *testing.F) {
	for _, s := range []string{"Basic Q1AtMTpzZWNyZXQ=", "basic Q1AtMTo=", "Basic", "Basic ", "Basic ====", "Digest x", "Basic Q1AtMTphOmI6Yw"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		u, p, err := ParseBasic(h)
		if err != nil {
			return
		}
		if strings.Contains(u, ":") {
			t.Fatalf("user %q contains a colon", u)
		}
		u2, p2, err := ParseBasic("Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)))
		if err != nil || u2 != u || p2 != p {
			t.Fatalf("round trip of %q: %q, %q, %v; want %q, %q", h, u2, p2, err, u, p)
		}
	})
}

func TestPasswords(t *testing.T) {
	p := GeneratePassword()
	if err := CheckPassword(p); err != nil || len(p) != MaxPasswordLen {
		t.Fatalf("generated %q: %v", p, err)
	}
	if GeneratePassword() == p {
		t.Fatal("two generated passwords are equal")
	}
	for _, bad := range []string{"short", strings.Repeat("x", 41), "has space in it 123", "has:colon:in:it:1234", "tab\tin-the-password"} {
		if CheckPassword(bad) == nil {
			t.Errorf("CheckPassword(%q) = nil; want an error", bad)
		}
	}
	h, err := HashPassword(p)
	if err != nil || !strings.HasPrefix(h, "$2") {
		t.Fatalf("hash = %q, %v; want bcrypt", h, err)
	}
	v := newVerifier()
	for i, tt := range []struct {
		pw   string
		want bool
	}{{p, true}, {p, true}, {p + "x", false}, {"", false}, {p, true}} {
		if got := v.verify("CP", h, tt.pw); got != tt.want {
			t.Fatalf("check %d: verify(%q) = %v; want %v", i, tt.pw, got, tt.want)
		}
	}
	if v.verify("CP", "", "") {
		t.Fatal("an empty hash verified")
	}
}

func TestBackoff(t *testing.T) {
	b := NewBackoff(2, time.Second, 8*time.Second)
	t0 := time.Unix(1_000_000, 0)
	var waits []time.Duration
	for i := range 6 {
		_, w := b.Fail("k", t0.Add(time.Duration(i)*time.Millisecond))
		waits = append(waits, w)
	}
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v; want %v", waits, want)
		}
	}
	if w := b.Wait("k", t0.Add(time.Second)); w <= 0 {
		t.Fatalf("Wait right after the 6th failure = %v; want > 0", w)
	}
	if w := b.Wait("other", t0); w != 0 {
		t.Fatalf("another key waits %v", w)
	}
	b.Succeed("k")
	if w := b.Wait("k", t0.Add(time.Second)); w != 0 {
		t.Fatalf("Wait after success = %v; want 0", w)
	}
	// The table stays bounded under a spray of keys.
	b.MaxKeys = 100
	for i := range 1000 {
		b.Fail(strings.Repeat("x", i%50)+string(rune(i)), t0.Add(time.Duration(i)*time.Second))
	}
	if n := len(b.keys); n > 100 {
		t.Fatalf("%d keys kept; want at most 100", n)
	}
}

// TestCertReloader: a renewed certificate is served without a restart,
// once its files change (or on Reload), and a broken renewal keeps the
// certificate in use.
func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	ca, _, err := NewCA("reload CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	issue := func() {
		c, k, err := ca.Issue([]string{"127.0.0.1"}, false, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, k, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(certFile, c, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	serial := func(r *CertReloader) string {
		c, _ := r.GetCertificate(nil)
		return c.Leaf.SerialNumber.String()
	}
	issue()
	r, err := NewCertReloader(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.CheckEvery = 0
	first := serial(r)
	issue()
	later := time.Now().Add(time.Minute) // a distinct modification time
	_ = os.Chtimes(certFile, later, later)
	if s := serial(r); s == first {
		t.Fatal("the renewed certificate was not picked up")
	}
	renewed := serial(r)
	if err := os.WriteFile(certFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("Reload of a broken file succeeded")
	}
	if s := serial(r); s != renewed {
		t.Fatal("a broken renewal replaced the certificate in use")
	}
}
