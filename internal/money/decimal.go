package money

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// MaxDigits bounds the digits of a Decimal's text. Quantities, tax rates and
// provider amounts need far fewer; the bound keeps hostile input from making
// arithmetic on it expensive.
const MaxDigits = 40

// Decimal is an exact decimal number, coef / 10^scale, with the scale it was
// written with ("2.50" keeps two decimals). It is the one decimal parser of
// posd: quantities and tax rates of receipt rows, provider amounts
// ("30.00000") and Amount itself go through it, so that "1.5" means the same
// everywhere. The zero value is 0. Compare with Cmp, not ==.
type Decimal struct {
	coef  *big.Int // nil is 0; never changed after construction
	scale int
}

// NewDecimal is unscaled / 10^scale: NewDecimal(2050, 2) is 20.50.
func NewDecimal(unscaled int64, scale int) Decimal {
	if scale < 0 {
		panic("money: negative decimal scale")
	}
	return Decimal{coef: big.NewInt(unscaled), scale: scale}
}

// ParseDecimal reads decimal text: an optional "-", digits, and optionally a
// "." followed by digits ("25", "0.5", "-5.00", "93.31000"). Exponents,
// spaces, "+", commas and a bare "." are refused (ErrSyntax); more than
// MaxDigits digits is ErrRange.
func ParseDecimal(s string) (Decimal, error) {
	rest := s
	if rest != "" && rest[0] == '-' {
		rest = rest[1:]
	}
	intPart, frac, hasDot := strings.Cut(rest, ".")
	if intPart == "" || (hasDot && frac == "") || !allDigits(intPart) || !allDigits(frac) {
		return Decimal{}, fmt.Errorf("parse decimal %q: %w", clip(s), ErrSyntax)
	}
	if len(intPart)+len(frac) > MaxDigits {
		return Decimal{}, fmt.Errorf("parse decimal %q: more than %d digits: %w", clip(s), MaxDigits, ErrRange)
	}
	coef, _ := new(big.Int).SetString(intPart+frac, 10) // digits only: cannot fail
	if s[0] == '-' {
		coef.Neg(coef)
	}
	return Decimal{coef: coef, scale: len(frac)}, nil
}

// MustDecimal is ParseDecimal for constants in tests and tables; it panics on bad input.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clip keeps error messages short whatever the input's length.
func clip(s string) string {
	if len(s) <= 48 {
		return s
	}
	return s[:48] + "..."
}

func (d Decimal) int() *big.Int {
	if d.coef == nil {
		return new(big.Int)
	}
	return d.coef
}

// Sign is -1, 0 or +1.
func (d Decimal) Sign() int { return d.int().Sign() }

// Scale is the number of decimals the value was written with.
func (d Decimal) Scale() int { return d.scale }

// Cmp compares d and e exactly: -1 if d < e, 0 if equal ("1.50" equals "1.5"), +1 if d > e.
func (d Decimal) Cmp(e Decimal) int {
	a, b := d.int(), e.int()
	switch {
	case d.scale < e.scale:
		a = new(big.Int).Mul(a, pow10(e.scale-d.scale))
	case d.scale > e.scale:
		b = new(big.Int).Mul(b, pow10(d.scale-e.scale))
	}
	return a.Cmp(b)
}

// CmpInt compares d with the integer v.
func (d Decimal) CmpInt(v int64) int { return d.Cmp(NewDecimal(v, 0)) }

// Scaled returns d x 10^n as an exact int64: Scaled(4) of "12.5" is 125000.
// Non-zero digits below 10^-n are ErrPrecision; a result beyond int64 is ErrRange.
func (d Decimal) Scaled(n int) (int64, error) {
	v := new(big.Int).Set(d.int())
	if d.scale <= n {
		v.Mul(v, pow10(n-d.scale))
	} else {
		var rem big.Int
		v.QuoRem(v, pow10(d.scale-n), &rem)
		if rem.Sign() != 0 {
			return 0, fmt.Errorf("decimal %s: more than %d decimals: %w", d, n, ErrPrecision)
		}
	}
	if !v.IsInt64() {
		return 0, fmt.Errorf("decimal %s: %w", d, ErrRange)
	}
	return v.Int64(), nil
}

// Amount converts to minor units exactly ("93.31000" is 93.31); digits
// below one minor unit must be zeros (ErrPrecision).
func (d Decimal) Amount() (Amount, error) {
	v, err := d.Scaled(2)
	return Amount(v), err
}

// Decimal is the amount as a Decimal with two decimals.
func (a Amount) Decimal() Decimal { return NewDecimal(int64(a), 2) }

// MulAmount is d x a exactly, such as a row's quantity times its unit
// price: 0.5 x 25.00 is 12.50. A product that is not a whole number of minor
// units (0.5 x 0.01) is ErrPrecision; beyond int64 it is ErrRange.
func (d Decimal) MulAmount(a Amount) (Amount, error) {
	p := Decimal{coef: new(big.Int).Mul(d.int(), big.NewInt(int64(a))), scale: d.scale + 2}
	return p.Amount()
}

// String renders the value with the scale it was written with, without
// leading zeros: "2.50", "-0.5", "25".
func (d Decimal) String() string {
	v := d.int()
	digits := new(big.Int).Abs(v).String()
	if d.scale > 0 {
		if len(digits) <= d.scale {
			digits = strings.Repeat("0", d.scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-d.scale] + "." + digits[len(digits)-d.scale:]
	}
	if v.Sign() < 0 {
		return "-" + digits
	}
	return digits
}

// MarshalText writes String.
func (d Decimal) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads what ParseDecimal reads.
func (d *Decimal) UnmarshalText(b []byte) error {
	v, err := ParseDecimal(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalJSON writes the decimal as a JSON string ("2.50"): posd's own
// documents never carry decimals as JSON numbers.
func (d Decimal) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(d.String())), nil }

// UnmarshalJSON reads a JSON string of decimal text or a JSON number
// (providers such as Resurs send 30.00000 as a number); the number's text is
// read exactly, never through a float. Exponents are refused.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		var err error
		if s, err = strconv.Unquote(s); err != nil {
			return fmt.Errorf("decimal %s: %w", clip(string(b)), ErrSyntax)
		}
	}
	return d.UnmarshalText([]byte(s))
}

// pow10 is 10^n.
func pow10(n int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}
