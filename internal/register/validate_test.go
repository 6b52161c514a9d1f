package register

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
)

func validatorAt(now time.Time) *Register {
	return validatingRegister(func() time.Time { return now })
}

func requireField(t *testing.T, err error, field string) {
	t.Helper()
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, field, ve.Field, ve.Message)
}

// TestEveryTextFieldRefusesHiddenCharacters: the one-line rules apply to
// each text a payment request carries, and the error names the field.
func TestEveryTextFieldRefusesHiddenCharacters(t *testing.T) {
	r := validatorAt(time.Now())
	fields := map[string]func(*PaymentRequest, string){
		"title":               func(p *PaymentRequest, s string) { p.Title = s },
		"saleId":              func(p *PaymentRequest, s string) { p.SaleID = s },
		"cashierId":           func(p *PaymentRequest, s string) { p.CashierID = s },
		"rows[0].description": func(p *PaymentRequest, s string) { p.Rows[0].Description = s },
		"rows[0].sku":         func(p *PaymentRequest, s string) { p.Rows[0].SKU = s },
		"customer.email":      func(p *PaymentRequest, s string) { p.Customer = &payment.Customer{Email: s + "a@example.se"} },
	}
	for field, set := range fields {
		for name, bad := range map[string]string{
			"RLO": "x\u202e", "LRI": "x\u2066", "ZWSP": "x\u200b", "word joiner": "x\u2060", "BOM": "\ufeffx",
			"line separator": "x\u2028", "paragraph separator": "x\u2029", "NUL": "x\x00", "C1": "x\u0090",
			"LF": "x\n", "invalid UTF-8": "x\xff",
		} {
			t.Run(field+"/"+name, func(t *testing.T) {
				req := sale("20.00")
				set(&req, bad)
				requireField(t, r.validate(r.normalize(req)), field)
			})
		}
	}
}

func TestPaymentLimitsAreExact(t *testing.T) {
	r := validatorAt(time.Now())
	m := money.MustParse
	tests := []struct {
		name  string
		edit  func(*PaymentRequest)
		field string // "" accepted
	}{
		{"title at the limit", func(p *PaymentRequest) { p.Title = strings.Repeat("å", MaxTitle) }, ""},
		{"title past the limit", func(p *PaymentRequest) { p.Title = strings.Repeat("å", MaxTitle+1) }, "title"},
		{"amount at the limit", func(p *PaymentRequest) { setAmount(p, MaxAmount) }, ""},
		{"amount past the limit", func(p *PaymentRequest) { setAmount(p, MaxAmount+1) }, "amount"},
		{"currency other than the till's", func(p *PaymentRequest) { p.Currency = "NOK" }, "currency"},
		{"currency in lower case", func(p *PaymentRequest) { p.Currency = "sek" }, "currency"},
		{"method with a space", func(p *PaymentRequest) { p.Method = " seqr" }, "method"},
		{"known method, not configured", func(p *PaymentRequest) { p.Method = MethodPayson }, "method"},
		{"no rows", func(p *PaymentRequest) { p.Rows = nil }, "rows"},
		{"quantity with 3 decimals", func(p *PaymentRequest) {
			setAmount(p, m("10.00"))
			p.Rows[0] = Row{Description: "Ost", Quantity: "0.125", UnitPrice: m("80.00"), TotalAmount: m("10.00")}
		}, ""},
		{"quantity with 4 decimals", func(p *PaymentRequest) { p.Rows[0].Quantity = "1.0000"; p.Rows[0].UnitPrice = 0 }, "rows[0].quantity"},
		{"quantity past the limit", func(p *PaymentRequest) { p.Rows[0].Quantity = "1000000.001"; p.Rows[0].UnitPrice = 0 }, "rows[0].quantity"},
		{"tax rate 12.5", func(p *PaymentRequest) { p.Rows[0].TaxRate = "12.5" }, ""},
		{"tax rate 100.01", func(p *PaymentRequest) { p.Rows[0].TaxRate = "100.01" }, "rows[0].taxRate"},
		{"tax rate 6.125", func(p *PaymentRequest) { p.Rows[0].TaxRate = "6.125" }, "rows[0].taxRate"},
		{"ean of 7 digits", func(p *PaymentRequest) { p.Rows[0].EAN = "7310865" }, "rows[0].ean"},
		{"ean of 13 digits", func(p *PaymentRequest) { p.Rows[0].EAN = "7310865004703" }, ""},
		{"description past the limit", func(p *PaymentRequest) { p.Rows[0].Description = strings.Repeat("d", MaxDescription+1) }, "rows[0].description"},
		{"customer", func(p *PaymentRequest) {
			p.Customer = &payment.Customer{GovernmentID: "19121212-1212", Mobile: "+46701234567", Email: "kund@example.se"}
		}, ""},
		{"customer government id", func(p *PaymentRequest) { p.Customer = &payment.Customer{GovernmentID: "1212121212x"} }, "customer.governmentId"},
		{"customer mobile", func(p *PaymentRequest) { p.Customer = &payment.Customer{Mobile: "070 123"} }, "customer.mobile"},
		{"customer email", func(p *PaymentRequest) { p.Customer = &payment.Customer{Email: "no-at-sign"} }, "customer.email"},
		{"validUntil with seqr", func(p *PaymentRequest) { v := time.Now().Add(time.Hour); p.ValidUntil = &v }, "validUntil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := sale("20.00")
			tt.edit(&req)
			err := r.validate(r.normalize(req))
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			requireField(t, err, tt.field)
		})
	}
}

