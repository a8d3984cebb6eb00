package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/chargebridge/chargebridge/internal/beckn/signing"
)

func TestBecknKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bpp.json")
	out, err := runCLI(t, "beckn", "keys", "--out", path, "--subscriber-id", "bpp.example.com")
	if err != nil {
		t.Fatalf("beckn keys: %v\n%s", err, out)
	}
	kp, err := signing.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "signing_public_key: "+kp.PublicKeyBase64()+"\n") || kp.ID.SubscriberID != "bpp.example.com" {
		t.Fatalf("output %q does not print the key file's public key %s", out, kp.PublicKeyBase64())
	}
	if _, err := runCLI(t, "beckn", "keys", "--out", path); err == nil {
		t.Fatal("an existing key file was overwritten")
	}
	if _, err := runCLI(t, "beckn", "keys"); err == nil {
		t.Fatal("beckn keys without --out succeeded")
	}
}
