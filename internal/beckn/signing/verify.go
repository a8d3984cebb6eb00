package signing

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"
)

// DefaultSkew is the clock difference Verify should normally tolerate
// between the sender and us. The Beckn v2 signing specification allows up to
// five seconds.
const DefaultSkew = 5 * time.Second

// Verification failures. Verify and the functions it calls wrap exactly one
// of these (test with errors.Is); each maps to a 401 NACK at the HTTP edge,
// and the message says what was wrong.
var (
	// ErrMalformedHeader: the header is not a well-formed Beckn Signature
	// header (syntax, missing or duplicate parameters, bad keyId, wrong
	// headers list, bad base64, wrong signature length).
	ErrMalformedHeader = errors.New("malformed signature header")
	// ErrUnsupportedAlgorithm: the algorithm parameter or the keyId's
	// algorithm is not ed25519, or the two disagree.
	ErrUnsupportedAlgorithm = errors.New("unsupported signature algorithm")
	// ErrNotYetValid: created is later than now plus the allowed skew.
	ErrNotYetValid = errors.New("signature not yet valid")
	// ErrExpired: expires is earlier than now minus the allowed skew.
	ErrExpired = errors.New("signature expired")
	// ErrDigestMismatch: a Digest header does not match the body (see
	// VerifyDigest).
	ErrDigestMismatch = errors.New("body digest mismatch")
	// ErrBadSignature: the signature does not verify under the sender's
	// key. A body altered in transit fails this way, because the digest in
	// the signing string is recomputed from the body received.
	ErrBadSignature = errors.New("bad signature")
	// ErrUnknownKey: no valid public key is known for the keyId. KeyResolver
	// implementations return it (wrapped) for keys that do not exist, are
	// revoked or are outside their validity period.
	ErrUnknownKey = errors.New("unknown signing key")
)

// KeyResolver finds the ed25519 public key for a subscriber's key id. It
// returns an error wrapping ErrUnknownKey when there is no valid key; any
// other error means the lookup itself failed (the registry is unreachable,
// say) and the request may succeed later.
type KeyResolver interface {
	LookupKey(ctx context.Context, subscriberID, uniqueKeyID string) (ed25519.PublicKey, error)
}

// Verify checks the Beckn Signature header value against the raw request
// body at time now, tolerating skew of clock difference (a negative skew
// counts as zero; DefaultSkew is the usual value): the header must parse, use
// ed25519, satisfy created-skew ≤ now ≤ expires+skew, name a key keys knows,
// and carry a valid signature over the signing string built from created,
// expires and the body's digest. Checks run in that order, so expired or
// malformed requests never cause a key lookup.
//
// Verify returns the keyId's subscriber and key id whenever the header
// parsed, even on failure, so rejections can be logged with the claimed
// sender. On success the caller must still check that the subscriber is the
// one the message claims to come from (context.bap_id for a request,
// context.bpp_id for a callback).
func Verify(ctx context.Context, keys KeyResolver, header string, body []byte, now time.Time, skew time.Duration) (KeyID, error) {
	a, err := ParseAuthorization(header)
	if err != nil {
		return KeyID{}, err
	}
	if err := a.checkAlgorithm(); err != nil {
		return a.KeyID, err
	}
	if len(a.Signature) != ed25519.SignatureSize {
		return a.KeyID, malformed("signature is %d bytes; want %d", len(a.Signature), ed25519.SignatureSize)
	}
	if err := a.CheckTime(now, skew); err != nil {
		return a.KeyID, err
	}
	pub, err := keys.LookupKey(ctx, a.KeyID.SubscriberID, a.KeyID.UniqueKeyID)
	if err != nil {
		return a.KeyID, fmt.Errorf("key %s: %w", a.KeyID, err)
	}
	if len(pub) != ed25519.PublicKeySize {
		return a.KeyID, fmt.Errorf("key %s: %w: public key is %d bytes", a.KeyID, ErrUnknownKey, len(pub))
	}
	msg := SigningString(a.Created, a.Expires, Digest(body))
	if !ed25519.Verify(pub, []byte(msg), a.Signature) {
		return a.KeyID, fmt.Errorf("%w: key %s did not sign this body with created %d and expires %d",
			ErrBadSignature, a.KeyID, a.Created, a.Expires)
	}
	return a.KeyID, nil
}

// checkAlgorithm requires ed25519 in both the algorithm parameter and the
// keyId.
func (a Authorization) checkAlgorithm() error {
	if a.Algorithm != Algorithm {
		return fmt.Errorf("%w: algorithm is %q; want %q", ErrUnsupportedAlgorithm, a.Algorithm, Algorithm)
	}
	if a.KeyAlgorithm != a.Algorithm {
		return fmt.Errorf("%w: keyId algorithm %q differs from algorithm %q", ErrUnsupportedAlgorithm, a.KeyAlgorithm, a.Algorithm)
	}
	return nil
}

// CheckTime reports whether a is valid at now with the given skew: it
// returns an error wrapping ErrNotYetValid when created is after now+skew and
// ErrExpired when expires is before now-skew. Both bounds are inclusive.
func (a Authorization) CheckTime(now time.Time, skew time.Duration) error {
	skew = max(skew, 0)
	if created := time.Unix(a.Created, 0); created.After(now.Add(skew)) {
		return fmt.Errorf("%w: created %d is %s ahead of now %d (skew %s)",
			ErrNotYetValid, a.Created, created.Sub(now).Round(time.Millisecond), now.Unix(), skew)
	}
	if expires := time.Unix(a.Expires, 0); expires.Before(now.Add(-skew)) {
		return fmt.Errorf("%w: expires %d is %s before now %d (skew %s)",
			ErrExpired, a.Expires, now.Sub(expires).Round(time.Millisecond), now.Unix(), skew)
	}
	return nil
}
