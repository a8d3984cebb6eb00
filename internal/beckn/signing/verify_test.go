package signing

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	testCreated = time.Unix(1_700_000_000, 0)
	testExpires = testCreated.Add(30 * time.Second)
	testBody    = []byte(`{"context":{"action":"select","bap_id":"bap.example.com","message_id":"m-1"},"message":{}}`)
	testID      = KeyID{SubscriberID: "bap.example.com", UniqueKeyID: "k1"}
)

func newTestKey(t testing.TB) (*KeyPair, *StaticResolver) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kp := &KeyPair{ID: testID, Private: priv, Public: pub}
	return kp, mustStatic(t, Subscriber{SubscriberID: testID.SubscriberID, UniqueKeyID: testID.UniqueKeyID, SigningPublicKey: kp.PublicKeyBase64()})
}

func TestSignVerifyRoundTrip(t *testing.T) {
	kp, keys := newTestKey(t)
	for _, body := range [][]byte{testBody, {}, []byte("not json at all \x00\xff")} {
		h, err := kp.Sign(body, testCreated, testExpires)
		if err != nil {
			t.Fatal(err)
		}
		id, err := Verify(context.Background(), keys, h, body, testCreated.Add(time.Second), DefaultSkew)
		if err != nil {
			t.Fatalf("Verify(%q): %v", body, err)
		}
		if id != testID {
			t.Errorf("key id = %+v; want %+v", id, testID)
		}
	}
}

func TestSignRejects(t *testing.T) {
	kp, _ := newTestKey(t)
	tests := []struct {
		name             string
		key              ed25519.PrivateKey
		id               KeyID
		created, expires time.Time
	}{
		{"short-key", kp.Private[:32], testID, testCreated, testExpires},
		{"empty-subscriber", kp.Private, KeyID{UniqueKeyID: "k"}, testCreated, testExpires},
		{"empty-key-id", kp.Private, KeyID{SubscriberID: "s"}, testCreated, testExpires},
		{"pipe-in-subscriber", kp.Private, KeyID{SubscriberID: "a|b", UniqueKeyID: "k"}, testCreated, testExpires},
		{"quote-in-key-id", kp.Private, KeyID{SubscriberID: "s", UniqueKeyID: `k"`}, testCreated, testExpires},
		{"expires-before-created", kp.Private, testID, testExpires, testCreated},
		{"before-epoch", kp.Private, testID, time.Unix(-10, 0), testExpires},
		{"after-9999", kp.Private, testID, testCreated, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := Sign(tt.key, tt.id, testBody, tt.created, tt.expires); err == nil {
				t.Errorf("Sign = %q, nil; want an error", h)
			}
		})
	}
}

// shortSig returns a's header with a 63-byte signature.
func shortSig(a Authorization) string {
	a.Signature = make([]byte, ed25519.SignatureSize-1)
	return a.String()
}

// resign rebuilds a header with a's fields, signing the given signing string
// inputs with kp, so tests can produce validly signed headers with odd
// parameters.
func resign(kp *KeyPair, a Authorization, body []byte) string {
	a.Signature = ed25519.Sign(kp.Private, []byte(SigningString(a.Created, a.Expires, Digest(body))))
	return a.String()
}

func TestVerifyFailures(t *testing.T) {
	kp, keys := newTestKey(t)
	other, _ := newTestKey(t)
	good, err := kp.Sign(testBody, testCreated, testExpires)
	if err != nil {
		t.Fatal(err)
	}
	base := Authorization{KeyID: testID, KeyAlgorithm: Algorithm, Algorithm: Algorithm, Created: testCreated.Unix(), Expires: testExpires.Unix()}
	with := func(f func(*Authorization)) string {
		a := base
		f(&a)
		return resign(kp, a, testBody)
	}
	now := testCreated.Add(10 * time.Second)
	tests := []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"empty-header", "", testBody, now, ErrMalformedHeader},
		{"wrong-scheme", strings.Replace(good, "Signature ", "Bearer ", 1), testBody, now, ErrMalformedHeader},
		{"missing-signature", good[:strings.Index(good, ",signature=")], testBody, now, ErrMalformedHeader},
		{"two-part-key-id", strings.Replace(good, "|k1|ed25519", "|ed25519", 1), testBody, now, ErrMalformedHeader},
		{"other-headers", strings.Replace(good, `headers="(created) (expires) digest"`, `headers="(created) digest"`, 1), testBody, now, ErrMalformedHeader},
		{"control-resigned-is-valid", with(func(*Authorization) {}), testBody, now, nil},
		{"short-signature", shortSig(base), testBody, now, ErrMalformedHeader},
		{"signature-not-base64", strings.Replace(good, `signature="`, `signature="*`, 1), testBody, now, ErrMalformedHeader},
		{"algorithm-rsa", with(func(a *Authorization) { a.Algorithm, a.KeyAlgorithm = "rsa-sha256", "rsa-sha256" }), testBody, now, ErrUnsupportedAlgorithm},
		{"algorithm-hs2019", with(func(a *Authorization) { a.Algorithm = "hs2019" }), testBody, now, ErrUnsupportedAlgorithm},
		{"key-id-algorithm-differs", with(func(a *Authorization) { a.KeyAlgorithm = "rsa" }), testBody, now, ErrUnsupportedAlgorithm},
		{"algorithm-case", with(func(a *Authorization) { a.Algorithm, a.KeyAlgorithm = "ED25519", "ED25519" }), testBody, now, ErrUnsupportedAlgorithm},
		{"not-yet-valid", good, testBody, testCreated.Add(-DefaultSkew - time.Second), ErrNotYetValid},
		{"expired", good, testBody, testExpires.Add(DefaultSkew + time.Second), ErrExpired},
		{"unknown-subscriber", with(func(a *Authorization) { a.KeyID.SubscriberID = "bap.other.com" }), testBody, now, ErrUnknownKey},
		{"unknown-key-id", with(func(a *Authorization) { a.KeyID.UniqueKeyID = "k2" }), testBody, now, ErrUnknownKey},
		{"tampered-body", good, []byte(strings.Replace(string(testBody), "select", "confirm", 1)), now, ErrBadSignature},
		{"body-with-trailing-newline", good, append(append([]byte{}, testBody...), '\n'), now, ErrBadSignature},
		{"other-key", resign(other, base, testBody), testBody, now, ErrBadSignature},
		{"created-changed", strings.Replace(good, `created="1700000000"`, `created="1700000001"`, 1), testBody, now, ErrBadSignature},
		{"expires-extended", strings.Replace(good, `expires="1700000030"`, `expires="1700009999"`, 1), testBody, now, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(context.Background(), keys, tt.header, tt.body, tt.now, DefaultSkew)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v; want %v", err, tt.want)
			}
			for _, other := range []error{ErrMalformedHeader, ErrUnsupportedAlgorithm, ErrNotYetValid, ErrExpired, ErrDigestMismatch, ErrBadSignature, ErrUnknownKey} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("Verify error %v also matches %v", err, other)
				}
			}
		})
	}
}

