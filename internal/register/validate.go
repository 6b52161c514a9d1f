package register

import (
	"fmt"
	"strings"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/safetext"
)

// The limits of what the register accepts, in one table. Every one is
// enforced here and nowhere else (the API checks only JSON syntax and
// shape); api/openapi.yaml states each of them, and internal/api's contract
// tests send one request at and one past every limit through the real API.
const (
	// MaxAmount bounds every amount of a request (10 000 000.00) so that
	// sums of up to MaxRows rows can never overflow int64.
	MaxAmount = money.Amount(10_000_000_00)
	// MaxRows is the number of rows one payment may have.
	MaxRows = 200
	// MaxTitle is the invoice title's length in characters (SEQR shows it on the phone).
	MaxTitle = 80
	// MaxID is the length of saleId, cashierId and a row's sku.
	MaxID = 64
	// MaxDescription is a row description's length.
	MaxDescription = 200
	// MaxReason is a refund reason's length.
	MaxReason = 200
	// MaxQuantity and QuantityDecimals bound a row's quantity (above 0).
	MaxQuantity      = 1_000_000
	QuantityDecimals = 3
	// TaxRateDecimals: a VAT percent from 0 to 100 with at most 2 decimals.
	TaxRateDecimals = 2
	// MaxIdempotencyKey is the Idempotency-Key's length (printable ASCII, no space).
	MaxIdempotencyKey = 255
	// MaxCredential is the length of the reseller id, user id and the
	// till's external terminal id; MaxTerminalName the till's name (as the
	// config's terminal.name).
	MaxCredential   = 100
	MaxTerminalName = 100
	// MaxPassword is the reseller password's length in bytes.
	MaxPassword = 256
	// MaxEmail is an e-mail address's length (RFC 5321 path limit).
	MaxEmail = 254
)

// Methods posd knows. A known method whose provider is not configured is
// refused by validate too, with a message saying so.
const (
	MethodSEQR        = "seqr"
	MethodResurs      = "resurs"
	MethodResursLater = "resurs_later" // Resurs "Betala sen": pay later, long-lived
	MethodPayson      = "payson"
)

func knownMethod(m string) bool {
	switch m {
	case MethodSEQR, MethodResurs, MethodResursLater, MethodPayson:
		return true
	}
	return false
}

// configured reports whether a provider that takes method is wired in.
// SEQR is the only one until the provider seam lands; then this asks the
// register's provider table.

func validateKey(key string) error {
	switch {
	case key == "":
		return &ValidationError{Field: "Idempotency-Key", Message: "required"}
	case len(key) > MaxIdempotencyKey:
		return &ValidationError{Field: "Idempotency-Key", Message: fmt.Sprintf("at most %d characters", MaxIdempotencyKey)}
	}
	for _, c := range key {
		if c < 0x21 || c > 0x7e {
			return &ValidationError{Field: "Idempotency-Key", Message: "printable ASCII without spaces only"}
		}
	}
	return nil
}

// normalize fills what a request may leave out. It changes no value the
// caller gave: "sek" is not SEK, and " seqr" is not seqr.
func (r *Register) normalize(req PaymentRequest) PaymentRequest {
	if req.Method == "" {
		req.Method = r.defaultMethod()
	}
	if req.Title == "" {
		req.Title = r.cfg.Title
	}
	req.Rows = append([]Row(nil), req.Rows...)
	return req
}

// line applies the one-line text rules to a field.
func line(field, s string, max int) error {
	if err := safetext.Line(s, max); err != nil {
		return &ValidationError{Field: field, Message: err.Error()}
	}
	return nil
}

