package resurssim

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
)

// dec is a decimal amount, quantity or percentage in millionths. Resurs
// keeps unrounded line amounts (spec E.7: 3 x 89.29 at 12 % is 300.0144) and
// recomputes net prices by division (B.7), so the emulator cannot use
// money.Amount's two decimals; six are enough for every rule it checks and
// it never touches a float.
type dec int64

const decScale = 1_000_000

var errDecSyntax = errors.New("not a decimal number")

// parseDec reads an xs:decimal or a JSON number: "1250", "-2.5", "+3",
// "4.000000000000000", "1e2" is refused. Digits past the sixth decimal are
// rounded half away from zero.
func parseDec(s string) (dec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errDecSyntax
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	ip, fp, _ := strings.Cut(s, ".")
	if ip == "" && fp == "" {
		return 0, errDecSyntax
	}
	for _, part := range []string{ip, fp} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, errDecSyntax
			}
		}
	}
	ip = strings.TrimLeft(ip, "0")
	if len(ip) > 12 {
		return 0, errors.New("decimal number too large")
	}
	var units int64
	if ip != "" {
		units, _ = strconv.ParseInt(ip, 10, 64)
	}
	roundUp := false
	if len(fp) > 6 {
		roundUp = fp[6] >= '5'
		fp = fp[:6]
	}
	fp += strings.Repeat("0", 6-len(fp))
	frac, _ := strconv.ParseInt(fp, 10, 64)
	v := units*decScale + frac
	if roundUp {
		v++
	}
	if v >= 1_000_000_000_000*decScale {
		return 0, errors.New("decimal number too large")
	}
	if neg {
		v = -v
	}
	return dec(v), nil
}

func mustDec(s string) dec {
	d, err := parseDec(s)
	if err != nil {
		panic(err)
	}
	return d
}

func decInt(n int64) dec { return dec(n * decScale) }

// String writes at least five decimals, as Resurs echoes them ("1100.00000"),
// and the sixth only when it is not zero.
func (d dec) String() string {
	v := int64(d)
	sign := ""
	if v < 0 {
		sign = "-"
		v = -v
	}
	frac := strconv.FormatInt(v%decScale+decScale, 10)[1:]
	if frac[5] == '0' {
		frac = frac[:5]
	}
	return sign + strconv.FormatInt(v/decScale, 10) + "." + frac
}

// mul returns a*b rounded half away from zero to six decimals.
func mul(a, b dec) dec {
	p := new(big.Int).Mul(big.NewInt(int64(a)), big.NewInt(int64(b)))
	return roundDiv(p, big.NewInt(decScale))
}

// div returns a/b rounded half away from zero; b must not be zero.
func div(a, b dec) dec {
	p := new(big.Int).Mul(big.NewInt(int64(a)), big.NewInt(decScale))
	return roundDiv(p, big.NewInt(int64(b)))
}

func roundDiv(n, d *big.Int) dec {
	neg := n.Sign()*d.Sign() < 0
	n = new(big.Int).Abs(n)
	d = new(big.Int).Abs(d)
	q, r := new(big.Int).QuoRem(n, d, new(big.Int))
	if r.Mul(r, big.NewInt(2)).Cmp(d) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	return dec(q.Int64())
}

func absDec(a dec) dec {
	if a < 0 {
		return -a
	}
	return a
}

// tolerance is B.7's: differences up to 0.05 are accepted and compensated.
const tolerance = dec(50_000)