func TestVerifyReturnsClaimedKeyIDOnFailure(t *testing.T) {
	kp, keys := newTestKey(t)
	h, _ := kp.Sign(testBody, testCreated, testExpires)
	id, err := Verify(context.Background(), keys, h, []byte("tampered"), testCreated, DefaultSkew)
	if !errors.Is(err, ErrBadSignature) || id != testID {
		t.Errorf("Verify = %+v, %v; want %+v, ErrBadSignature", id, err, testID)
	}
}

func TestVerifySkewEdges(t *testing.T) {
	kp, keys := newTestKey(t)
	h, _ := kp.Sign(testBody, testCreated, testExpires)
	skew := 3 * time.Second
	tests := []struct {
		name string
		now  time.Time
		skew time.Duration
		want error
	}{
		{"at-created", testCreated, skew, nil},
		{"at-expires", testExpires, skew, nil},
		{"created-minus-skew", testCreated.Add(-skew), skew, nil},
		{"just-before-created-minus-skew", testCreated.Add(-skew - time.Nanosecond), skew, ErrNotYetValid},
		{"expires-plus-skew", testExpires.Add(skew), skew, nil},
		{"just-after-expires-plus-skew", testExpires.Add(skew + time.Nanosecond), skew, ErrExpired},
		{"zero-skew-before-created", testCreated.Add(-time.Nanosecond), 0, ErrNotYetValid},
		{"zero-skew-after-expires", testExpires.Add(time.Nanosecond), 0, ErrExpired},
		{"negative-skew-counts-as-zero", testExpires, -time.Hour, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(context.Background(), keys, h, testBody, tt.now, tt.skew)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Verify at %s = %v; want %v", tt.now.Format(time.RFC3339Nano), err, tt.want)
			}
		})
	}
}

// failingResolver fails every lookup with err.
type failingResolver struct{ err error }

func (r failingResolver) LookupKey(context.Context, string, string) (ed25519.PublicKey, error) {
	return nil, r.err
}

func TestVerifyLookupOrder(t *testing.T) {
	kp, _ := newTestKey(t)
	h, _ := kp.Sign(testBody, testCreated, testExpires)
	outage := errors.New("registry unreachable")
	keys := failingResolver{err: outage}

	// An expired header is rejected before any lookup.
	if _, err := Verify(context.Background(), keys, h, testBody, testExpires.Add(time.Hour), 0); !errors.Is(err, ErrExpired) {
		t.Errorf("Verify = %v; want ErrExpired", err)
	}
	// A lookup failure that is not an unknown key passes through and is not
	// mistaken for a verdict on the signature.
	_, err := Verify(context.Background(), keys, h, testBody, testCreated, 0)
	if !errors.Is(err, outage) || errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify = %v; want the resolver's error only", err)
	}
}

func TestVerifyDigest(t *testing.T) {
	tests := []struct {
		name  string
		value string
		body  []byte
		want  error
	}{
		{"match", DigestHeader(testBody), testBody, nil},
		{"vector", "BLAKE-512=" + becknDigest, []byte(becknBody), nil},
		{"tampered-body", DigestHeader(testBody), []byte("{}"), ErrDigestMismatch},
		{"other-algorithm", "SHA-256=" + Digest(testBody), testBody, ErrMalformedHeader},
		{"not-base64", "BLAKE-512=***", testBody, ErrMalformedHeader},
		{"short-digest", "BLAKE-512=" + base64.StdEncoding.EncodeToString([]byte("short")), testBody, ErrMalformedHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyDigest(tt.value, tt.body)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("VerifyDigest = %v; want %v", err, tt.want)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	kp, keys := newTestKey(b)
	body := []byte(strings.Repeat(`{"k":"v"},`, 200)) // a 2 KB body
	h, err := kp.Sign(body, testCreated, testExpires)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(ctx, keys, h, body, testCreated, DefaultSkew); err != nil {
			b.Fatal(err)
		}
	}
}