// validate checks every field; the first problem found is named.
func (r *Register) validate(req PaymentRequest) error {
	bad := func(field, format string, args ...any) error {
		return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
	}
	if !knownMethod(req.Method) {
		return bad("method", "unsupported payment method %q (one of seqr, resurs, resurs_later, payson)", req.Method)
	}
	if r.byMethod[req.Method] == nil {
		return bad("method", "payment method %q is not configured on this till (configured: %s)", req.Method, strings.Join(r.methods(), ", "))
	}
	if req.Amount <= 0 {
		return bad("amount", "must be greater than 0, got %s", req.Amount)
	}
	if req.Amount > MaxAmount {
		return bad("amount", "at most %s", MaxAmount)
	}
	if req.Currency != r.cfg.Currency {
		return bad("currency", "must be %s, got %q", r.cfg.Currency, req.Currency)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"saleId", req.SaleID, MaxID}, {"cashierId", req.CashierID, MaxID}, {"title", req.Title, MaxTitle}} {
		if err := line(f.name, f.v, f.max); err != nil {
			return err
		}
	}
	if req.ReceiptTotal <= 0 || req.ReceiptTotal > MaxAmount {
		return bad("receiptTotal", "must be greater than 0 and at most %s, got %s", MaxAmount, req.ReceiptTotal)
	}
	if len(req.Rows) == 0 {
		return bad("rows", "at least one row is required")
	}
	if len(req.Rows) > MaxRows {
		return bad("rows", "at most %d rows", MaxRows)
	}
	var sum money.Amount
	for i, row := range req.Rows {
		if err := validateRow(fmt.Sprintf("rows[%d].", i), row); err != nil {
			return err
		}
		sum += row.TotalAmount // bounded: MaxRows rows of at most MaxAmount
	}
	if sum != req.ReceiptTotal {
		return bad("receiptTotal", "rows sum to %s but receiptTotal is %s", sum, req.ReceiptTotal)
	}
	if err := validateCustomer(req.Customer); err != nil {
		return err
	}
	return validateValidUntil(req.Method, req.ValidUntil, r.now())
}

// validateValidUntil: a "Betala sen" link's expiry is for that method only
// and must lie ahead.
func validateValidUntil(method string, v *time.Time, now time.Time) error {
	switch {
	case v == nil:
		return nil
	case method != MethodResursLater:
		return &ValidationError{Field: "validUntil", Message: "only for method resurs_later"}
	case !v.After(now):
		return &ValidationError{Field: "validUntil", Message: "must be in the future, got " + v.Format(time.RFC3339)}
	}
	return nil
}

