package payson

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/posd/posd/internal/money"
)

// parseDec reads plain decimal text ("1", "0.25", "-5.5", "30.00000")
// exactly. Exponents, "+", spaces and commas are refused: Payson's numbers
// never carry them and a float-shaped value would hide rounding.
func parseDec(s string) (*big.Rat, error) {
	rest := strings.TrimPrefix(s, "-")
	ip, fp, dot := strings.Cut(rest, ".")
	if ip == "" || (dot && fp == "") || len(rest) > 40 {
		return nil, fmt.Errorf("%q is not a decimal number", s)
	}
	for _, part := range []string{ip, fp} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return nil, fmt.Errorf("%q is not a decimal number", s)
			}
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("%q is not a decimal number", s)
	}
	return r, nil
}

var hundred = big.NewRat(100, 1)

// ratOf returns an amount as a number of currency units.
func ratOf(a money.Amount) *big.Rat { return big.NewRat(int64(a), 100) }

// round2 rounds r to minor units, half away from zero (Payson's and every
// Swedish till's rounding of 0.005).
func round2(r *big.Rat) (money.Amount, error) {
	x := new(big.Rat).Mul(r, hundred)
	num, den := new(big.Int).Set(x.Num()), x.Denom()
	neg := num.Sign() < 0
	num.Abs(num)
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if new(big.Int).Mul(m, big.NewInt(2)).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() || q.Int64() > 1<<53 {
		return 0, errors.New("amount out of range")
	}
	v := q.Int64()
	if neg {
		v = -v
	}
	return money.Amount(v), nil
}

// decText renders r exactly with the fewest decimals (at most 12); r must
// have a finite decimal expansion, as every value parsed by parseDec has.
func decText(r *big.Rat) string {
	for n := 0; n <= 12; n++ {
		s := r.FloatString(n)
		back, ok := new(big.Rat).SetString(s)
		if ok && back.Cmp(r) == 0 {
			return s
		}
	}
	return r.FloatString(12)
}

// PercentToFraction turns a tax rate in percent ("25", "12.5") into Payson's
// fraction ("0.25", "0.125") exactly.
func PercentToFraction(pct string) (string, error) {
	r, err := parseDec(pct)
	if err != nil {
		return "", err
	}
	if r.Sign() < 0 || r.Cmp(hundred) > 0 {
		return "", fmt.Errorf("tax rate %s%% is outside 0..100", pct)
	}
	return decText(new(big.Rat).Quo(r, hundred)), nil
}

// Totals are the amounts Payson computes for an item or an order (D.7).
type Totals struct {
	IncludingTax money.Amount
	ExcludingTax money.Amount
	Tax          money.Amount
}

// ItemTotals computes one line: incl = unitPrice x quantity x (1 -
// discountRate), excl = incl / (1 + taxRate), tax = incl - excl, each
// rounded to minor units.
func ItemTotals(it Item) (Totals, error) {
	qty, err := parseDec(it.Quantity)
	if err != nil {
		return Totals{}, fmt.Errorf("quantity: %w", err)
	}
	tax := new(big.Rat)
	if it.TaxRate != "" {
		if tax, err = parseDec(it.TaxRate); err != nil {
			return Totals{}, fmt.Errorf("taxRate: %w", err)
		}
	}
	disc := new(big.Rat)
	if it.DiscountRate != "" {
		if disc, err = parseDec(it.DiscountRate); err != nil {
			return Totals{}, fmt.Errorf("discountRate: %w", err)
		}
	}
	one := big.NewRat(1, 1)
	incl := new(big.Rat).Mul(ratOf(it.UnitPrice), qty)
	incl.Mul(incl, new(big.Rat).Sub(one, disc))
	inclA, err := round2(incl)
	if err != nil {
		return Totals{}, err
	}
	excl := new(big.Rat).Quo(ratOf(inclA), new(big.Rat).Add(one, tax))
	exclA, err := round2(excl)
	if err != nil {
		return Totals{}, err
	}
	return Totals{IncludingTax: inclA, ExcludingTax: exclA, Tax: inclA - exclA}, nil
}

// OrderTotals sums the lines' totals.
func OrderTotals(items []Item) (Totals, error) {
	var t Totals
	for i, it := range items {
		lt, err := ItemTotals(it)
		if err != nil {
			return Totals{}, fmt.Errorf("order.items[%d].%w", i, err)
		}
		t.IncludingTax += lt.IncludingTax
		t.ExcludingTax += lt.ExcludingTax
		t.Tax += lt.Tax
	}
	return t, nil
}
