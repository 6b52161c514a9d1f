package resurs

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var _ payment.Provider = (*Adapter)(nil)
var _ payment.Reconciler = (*Adapter)(nil)

const paymentID = "0123456789abcdef0123456789abcdef"

func newAdapter(t *testing.T, f *fakeResurs, mod ...func(*AdapterConfig)) (*Adapter, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: f.now}
	cfg := AdapterConfig{
		POSURL: f.srv.URL + "/pos", AfterShopURL: f.srv.URL + "/ws/AfterShopFlowService",
		Username: testUser, Password: testPass, StoreID: "store-1", RefPrefix: "S1T2-",
		ShopURL: "https://shop.example", Now: clock.Now,
	}
	for _, m := range mod {
		m(&cfg)
	}
	a, err := NewAdapter(cfg)
	require.NoError(t, err)
	return a, clock
}

func order(method string) payment.Order {
	return payment.Order{
		PaymentID: paymentID, Method: method, Amount: money.MustParse("625.00"), Currency: "SEK",
		ReceiptTotal: money.MustParse("625.00"), SaleID: "sale-7",
		Rows:     []payment.Row{{Description: "Kaffe", Quantity: "1", Total: money.MustParse("625.00"), TaxRate: "25", SKU: "1"}},
		Customer: &payment.Customer{GovernmentID: "198305147715"},
	}
}

func TestOrderRefIsPrefixPlusPaymentIDWithin32(t *testing.T) {
	a, _ := newAdapter(t, newFakeResurs(t))
	ref := a.OrderRef(paymentID)
	assert.Equal(t, "S1T2-0123456789abcdef0123456789a", ref)
	assert.Len(t, ref, 32)
	require.NoError(t, ValidOrderReference(ref))
	_, err := NewAdapter(AdapterConfig{POSURL: "https://x", AfterShopURL: "https://y", RefPrefix: "S1_T2"})
	assert.Error(t, err)
}

// A POS sale: session with the iframe, pending until booked, then paid
// (finalized by Resurs: no task).
func TestPOSSale(t *testing.T) {
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	ctx := context.Background()
	s, err := a.Start(ctx, order(MethodPOS))
	require.NoError(t, err)
	assert.Equal(t, a.OrderRef(paymentID), s.Ref)
	require.NotNil(t, s.View)
	assert.Contains(t, s.View.HTML, "<iframe")
	assert.True(t, strings.HasSuffix(s.View.URL, "/web/dist/omni-checkout.html?"+f.sessions[s.Ref]), s.View.URL)

	c, err := a.Check(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Pending, c.Status)
	assert.Equal(t, "waiting for the customer", c.Note)

	f.book(s.Ref, false, false)
	c, err = a.Check(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Paid, c.Status)
	assert.Equal(t, s.Ref, c.TransactionRef)
	assert.Equal(t, "Faktura", c.MethodName)
	assert.Empty(t, a.AfterPaid(order(MethodPOS), s, c), "Resurs finalizes POS payments itself")
	assert.Equal(t, "Resurs Bank Faktura", a.Label("payment", c.MethodName))
}

// "Betala sen": paid means booked and DEBITABLE; the finalize task runs once,
// and running it again (a retry) reads back and finalizes nothing more.
func TestBetalaSenFinalizedOnce(t *testing.T) {
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	ctx := context.Background()
	assert.True(t, a.Policy(MethodLater).LongLived)
	assert.Zero(t, a.Policy(MethodLater).Window)
	assert.Equal(t, time.Minute, a.Policy(MethodLater).CheckInterval)

	s, err := a.Start(ctx, order(MethodLater))
	require.NoError(t, err)
	f.book(s.Ref, true, false)
	c, err := a.Check(ctx, s)
	require.NoError(t, err)
	require.Equal(t, payment.Paid, c.Status)
	tasks := a.AfterPaid(order(MethodLater), s, c)
	require.Len(t, tasks, 1)
	assert.Equal(t, TaskFinalize, tasks[0].Kind)

	require.NoError(t, a.RunTask(ctx, tasks[0]))
	require.NoError(t, a.RunTask(ctx, tasks[0]))
	assert.Equal(t, 1, f.count(OpFinalizePayment))
	c, err = a.Check(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Paid, c.Status)
}