func validateRow(path string, row Row) error {
	bad := func(field, format string, args ...any) error {
		return &ValidationError{Field: path + field, Message: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(row.Description) == "" {
		return bad("description", "required")
	}
	if err := line(path+"description", row.Description, MaxDescription); err != nil {
		return err
	}
	q, err := money.ParseDecimal(row.Quantity)
	if err != nil || q.Sign() <= 0 || q.Scale() > QuantityDecimals || q.CmpInt(MaxQuantity) > 0 {
		return bad("quantity", "must be a decimal above 0 and at most %d with at most %d decimals, such as \"1\" or \"0.5\", got %q",
			MaxQuantity, QuantityDecimals, row.Quantity)
	}
	if row.TaxRate != "" {
		tr, err := money.ParseDecimal(row.TaxRate)
		if err != nil || tr.Sign() < 0 || tr.CmpInt(100) > 0 || tr.Scale() > TaxRateDecimals {
			return bad("taxRate", "must be a percentage from 0 to 100 with at most %d decimals, such as \"25\", got %q", TaxRateDecimals, row.TaxRate)
		}
	}
	if row.TotalAmount == 0 || row.TotalAmount > MaxAmount || row.TotalAmount < -MaxAmount {
		return bad("totalAmount", "required, not 0, and at most %s either way", MaxAmount)
	}
	if row.UnitPrice > MaxAmount || row.UnitPrice < -MaxAmount {
		return bad("unitPrice", "at most %s either way", MaxAmount)
	}
	if row.UnitPrice != 0 {
		if t, err := q.MulAmount(row.UnitPrice); err != nil || t != row.TotalAmount {
			return bad("totalAmount", "%s is not quantity %s x unitPrice %s", row.TotalAmount, row.Quantity, row.UnitPrice)
		}
	}
	if err := line(path+"sku", row.SKU, MaxID); err != nil {
		return err
	}
	if row.EAN != "" && (len(row.EAN) < 8 || len(row.EAN) > 14 || strings.Trim(row.EAN, "0123456789") != "") {
		return bad("ean", "must be 8 to 14 digits")
	}
	return nil
}

// validateCustomer checks the optional pre-fill for the provider's
// checkout: the shapes only, since the provider checks the rest (a
// personnummer's checksum, whether a number takes SMS).
func validateCustomer(c *payment.Customer) error {
	if c == nil {
		return nil
	}
	bad := func(field, msg string) error { return &ValidationError{Field: "customer." + field, Message: msg} }
	if c.GovernmentID != "" && !isGovernmentID(c.GovernmentID) {
		return bad("governmentId", "must be a Swedish personal or organisation number: YYMMDD-NNNN, YYYYMMDDNNNN or NNNNNN-NNNN")
	}
	if c.Mobile != "" && !isMobile(c.Mobile) {
		return bad("mobile", "must be a phone number of 7 to 15 digits, optionally starting with +, such as +46701234567")
	}
	if c.Email != "" {
		if err := line("customer.email", c.Email, MaxEmail); err != nil {
			return err
		}
		local, domain, ok := strings.Cut(c.Email, "@")
		if !ok || local == "" || domain == "" || strings.ContainsAny(c.Email, " ") || strings.Contains(domain, "@") || !strings.Contains(domain, ".") {
			return bad("email", "must be an e-mail address such as name@example.se")
		}
	}
	return nil
}

// isGovernmentID: 10 or 12 digits, with an optional "-" or "+" (a
// centenarian's personnummer) before the last four.
func isGovernmentID(s string) bool {
	if n := len(s); n == 11 || n == 13 {
		if c := s[n-5]; c != '-' && c != '+' {
			return false
		}
		s = s[:n-5] + s[n-4:]
	}
	return (len(s) == 10 || len(s) == 12) && strings.Trim(s, "0123456789") == ""
}

func isMobile(s string) bool {
	digits := strings.TrimPrefix(s, "+")
	return len(digits) >= 7 && len(digits) <= 15 && strings.Trim(digits, "0123456789") == ""
}

// ValidateRefund checks a refund request before anything is looked up. It
// needs no state, so the API calls it too (and answers 422 before the
// register is asked); Refund calls it again.
func ValidateRefund(req RefundRequest) error {
	if len(req.Rows) > 0 {
		if len(req.Rows) > MaxRows {
			return &ValidationError{Field: "rows", Message: fmt.Sprintf("at most %d rows", MaxRows)}
		}
		var sum money.Amount
		for i, row := range req.Rows {
			if err := validateRow(fmt.Sprintf("rows[%d].", i), row); err != nil {
				return err
			}
			sum += row.TotalAmount // bounded: MaxRows rows of at most MaxAmount
		}
		if sum != req.Amount {
			return &ValidationError{Field: "amount", Message: fmt.Sprintf("the rows refunded sum to %s but amount is %s", sum, req.Amount)}
		}
	}
	if req.Amount <= 0 {
		return &ValidationError{Field: "amount", Message: fmt.Sprintf("must be greater than 0, got %s", req.Amount)}
	}
	if req.Amount > MaxAmount {
		return &ValidationError{Field: "amount", Message: fmt.Sprintf("at most %s", MaxAmount)}
	}
	if err := line("cashierId", req.CashierID, MaxID); err != nil {
		return err
	}
	return line("reason", req.Reason, MaxReason)
}

// ValidateTerminalRequest checks a registration before SEQR is called. The
// password is checked for presence and length only, and never echoed. Like
// ValidateRefund it needs no state: the API calls it, RegisterTerminal again.
func ValidateTerminalRequest(req RegisterTerminalRequest) error {
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"resellerId", req.ResellerID, MaxCredential}, {"resellerUserId", req.ResellerUserID, MaxCredential},
		{"resellerPassword", req.ResellerPassword, 0}, {"externalTerminalId", req.ExternalTerminalID, MaxCredential},
		{"name", req.Name, MaxTerminalName},
	} {
		if strings.TrimSpace(f.v) == "" {
			return &ValidationError{Field: f.name, Message: "required"}
		}
		if f.max == 0 {
			continue
		}
		if err := line(f.name, f.v, f.max); err != nil {
			return err
		}
	}
	if len(req.ResellerPassword) > MaxPassword {
		return &ValidationError{Field: "resellerPassword", Message: fmt.Sprintf("at most %d bytes", MaxPassword)}
	}
	return nil
}

// clipText keeps a message short whatever the input's length.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
