package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/security"
)

func TestChargersSecurityCLI(t *testing.T) {
	clearEnv(t)
	s := cbtest.Start(t)
	if _, err := s.Service().RegisterCharger(context.Background(), charging.Charger{ID: "CP-CLI"}); err != nil {
		t.Fatal(err)
	}
	runIn := func(stdin string, args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := chargerSecurity(context.Background(), append(args, "--server", s.URL()), strings.NewReader(stdin), &out, &errOut)
		return out.String(), errOut.String(), err
	}
	out, _, err := runIn("", "CP-CLI", "--profile", "1", "--generate")
	if err != nil || security.CheckPassword(strings.TrimSpace(out)) != nil {
		t.Fatalf("--generate printed %q, %v; want one password", out, err)
	}
	if _, _, err := runIn("too-short\n", "CP-CLI", "--profile", "1", "--password-stdin"); err == nil {
		t.Fatal("a short password from stdin was taken")
	}
	if out, _, err := runIn("0123456789abcdefXYZ\n", "CP-CLI", "--profile", "1", "--password-stdin"); err != nil || strings.Contains(out, "0123456789abcdefXYZ") {
		t.Fatalf("--password-stdin: %q, %v; want success without echoing the password", out, err)
	}
	if _, _, err := runIn("", "CP-CLI", "--profile", "0"); err == nil || !strings.Contains(err.Error(), "allow-downgrade") {
		t.Fatalf("downgrade without --allow-downgrade: %v; want refused, naming the flag", err)
	}
	out, _, err = runIn("", "CP-CLI")
	if err != nil || !strings.Contains(out, `"security_profile": 1`) || !strings.Contains(out, `"has_password": true`) {
		t.Fatalf("show: %s, %v", out, err)
	}
	if _, _, err := runIn("", "CP-CLI", "--rotate"); err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Fatalf("rotate of a disconnected charger: %v; want a not-connected error", err)
	}
}

func TestCAInitAndIssue(t *testing.T) {
	dir := t.TempDir()
	ca, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if out, code := runMain(t, "ca", "init", "--ca-cert", ca, "--ca-key", key); code != 0 {
		t.Fatalf("ca init: %s", out)
	}
	if out, code := runMain(t, "ca", "init", "--ca-cert", ca, "--ca-key", key); code == 0 || !strings.Contains(out, "exists") {
		t.Fatalf("second ca init: %s; want a refusal to overwrite", out)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode: %v, %v; want 0600", fi, err)
	}
	srvCert, srvKey := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	if out, code := runMain(t, "ca", "issue", "--ca-cert", ca, "--ca-key", key, "--server", "localhost,127.0.0.1", "--out-cert", srvCert, "--out-key", srvKey); code != 0 {
		t.Fatalf("ca issue: %s", out)
	}
	certs, err := security.NewCertReloader(srvCert, srvKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := certs.GetCertificate(nil)
	if c.Leaf == nil || len(c.Leaf.IPAddresses) != 1 || c.Leaf.DNSNames[0] != "localhost" {
		t.Fatalf("issued server certificate %+v", c.Leaf)
	}
}