// Spec F: the finalize reply is lost after Resurs finalized; the read-back
// ends the task, and no second finalize is sent.
func TestFinalizeReplyLostReadsBack(t *testing.T) {
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	ctx := context.Background()
	s, err := a.Start(ctx, order(MethodLater))
	require.NoError(t, err)
	f.book(s.Ref, true, false)
	c, _ := a.Check(ctx, s)
	task := a.AfterPaid(order(MethodLater), s, c)[0]
	f.setDrop(OpFinalizePayment)
	require.NoError(t, a.RunTask(ctx, task))
	f.setDrop("")
	require.NoError(t, a.RunTask(ctx, task))
	assert.Equal(t, 1, f.count(OpFinalizePayment))
}

func TestFrozenIsPendingAndNeverFinalized(t *testing.T) {
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	ctx := context.Background()
	s, err := a.Start(ctx, order(MethodLater))
	require.NoError(t, err)
	f.book(s.Ref, true, true)
	c, err := a.Check(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Pending, c.Status)
	assert.Contains(t, c.Note, "fraud check")
	out, err := a.Cancel(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.NotYet, out)

	task := payment.Task{Kind: TaskFinalize, Payload: []byte(`{"paymentId":"` + s.Ref + `"}`)}
	err = a.RunTask(ctx, task)
	require.Error(t, err)
	_, refused := payment.Refused(err)
	assert.False(t, refused, "frozen is retried, not given up")
	assert.Zero(t, f.count(OpFinalizePayment))

	f.setFrozen(s.Ref, false) // thawed
	c, err = a.Check(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Paid, c.Status)
	require.NoError(t, a.RunTask(ctx, task))
	assert.Equal(t, 1, f.count(OpFinalizePayment))
}

func TestBetalaSenExpires(t *testing.T) {
	f := newFakeResurs(t)
	a, clock := newAdapter(t, f)
	ctx := context.Background()
	o := order(MethodLater)
	s, err := a.Start(ctx, o)
	require.NoError(t, err)
	clock.Add(23 * time.Hour)
	c, err := a.Check(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Pending, c.Status)
	clock.Add(time.Hour + time.Second)
	c, err = a.Check(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Canceled, c.Status)

	o.ValidUntil = clock.Now().Add(time.Hour)
	o.PaymentID = "fedcba9876543210fedcba9876543210"
	s, err = a.Start(ctx, o)
	require.NoError(t, err)
	clock.Add(61 * time.Minute)
	c, err = a.Check(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Canceled, c.Status, "the order's own valid-to")
}

func TestCancel(t *testing.T) {
	ctx := context.Background()
	t.Run("nothing booked: the session is replaced", func(t *testing.T) {
		f := newFakeResurs(t)
		a, _ := newAdapter(t, f)
		s, err := a.Start(ctx, order(MethodPOS))
		require.NoError(t, err)
		old := f.sessions[s.Ref]
		out, err := a.Cancel(ctx, s)
		require.NoError(t, err)
		assert.Equal(t, payment.Cancelled, out)
		assert.NotEqual(t, old, f.sessions[s.Ref], "the customer's session is obsolete")
	})
	t.Run("booked while canceling: too late", func(t *testing.T) {
		f := newFakeResurs(t)
		a, _ := newAdapter(t, f)
		s, err := a.Start(ctx, order(MethodPOS))
		require.NoError(t, err)
		f.book(s.Ref, false, false)
		f.hideBooked = true
		out, err := a.Cancel(ctx, s)
		require.NoError(t, err)
		assert.Equal(t, payment.TooLate, out)
	})
	t.Run("booked, not finalized: too late, as Check calls it paid", func(t *testing.T) {
		f := newFakeResurs(t)
		a, _ := newAdapter(t, f)
		s, err := a.Start(ctx, order(MethodLater))
		require.NoError(t, err)
		f.book(s.Ref, true, false)
		out, err := a.Cancel(ctx, s)
		require.NoError(t, err)
		assert.Equal(t, payment.TooLate, out)
		c, err := a.Check(ctx, s)
		require.NoError(t, err)
		assert.Equal(t, payment.Paid, c.Status, "the same answer whether a check ran first or not")
		assert.Zero(t, f.count(OpAnnulPayment), "a paid payment is never annulled by a cancel")
	})
	t.Run("finalized: too late", func(t *testing.T) {
		f := newFakeResurs(t)
		a, _ := newAdapter(t, f)
		s, err := a.Start(ctx, order(MethodPOS))
		require.NoError(t, err)
		f.book(s.Ref, false, false)
		out, err := a.Cancel(ctx, s)
		require.NoError(t, err)
		assert.Equal(t, payment.TooLate, out)
		assert.Zero(t, f.count(OpAnnulPayment))
	})
}

