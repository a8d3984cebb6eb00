package evsession

import (
	"bytes"
	"fmt"

	"github.com/shopspring/decimal"
)

// maxAmountExponent bounds the decimal exponent of an Amount read from JSON,
// so that a hostile "1e999999999" cannot make formatting it allocate
// gigabytes. No currency needs more.
const maxAmountExponent = 64

// Amount is a money amount (or a fee percentage) carried as a JSON number
// without passing through float64.
type Amount struct {
	decimal.Decimal
}

// NewAmount returns d as an Amount.
func NewAmount(d decimal.Decimal) Amount { return Amount{d} }

// MarshalJSON writes the amount as a plain JSON number.
func (a Amount) MarshalJSON() ([]byte, error) {
	return []byte(a.Decimal.String()), nil
}

// UnmarshalJSON reads a JSON number (not a string) exactly.
func (a *Amount) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || !(b[0] == '-' || ('0' <= b[0] && b[0] <= '9')) {
		return fmt.Errorf("amount %s is not a JSON number", b)
	}
	d, err := decimal.NewFromString(string(b))
	if err != nil {
		return fmt.Errorf("amount %s: %w", b, err)
	}
	if e := d.Exponent(); e > maxAmountExponent || e < -maxAmountExponent {
		return fmt.Errorf("amount %s is out of range", b)
	}
	a.Decimal = d
	return nil
}

// Equal reports whether a and b are the same amount numerically (1.5 equals
// 1.50). It takes an Amount, unlike the decimal.Decimal method it shadows.
func (a Amount) Equal(b Amount) bool { return a.Decimal.Equal(b.Decimal) }
