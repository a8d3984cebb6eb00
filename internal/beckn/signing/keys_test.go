package signing

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestGenerateAndLoadKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bpp-key.json")
	kp, err := GenerateKeyFile(path, "bpp.chargebridge.example", "")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(kp.ID.UniqueKeyID) {
		t.Errorf("generated unique key id %q is not a v4 UUID", kp.ID.UniqueKeyID)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %v; want 0600", perm)
	}
	var raw map[string]string
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["subscriber_id"] != "bpp.chargebridge.example" || raw["signing_public_key"] != kp.PublicKeyBase64() || len(mustB64(t, raw["signing_private_key"])) != 64 {
		t.Errorf("key file content = %v", raw)
	}

	loaded, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.ID != kp.ID || !loaded.Private.Equal(kp.Private) || !loaded.Public.Equal(kp.Public) {
		t.Errorf("LoadKeyFile = %+v; want %+v", loaded, kp)
	}

	// The loaded key signs verifiably.
	h, err := loaded.Sign(testBody, testCreated, testExpires)
	if err != nil {
		t.Fatal(err)
	}
	keys := mustStatic(t, Subscriber{SubscriberID: kp.ID.SubscriberID, UniqueKeyID: kp.ID.UniqueKeyID, SigningPublicKey: kp.PublicKeyBase64()})
	if _, err := Verify(context.Background(), keys, h, testBody, testCreated, 0); err != nil {
		t.Errorf("Verify: %v", err)
	}

	// A second generate must not overwrite the key.
	if _, err := GenerateKeyFile(path, "bpp.chargebridge.example", "k2"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("GenerateKeyFile over an existing file = %v; want an 'already exists' error", err)
	}
	if again, _ := LoadKeyFile(path); again == nil || !again.Public.Equal(kp.Public) {
		t.Error("existing key file was changed")
	}
}

func TestGenerateKeyFileKeepsGivenKeyID(t *testing.T) {
	kp, err := GenerateKeyFile(filepath.Join(t.TempDir(), "k.json"), "bpp.example.com", "key-2026")
	if err != nil {
		t.Fatal(err)
	}
	if kp.ID.UniqueKeyID != "key-2026" {
		t.Errorf("unique key id = %q; want key-2026", kp.ID.UniqueKeyID)
	}
	if _, err := GenerateKeyFile(filepath.Join(t.TempDir(), "k.json"), "", "x"); err == nil {
		t.Error("GenerateKeyFile without a subscriber id succeeded")
	}
}

func TestLoadKeyFileForms(t *testing.T) {
	priv, pub := becknKeys(t)
	seed := base64.StdEncoding.EncodeToString(priv.Seed())
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	mismatched := base64.StdEncoding.EncodeToString(append(append([]byte{}, priv.Seed()...), otherPriv[32:]...))
	tests := []struct {
		name    string
		content string
		wantErr string
	}{
		{"beckn-vector-64-byte", `{"subscriber_id":"example-bap.com","unique_key_id":"k","signing_private_key":"` + becknPrivateKey + `","signing_public_key":"` + becknPublicKey + `"}`, ""},
		{"seed-only-no-public", `{"subscriber_id":"example-bap.com","unique_key_id":"k","signing_private_key":"` + seed + `"}`, ""},
		{"public-mismatch", `{"subscriber_id":"s","unique_key_id":"k","signing_private_key":"` + becknPrivateKey + `","signing_public_key":"` + base64.StdEncoding.EncodeToString(otherPriv[32:]) + `"}`, "does not match"},
		{"inconsistent-64-byte", `{"subscriber_id":"s","unique_key_id":"k","signing_private_key":"` + mismatched + `"}`, "not the public key"},
		{"short-private", `{"subscriber_id":"s","unique_key_id":"k","signing_private_key":"AAAA"}`, "bytes"},
		{"missing-subscriber", `{"unique_key_id":"k","signing_private_key":"` + becknPrivateKey + `"}`, "subscriber id is empty"},
		{"unknown-field", `{"subscriber_id":"s","unique_key_id":"k","signing_private_key":"` + becknPrivateKey + `","private":"x"}`, "unknown field"},
		{"not-json", `signing_private_key=abc`, "not a key file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			kp, err := LoadKeyFile(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadKeyFile error = %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !kp.Public.Equal(pub) || !kp.Private.Equal(priv) {
				t.Error("loaded key differs from the vector key")
			}
		})
	}
	if _, err := LoadKeyFile(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("LoadKeyFile of a missing file succeeded")
	}
}

func TestSubscribersFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("subs.json", `[
  {"subscriber_id": "example-bap.com", "unique_key_id": "k1", "signing_public_key": "`+becknPublicKey+`"},
  {"subscriber_id": "example-bap.com", "unique_key_id": "k2", "signing_public_key": "`+becknPublicKey+`"}
]`)
	r, err := LoadSubscribersFile(good)
	if err != nil {
		t.Fatal(err)
	}
	_, want := becknKeys(t)
	for _, k := range []string{"k1", "k2"} {
		got, err := r.LookupKey(context.Background(), "example-bap.com", k)
		if err != nil || !got.Equal(want) {
			t.Errorf("LookupKey(%s) = %x, %v; want %x", k, got, err, want)
		}
	}
	if _, err := r.LookupKey(context.Background(), "example-bap.com", "k3"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("LookupKey(k3) error = %v; want ErrUnknownKey", err)
	}

	bad := []struct{ name, content, wantErr string }{
		{"duplicate", `[{"subscriber_id":"a","unique_key_id":"k","signing_public_key":"` + becknPublicKey + `"},{"subscriber_id":"a","unique_key_id":"k","signing_public_key":"` + becknPublicKey + `"}]`, "twice"},
		{"bad-key", `[{"subscriber_id":"a","unique_key_id":"k","signing_public_key":"AAAA"}]`, "bytes"},
		{"missing-key-id", `[{"subscriber_id":"a","signing_public_key":"` + becknPublicKey + `"}]`, "unique key id is empty"},
		{"typo-field", `[{"subscriber_id":"a","unique_key_id":"k","signing_publickey":"` + becknPublicKey + `"}]`, "unknown field"},
		{"object-not-array", `{"subscriber_id":"a"}`, "JSON array"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadSubscribersFile(write(tt.name+".json", tt.content))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("LoadSubscribersFile error = %v; want one containing %q", err, tt.wantErr)
			}
		})
	}
}
