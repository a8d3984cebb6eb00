package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// KeyPair is a subscriber's signing identity: its key id and ed25519 key
// pair.
type KeyPair struct {
	ID      KeyID
	Private ed25519.PrivateKey
	Public  ed25519.PublicKey
}

// Sign signs body as k; see the package function Sign.
func (k *KeyPair) Sign(body []byte, created, expires time.Time) (string, error) {
	return Sign(k.Private, k.ID, body, created, expires)
}

// PublicKeyBase64 returns the public key in the base64 form registries and
// subscribers files use (signing_public_key).
func (k *KeyPair) PublicKeyBase64() string {
	return base64.StdEncoding.EncodeToString(k.Public)
}

// keyFile is the on-disk form of a KeyPair. The private key is the 64-byte
// ed25519 private key (seed followed by public key), base64, the same layout
// the Beckn signing examples publish; a 32-byte seed is accepted on load.
type keyFile struct {
	SubscriberID      string `json:"subscriber_id"`
	UniqueKeyID       string `json:"unique_key_id"`
	SigningPrivateKey string `json:"signing_private_key"`
	SigningPublicKey  string `json:"signing_public_key"`
}

// GenerateKeyFile creates a new ed25519 key pair for subscriberID, writes it
// as a key file at path with mode 0600, and returns it. It refuses to
// overwrite an existing file, so an existing private key is never lost. When
// uniqueKeyID is empty a random UUID is used; register the printed public key
// (KeyPair.PublicKeyBase64) with the registry under that id.
//
// The file is JSON: {"subscriber_id", "unique_key_id", "signing_private_key",
// "signing_public_key"}, keys in standard base64.
func GenerateKeyFile(path, subscriberID, uniqueKeyID string) (*KeyPair, error) {
	if uniqueKeyID == "" {
		var err error
		if uniqueKeyID, err = newUUID(); err != nil {
			return nil, fmt.Errorf("generate key file: %w", err)
		}
	}
	id := KeyID{SubscriberID: subscriberID, UniqueKeyID: uniqueKeyID}
	if err := id.validate(); err != nil {
		return nil, fmt.Errorf("generate key file: %w (the subscriber id is normally the BPP's FQDN)", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key file: %w", err)
	}
	kp := &KeyPair{ID: id, Private: priv, Public: pub}
	data, err := json.MarshalIndent(keyFile{
		SubscriberID:      id.SubscriberID,
		UniqueKeyID:       id.UniqueKeyID,
		SigningPrivateKey: base64.StdEncoding.EncodeToString(priv),
		SigningPublicKey:  kp.PublicKeyBase64(),
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("generate key file: %w", err)
	}
	data = append(data, '\n')
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("generate key file: %s already exists; move it away or choose another path", path)
	}
	if err != nil {
		return nil, fmt.Errorf("generate key file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("generate key file: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("generate key file: close %s: %w", path, err)
	}
	return kp, nil
}

// LoadKeyFile reads a key file written by GenerateKeyFile (or by hand in the
// same format). It checks that the ids are usable in a keyId and that the
// public key belongs to the private key.
func LoadKeyFile(path string) (*KeyPair, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load key file: %w", err)
	}
	kp, err := parseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("load key file %s: %w", path, err)
	}
	return kp, nil
}

func parseKeyFile(data []byte) (*KeyPair, error) {
	var kf keyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("not a key file: %w", err)
	}
	id := KeyID{SubscriberID: kf.SubscriberID, UniqueKeyID: kf.UniqueKeyID}
	if err := id.validate(); err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(kf.SigningPrivateKey)
	if err != nil {
		return nil, fmt.Errorf("signing_private_key is not base64: %w", err)
	}
	var priv ed25519.PrivateKey
	switch len(raw) {
	case ed25519.SeedSize:
		priv = ed25519.NewKeyFromSeed(raw)
	case ed25519.PrivateKeySize:
		priv = ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if !bytes.Equal(priv, raw) {
			return nil, errors.New("signing_private_key: its last 32 bytes are not the public key of its seed")
		}
	default:
		return nil, fmt.Errorf("signing_private_key is %d bytes; want %d (or a %d-byte seed)",
			len(raw), ed25519.PrivateKeySize, ed25519.SeedSize)
	}
	pub := priv.Public().(ed25519.PublicKey)
	if kf.SigningPublicKey != "" {
		got, err := parsePublicKey(kf.SigningPublicKey)
		if err != nil {
			return nil, fmt.Errorf("signing_public_key: %w", err)
		}
		if !got.Equal(pub) {
			return nil, errors.New("signing_public_key does not match signing_private_key")
		}
	}
	return &KeyPair{ID: id, Private: priv, Public: pub}, nil
}

// parsePublicKey decodes a base64 ed25519 public key.
func parsePublicKey(s string) (ed25519.PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key is %d bytes; want %d", len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
