package payson_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/payson"
	"github.com/posd/posd/internal/payson/paysonsim"
	"github.com/posd/posd/internal/simctl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func order(id string) payment.Order {
	return payment.Order{PaymentID: id, Method: payson.Method, Amount: 49900, Currency: "SEK", ReceiptTotal: 49900,
		Title: "Kvitto 17", Rows: []payment.Row{
			{Description: "Shirt", Quantity: "1", UnitPrice: 39900, Total: 39900, TaxRate: "25"},
			{Description: "Socks", Quantity: "2", UnitPrice: 5000, Total: 10000, TaxRate: "25", EAN: "7310865004703"},
		}}
}

func (e *env) checkout(id string) payson.Checkout {
	e.t.Helper()
	co, err := e.client(paysonsim.TestAPIKey).Get(context.Background(), id)
	require.NoError(e.t, err)
	return co
}

// The whole flow: create, the customer pays, readyToShip is paid, the ship
// task ships (once), credits raise creditedAmount.
func TestAdapterFlow(t *testing.T) {
	e := newEnv(t)
	a := e.adapter()
	ctx := context.Background()
	require.NoError(t, a.Ready(ctx))
	require.NoError(t, a.Probe(ctx))

	o := order("0123456789abcdef0123456789abcdef")
	s, err := a.Start(ctx, o)
	require.NoError(t, err)
	require.NotEmpty(t, s.Ref)
	require.NotNil(t, s.View)
	assert.Contains(t, s.View.HTML, "<iframe")
	assert.Equal(t, paysonsim.SnippetURL(e.srv.URL, s.Ref), s.View.URL)
	co := e.checkout(s.Ref)
	assert.Equal(t, o.PaymentID, co.Merchant.Reference)
	assert.Equal(t, "https://chain.example/payson/notify", co.Merchant.NotificationURI)
	assert.Equal(t, money.Amount(49900), co.Order.TotalPriceIncludingTax)
	require.Len(t, co.Order.Items, 2)
	assert.Equal(t, "2", co.Order.Items[1].Quantity[:1])
	assert.Equal(t, money.Amount(5000), co.Order.Items[1].UnitPrice)

	c, err := a.Check(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Pending, c.Status)
	assert.Equal(t, "waiting for the customer", c.Note)

	require.NoError(t, e.sim.Pay(s.Ref, paysonsim.PayRequest{Outcome: "processingPayment"}))
	c, err = a.Check(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Pending, c.Status)
	assert.Equal(t, "payment is being processed", c.Note)
	out, err := a.Cancel(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.NotYet, out, "the customer is paying right now")

	require.NoError(t, e.sim.Pay(s.Ref, paysonsim.PayRequest{Method: "invoice"}))
	c, err = a.Check(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Paid, c.Status)
	assert.Equal(t, strconv.FormatInt(e.checkout(s.Ref).PurchaseID, 10), c.TransactionRef)
	assert.Equal(t, "Faktura", c.MethodName)
	out, err = a.Cancel(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.TooLate, out)

	// A refund before shipping is refused by posd itself.
	_, err = a.Refund(ctx, payment.RefundOrder{RefundID: "r0", Session: s, Amount: 100, Currency: "SEK", Paid: 49900})
	re, ok := payment.Refused(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "not-shipped", re.Code)

	tasks := a.AfterPaid(o, s, c)
	require.Len(t, tasks, 1)
	assert.Equal(t, payson.TaskShip, tasks[0].Kind)
	require.NoError(t, a.RunTask(ctx, tasks[0]))
	assert.Equal(t, payson.StatusShipped, e.checkout(s.Ref).Status)
	require.NoError(t, a.RunTask(ctx, tasks[0]), "already shipped = done")
	updates := e.calls.Calls(simctl.Filter{Service: paysonsim.Service, Operation: paysonsim.OpUpdate, Reference: s.Ref})
	assert.Len(t, updates, 1, "shipped once")

	// Refunds: part, then the rest; too much and unknown credits refused.
	r1, err := a.Refund(ctx, payment.RefundOrder{RefundID: "r1", Session: s, Amount: 45000, Currency: "SEK", Paid: 49900})
	require.NoError(t, err)
	co = e.checkout(s.Ref)
	assert.Equal(t, money.Amount(45000), co.Order.TotalCreditedAmount)
	assert.Equal(t, money.Amount(39900), co.Order.Items[0].CreditedAmount)
	assert.Equal(t, money.Amount(5100), co.Order.Items[1].CreditedAmount)
	_, err = a.Refund(ctx, payment.RefundOrder{RefundID: "r2", Session: s, Amount: 5000, Currency: "SEK", Paid: 49900, Refunded: 45000})
	re, ok = payment.Refused(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "too-much", re.Code)
	_, err = a.Refund(ctx, payment.RefundOrder{RefundID: "r2", Session: s, Amount: 4900, Currency: "SEK", Paid: 49900, Refunded: 0})
	re, ok = payment.Refused(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "credited-elsewhere", re.Code)
	r2, err := a.Refund(ctx, payment.RefundOrder{RefundID: "r2", Session: s, Amount: 4900, Currency: "SEK", Paid: 49900, Refunded: 45000, Full: true})
	require.NoError(t, err)
	assert.NotEqual(t, r1.Ref, r2.Ref)
	assert.Equal(t, money.Amount(49900), e.checkout(s.Ref).Order.TotalCreditedAmount)

	// Paid out ten days after shipping: still paid.
	e.clock.Advance(10 * 24 * time.Hour)
	assert.Equal(t, payson.StatusPaidToAccount, e.checkout(s.Ref).Status)
	c, err = a.Check(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Paid, c.Status)

	// The period report lists it with its credits.
	from := time.Now().Add(-time.Hour)
	period, err := a.MarkPeriod(ctx, from, e.clock.Now().Add(time.Hour))
	require.NoError(t, err)
	rep, err := a.Report(ctx, period, from, e.clock.Now().Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, rep.Lines, 2)
	assert.Equal(t, c.TransactionRef, rep.Lines[0].Ref)
	assert.Equal(t, money.Amount(49900), rep.Lines[0].Amount)
	assert.True(t, rep.Lines[1].Refund)
	assert.Equal(t, money.Amount(0), rep.Total)
}

