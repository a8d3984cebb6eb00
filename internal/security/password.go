package security

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Password lengths the OCPP security profiles allow (1.6 Security
// Whitepaper ed. 3, 2.0.1 BasicAuthPassword).
const (
	MinPasswordLen = 16
	MaxPasswordLen = 40
)

// ErrBadPassword says a password does not fit the specs' rules.
var ErrBadPassword = fmt.Errorf("the password must be %d to %d printable ASCII characters without spaces or colons", MinPasswordLen, MaxPasswordLen)

// CheckPassword reports whether p may be a charger's Basic-auth password:
// 16–40 printable ASCII characters (OCPP 2.0.1 passwordString), no space
// and no colon (the colon separates user and password in Basic auth).
func CheckPassword(p string) error {
	if len(p) < MinPasswordLen || len(p) > MaxPasswordLen {
		return ErrBadPassword
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] > '~' || p[i] == ':' {
			return ErrBadPassword
		}
	}
	return nil
}

// passwordAlphabet is what generated passwords are made of: letters and
// digits, which every charger's configuration screen can take.
const passwordAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"

// GeneratePassword returns a random 40-character password (about 233 bits).
func GeneratePassword() string {
	var b [MaxPasswordLen]byte
	var r [MaxPasswordLen * 2]byte
	for i := 0; i < len(b); {
		_, _ = rand.Read(r[:])
		for _, x := range r {
			// Rejection sampling keeps the choice uniform.
			if int(x) < 256-256%len(passwordAlphabet) && i < len(b) {
				b[i] = passwordAlphabet[int(x)%len(passwordAlphabet)]
				i++
			}
		}
	}
	return string(b[:])
}

// HashPassword returns the bcrypt hash stored for a password.
func HashPassword(p string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// verifier checks passwords against bcrypt hashes. A bcrypt check costs
// tens of milliseconds by design; a charger that reconnects with the
// password it used before is checked against a keyed SHA-256 of (hash,
// password) remembered from its last success instead, so a fleet
// reconnecting after a restart of the network does not queue behind
// thousands of bcrypt checks. Wrong passwords always take the slow path.
type verifier struct {
	key []byte
	// mu guards ok.
	mu sync.Mutex
	ok map[string][32]byte // charger id → mac(hash, password) of its last success
}

func newVerifier() *verifier {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return &verifier{key: k, ok: make(map[string][32]byte)}
}

func (v *verifier) mac(hash, password string) [32]byte {
	m := hmac.New(sha256.New, v.key)
	m.Write([]byte(hash))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

// verify reports whether password matches hash.
func (v *verifier) verify(id, hash, password string) bool {
	if hash == "" {
		return false
	}
	m := v.mac(hash, password)
	v.mu.Lock()
	known, ok := v.ok[id]
	v.mu.Unlock()
	if ok && hmac.Equal(known[:], m[:]) {
		return true
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return false
	}
	v.mu.Lock()
	v.ok[id] = m
	v.mu.Unlock()
	return true
}

// ErrNoCredentials says a request carried no Basic-auth credentials.
var ErrNoCredentials = errors.New("no basic authorization")

// ParseBasic reads an Authorization header value of the Basic scheme (RFC
// 7617): "Basic " then base64 of user ":" password. The scheme is
// case-insensitive; the user may not contain a colon, the password may.
func ParseBasic(h string) (user, password string, err error) {
	if h == "" {
		return "", "", ErrNoCredentials
	}
	scheme, rest, ok := strings.Cut(strings.TrimLeft(h, " "), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", errors.New("authorization is not of the Basic scheme")
	}
	rest = strings.Trim(rest, " ")
	if len(rest) > 512 {
		return "", "", errors.New("basic authorization too long")
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		// Some chargers leave the padding off.
		raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(rest, "="))
		if err != nil {
			return "", "", errors.New("basic authorization is not base64")
		}
	}
	user, password, ok = strings.Cut(string(raw), ":")
	if !ok {
		return "", "", errors.New("basic authorization has no colon between user and password")
	}
	return user, password, nil
}