func paidPOS(t *testing.T, f *fakeResurs, a *Adapter) payment.Session {
	t.Helper()
	s, err := a.Start(context.Background(), order(MethodPOS))
	require.NoError(t, err)
	f.book(s.Ref, false, false)
	return s
}

func refundOrder(s payment.Session, id, amount string, full bool, refunded string) payment.RefundOrder {
	return payment.RefundOrder{RefundID: id, PaymentID: paymentID, Method: MethodPOS, Session: s, TransactionRef: s.Ref,
		Amount: money.MustParse(amount), Currency: "SEK", Full: full, Paid: money.MustParse("625.00"),
		Refunded: money.MustParse(refunded), Reason: "Retur", Order: order(MethodPOS)}
}

func TestRefund(t *testing.T) {
	ctx := context.Background()
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	s := paidPOS(t, f, a)

	r1, err := a.Refund(ctx, refundOrder(s, "r1", "100.00", false, "0"))
	require.NoError(t, err)
	assert.Equal(t, s.Ref+"/posd-r1", r1.Ref)
	again, err := a.Refund(ctx, refundOrder(s, "r1", "100.00", false, "0"))
	require.NoError(t, err, "a retry of the same refund")
	assert.Equal(t, r1, again)
	assert.Equal(t, 1, f.count(OpCreditPayment), "never credited twice")

	_, err = a.Refund(ctx, refundOrder(s, "r2", "525.01", false, "100.00"))
	re, ok := payment.Refused(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "INVALID_CREDITING", re.Code)
	assert.Contains(t, re.Message, "525.00")
	assert.ErrorIs(t, err, payment.ErrNotSent, "posd refused it itself")
	assert.Equal(t, 1, f.count(OpCreditPayment))

	f.setDrop(OpCreditPayment)
	r3, err := a.Refund(ctx, refundOrder(s, "r3", "525.00", true, "100.00"))
	require.NoError(t, err, "the lost reply is resolved by reading back")
	assert.Equal(t, s.Ref+"/posd-r3", r3.Ref)
	f.setDrop("")
	p := f.payments[s.Ref]
	assert.Equal(t, Decimal("0"), p.TotalAmount)
	assert.True(t, p.Has(StatusCredited))
	assert.Equal(t, 2, f.count(OpCreditPayment))
}

