package signing

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// maxHeaderLen bounds the Authorization header we are willing to parse. A
// Beckn header is about 300 bytes; the bound keeps hostile input cheap.
const maxHeaderLen = 4096

// maxUnix is 9999-12-31T23:59:59Z. Larger timestamps are rejected so that
// time arithmetic on them cannot overflow.
const maxUnix = 253402300799

// Authorization is a parsed Beckn Signature authorization header. Its
// headers parameter is always SignedHeaders; ParseAuthorization rejects any
// other value.
type Authorization struct {
	// KeyID is the subscriber and unique key id from the keyId parameter.
	KeyID KeyID
	// KeyAlgorithm is the third component of the keyId parameter.
	KeyAlgorithm string
	// Algorithm is the algorithm parameter.
	Algorithm string
	// Created and Expires are the Unix times of the created and expires
	// parameters.
	Created, Expires int64
	// Signature is the decoded signature parameter.
	Signature []byte
}

// String formats a as an Authorization header value in the Beckn layout:
// every parameter quoted, in the order keyId, algorithm, created, expires,
// headers, signature. An empty KeyAlgorithm is written as Algorithm.
func (a Authorization) String() string {
	ka := a.KeyAlgorithm
	if ka == "" {
		ka = a.Algorithm
	}
	var b strings.Builder
	b.Grow(256)
	b.WriteString(`Signature keyId="`)
	b.WriteString(a.KeyID.SubscriberID)
	b.WriteByte('|')
	b.WriteString(a.KeyID.UniqueKeyID)
	b.WriteByte('|')
	b.WriteString(ka)
	b.WriteString(`",algorithm="`)
	b.WriteString(a.Algorithm)
	b.WriteString(`",created="`)
	b.WriteString(strconv.FormatInt(a.Created, 10))
	b.WriteString(`",expires="`)
	b.WriteString(strconv.FormatInt(a.Expires, 10))
	b.WriteString(`",headers="`)
	b.WriteString(SignedHeaders)
	b.WriteString(`",signature="`)
	b.WriteString(base64.StdEncoding.EncodeToString(a.Signature))
	b.WriteString(`"`)
	return b.String()
}

// ParseAuthorization parses a Beckn Signature header value (the form used in
// both Authorization and X-Gateway-Authorization). It checks syntax only:
// the scheme is "Signature" (any case), parameters are name=value pairs
// separated by commas with optional whitespace, values are tokens or quoted
// strings without escapes, each of keyId, algorithm, created, expires, headers
// and signature appears exactly once, keyId has three non-empty
// |-separated components, created and expires are non-negative decimal
// integers (at most year 9999) with created ≤ expires, headers is SignedHeaders and signature is
// standard base64. Unknown parameters are ignored, as HTTP Signatures allows.
// Every failure wraps ErrMalformedHeader.
func ParseAuthorization(header string) (Authorization, error) {
	var a Authorization
	if len(header) > maxHeaderLen {
		return a, malformed("header is %d bytes; limit %d", len(header), maxHeaderLen)
	}
	s := strings.TrimLeft(header, " \t")
	scheme, rest, ok := strings.Cut(s, " ")
	if !ok || !strings.EqualFold(scheme, "Signature") {
		return a, malformed("scheme is not Signature")
	}
	params, err := parseParams(rest)
	if err != nil {
		return a, err
	}
	get := func(name string) (string, error) {
		v, ok := params[name]
		if !ok {
			return "", malformed("%s parameter is missing", name)
		}
		return v, nil
	}

	keyID, err := get("keyId")
	if err != nil {
		return a, err
	}
	parts := strings.Split(keyID, "|")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return a, malformed(`keyId %q is not "{subscriber_id}|{unique_key_id}|{algorithm}"`, keyID)
	}
	a.KeyID = KeyID{SubscriberID: parts[0], UniqueKeyID: parts[1]}
	a.KeyAlgorithm = parts[2]

	if a.Algorithm, err = get("algorithm"); err != nil {
		return a, err
	}
	if a.Created, err = parseUnix(params, "created"); err != nil {
		return a, err
	}
	if a.Expires, err = parseUnix(params, "expires"); err != nil {
		return a, err
	}
	if a.Created > a.Expires {
		return a, malformed("created %d is after expires %d", a.Created, a.Expires)
	}
	headers, err := get("headers")
	if err != nil {
		return a, err
	}
	if headers != SignedHeaders {
		return a, malformed("headers is %q; want %q", headers, SignedHeaders)
	}
	sig, err := get("signature")
	if err != nil {
		return a, err
	}
	if a.Signature, err = base64.StdEncoding.DecodeString(sig); err != nil {
		return a, malformed("signature is not base64: %v", err)
	}
	return a, nil
}

// parseParams splits the auth-params after the scheme into a map, rejecting
// duplicates.
func parseParams(s string) (map[string]string, error) {
	params := make(map[string]string, 6)
	i := 0
	skipWS := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	for {
		skipWS()
		start := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		name := s[start:i]
		if name == "" {
			return nil, malformed("expected a parameter name at offset %d", i)
		}
		skipWS()
		if i >= len(s) || s[i] != '=' {
			return nil, malformed("parameter %s has no value", name)
		}
		i++
		skipWS()
		var value string
		if i < len(s) && s[i] == '"' {
			i++
			start := i
			for i < len(s) && s[i] != '"' {
				c := s[i]
				if c == '\\' || c < 0x20 || c == 0x7f {
					return nil, malformed("parameter %s contains byte %#x", name, c)
				}
				i++
			}
			if i >= len(s) {
				return nil, malformed("parameter %s has an unterminated quoted value", name)
			}
			value = s[start:i]
			i++
		} else {
			start := i
			for i < len(s) && isTokenChar(s[i]) {
				i++
			}
			value = s[start:i]
			if value == "" {
				return nil, malformed("parameter %s has an empty value", name)
			}
		}
		if _, dup := params[name]; dup {
			return nil, malformed("parameter %s appears twice", name)
		}
		params[name] = value
		skipWS()
		if i == len(s) {
			return params, nil
		}
		if s[i] != ',' {
			return nil, malformed("expected ',' after parameter %s", name)
		}
		i++
	}
}

// isTokenChar reports whether c is an RFC 7230 tchar. '/' and '=' are
// not, so base64 values must be quoted, as Beckn always does.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func parseUnix(params map[string]string, name string) (int64, error) {
	v, ok := params[name]
	if !ok {
		return 0, malformed("%s parameter is missing", name)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, malformed("%s %q is not a Unix timestamp", name, v)
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > maxUnix {
		return 0, malformed("%s %q is not a Unix timestamp", name, v)
	}
	return n, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedHeader, fmt.Sprintf(format, args...))
}
