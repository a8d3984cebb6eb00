package ocpp

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// scanner walks JSON text without building values, for the hot paths: frame
// splitting and schema validation of every payload. It allocates only when
// a string has escapes.
type scanner struct {
	b []byte
	i int
}

var errSyntax = errors.New("invalid JSON")

// ws skips whitespace. Its first test is inlined: JSON on the wire
// rarely has any, and the scanner asks before every token.
func (s *scanner) ws() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return
	}
	s.wsSlow()
}

func (s *scanner) wsSlow() {
	i, b := s.i, s.b
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			s.i = i
			return
		}
	}
	s.i = i
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return s.b[s.i]
	}
	s.wsSlow()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) expect(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.i++
	return true
}

// plain marks the bytes a string can hold as they are: not the quote, the
// backslash or a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special reports whether any of the eight bytes in w is not plain: a
// control character, a quote or a backslash (each test is exact for "any
// byte": a borrow only runs from a byte that matched).
func special(w uint64) bool {
	q := w ^ ('"' * ones)
	bs := w ^ ('\\' * ones)
	return ((w-0x20*ones)&^w|(q-ones)&^q|(bs-ones)&^bs)&highs != 0
}

// str reads a string and returns its content: the raw bytes when it has no
// escapes, else the decoded text. The common string, one without escapes,
// is one loop over a table on locals (the scanner's fields would be
// loaded and stored for every byte).
func (s *scanner) str() ([]byte, error) {
	if s.peek() != '"' {
		return nil, errSyntax
	}
	b := s.b
	start := s.i + 1
	i := start
	for i+8 <= len(b) && !special(binary.LittleEndian.Uint64(b[i:])) {
		i += 8
	}
	for i < len(b) && plain[b[i]] {
		i++
	}
	if i < len(b) && b[i] == '"' {
		s.i = i + 1
		return b[start:i], nil
	}
	return s.strSlow(start, i)
}

// strSlow finishes a string from i, at a byte that is not plain: an
// escape, a control character or the end of the input.
func (s *scanner) strSlow(start, i int) ([]byte, error) {
	b := s.b
	escaped := false
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			s.i = i + 1
			if !escaped {
				return b[start:i], nil
			}
			var out string
			if err := json.Unmarshal(b[start-1:s.i], &out); err != nil {
				return nil, errSyntax
			}
			return []byte(out), nil
		case c == '\\':
			escaped = true
			i += 2
		case c < 0x20:
			s.i = i
			return nil, errSyntax
		default:
			i++
		}
	}
	s.i = i
	return nil, errSyntax
}

// number reads a number token and reports whether it has a fraction or an
// exponent.
func (s *scanner) number() (tok []byte, frac bool, err error) {
	s.ws()
	b, i := s.b, s.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if i, err = digits(b, i); err != nil {
		s.i = i
		return nil, false, err
	}
	if i < len(b) && b[i] == '.' {
		frac = true
		if i, err = digits(b, i+1); err != nil {
			s.i = i
			return nil, false, err
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		frac = true
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i, err = digits(b, i); err != nil {
			s.i = i
			return nil, false, err
		}
	}
	s.i = i
	return b[start:i], frac, nil
}

// digits skips the digits of b from i, of which there must be one.
func digits(b []byte, i int) (int, error) {
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == start {
		return i, errSyntax
	}
	return i, nil
}

func (s *scanner) literal(word string) error {
	s.ws()
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return errSyntax
	}
	s.i += len(word)
	return nil
}