func setAmount(p *PaymentRequest, a money.Amount) {
	p.Amount, p.ReceiptTotal = a, a
	p.Rows[0].UnitPrice, p.Rows[0].TotalAmount = a, a
}

func TestValidUntilOnlyForPayLaterAndInTheFuture(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	require.NoError(t, validateValidUntil(MethodResursLater, nil, now))
	require.NoError(t, validateValidUntil(MethodSEQR, nil, now))
	require.NoError(t, validateValidUntil(MethodResursLater, at(time.Hour), now))
	requireField(t, validateValidUntil(MethodResursLater, at(0), now), "validUntil")
	requireField(t, validateValidUntil(MethodResursLater, at(-time.Second), now), "validUntil")
	requireField(t, validateValidUntil(MethodResurs, at(time.Hour), now), "validUntil")
}

func TestRefundAndTerminalTextRules(t *testing.T) {
	requireField(t, ValidateRefund(RefundRequest{Amount: 100, Reason: "trasig\u202e"}), "reason")
	requireField(t, ValidateRefund(RefundRequest{Amount: 100, CashierID: "bob\u200b"}), "cashierId")
	requireField(t, ValidateRefund(RefundRequest{Amount: MaxAmount + 1}), "amount")
	require.NoError(t, ValidateRefund(RefundRequest{Amount: 100, CashierID: "bob", Reason: strings.Repeat("r", MaxReason)}))
	requireField(t, ValidateRefund(RefundRequest{Amount: 100, Reason: strings.Repeat("r", MaxReason+1)}), "reason")
	cup := Row{Description: "Kopp", Quantity: "2", UnitPrice: 250, TotalAmount: 500, TaxRate: "25"}
	require.NoError(t, ValidateRefund(RefundRequest{Amount: 500, Rows: []Row{cup}}), "the lines returned, summing to the amount")
	requireField(t, ValidateRefund(RefundRequest{Amount: 600, Rows: []Row{cup}}), "amount")
	zero := cup
	zero.Quantity = "0"
	requireField(t, ValidateRefund(RefundRequest{Amount: 500, Rows: []Row{zero}}), "rows[0].quantity")
	requireField(t, ValidateRefund(RefundRequest{Amount: 0, Rows: []Row{{Description: "Rabatt", Quantity: "1", TotalAmount: -500}}}), "amount")

	ok := RegisterTerminalRequest{ResellerID: "r", ResellerUserID: "u", ResellerPassword: "p\u202e", ExternalTerminalID: "Shop 1/POS 2", Name: "Kassa 2"}
	require.NoError(t, ValidateTerminalRequest(ok), "the password is never inspected beyond its length")
	bad := ok
	bad.Name = "Kassa\u20662"
	requireField(t, ValidateTerminalRequest(bad), "name")
	bad = ok
	bad.ResellerUserID = ""
	requireField(t, ValidateTerminalRequest(bad), "resellerUserId")
	bad = ok
	bad.ResellerPassword = strings.Repeat("p", MaxPassword+1)
	requireField(t, ValidateTerminalRequest(bad), "resellerPassword")
}

// validatingRegister is a register that only validates: SEQR is its one
// configured method (the provider itself is never called).
func validatingRegister(now func() time.Time) *Register {
	pv := &prov{name: "seqr"}
	return &Register{cfg: DefaultConfig(), now: now, byName: map[string]*prov{"seqr": pv}, byMethod: map[string]*prov{"seqr": pv}}
}
