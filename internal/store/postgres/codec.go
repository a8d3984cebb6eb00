package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// encTime returns t as unix nanoseconds, or nil (NULL) for the zero time.
func encTime(t time.Time) (*int64, error) {
	if t.IsZero() {
		return nil, nil
	}
	n := t.UnixNano()
	if !time.Unix(0, n).Equal(t) {
		return nil, fmt.Errorf("%w: time %s is outside the years 1678 to 2262", charging.ErrInvalidInput, t.Format(time.RFC3339Nano))
	}
	return &n, nil
}

// timeEnc encodes several times, keeping the first error.
type timeEnc struct{ err error }

func (e *timeEnc) t(t time.Time) *int64 {
	v, err := encTime(t)
	if e.err == nil {
		e.err = err
	}
	return v
}

func (e *timeEnc) p(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	return e.t(*t)
}

func decTime(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}

func decTimePtr(n *int64) *time.Time {
	if n == nil {
		return nil
	}
	t := time.Unix(0, *n).UTC()
	return &t
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// decodeValues reads sampled values stored as JSON, the encoding/json form
// of []charging.SampledValue, in which rows written before migration 0015
// keep them (json, not jsonb: jsonb would turn -0 into 0).
func decodeValues(data []byte) ([]charging.SampledValue, error) {
	var vs []charging.SampledValue
	if err := json.Unmarshal(data, &vs); err != nil {
		return nil, fmt.Errorf("decode sampled values: %w", err)
	}
	return vs, nil
}