// skip skips one value of any kind.
func (s *scanner) skip(depth int) error {
	if depth > maxDepth {
		return errSyntax
	}
	switch c := s.peek(); {
	case c == '{':
		s.i++
		if s.expect('}') {
			return nil
		}
		for {
			if _, err := s.str(); err != nil {
				return err
			}
			if !s.expect(':') {
				return errSyntax
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if s.expect('}') {
				return nil
			}
			if !s.expect(',') {
				return errSyntax
			}
		}
	case c == '[':
		s.i++
		if s.expect(']') {
			return nil
		}
		for {
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if s.expect(']') {
				return nil
			}
			if !s.expect(',') {
				return errSyntax
			}
		}
	case c == '"':
		_, err := s.str()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		_, _, err := s.number()
		return err
	}
	return errSyntax
}

// maxDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxDepth = 64

// end reports whether only whitespace is left.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// runeCount counts characters the way JSON Schema's maxLength does.
func runeCount(b []byte) int { return utf8.RuneCount(b) }

// Decoder reads values out of a payload the schema has already accepted,
// for the few hot messages whose reflection-based decoding dominated the
// server's profile. Its methods assume well-formed JSON and report any
// surprise as an error.
//
// The strings it returns share one copy of the payload, made on the first
// String call: a message's strings cost one allocation, not one each, and
// any of them keeps that copy alive. A Decoder from NewSharedDecoder makes
// no copy: its strings share the payload's own memory.
type Decoder struct {
	s scanner
	// text is the payload as a string, once a string has been read.
	text string
	// shared: text is the payload's own memory (NewSharedDecoder).
	shared bool
}

// NewDecoder returns a Decoder over b.
func NewDecoder(b []byte) *Decoder { return &Decoder{s: scanner{b: b}} }

// NewSharedDecoder returns a Decoder whose strings share b's memory instead
// of a copy of it, which saves a copy of every message on the hot path
// (#16). b must never be modified afterwards, as Handler.HandleCall's
// payload never is.
func NewSharedDecoder(b []byte) *Decoder { return &Decoder{s: scanner{b: b}, shared: true} }

// Reset makes d read b, so one Decoder can serve many payloads.
func (d *Decoder) Reset(b []byte) { *d = Decoder{s: scanner{b: b}} }

// Object calls field for each property of the next object value.
func (d *Decoder) Object(field func(name []byte) error) error {
	if !d.s.expect('{') {
		return errSyntax
	}
	if d.s.expect('}') {
		return nil
	}
	for {
		name, err := d.s.str()
		if err != nil || !d.s.expect(':') {
			return errSyntax
		}
		if err := field(name); err != nil {
			return err
		}
		if d.s.expect('}') {
			return nil
		}
		if !d.s.expect(',') {
			return errSyntax
		}
	}
}

// Array calls item for each element of the next array value.
func (d *Decoder) Array(item func() error) error {
	if !d.s.expect('[') {
		return errSyntax
	}
	if d.s.expect(']') {
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		if d.s.expect(']') {
			return nil
		}
		if !d.s.expect(',') {
			return errSyntax
		}
	}
}

// String reads the next string value.
func (d *Decoder) String() (string, error) {
	b, err := d.s.str()
	if err != nil {
		return "", err
	}
	// Unescaped, b is the payload's bytes just before the closing quote;
	// with escapes it is a fresh decoding.
	if end := d.s.i - 1; end >= len(b) && end <= len(d.s.b) && len(b) > 0 && &d.s.b[end-len(b)] == &b[0] {
		if d.text == "" {
			if d.shared {
				d.text = unsafe.String(&d.s.b[0], len(d.s.b))
			} else {
				d.text = string(d.s.b)
			}
		}
		return d.text[end-len(b) : end], nil
	}
	return string(b), nil
}

// Int reads the next integer value.
func (d *Decoder) Int() (int64, error) {
	tok, frac, err := d.s.number()
	if err != nil {
		return 0, err
	}
	if frac {
		return 0, errSyntax
	}
	return strconv.ParseInt(string(tok), 10, 64)
}

// Float reads the next number value as encoding/json reads a float64.
func (d *Decoder) Float() (float64, error) {
	tok, _, err := d.s.number()
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(string(tok), 64)
}

// Skip skips the next value.
func (d *Decoder) Skip() error { return d.s.skip(0) }

// End reports whether only whitespace is left.
func (d *Decoder) End() bool { return d.s.end() }
