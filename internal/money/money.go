// Package money holds amounts of money as integer minor units (öre, cent).
// Money is never a float in posd: provider decimals ("20.00", "93.31000") are
// parsed exactly and rendered back exactly.
package money

import (
	"errors"
	"fmt"
	"strings"
)

// Amount is an amount in minor units of its currency (1 SEK = 100).
// All currencies posd handles (SEK, NOK, DKK, EUR) have two decimals.
type Amount int64

// ErrSyntax is returned for text that is not a decimal amount.
var ErrSyntax = errors.New("not a decimal amount")

// ErrPrecision is returned for an amount with non-zero digits below one minor unit.
var ErrPrecision = errors.New("more than 2 decimals")

// ErrRange is returned for an amount too large to hold.
var ErrRange = errors.New("amount out of range")

// Parse reads a decimal amount such as "20", "20.5", "-5.00" or "93.31000".
// Digits past the second decimal are accepted only when they are zeros, so
// the result is always exact. Exponents, spaces, commas and "+" are refused.
// It is ParseDecimal followed by Decimal.Amount: one grammar for every
// decimal posd reads.
func Parse(s string) (Amount, error) {
	d, err := ParseDecimal(s)
	if err != nil {
		return 0, fmt.Errorf("parse amount: %w", err)
	}
	a, err := d.Amount()
	if err != nil {
		return 0, fmt.Errorf("parse amount: %w", err)
	}
	return a, nil
}

// MustParse is Parse for constants in tests and tables; it panics on bad input.
func MustParse(s string) Amount {
	a, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return a
}

// String renders the amount with exactly two decimals: "20.00", "-5.50".
func (a Amount) String() string {
	v := int64(a)
	sign := ""
	if v < 0 {
		sign = "-"
		v = -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// Decimals renders the amount with n >= 2 decimals, as SEQR's reports do ("93.31000").
func (a Amount) Decimals(n int) string {
	s := a.String()
	if n > 2 {
		s += strings.Repeat("0", n-2)
	}
	return s
}

// MarshalJSON writes the amount as a decimal string: amounts are never JSON numbers.
func (a Amount) MarshalJSON() ([]byte, error) {
	return []byte(`"` + a.String() + `"`), nil
}

// UnmarshalJSON accepts only a decimal string such as "20.00".
func (a *Amount) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("amount must be a decimal string such as \"20.00\", got %s", b)
	}
	v, err := Parse(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	*a = v
	return nil
}