func TestAdapterEndings(t *testing.T) {
	e := newEnv(t)
	a := e.adapter()
	ctx := context.Background()
	start := func(id string) payment.Session {
		s, err := a.Start(ctx, order(id))
		require.NoError(t, err)
		return s
	}
	check := func(s payment.Session) payment.Check {
		c, err := a.Check(ctx, s)
		require.NoError(t, err)
		return c
	}

	s := start("c1")
	out, err := a.Cancel(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Cancelled, out)
	assert.Equal(t, payment.Check{Status: payment.Canceled, Note: "canceled", Progress: 8}, check(s))
	out, err = a.Cancel(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Cancelled, out, "again: still canceled")

	s = start("c2")
	require.NoError(t, e.sim.Expire(s.Ref))
	c := check(s)
	assert.Equal(t, payment.Canceled, c.Status)
	assert.Equal(t, "expired", c.Note)

	s = start("c3")
	require.NoError(t, e.sim.Pay(s.Ref, paysonsim.PayRequest{Outcome: "denied"}))
	c = check(s)
	assert.Equal(t, payment.Failed, c.Status)
	assert.Equal(t, "denied", c.Note)
	// a denied checkout cannot be shipped: the task is given up for good
	b, _ := json.Marshal(map[string]string{"id": s.Ref})
	err = a.RunTask(ctx, payment.Task{Kind: payson.TaskShip, Payload: b})
	re, ok := payment.Refused(err)
	require.True(t, ok)
	assert.True(t, re.Permanent)
}

