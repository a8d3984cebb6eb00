package tariff

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Number is an OCPI number: an exact decimal that is read from and written
// to JSON as a JSON number (never a string, never a float64 on the way).
// Arithmetic goes through the embedded decimal.Decimal.
type Number struct {
	decimal.Decimal
}

// Limits on numbers read from JSON. They keep a hostile document from
// making us parse, compute with or print huge values, and they make sure
// that whatever we accept, we write in a form we accept again. No OCPI
// quantity comes near them.
const (
	maxNumberLen    = 256 // characters of the JSON literal
	maxFractionDigs = 32  // significant digits after the decimal point
	maxIntDigits    = 15  // digits before it: |n| < 1e15
)

// N returns a Number; it panics if s is not a decimal. It is meant for
// constants in code and tests.
func N(s string) Number { return Number{decimal.RequireFromString(s)} }

// Equal reports whether n and o have the same value (0.5 equals 0.50). It
// lets go-cmp compare values holding Numbers without options.
func (n Number) Equal(o Number) bool { return n.Decimal.Equal(o.Decimal) }

// MarshalJSON writes the number as a JSON number.
func (n Number) MarshalJSON() ([]byte, error) { return []byte(n.Decimal.String()), nil }

// UnmarshalJSON reads a JSON number. A number inside a string ("0.25") is
// tolerated, because some peers send them; null leaves n unchanged.
func (n *Number) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return nil
	}
	if len(data) > maxNumberLen+2 {
		return fmt.Errorf("number: %.20s… is longer than %d characters", data, maxNumberLen)
	}
	lit := data
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		lit = []byte(s)
		if !isJSONNumber(lit) {
			return fmt.Errorf("number: %q is not a number", s)
		}
	} else if !isJSONNumber(lit) {
		return fmt.Errorf("number: %s is not a number", data)
	}
	d, err := parseNumber(lit)
	if err != nil {
		return err
	}
	n.Decimal = d
	return nil
}

func parseNumber(lit []byte) (decimal.Decimal, error) {
	if len(lit) > maxNumberLen {
		return decimal.Decimal{}, fmt.Errorf("number: %.20s… is longer than %d characters", lit, maxNumberLen)
	}
	d, err := decimal.NewFromString(string(lit))
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("number: %w", err)
	}
	// Judge the size by exponent and digit count: comparing 1e999999999
	// with anything would build that number.
	d = d.Normalize() // 0.50 → 0.5, 0e-999 → 0
	if d.IsZero() {
		return decimal.Zero, nil
	}
	if d.Exponent() < -maxFractionDigs {
		return decimal.Decimal{}, fmt.Errorf("number: %s has more than %d decimals", lit, maxFractionDigs)
	}
	if int64(d.Exponent())+int64(d.NumDigits()) > maxIntDigits {
		return decimal.Decimal{}, fmt.Errorf("number: %s is too large", lit)
	}
	return d, nil
}

// isJSONNumber reports whether b is exactly one JSON number literal.
func isJSONNumber(b []byte) bool {
	if len(b) == 0 || !(b[0] == '-' || (b[0] >= '0' && b[0] <= '9')) {
		return false
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return false
	}
	_, isNum := v.(json.Number)
	return isNum && !dec.More() && dec.InputOffset() == int64(len(b))
}

// DateTime is an OCPI DateTime: RFC 3339 in UTC, where a missing zone
// designator means UTC and fractional seconds are allowed. It is always
// written in UTC with a Z.
type DateTime struct {
	time.Time
}

// Equal reports whether d and o are the same instant; it lets go-cmp compare
// values holding DateTimes without options.
func (d DateTime) Equal(o DateTime) bool { return d.Time.Equal(o.Time) }

const dateTimeLayout = "2006-01-02T15:04:05.999999999Z"

// MarshalJSON writes the instant in UTC, e.g. "2015-06-29T20:39:09Z".
func (d DateTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + d.UTC().Format(dateTimeLayout) + `"`), nil
}

// String returns the wire form.
func (d DateTime) String() string { return d.UTC().Format(dateTimeLayout) }

var errDateTimeRange = errors.New("date time: year outside 0001…9999")

// UnmarshalJSON reads an OCPI DateTime. Besides the spec's forms it
// tolerates an explicit offset (+01:00), converting to UTC.
func (d *DateTime) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("date time: %w", err)
	}
	t, err := ParseDateTime(s)
	if err != nil {
		return err
	}
	d.Time = t
	return nil
}

// ParseDateTime parses an OCPI DateTime string and returns it in UTC.
func ParseDateTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		var err2 error
		t, err2 = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
		if err2 != nil {
			return time.Time{}, fmt.Errorf("date time: %q is not RFC 3339", s)
		}
	}
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, errDateTimeRange
	}
	return t, nil
}
