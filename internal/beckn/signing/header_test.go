package signing

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAuthorizationForms(t *testing.T) {
	sig := becknSignature
	want := Authorization{
		KeyID:        KeyID{SubscriberID: "example-bap.com", UniqueKeyID: "ae3ea24b-cfec-495e-81f8-044aaef164ac"},
		KeyAlgorithm: "ed25519",
		Algorithm:    "ed25519",
		Created:      1641287875,
		Expires:      1641291475,
		Signature:    mustB64(t, sig),
	}
	tests := []struct {
		name   string
		header string
	}{
		{"beckn-layout", becknHeader},
		{"spaces-after-commas", `Signature keyId="example-bap.com|ae3ea24b-cfec-495e-81f8-044aaef164ac|ed25519", algorithm="ed25519", created="1641287875", expires="1641291475", headers="(created) (expires) digest", signature="` + sig + `"`},
		{"unquoted-timestamps", `Signature keyId="example-bap.com|ae3ea24b-cfec-495e-81f8-044aaef164ac|ed25519",algorithm=ed25519,created=1641287875,expires=1641291475,headers="(created) (expires) digest",signature="` + sig + `"`},
		{"reordered-and-extra-param", `signature  signature="` + sig + `",headers="(created) (expires) digest",expires="1641291475",created="1641287875",algorithm="ed25519",realm="x",keyId="example-bap.com|ae3ea24b-cfec-495e-81f8-044aaef164ac|ed25519"`},
		{"leading-space-and-ows-around-equals", ` Signature keyId = "example-bap.com|ae3ea24b-cfec-495e-81f8-044aaef164ac|ed25519" ,algorithm="ed25519",created="1641287875",expires="1641291475",headers="(created) (expires) digest",signature="` + sig + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAuthorization(tt.header)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ParseAuthorization mismatch (-want +got):\n%s", diff)
			}
		})
	}
	// String reproduces the published header byte for byte.
	if got := want.String(); got != becknHeader {
		t.Errorf("String =\n%s\nwant\n%s", got, becknHeader)
	}
}

func TestParseAuthorizationMalformed(t *testing.T) {
	ok := becknHeader
	tests := []struct {
		name   string
		header string
	}{
		{"empty", ""},
		{"scheme-only", "Signature"},
		{"scheme-and-space", "Signature "},
		{"wrong-scheme", strings.Replace(ok, "Signature", "Basic", 1)},
		{"no-space-after-scheme", strings.Replace(ok, "Signature ", "Signature,", 1)},
		{"duplicate-param", ok + `,created="1641287875"`},
		{"missing-key-id", strings.Replace(ok, `keyId=`, `kid=`, 1)},
		{"missing-algorithm", strings.Replace(ok, `algorithm="ed25519",`, ``, 1)},
		{"missing-created", strings.Replace(ok, `created="1641287875",`, ``, 1)},
		{"missing-expires", strings.Replace(ok, `expires="1641291475",`, ``, 1)},
		{"missing-headers", strings.Replace(ok, `headers="(created) (expires) digest",`, ``, 1)},
		{"key-id-two-parts", strings.Replace(ok, "|ae3ea24b-cfec-495e-81f8-044aaef164ac", "", 1)},
		{"key-id-four-parts", strings.Replace(ok, "|ed25519\"", "|ed25519|x\"", 1)},
		{"key-id-empty-part", strings.Replace(ok, "example-bap.com|", "|", 1)},
		{"created-negative", strings.Replace(ok, `created="1641287875"`, `created="-1"`, 1)},
		{"created-fraction", strings.Replace(ok, `created="1641287875"`, `created="1641287875.5"`, 1)},
		{"created-huge", strings.Replace(ok, `created="1641287875"`, `created="99999999999999999999"`, 1)},
		{"created-after-year-9999", strings.Replace(ok, `created="1641287875",expires="1641291475"`, `created="253402300800",expires="253402300800"`, 1)},
		{"created-after-expires", strings.Replace(ok, `created="1641287875"`, `created="1641291476"`, 1)},
		{"headers-reordered", strings.Replace(ok, "(created) (expires) digest", "(expires) (created) digest", 1)},
		{"signature-not-base64", strings.Replace(ok, `signature="`, `signature="!`, 1)},
		{"signature-url-base64", strings.Replace(ok, `signature="cjbhP0PFyrlSCNszJM1F/`, `signature="cjbhP0PFyrlSCNszJM1F_`, 1)},
		{"unterminated-quote", strings.TrimSuffix(ok, `"`)},
		{"escape-in-value", strings.Replace(ok, `example-bap.com`, `example\"bap.com`, 1)},
		{"control-char-in-value", strings.Replace(ok, `example-bap.com`, "example\nbap.com", 1)},
		{"trailing-comma", ok + ","},
		{"garbage-after-value", strings.Replace(ok, `algorithm="ed25519"`, `algorithm="ed25519"x`, 1)},
		{"name-without-value", strings.Replace(ok, `algorithm="ed25519"`, `algorithm`, 1)},
		{"empty-token-value", strings.Replace(ok, `algorithm="ed25519"`, `algorithm=`, 1)},
		{"too-long", ok + `,x="` + strings.Repeat("a", maxHeaderLen) + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAuthorization(tt.header)
			if !errors.Is(err, ErrMalformedHeader) {
				t.Errorf("ParseAuthorization(%q) = %+v, %v; want ErrMalformedHeader", tt.header, a, err)
			}
		})
	}
}

// FuzzParseAuthorization checks that the parser never panics and that
// anything it accepts survives String → ParseAuthorization unchanged.
func FuzzParseAuthorization(f *testing.F) {
	f.Add(becknHeader)
	f.Add(`Signature keyId="a|b|ed25519", algorithm=ed25519, created=1, expires=2, headers="(created) (expires) digest", signature=""`)
	f.Add(`Signature keyId="example-bg.com|dfb974ea-9113-4089-9a2d-77552b50624e|ed25519",algorithm="ed25519",created="1641287885",expires="1641287885",headers="(created) (expires) digest",signature="hJ5sCmbe7s9Wateq6QAdBGloVSkLuLHWOXcRkzrMcVLthFldV4gnT9Vrnq9iDNPVSKuDqaercVjQwFlj0Ml+3Q=="`)
	f.Add(`Signature a="`)
	f.Add(`Signature ,,,=`)
	f.Fuzz(func(t *testing.T, header string) {
		a, err := ParseAuthorization(header)
		if err != nil {
			if !errors.Is(err, ErrMalformedHeader) {
				t.Fatalf("error %v does not wrap ErrMalformedHeader", err)
			}
			return
		}
		again, err := ParseAuthorization(a.String())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", a.String(), err)
		}
		if diff := cmp.Diff(a, again); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
	})
}
