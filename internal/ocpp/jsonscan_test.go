package ocpp

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestSpecialMatchesPlain holds the eight-byte test of str's fast loop to
// the byte table: every byte value at every position, among neighbours
// that are plain, high or themselves special, and random words.
func TestSpecialMatchesPlain(t *testing.T) {
	bytewise := func(w uint64) bool {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], w)
		for _, c := range b {
			if !plain[c] {
				return true
			}
		}
		return false
	}
	for _, fill := range []byte{'a', 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff} {
		for c := 0; c < 256; c++ {
			for pos := 0; pos < 8; pos++ {
				var b [8]byte
				for i := range b {
					b[i] = fill
				}
				b[pos] = byte(c)
				w := binary.LittleEndian.Uint64(b[:])
				if got, want := special(w), bytewise(w); got != want {
					t.Fatalf("special(% x) = %v; want %v", b, got, want)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		w := r.Uint64()
		if got, want := special(w), bytewise(w); got != want {
			t.Fatalf("special(%#016x) = %v; want %v", w, got, want)
		}
	}
}

// TestScannerStr reads strings that end at each position of the fast
// loop's words, with and without escapes and control characters.
func TestScannerStr(t *testing.T) {
	for n := 0; n < 40; n++ {
		body := make([]byte, n)
		for i := range body {
			body[i] = 'a' + byte(i%26)
		}
		in := append(append([]byte{'"'}, body...), '"', ',')
		s := &scanner{b: in}
		got, err := s.str()
		if err != nil || string(got) != string(body) || s.i != n+2 {
			t.Fatalf("str(%s) = %q, %v, at %d; want %q at %d", in, got, err, s.i, body, n+2)
		}
		for _, bad := range []byte{0x00, 0x1f, '\n'} {
			for pos := 0; pos < n; pos++ {
				in2 := append([]byte(nil), in...)
				in2[1+pos] = bad
				if _, err := (&scanner{b: in2}).str(); err == nil {
					t.Fatalf("str(%q) accepted a control character", in2)
				}
			}
		}
		for pos := 0; pos+1 < n; pos++ {
			in2 := append([]byte(nil), in...)
			in2[1+pos], in2[2+pos] = '\\', 'n'
			want := string(in2[1:1+pos]) + "\n" + string(in2[3+pos:n+1])
			got, err := (&scanner{b: in2}).str()
			if err != nil || string(got) != want {
				t.Fatalf("str(%q) = %q, %v; want %q", in2, got, err, want)
			}
		}
		if _, err := (&scanner{b: in[:n+1]}).str(); err == nil {
			t.Fatalf("str(%q) accepted an unterminated string", in[:n+1])
		}
	}
}