func TestOutcomes(t *testing.T) {
	ctx := context.Background()
	t.Run("not sent", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		l.Close()
		a, err := NewAdapter(AdapterConfig{POSURL: "http://" + addr + "/pos", AfterShopURL: "http://" + addr + "/ws", Username: "u", Password: "p"})
		require.NoError(t, err)
		_, err = a.Start(ctx, order(MethodPOS))
		require.ErrorIs(t, err, payment.ErrNotSent)
		require.Error(t, a.Probe(ctx))
	})
	t.Run("reply lost: unknown", func(t *testing.T) {
		f := newFakeResurs(t)
		a, _ := newAdapter(t, f)
		f.setDrop("createSession")
		_, err := a.Start(ctx, order(MethodPOS))
		require.Error(t, err)
		assert.False(t, errors.Is(err, payment.ErrNotSent))
		_, refused := payment.Refused(err)
		assert.False(t, refused)
	})
	t.Run("refused", func(t *testing.T) {
		f := newFakeResurs(t)
		a, _ := newAdapter(t, f, func(c *AdapterConfig) { c.Password = "wrong" })
		_, err := a.Start(ctx, order(MethodPOS))
		re, ok := payment.Refused(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, "401", re.Code)
		assert.NotContains(t, err.Error(), "wrong")
		require.Error(t, a.Probe(ctx))
		_, err = a.Check(ctx, payment.Session{Ref: "S1T2-x", Method: MethodPOS})
		_, ok = payment.Refused(err)
		assert.True(t, ok, "shown to the cashier while checking goes on")
	})
	t.Run("not SEK", func(t *testing.T) {
		f := newFakeResurs(t)
		a, _ := newAdapter(t, f)
		o := order(MethodPOS)
		o.Currency = "EUR"
		_, err := a.Start(ctx, o)
		require.ErrorIs(t, err, payment.ErrNotSent)
		assert.Zero(t, f.count("createSession"))
	})
}

func TestReadyAndProbe(t *testing.T) {
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	require.NoError(t, a.Ready(context.Background()))
	require.NoError(t, a.Probe(context.Background()), "a 404 for the probe reference is an answer")
	a2, _ := newAdapter(t, f, func(c *AdapterConfig) { c.Password = "" })
	var nr *payment.NotReadyError
	require.ErrorAs(t, a2.Ready(context.Background()), &nr)
	assert.Equal(t, "credentials", nr.Step)
	_, err := a.WidgetSession(context.Background())
	require.ErrorAs(t, err, &nr)
}

func TestReport(t *testing.T) {
	ctx := context.Background()
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	s := paidPOS(t, f, a)
	_, err := a.Refund(ctx, refundOrder(s, "r1", "100.00", false, "0"))
	require.NoError(t, err)
	from, to := f.now.Add(-time.Hour), f.now.Add(time.Hour)
	ref, err := a.MarkPeriod(ctx, from, to)
	require.NoError(t, err)
	rep, err := a.Report(ctx, ref, from, to)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Count)
	assert.Equal(t, money.MustParse("525.00"), rep.Total)
	assert.Contains(t, rep.Lines, payment.ReportLine{Ref: s.Ref, Amount: money.MustParse("625.00"), SessionRef: s.Ref})
	assert.Contains(t, rep.Lines, payment.ReportLine{Ref: s.Ref + "/posd-r1", Refund: true, Amount: money.MustParse("100.00"), SessionRef: s.Ref})
	assert.True(t, rep.Net, "every movement is its own line")
}

// posd's additional debits and annulments are lines of their own, named as
// posd recorded them; the booking line stays what was booked.
func TestReportDebitsAndAnnulments(t *testing.T) {
	ctx := context.Background()
	f := newFakeResurs(t)
	a, _ := newAdapter(t, f)
	s, err := a.Start(ctx, order(MethodLater))
	require.NoError(t, err)
	f.book(s.Ref, true, false)
	f.edit(s.Ref, func(p *Payment) { p.Limit = "1000" })
	d, err := a.AdditionalDebit(ctx, debitOrder(s, "d1"))
	require.NoError(t, err)
	an, err := a.Annul(ctx, annulOrder(s, "a1", "25.00"))
	require.NoError(t, err)
	from, to := f.now.Add(-time.Hour), f.now.Add(time.Hour)
	rep, err := a.Report(ctx, "", from, to)
	require.NoError(t, err)
	assert.ElementsMatch(t, []payment.ReportLine{
		{Ref: s.Ref, Amount: money.MustParse("625.00"), SessionRef: s.Ref},
		{Ref: d.Ref, Amount: money.MustParse("50.00"), SessionRef: s.Ref},
		{Ref: an.Ref, Refund: true, Amount: money.MustParse("25.00"), SessionRef: s.Ref},
	}, rep.Lines)
	assert.Equal(t, money.MustParse("650.00"), rep.Total)
	assert.Equal(t, 3, rep.Count)
}
