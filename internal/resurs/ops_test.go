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

func annulOrder(s payment.Session, id, amount string) payment.RefundOrder {
	o := refundOrder(s, id, amount, false, "0")
	o.Method = MethodLater
	return o
}

// B.6 for annul: DEBITABLE and not frozen, at most what is left to debit,
// never partial on a card; each annulment tagged with posd's id of it.
func TestAnnulRules(t *testing.T) {
	ctx := context.Background()
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	s, err := a.Start(ctx, order(MethodLater))
	require.NoError(t, err)
	f.book(s.Ref, true, false)

	_, err = a.Annul(ctx, annulOrder(s, "a0", "625.01"))
	requireRuleRefusal(t, err, "AMOUNT")
	a1, err := a.Annul(ctx, annulOrder(s, "a1", "100.00"))
	require.NoError(t, err)
	assert.Equal(t, s.Ref+"/posd-a1", a1.Ref)
	assert.Equal(t, Decimal("525"), f.payments[s.Ref].TotalAmount)
	assert.True(t, f.payments[s.Ref].Has(StatusDebitable))
	again, err := a.Annul(ctx, annulOrder(s, "a1", "100.00"))
	require.NoError(t, err, "a retry of the same annulment")
	assert.Equal(t, a1, again)
	assert.Equal(t, 1, f.count(OpAnnulPayment), "never annulled twice")

	f.setFrozen(s.Ref, true)
	_, err = a.Annul(ctx, annulOrder(s, "a2", "525.00"))
	requireRuleRefusal(t, err, "FROZEN")
	f.setFrozen(s.Ref, false)
	f.edit(s.Ref, func(p *Payment) { p.PaymentMethodType = "CARD" })
	_, err = a.Annul(ctx, annulOrder(s, "a3", "1.00"))
	requireRuleRefusal(t, err, "CARD")
	_, err = a.Annul(ctx, annulOrder(s, "a4", "525.00"))
	require.NoError(t, err, "a card payment is annulled whole")
	assert.Equal(t, Decimal("0"), f.payments[s.Ref].TotalAmount)
	_, err = a.Annul(ctx, annulOrder(s, "a5", "1.00"))
	requireRuleRefusal(t, err, "NOT_DEBITABLE")
	assert.Equal(t, 2, f.count(OpAnnulPayment))
}

// An annulment whose reply is lost is found by its tag: done, not resent;
// and a queued finalize then ends quietly (posd's own annulment), while
// one after Resurs's annulment is raised.
func TestAnnulReplyLostAndQueuedFinalize(t *testing.T) {
	ctx := context.Background()
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	s, err := a.Start(ctx, order(MethodLater))
	require.NoError(t, err)
	f.book(s.Ref, true, false)
	c, err := a.Check(ctx, s)
	require.NoError(t, err)
	task := a.AfterPaid(order(MethodLater), s, c)[0]

	f.setDrop(OpAnnulPayment)
	res, err := a.Annul(ctx, annulOrder(s, "a1", "625.00"))
	f.setDrop("")
	require.NoError(t, err, "the lost reply is resolved by reading back")
	assert.Equal(t, s.Ref+"/posd-a1", res.Ref)
	assert.Equal(t, 1, f.count(OpAnnulPayment))

	require.NoError(t, a.RunTask(ctx, task), "nothing is left to finalize after posd's annulment")
	assert.Zero(t, f.count(OpFinalizePayment))

	o2 := order(MethodLater)
	o2.PaymentID = "fedcba9876543210fedcba9876543210"
	s2, err := a.Start(ctx, o2)
	require.NoError(t, err)
	f.book(s2.Ref, true, false)
	c2, err := a.Check(ctx, s2)
	require.NoError(t, err)
	task2 := a.AfterPaid(o2, s2, c2)[0]
	f.edit(s2.Ref, func(p *Payment) {
		p.Diffs = append(p.Diffs, Diff{Type: DiffAnnul, CreatedBy: "fraud-control", Spec: Spec{TotalAmount: p.TotalAmount}})
	})
	err = a.RunTask(ctx, task2)
	re, ok := payment.Refused(err)
	require.True(t, ok, "%v", err)
	assert.True(t, re.Permanent, "Resurs annulled a payment posd recorded paid: raised for manual handling")
}

// A refund of a "Betala sen" payment not finalized yet says to annul.
func TestRefundBeforeFinalizeSaysAnnul(t *testing.T) {
	ctx := context.Background()
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	s, err := a.Start(ctx, order(MethodLater))
	require.NoError(t, err)
	f.book(s.Ref, true, false)
	_, err = a.Refund(ctx, refundOrder(s, "r1", "100.00", false, "0"))
	re, ok := payment.Refused(err)
	require.True(t, ok, "%v", err)
	assert.Contains(t, re.Message, "annulled instead")
	assert.Zero(t, f.count(OpCreditPayment))
}

