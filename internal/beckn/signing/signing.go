// Package signing implements Beckn HTTP message signatures: the ed25519
// Authorization header a Beckn participant attaches to every request and
// callback, its verification on receipt, the key material behind it (key
// files, a static subscribers file, a registry lookup client) and a replay
// guard for verified messages.
//
// A signature covers the created and expires timestamps and the
// BLAKE2b-512 digest of the raw body, laid out as the three-line signing
// string described in the Beckn signing specification (BECKN-006, and its v2
// successor "Signing Beckn APIs in HTTP").
package signing

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/blake2b"
)

// Algorithm is the only signature algorithm Beckn defines; it appears both in
// the algorithm parameter and as the last component of the keyId.
const Algorithm = "ed25519"

// SignedHeaders is the value of the headers parameter: the pseudo-headers and
// header a Beckn signature covers, in signing-string order.
const SignedHeaders = "(created) (expires) digest"

// digestPrefix names the hash in the digest line of the signing string and in
// a Digest HTTP header.
const digestPrefix = "BLAKE-512="

// KeyID identifies a signing key on a Beckn network: the subscriber that owns
// it and the registry's unique id for the key. On the wire it is the first two
// components of the keyId parameter, "{subscriber_id}|{unique_key_id}|ed25519".
type KeyID struct {
	SubscriberID string
	UniqueKeyID  string
}

// String returns the keyId parameter value for k.
func (k KeyID) String() string {
	return k.SubscriberID + "|" + k.UniqueKeyID + "|" + Algorithm
}

// validate reports whether k can be written into a keyId parameter and read
// back unchanged.
func (k KeyID) validate() error {
	if err := checkIDPart("subscriber id", k.SubscriberID); err != nil {
		return err
	}
	return checkIDPart("unique key id", k.UniqueKeyID)
}

func checkIDPart(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	for _, r := range s {
		if r == '|' || r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s %q contains %q", what, s, r)
		}
	}
	return nil
}

// Digest returns base64(BLAKE2b-512(body)), the digest a Beckn signature
// covers. The body must be the raw bytes as sent, not a re-encoding.
func Digest(body []byte) string {
	sum := blake2b.Sum512(body)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// SigningString returns the string a Beckn signature is computed over: the
// lines "(created): …", "(expires): …" and "digest: BLAKE-512=…" joined by
// "\n", with no trailing newline. The published test vectors sign exactly
// this form (see the tests).
func SigningString(created, expires int64, digest string) string {
	var b strings.Builder
	b.Grow(64 + len(digest))
	b.WriteString("(created): ")
	b.WriteString(strconv.FormatInt(created, 10))
	b.WriteString("\n(expires): ")
	b.WriteString(strconv.FormatInt(expires, 10))
	b.WriteString("\ndigest: ")
	b.WriteString(digestPrefix)
	b.WriteString(digest)
	return b.String()
}

// Sign signs body with key on behalf of id and returns the Authorization
// header value. created and expires are truncated to whole seconds; expires
// must not be before created, and the difference is normally the message's
// ttl.
func Sign(key ed25519.PrivateKey, id KeyID, body []byte, created, expires time.Time) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("sign: private key is %d bytes; want %d", len(key), ed25519.PrivateKeySize)
	}
	if err := id.validate(); err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	c, e := created.Unix(), expires.Unix()
	if c < 0 {
		return "", fmt.Errorf("sign: created %d is before the Unix epoch", c)
	}
	if e < c {
		return "", fmt.Errorf("sign: expires %d is before created %d", e, c)
	}
	if e > maxUnix {
		return "", fmt.Errorf("sign: expires %d is after the year 9999", e)
	}
	a := Authorization{
		KeyID:     id,
		Algorithm: Algorithm,
		Created:   c,
		Expires:   e,
		Signature: ed25519.Sign(key, []byte(SigningString(c, e, Digest(body)))),
	}
	return a.String(), nil
}

// DigestHeader returns the value of a Digest HTTP header for body,
// "BLAKE-512=<base64>". Beckn does not require the header, but some peers send
// it alongside the signature.
func DigestHeader(body []byte) string {
	return digestPrefix + Digest(body)
}

// VerifyDigest checks a Digest HTTP header value against body. It returns an
// error wrapping ErrMalformedHeader when value is not "BLAKE-512=<base64>" and
// ErrDigestMismatch when the body does not hash to it.
func VerifyDigest(value string, body []byte) error {
	got, ok := strings.CutPrefix(strings.TrimSpace(value), digestPrefix)
	if !ok {
		return fmt.Errorf("%w: digest %q does not start with %q", ErrMalformedHeader, value, digestPrefix)
	}
	sum, err := base64.StdEncoding.DecodeString(got)
	if err != nil || len(sum) != blake2b.Size {
		return fmt.Errorf("%w: digest is not base64 of %d bytes", ErrMalformedHeader, blake2b.Size)
	}
	want := blake2b.Sum512(body)
	if string(sum) != string(want[:]) {
		return fmt.Errorf("%w: body hashes to %s, header says %s", ErrDigestMismatch, Digest(body), got)
	}
	return nil
}
