package resurs

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/soap"
)

// Decimal is an exact decimal number as Resurs writes or reads it
// ("30.00000", "1250", "300.0144", "12.568"). It holds the number in a
// canonical text form (no leading zeros, no trailing fractional zeros, no
// "-0"), so equal numbers are equal strings. The zero value "" means absent.
// Resurs keeps amounts unrounded (E.7), so an amount is a Decimal, not a
// money.Amount, until posd rounds it on purpose.
type Decimal string

// ErrDecimal is returned for text that is not a plain decimal number.
var ErrDecimal = errors.New("not a decimal number")

// ParseDecimal reads a plain decimal ("-12.50", "30.00000"): an optional
// '-', digits, and optionally '.' and digits. No exponent, '+' or spaces.
func ParseDecimal(s string) (Decimal, error) {
	if !soap.IsDecimal(s) {
		return "", fmt.Errorf("parse decimal %q: %w", s, ErrDecimal)
	}
	return canon(s), nil
}

// MustDecimal is ParseDecimal for constants; it panics on bad input.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// canon brings a syntactically valid decimal into canonical form.
func canon(s string) Decimal {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, _ := strings.Cut(s, ".")
	ip = strings.TrimLeft(ip, "0")
	fp = strings.TrimRight(fp, "0")
	if ip == "" {
		ip = "0"
	}
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return Decimal(out)
}

// decimalOfRat renders r exactly when it has at most maxPlaces decimals,
// otherwise rounded half away from zero to maxPlaces.
func decimalOfRat(r *big.Rat, maxPlaces int) Decimal {
	return canon(r.FloatString(maxPlaces))
}

// DecimalOfAmount is the exact decimal of a money amount.
func DecimalOfAmount(a money.Amount) Decimal { return canon(a.String()) }

// Rat returns the number as a big.Rat (0 when absent).
func (d Decimal) Rat() *big.Rat {
	r := new(big.Rat)
	if d != "" {
		r.SetString(string(d))
	}
	return r
}

// IsZero reports whether d is absent or zero.
func (d Decimal) IsZero() bool { return d == "" || d == "0" }

// Sign returns -1, 0 or +1.
func (d Decimal) Sign() int {
	switch {
	case d.IsZero():
		return 0
	case d[0] == '-':
		return -1
	}
	return 1
}

// Cmp compares d and e as numbers.
func (d Decimal) Cmp(e Decimal) int { return d.Rat().Cmp(e.Rat()) }

// Amount returns d as money when it has no non-zero digit below one öre.
func (d Decimal) Amount() (money.Amount, error) {
	if d == "" {
		return 0, nil
	}
	return money.Parse(string(d))
}

// Round returns d rounded half away from zero to whole öre: for showing and
// summing what Resurs keeps with more decimals (B.7).
func (d Decimal) Round() money.Amount {
	a, err := money.Parse(string(decimalOfRat(d.Rat(), 2)))
	if err != nil {
		return 0 // out of range; Resurs's amounts never are
	}
	return a
}

// String is the canonical text ("0" when absent).
func (d Decimal) String() string {
	if d == "" {
		return "0"
	}
	return string(d)
}

// Places renders d with at least n decimals ("1100.00000" for n = 5), the
// way Resurs echoes numbers; more when d has more.
func (d Decimal) Places(n int) string {
	s := d.String()
	ip, fp, _ := strings.Cut(s, ".")
	if len(fp) < n {
		fp += strings.Repeat("0", n-len(fp))
	}
	if fp == "" {
		return ip
	}
	return ip + "." + fp
}

// MarshalJSON writes the number as a JSON number, exactly.
func (d Decimal) MarshalJSON() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalJSON accepts a JSON number (exponents included, read exactly), a
// string holding a plain decimal, or null (absent).
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*d = ""
		return nil
	case len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"':
		s := strings.TrimSpace(string(b[1 : len(b)-1]))
		if s == "" {
			*d = ""
			return nil
		}
		v, err := ParseDecimal(s)
		if err != nil {
			return err
		}
		*d = v
		return nil
	}
	s := string(b)
	if soap.IsDecimal(s) {
		*d = canon(s)
		return nil
	}
	// A JSON number with an exponent ("1.0E3"): exact through big.Rat, as
	// long as the result has a finite decimal expansion of sane length.
	if !jsonNumber(s) {
		return fmt.Errorf("parse decimal %s: %w", s, ErrDecimal)
	}
	mant, exp, _ := strings.Cut(strings.ToLower(s), "e")
	var e int
	if _, err := fmt.Sscan(exp, &e); err != nil || e > 40 || e < -40 {
		return fmt.Errorf("parse decimal %s: exponent out of range", s)
	}
	r, ok := new(big.Rat).SetString(mant)
	if !ok {
		return fmt.Errorf("parse decimal %s: %w", s, ErrDecimal)
	}
	p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(e))), nil))
	if e >= 0 {
		r.Mul(r, p)
	} else {
		r.Quo(r, p)
	}
	*d = decimalOfRat(r, 60)
	return nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// jsonNumber reports whether s is a JSON number (RFC 8259 grammar).
func jsonNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
