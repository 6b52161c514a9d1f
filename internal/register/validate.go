package register

import (
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/posd/posd/internal/money"
)

// maxAmount bounds every amount of a request (10 000 000.00) so that sums
// of up to MaxRows rows can never overflow int64.
const maxAmount = money.Amount(1_000_000_000)

func validateKey(key string) error {
	switch {
	case key == "":
		return &ValidationError{Field: "Idempotency-Key", Message: "required"}
	case len(key) > 255:
		return &ValidationError{Field: "Idempotency-Key", Message: "at most 255 characters"}
	}
	for _, c := range key {
		if c < 0x21 || c > 0x7e {
			return &ValidationError{Field: "Idempotency-Key", Message: "printable ASCII only"}
		}
	}
	return nil
}

func (r *Register) normalize(req PaymentRequest) PaymentRequest {
	req.Method = strings.ToLower(strings.TrimSpace(req.Method))
	if req.Method == "" {
		req.Method = r.defaultMethod()
	}
	req.Currency = strings.ToUpper(strings.TrimSpace(req.Currency))
	if req.Title == "" {
		req.Title = r.cfg.Title
	}
	req.Rows = append([]Row(nil), req.Rows...)
	return req
}

// validate checks every field; the first problem found is named.
func (r *Register) validate(req PaymentRequest) error {
	bad := func(field, format string, args ...any) error {
		return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
	}
	if req.Amount <= 0 {
		return bad("amount", "must be greater than 0, got %s", req.Amount)
	}
	if req.Amount > maxAmount {
		return bad("amount", "at most %s", maxAmount)
	}
	if req.Currency != r.cfg.Currency {
		return bad("currency", "must be %s, got %q", r.cfg.Currency, req.Currency)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"saleId", req.SaleID, 64}, {"cashierId", req.CashierID, 64}, {"title", req.Title, 80}} {
		if utf8.RuneCountInString(f.v) > f.max {
			return bad(f.name, "at most %d characters", f.max)
		}
		if !utf8.ValidString(f.v) || strings.ContainsAny(f.v, "\x00\r\n") {
			return bad(f.name, "must be one line of valid UTF-8")
		}
	}
	if req.ReceiptTotal <= 0 || req.ReceiptTotal > maxAmount {
		return bad("receiptTotal", "must be greater than 0 and at most %s, got %s", maxAmount, req.ReceiptTotal)
	}
	if len(req.Rows) == 0 {
		return bad("rows", "at least one row is required")
	}
	if len(req.Rows) > r.cfg.MaxRows {
		return bad("rows", "at most %d rows", r.cfg.MaxRows)
	}
	var sum money.Amount
	for i, row := range req.Rows {
		field := func(name string) string { return fmt.Sprintf("rows[%d].%s", i, name) }
		if strings.TrimSpace(row.Description) == "" {
			return bad(field("description"), "required")
		}
		if utf8.RuneCountInString(row.Description) > 256 || !utf8.ValidString(row.Description) {
			return bad(field("description"), "at most 256 characters of valid UTF-8")
		}
		q, ok := parseDecimal(row.Quantity)
		if !ok || q.num.Sign() <= 0 {
			return bad(field("quantity"), "must be a decimal number greater than 0 such as \"1\" or \"0.5\", got %q", row.Quantity)
		}
		if row.TaxRate != "" {
			tr, ok := parseDecimal(row.TaxRate)
			if !ok || tr.num.Sign() < 0 || tr.cmp(100) > 0 {
				return bad(field("taxRate"), "must be a percentage between 0 and 100 such as \"25\", got %q", row.TaxRate)
			}
		}
		if row.TotalAmount == 0 || row.TotalAmount > maxAmount || row.TotalAmount < -maxAmount {
			return bad(field("totalAmount"), "required, not 0, and at most %s either way", maxAmount)
		}
		if row.UnitPrice > maxAmount || row.UnitPrice < -maxAmount {
			return bad(field("unitPrice"), "at most %s either way", maxAmount)
		}
		if row.UnitPrice != 0 && !q.timesEquals(row.UnitPrice, row.TotalAmount) {
			return bad(field("totalAmount"), "%s is not quantity %s x unitPrice %s", row.TotalAmount, row.Quantity, row.UnitPrice)
		}
		if len(row.SKU) > 64 {
			return bad(field("sku"), "at most 64 characters")
		}
		if len(row.EAN) > 14 || strings.Trim(row.EAN, "0123456789") != "" {
			return bad(field("ean"), "at most 14 digits")
		}
		sum += row.TotalAmount
	}
	if sum != req.ReceiptTotal {
		return bad("receiptTotal", "rows sum to %s but receiptTotal is %s", sum, req.ReceiptTotal)
	}
	return nil
}

// decimal is an exact decimal: num / 10^scale.
type decimal struct {
	num   *big.Int
	scale int
}

func parseDecimal(s string) (decimal, bool) {
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || (hasDot && frac == "") || len(s) > 24 {
		return decimal{}, false
	}
	digits := intPart + frac
	if strings.Trim(digits, "0123456789") != "" {
		return decimal{}, false
	}
	n, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return decimal{}, false
	}
	return decimal{num: n, scale: len(frac)}, true
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// cmp compares d with the integer v.
func (d decimal) cmp(v int64) int {
	return d.num.Cmp(new(big.Int).Mul(big.NewInt(v), pow10(d.scale)))
}

// timesEquals reports whether d x unit == total exactly (minor units).
func (d decimal) timesEquals(unit, total money.Amount) bool {
	lhs := new(big.Int).Mul(d.num, big.NewInt(int64(unit)))
	rhs := new(big.Int).Mul(big.NewInt(int64(total)), pow10(d.scale))
	return lhs.Cmp(rhs) == 0
}