// A refund that names the lines returned credits those lines.
func TestRefundByLines(t *testing.T) {
	ctx := context.Background()
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	s := paidPOS(t, f, a)
	r := refundOrder(s, "r1", "250.00", false, "0")
	r.Rows = []payment.Row{
		{Description: "Kopp", Quantity: "2", UnitPrice: money.MustParse("100.00"), Total: money.MustParse("200.00"), TaxRate: "25", SKU: "K1"},
		{Description: "Fat", Quantity: "1", Total: money.MustParse("50.00"), TaxRate: "12", SKU: "F1"},
	}
	_, err := a.Refund(ctx, r)
	require.NoError(t, err)
	spec := f.last[OpCreditPayment].Child("partPaymentSpec")
	require.NotNil(t, spec, "a part credit carries its lines")
	lines := spec.Children("specLines")
	require.Len(t, lines, 2)
	assert.Equal(t, "Kopp", lines[0].Str("description"))
	assert.Equal(t, "K1", lines[0].Str("artNo"))
	assert.Equal(t, "Fat", lines[1].Str("description"))
	total, err := ParseDecimal(spec.Str("totalAmount"))
	require.NoError(t, err)
	assert.Equal(t, 0, total.Rat().Cmp(DecimalOfAmount(money.MustParse("250.00")).Rat()), "the lines sum to the amount: %s", total)
	assert.Equal(t, Decimal("375"), f.payments[s.Ref].TotalAmount)
}

func debitOrder(s payment.Session, id string) payment.DebitOrder {
	return payment.DebitOrder{DebitID: id, PaymentID: paymentID, Method: MethodPOS, Session: s, TransactionRef: s.Ref,
		Rows:   []payment.Row{{Description: "Tillägg", Quantity: "2", Total: money.MustParse("50.00"), TaxRate: "25", SKU: "X"}},
		Amount: money.MustParse("50.00"), Currency: "SEK"}
}

// B.6 for additional debit: within limit - totalAmount, not for cards; the
// added amount is finalized through the outbox; a lost reply is found by
// its tag.
func TestAdditionalDebitRules(t *testing.T) {
	ctx := context.Background()
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	s := paidPOS(t, f, a)

	_, err := a.AdditionalDebit(ctx, debitOrder(s, "d0"))
	requireRuleRefusal(t, err, "LIMIT")
	f.edit(s.Ref, func(p *Payment) { p.Limit = "1000" })
	d1, err := a.AdditionalDebit(ctx, debitOrder(s, "d1"))
	require.NoError(t, err)
	assert.Equal(t, s.Ref+"/posd-d1", d1.Ref)
	assert.Equal(t, Decimal("675"), f.payments[s.Ref].TotalAmount)
	require.Len(t, d1.Tasks, 1)
	assert.Equal(t, TaskFinalize, d1.Tasks[0].Kind)
	assert.True(t, f.payments[s.Ref].Has(StatusDebitable), "added, not captured yet")
	require.NoError(t, a.RunTask(ctx, d1.Tasks[0]))
	assert.False(t, f.payments[s.Ref].Has(StatusDebitable), "captured by the task")

	again, err := a.AdditionalDebit(ctx, debitOrder(s, "d1"))
	require.NoError(t, err, "a retry of the same debit")
	assert.Equal(t, d1.Ref, again.Ref)
	assert.Equal(t, 1, f.count(OpAdditionalDebitOfPayment), "never debited twice")

	f.setDrop(OpAdditionalDebitOfPayment)
	d2, err := a.AdditionalDebit(ctx, debitOrder(s, "d2"))
	f.setDrop("")
	require.NoError(t, err, "the lost reply is resolved by reading back")
	assert.Equal(t, s.Ref+"/posd-d2", d2.Ref)
	assert.Equal(t, 2, f.count(OpAdditionalDebitOfPayment))

	f.edit(s.Ref, func(p *Payment) { p.PaymentMethodType = "PAYMENT_PROVIDER" })
	_, err = a.AdditionalDebit(ctx, debitOrder(s, "d3"))
	requireRuleRefusal(t, err, "CARD")
	assert.Equal(t, 2, f.count(OpAdditionalDebitOfPayment))
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

// Confirm finds posd's own diffs by their tag; a debit found brings its
// capture task; nothing found is ErrNotMade.
func TestConfirm(t *testing.T) {
	ctx := context.Background()
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	s, err := a.Start(ctx, order(MethodLater))
	require.NoError(t, err)
	f.book(s.Ref, true, false)
	f.edit(s.Ref, func(p *Payment) { p.Limit = "1000" })
	an, err := a.Annul(ctx, annulOrder(s, "a1", "25.00"))
	require.NoError(t, err)
	d, err := a.AdditionalDebit(ctx, debitOrder(s, "d1"))
	require.NoError(t, err)

	got, err := a.Confirm(ctx, payment.KindAnnul, annulOrder(s, "a1", "25.00"))
	require.NoError(t, err)
	assert.Equal(t, an.Ref, got.Ref)
	assert.Empty(t, got.Tasks)
	got, err = a.Confirm(ctx, payment.KindDebit, annulOrder(s, "d1", "50.00"))
	require.NoError(t, err)
	assert.Equal(t, d.Ref, got.Ref)
	assert.Equal(t, d.Tasks, got.Tasks, "the debit's capture")
	_, err = a.Confirm(ctx, payment.KindRefund, annulOrder(s, "a1", "25.00"))
	require.ErrorIs(t, err, payment.ErrNotMade, "an annulment's id is no credit")
	_, err = a.Confirm(ctx, payment.KindAnnul, annulOrder(s, "a2", "25.00"))
	require.ErrorIs(t, err, payment.ErrNotMade)
	f.setDrop(OpGetPayment)
	_, err = a.Confirm(ctx, payment.KindAnnul, annulOrder(s, "a1", "25.00"))
	f.setDrop("")
	require.Error(t, err)
	assert.NotErrorIs(t, err, payment.ErrNotMade, "a failed read says nothing")
}
