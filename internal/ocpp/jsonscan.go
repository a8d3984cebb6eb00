package ocpp

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// scanner walks JSON text without building values, for the hot paths: frame
// splitting and schema validation of every payload. It allocates only when
// a string has escapes.
type scanner struct {
	b []byte
	i int
}

var errSyntax = errors.New("invalid JSON")

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
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

// str reads a string and returns its content: the raw bytes when it has no
// escapes, else the decoded text.
func (s *scanner) str() ([]byte, error) {
	if s.peek() != '"' {
		return nil, errSyntax
	}
	s.i++
	start := s.i
	escaped := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			if !escaped {
				return raw, nil
			}
			var out string
			if err := json.Unmarshal(s.b[start-1:s.i], &out); err != nil {
				return nil, errSyntax
			}
			return []byte(out), nil
		case c == '\\':
			escaped = true
			s.i += 2
		case c < 0x20:
			return nil, errSyntax
		default:
			s.i++
		}
	}
	return nil, errSyntax
}

// number reads a number token and reports whether it has a fraction or an
// exponent.
func (s *scanner) number() (tok []byte, frac bool, err error) {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return nil, false, errSyntax
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		frac = true
		if digits() == 0 {
			return nil, false, errSyntax
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		frac = true
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return nil, false, errSyntax
		}
	}
	return s.b[start:s.i], frac, nil
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
// any of them keeps that copy alive.
type Decoder struct {
	s scanner
	// text is the payload as a string, once a string has been read.
	text string
}

// NewDecoder returns a Decoder over b.
func NewDecoder(b []byte) *Decoder { return &Decoder{s: scanner{b: b}} }

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
			d.text = string(d.s.b)
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
