package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// encTime returns t as unix nanoseconds, or nil (NULL) for the zero time.
func encTime(t time.Time) (any, error) {
	n, ok, err := nanos(t)
	if !ok || err != nil {
		return nil, err
	}
	return n, nil
}

// nanos is encTime without the interface, whose boxing of the int64 cost
// an allocation per time on the MeterValues path (#16): t as Unix
// nanoseconds, ok false for the zero time.
func nanos(t time.Time) (n int64, ok bool, err error) {
	if t.IsZero() {
		return 0, false, nil
	}
	n = t.UnixNano()
	if !time.Unix(0, n).Equal(t) {
		return 0, false, fmt.Errorf("%w: time %s is outside the years 1678 to 2262", charging.ErrInvalidInput, t.Format(time.RFC3339Nano))
	}
	return n, true, nil
}

func encTimePtr(t *time.Time) (any, error) {
	if t == nil {
		return nil, nil
	}
	return encTime(*t)
}

// timeEnc encodes several times, keeping the first error.
type timeEnc struct{ err error }

func (e *timeEnc) t(t time.Time) any {
	v, err := encTime(t)
	if e.err == nil {
		e.err = err
	}
	return v
}

func (e *timeEnc) p(t *time.Time) any {
	v, err := encTimePtr(t)
	if e.err == nil {
		e.err = err
	}
	return v
}

func decTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func decTimePtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.Unix(0, n.Int64).UTC()
	return &t
}

func nullInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func nullFloat(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func decInt(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	v := n.Int64
	return &v
}

func decFloat(n sql.NullFloat64) *float64 {
	if !n.Valid {
		return nil
	}
	v := n.Float64
	return &v
}

// appendValuesJSON appends vs as the JSON array encoding/json would make of
// it (same keys, same omitted empty fields), without reflection: it runs for
// every MeterValues. Values must be finite; JSON has no NaN or Inf.
func appendValuesJSON(b []byte, vs []charging.SampledValue) ([]byte, error) {
	// Room for a typical value at once, rather than growing from nothing
	// through several copies for every MeterValues.
	b = slices.Grow(b, 2+len(vs)*valueJSONSize)
	b = append(b, '[')
	for i := range vs {
		v := &vs[i]
		if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
			return nil, fmt.Errorf("%w: sampled value %s is %v; store only finite values", charging.ErrInvalidInput, v.Measurand, v.Value)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"measurand":`...)
		b = appendJSONString(b, v.Measurand)
		if v.Phase != "" {
			b = append(b, `,"phase":`...)
			b = appendJSONString(b, v.Phase)
		}
		if v.Location != "" {
			b = append(b, `,"location":`...)
			b = appendJSONString(b, v.Location)
		}
		if v.Context != "" {
			b = append(b, `,"context":`...)
			b = appendJSONString(b, v.Context)
		}
		if v.Unit != "" {
			b = append(b, `,"unit":`...)
			b = appendJSONString(b, v.Unit)
		}
		b = append(b, `,"value":`...)
		b = strconv.AppendFloat(b, v.Value, 'g', -1, 64)
		b = append(b, `,"numeric":`...)
		b = strconv.AppendBool(b, v.Numeric)
		b = append(b, `,"raw":`...)
		b = appendJSONString(b, v.Raw)
		if v.RawUnit != "" {
			b = append(b, `,"raw_unit":`...)
			b = appendJSONString(b, v.RawUnit)
		}
		if v.Signed {
			b = append(b, `,"signed":true`...)
		}
		if v.Flagged != "" {
			b = append(b, `,"flagged":`...)
			b = appendJSONString(b, v.Flagged)
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// valueJSONSize is about what one sampled value takes in JSON, such as
// {"measurand":"Energy.Active.Import.Register","location":"Outlet","context":"Sample.Periodic","unit":"kWh","value":12.345,"numeric":true,"raw":"12345","raw_unit":"Wh"}.
const valueJSONSize = 160

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as with encoding/json.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func decodeValues(data []byte) ([]charging.SampledValue, error) {
	var vs []charging.SampledValue
	if err := json.Unmarshal(data, &vs); err != nil {
		return nil, fmt.Errorf("decode sampled values: %w", err)
	}
	return vs, nil
}