// The create's answer is lost after Payson made the checkout: the adapter
// finds it by merchant.reference: one checkout, not two.
func TestAdapterLostCreateReply(t *testing.T) {
	e := newEnv(t)
	a := e.adapter()
	ctx := context.Background()
	// some other payments' checkouts, to be skipped
	for _, id := range []string{"other1", "other2", "other3", "other4"} {
		_, err := a.Start(ctx, order(id))
		require.NoError(t, err)
	}
	require.NoError(t, e.faults.Set([]simctl.Rule{{Service: paysonsim.Service, Operation: paysonsim.OpCreate,
		Mode: simctl.ModeDrop, Process: true, Count: 1}}))
	s, err := a.Start(ctx, order("lost"))
	require.NoError(t, err)
	assert.Equal(t, 5, e.sim.Count(), "one checkout for the lost reply, not two")
	assert.Equal(t, "lost", e.checkout(s.Ref).Merchant.Reference)
	assert.NotEmpty(t, s.View.URL)
	creates := e.calls.Calls(simctl.Filter{Service: paysonsim.Service, Operation: paysonsim.OpCreate})
	assert.Len(t, creates, 5)

	// Lost and not found (the create never took effect): unknown, never not-sent.
	require.NoError(t, e.faults.Set([]simctl.Rule{{Service: paysonsim.Service, Operation: paysonsim.OpCreate,
		Mode: simctl.ModeDrop, Count: 1}}))
	_, err = a.Start(ctx, order("never"))
	require.Error(t, err)
	assert.NotErrorIs(t, err, payment.ErrNotSent)
	_, refused := payment.Refused(err)
	assert.False(t, refused)
	assert.Equal(t, 5, e.sim.Count())
	// Checking that unknown session (no Ref) settles it: no checkout, no sale.
	c, err := a.Check(ctx, payment.Session{PaymentID: "never", Method: payson.Method})
	require.NoError(t, err)
	assert.Equal(t, payment.Failed, c.Status)
	// and one that did arrive is found and its id handed back
	c, err = a.Check(ctx, payment.Session{PaymentID: "lost", Method: payson.Method})
	require.NoError(t, err)
	assert.Equal(t, payment.Pending, c.Status)
	assert.JSONEq(t, `{"id":"`+s.Ref+`"}`, string(c.Data))
}

func TestAdapterErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	// Not configured: not ready, nothing sent.
	a, err := payson.NewAdapter(payson.AdapterConfig{URL: e.base()})
	require.NoError(t, err)
	var nr *payment.NotReadyError
	require.ErrorAs(t, a.Ready(ctx), &nr)
	assert.Equal(t, "credentials", nr.Step)
	require.ErrorAs(t, a.Probe(ctx), &nr)
	p := a.Policy(payson.Method)
	assert.Equal(t, payson.DefaultCheckInterval, p.CheckInterval)
	assert.Equal(t, payson.DefaultWindow, p.Window)
	assert.Equal(t, payson.DefaultDecisionLimit, p.DecisionLimit)

	// A currency Payson does not take: refused before sending.
	a = e.adapter()
	o := order("nok")
	o.Currency = "NOK"
	_, err = a.Start(ctx, o)
	re, ok := payment.Refused(err)
	require.True(t, ok, "%v", err)
	assert.Contains(t, re.Message, "order.currency")
	assert.ErrorIs(t, err, payment.ErrNotSent)
	assert.Equal(t, 0, e.sim.Count())

	// Below the purchase limit.
	o = order("small")
	o.Amount, o.ReceiptTotal = 300, 300
	o.Rows = []payment.Row{{Description: "Gum", Quantity: "1", UnitPrice: 300, Total: 300, TaxRate: "12"}}
	_, err = a.Start(ctx, o)
	_, ok = payment.Refused(err)
	assert.True(t, ok, "%v", err)

	// Connection refused: not sent.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	b, err := payson.NewAdapter(payson.AdapterConfig{URL: closed.URL + "/2.0/", AgentID: "4", APIKey: paysonsim.TestAPIKey,
		CheckoutURI: "https://shop.example/checkout", ConfirmationURI: "https://shop.example/confirm",
		NotificationURI: "https://shop.example/notify", TermsURI: "https://shop.example/terms"})
	require.NoError(t, err)
	_, err = b.Start(ctx, order("offline"))
	assert.ErrorIs(t, err, payment.ErrNotSent)
	assert.Error(t, b.Probe(ctx))

	// Payson's own 400 is a refusal naming the property.
	require.NoError(t, e.faults.Set([]simctl.Rule{{Service: paysonsim.Service, Operation: paysonsim.OpCreate, Mode: simctl.ModeResultCode, Code: 400, Count: 1}}))
	_, err = a.Start(ctx, order("x400"))
	re, ok = payment.Refused(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "HTTP 400", re.Code)

	// Split tender: the balancing row makes Payson's total the amount taken.
	o = order("split")
	o.Amount = 20000
	s, err := a.Start(ctx, o)
	require.NoError(t, err)
	assert.Equal(t, money.Amount(20000), e.checkout(s.Ref).Order.TotalPriceIncludingTax)
}
