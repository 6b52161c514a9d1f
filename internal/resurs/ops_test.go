package resurs

import (
	"context"
	"testing"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func requireRuleRefusal(t *testing.T, err error, code string) {
	t.Helper()
	re, ok := payment.Refused(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, code, re.Code)
	assert.ErrorIs(t, err, payment.ErrNotSent, "posd refuses before sending")
}

// B.6 for annul: DEBITABLE and not frozen, at most what is left to debit,
// never partial on a card.
func TestAnnulRules(t *testing.T) {
	ctx := context.Background()
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	s, err := a.Start(ctx, order(MethodLater))
	require.NoError(t, err)
	f.book(s.Ref, true, false)

	requireRuleRefusal(t, a.Annul(ctx, s.Ref, money.MustParse("625.01"), "25"), "AMOUNT")
	require.NoError(t, a.Annul(ctx, s.Ref, money.MustParse("100.00"), "25"))
	assert.Equal(t, Decimal("525"), f.payments[s.Ref].TotalAmount)
	assert.True(t, f.payments[s.Ref].Has(StatusDebitable))

	f.setFrozen(s.Ref, true)
	requireRuleRefusal(t, a.Annul(ctx, s.Ref, 0, ""), "FROZEN")
	f.setFrozen(s.Ref, false)
	f.edit(s.Ref, func(p *Payment) { p.PaymentMethodType = "CARD" })
	requireRuleRefusal(t, a.Annul(ctx, s.Ref, money.MustParse("1.00"), ""), "CARD")
	require.NoError(t, a.Annul(ctx, s.Ref, 0, ""), "a card payment is annulled whole")
	assert.Equal(t, Decimal("0"), f.payments[s.Ref].TotalAmount)
	requireRuleRefusal(t, a.Annul(ctx, s.Ref, 0, ""), "NOT_DEBITABLE")
	assert.Equal(t, 2, f.count(OpAnnulPayment))
}

// B.6 for additional debit: within limit - totalAmount, not for cards.
func TestAdditionalDebitRules(t *testing.T) {
	ctx := context.Background()
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	s := paidPOS(t, f, a)
	rows := []payment.Row{{Description: "Tillägg", Quantity: "2", Total: money.MustParse("50.00"), TaxRate: "25", SKU: "X"}}

	requireRuleRefusal(t, a.AdditionalDebit(ctx, s.Ref, rows), "LIMIT")
	f.edit(s.Ref, func(p *Payment) { p.Limit = "1000" })
	require.NoError(t, a.AdditionalDebit(ctx, s.Ref, rows))
	assert.Equal(t, Decimal("675"), f.payments[s.Ref].TotalAmount)
	f.edit(s.Ref, func(p *Payment) { p.PaymentMethodType = "PAYMENT_PROVIDER" })
	requireRuleRefusal(t, a.AdditionalDebit(ctx, s.Ref, rows), "CARD")
	assert.Equal(t, 1, f.count(OpAdditionalDebitOfPayment))
}

func TestSpecOfLinesTotals(t *testing.T) {
	lines, err := LinesOf([]payment.Row{
		{Description: "Bok", Quantity: "3", Total: money.MustParse("300.00"), TaxRate: "12"},
		{Description: "Kaffe", Quantity: "1", Total: money.MustParse("25.00"), TaxRate: "25"},
	})
	require.NoError(t, err)
	spec, err := specOfLines(lines)
	require.NoError(t, err)
	assert.Equal(t, Decimal("325"), spec.TotalAmount)
	assert.Equal(t, Decimal("300"), spec.Lines[0].TotalAmount)
	assert.Equal(t, Decimal("32.14"), spec.Lines[0].TotalVatAmount)
	assert.Equal(t, Decimal("5"), spec.Lines[1].TotalVatAmount)
	assert.Equal(t, Decimal("37.14"), spec.TotalVatAmount)
}
