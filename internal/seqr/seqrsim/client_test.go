package seqrsim_test

// Client against emulator: the real client of package seqr talks to the
// emulator over loopback HTTP. The two read the spec independently, so a
// misreading on either side fails here.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/internal/simctl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type harness struct {
	*env
	c        *seqr.Client
	ctx      context.Context
	reseller seqr.Principal
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	e := newEnv(t)
	c, err := seqr.New(seqr.Config{
		URL:             e.srv.URL + seqrsim.PathCashRegister2,
		ClientID:        "ACME AB",
		ClientReference: "ACME POS 1.0",
		HTTPClient:      e.srv.Client(),
	})
	require.NoError(t, err)
	return &harness{
		env: e, c: c, ctx: context.Background(),
		reseller: seqr.Principal{Type: seqr.PrincipalResellerUser, ID: seqrsim.TestResellerID, UserID: seqrsim.TestResellerUserID, Password: seqrsim.TestResellerPassword},
	}
}

// tv3 is the invoice of test vector TV3.
func tv3() seqr.Invoice {
	return seqr.Invoice{
		PaymentMode:        "IMMEDIATE_DEBIT",
		AcknowledgmentMode: "NO_ACKNOWLEDGMENT",
		IssueDate:          time.Date(2015, 12, 25, 12, 34, 56, 0, time.UTC),
		Title:              "My Shop",
		ClientInvoiceID:    "R-1001",
		Rows: []seqr.InvoiceRow{{
			Description: "Ice cream", Quantity: "2", TaxRate: "12",
			Total: money.MustParse("20.00"), UnitPrice: ptrAmount("10.00"),
		}},
		Total:     money.MustParse("20.00"),
		Currency:  "SEK",
		CashierID: "Bob",
	}
}

func ptrAmount(s string) *money.Amount {
	a := money.MustParse(s)
	return &a
}

// till registers a terminal through the client and assigns seqrID.
func (h *harness) till(seqrID string) seqr.Principal {
	h.t.Helper()
	id, err := h.c.RegisterTerminal(h.ctx, h.reseller, "Shop 1/POS 2", "k3Jd8sLq0PzX2mA", "My Shop, till 2")
	require.NoError(h.t, err)
	p := seqr.Terminal(id, "k3Jd8sLq0PzX2mA")
	if seqrID != "" {
		require.NoError(h.t, h.c.AssignSeqrID(h.ctx, p, seqrID))
	}
	return p
}

func (h *harness) send(p seqr.Principal, inv seqr.Invoice) string {
	h.t.Helper()
	res, err := h.c.SendInvoice(h.ctx, p, inv, nil)
	require.NoError(h.t, err)
	return res.InvoiceReference
}

func requireCode(t *testing.T, err error, want int) {
	t.Helper()
	require.Error(t, err)
	code, ok := seqr.Code(err)
	require.True(t, ok, "not a result error: %v", err)
	assert.Equal(t, want, code, "%v", err)
}

// TestVectors runs TV1-TV15 of spec section 6, client against emulator.
func TestVectors(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"TV1 registerTerminal", func(t *testing.T, h *harness) {
			id, err := h.c.RegisterTerminal(h.ctx, h.reseller, "Shop 1/POS 2", "k3Jd8sLq0PzX2mA", "My Shop, till 2")
			require.NoError(t, err)
			assert.Regexp(t, `^[0-9a-f]{32}$`, id)
			bad := h.reseller
			bad.Password = "wrong"
			_, err = h.c.RegisterTerminal(h.ctx, bad, "x", "abcd1234", "x")
			requireCode(t, err, seqr.ResultAuthenticationFailed)
			var re *seqr.ResultError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, "AUTHENTICATION_FAILED", re.Description)
		}},
		{"TV2 assignSeqrId", func(t *testing.T, h *harness) {
			h.till("ACME0001")
			other := h.till("")
			requireCode(t, h.c.AssignSeqrID(h.ctx, other, "ACME0001"), seqr.ResultInvalidSeqrID)
		}},
		{"TV3 sendInvoice", func(t *testing.T, h *harness) {
			p := h.till("ACME0001")
			res, err := h.c.SendInvoice(h.ctx, p, tv3(), nil)
			require.NoError(t, err)
			assert.Regexp(t, `^\d{17}$`, res.InvoiceReference)
			assert.Equal(t, "HTTP://SEQR.SE/R"+res.InvoiceReference, res.InvoiceQRCode)
			xxx := tv3()
			xxx.Currency = "XXX"
			_, err = h.c.SendInvoice(h.ctx, p, xxx, nil)
			requireCode(t, err, seqr.ResultInvalidInvoiceData)
			ftp := tv3()
			ftp.NotificationURL = "ftp://x"
			_, err = h.c.SendInvoice(h.ctx, p, ftp, nil)
			requireCode(t, err, seqr.ResultInvalidNotificationURL)
		}},
		{"TV4 getPaymentStatus waiting", func(t *testing.T, h *harness) {
			p := h.till("ACME0001")
			ps, err := h.c.GetPaymentStatus(h.ctx, p, h.send(p, tv3()), 0)
			require.NoError(t, err)
			assert.Equal(t, seqr.PaymentStatus{Status: seqr.StatusIssued, Version: 1}, ps)
		}},
		{"TV5 getPaymentStatus paid", func(t *testing.T, h *harness) {
			p := h.till("ACME0001")
			ref := h.send(p, tv3())
			_, err := h.sim.Pay("ACME0001", seqrsim.OutcomePaid)
			require.NoError(t, err)
			ps, err := h.c.GetPaymentStatus(h.ctx, p, ref, 1)
			require.NoError(t, err)
			assert.Equal(t, seqr.StatusPaid, ps.Status)
			assert.Equal(t, 2, ps.Version)
			assert.Regexp(t, `^\d{25}$`, ps.ERSReference)
			require.NotNil(t, ps.Receipt)
			assert.Equal(t, seqr.Receipt{
				TerminalID: p.ID, PaymentDate: "2015-10-29T10:18:48.663+01:00", ClientInvoiceID: "R-1001",
				InvoiceReference: ref, PaymentReference: ps.ERSReference, PayerTerminalID: "d613c5b8428d17248751bc101",
				ReceiverName: "My Shop, till 2", Total: money.MustParse("20.00"), Currency: "SEK",
			}, *ps.Receipt)
		}},
		{"TV6 loyalty pending", func(t *testing.T, h *harness) {
			p := h.till("ACME0001")
			inv := tv3()
			inv.AcknowledgmentMode = "REQUIRE_ACKNOWLEDGMENT"
			ref := h.send(p, inv)
			_, err := h.sim.ScanWithCard("ACME0001", "2610411111110")
			require.NoError(t, err)
			ps, err := h.c.GetPaymentStatus(h.ctx, p, ref, 1)
			require.NoError(t, err)
			assert.Equal(t, seqr.StatusPendingIssuerAcknowledge, ps.Status)
			assert.Equal(t, 2, ps.Version)
			assert.Equal(t, []seqr.CustomerToken{{Description: "Loyalty card", ID: "X_CARD", Status: 0, Value: "2610411111110"}}, ps.Tokens)
			// The till acknowledges: tokens status 1, back to ISSUED, then the customer pays.
			require.NoError(t, h.c.UpdateInvoice(h.ctx, p, ref, inv, []seqr.CustomerToken{{Description: "Loyalty card", ID: "X_CARD", Status: 1, Value: "2610411111110"}}))
			ps, err = h.c.GetPaymentStatus(h.ctx, p, ref, 2)
			require.NoError(t, err)
			assert.Equal(t, seqr.StatusIssued, ps.Status)
			assert.Equal(t, 3, ps.Version)
			_, err = h.sim.Pay(ref, seqrsim.OutcomePaid)
			require.NoError(t, err)
			ps, err = h.c.GetPaymentStatus(h.ctx, p, ref, 3)
			require.NoError(t, err)
			assert.Equal(t, seqr.StatusPaid, ps.Status)
		}},
		{"TV7 unknown reference", func(t *testing.T, h *harness) {
			p := h.till("ACME0001")
			_, err := h.c.GetPaymentStatus(h.ctx, p, "1397222701693", 0)
			requireCode(t, err, seqr.ResultInvalidInvoiceReference)
		}},
		{"TV8 cancelInvoice", func(t *testing.T, h *harness) {
			p := h.till("ACME0001")
			ref := h.send(p, tv3())
			require.NoError(t, h.c.CancelInvoice(h.ctx, p, ref))
			requireCode(t, h.c.CancelInvoice(h.ctx, p, ref), seqr.ResultInvoiceAlreadyCanceled)
			ps, err := h.c.GetPaymentStatus(h.ctx, p, ref, 0)
			require.NoError(t, err)
			assert.Equal(t, seqr.StatusCanceled, ps.Status)
			paid := h.send(p, tv3())
			_, err = h.sim.Scan("ACME0001")
			require.NoError(t, err)
			requireCode(t, h.c.CancelInvoice(h.ctx, p, paid), seqr.ResultCannotCancelInvoiceInProgress)
			_, err = h.sim.Pay(paid, seqrsim.OutcomePaid)
			require.NoError(t, err)
			requireCode(t, h.c.CancelInvoice(h.ctx, p, paid), seqr.ResultCannotCancelPaidInvoice)
		}},
		{"TV9 submitPaymentReceipt", func(t *testing.T, h *harness) {
			p := h.till("ACME0001")
			ers := h.paid(p)
			require.NoError(t, h.c.SubmitPaymentReceipt(h.ctx, p, ers, seqr.ReceiptDocument{MimeType: "text/html", Data: []byte("<b>Tack!</b>"), Type: "PAYMENT_RECEIPT"}))
			requireCode(t, h.c.SubmitPaymentReceipt(h.ctx, p, "1", seqr.ReceiptDocument{MimeType: "text/html", Type: "PAYMENT_RECEIPT"}), seqr.ResultInvalidERSReference)
		}},
		{"TV10 refundPayment", func(t *testing.T, h *harness) {
			p := h.till("ACME0001")
			ers := h.paid(p)
			refund := seqr.Invoice{Title: "Refund", CashierID: "Bob", Total: money.MustParse("5.00"), Currency: "SEK"}
			rers, err := h.c.RefundPayment(h.ctx, p, ers, refund)
			require.NoError(t, err)
			assert.Regexp(t, `^\d{25}$`, rers)
			assert.NotEqual(t, ers, rers)
			refund.Total = money.MustParse("25.00")
			_, err = h.c.RefundPayment(h.ctx, p, ers, refund)
			requireCode(t, err, seqr.ResultRefundExceedsOriginal)
			var re *seqr.ResultError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, "Sum of refunds can not be more than original transaction", re.Description)
			_, err = h.c.RefundPayment(h.ctx, p, "2015102910184861801032678", refund)
			requireCode(t, err, seqr.ResultInvalidERSReference)
		}},
		{"TV11 markTransactionPeriod", func(t *testing.T, h *harness) {
			p := h.till("ACME0001")
			pid, err := h.c.MarkTransactionPeriod(h.ctx, h.reseller, []seqr.Param{{Key: "TERMINALID", Value: p.ID}})
			require.NoError(t, err)
			assert.Regexp(t, `^\d{25}$`, pid)
		}},
		{"TV12 executeReport", func(t *testing.T, h *harness) {
			p := h.till("ACME0001")
			h.paid(p)
			h.clock.Advance(time.Second)
			pid, err := h.c.MarkTransactionPeriod(h.ctx, h.reseller, []seqr.Param{{Key: "TERMINALID", Value: p.ID}})
			require.NoError(t, err)
			params := []seqr.Param{{Key: "transactionPeriodId", Value: pid}, {Key: "TERMINALID", Value: p.ID}}
			_, err = h.c.ExecuteReport(h.ctx, h.reseller, "Reconciliation/STD_RECON_006.xml", "en", params)
			requireCode(t, err, seqr.ResultReportNotReady)
			h.clock.Advance(seqrsim.DefaultReportDelay)
			rep, err := h.c.ExecuteReport(h.ctx, h.reseller, "Reconciliation/STD_RECON_006.xml", "en", params)
			require.NoError(t, err)
			assert.Equal(t, "STD_RECON_006_"+pid+".xml", rep.Title)
			assert.Equal(t, "text/html", rep.MimeType)
			assert.Equal(t, rep.ContentString, string(rep.Content))
			assert.Contains(t, rep.ContentString, "<SalesCount>1</SalesCount><SalesTotal>20.00000</SalesTotal>")
		}},
		{"TV13 protocol errors", func(t *testing.T, h *harness) {
			require.NoError(t, h.faults.Set([]simctl.Rule{{Service: "seqr", Operation: "benchmarkingNop", Mode: simctl.ModeHTTP500, Count: 1}}))
			err := h.c.BenchmarkingNop(h.ctx)
			var fe *seqr.FaultError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "soap:Server", fe.Code)
			require.NoError(t, h.c.BenchmarkingNop(h.ctx))
			// A client pointed at the v1 path with the wrong namespace is not
			// possible through seqr.Client; the raw envelopes are in TestFaultsTV13.
		}},
		{"TV14 superseding", func(t *testing.T, h *harness) {
			p := h.till("ACME0001")
			a := h.send(p, tv3())
			b := h.send(p, tv3())
			ps, err := h.c.GetPaymentStatus(h.ctx, p, a, 1)
			require.NoError(t, err)
			assert.Equal(t, seqr.StatusCanceled, ps.Status)
			ps, err = h.c.GetPaymentStatus(h.ctx, p, b, 0)
			require.NoError(t, err)
			assert.Equal(t, seqr.StatusIssued, ps.Status)
		}},
		{"TV15 reversal", func(t *testing.T, h *harness) {
			p := h.till("ACME0001")
			ref := h.send(p, tv3())
			_, err := h.sim.Pay("ACME0001", seqrsim.OutcomePaid)
			require.NoError(t, err)
			h.clock.Advance(21 * time.Second)
			ps, err := h.c.GetPaymentStatus(h.ctx, p, ref, 1)
			require.NoError(t, err)
			assert.Equal(t, seqr.StatusCanceled, ps.Status)
			assert.Empty(t, ps.ERSReference)
			info, _ := h.sim.Invoice(ref)
			assert.True(t, info.Reversed)
			assert.Equal(t, 1, h.sim.Reversals())
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newHarness(t))
		})
	}
}

// paid sends an invoice, has the customer pay it and polls it; returns the ersReference.
func (h *harness) paid(p seqr.Principal) string {
	h.t.Helper()
	ref := h.send(p, tv3())
	_, err := h.sim.Pay(ref, seqrsim.OutcomePaid)
	require.NoError(h.t, err)
	ps, err := h.c.GetPaymentStatus(h.ctx, p, ref, 1)
	require.NoError(h.t, err)
	require.Equal(h.t, seqr.StatusPaid, ps.Status)
	return ps.ERSReference
}

// TestCertificationRun is the POS certification of spec 5.7, in one pass.
func TestCertificationRun(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx
	const seqrID = "ACME0001"

	// 1 registerTerminal as RESELLERUSER, choosing the terminal password.
	id, err := h.c.RegisterTerminal(ctx, h.reseller, "ACME/Till 1", "Zx81Spectrum1982", "ACME till 1")
	require.NoError(t, err)
	till := seqr.Terminal(id, "Zx81Spectrum1982")

	// 2 assignSeqrId (clientRequestTimeout 0).
	require.NoError(t, h.c.AssignSeqrID(ctx, till, seqrID))

	// 3 sendInvoice with rows carrying at least itemQuantity and itemTotalAmount.
	inv := seqr.Invoice{
		PaymentMode: "IMMEDIATE_DEBIT", AcknowledgmentMode: "NO_ACKNOWLEDGMENT", Title: "ACME", CashierID: "Anna",
		ClientInvoiceID: "C-1", IssueDate: h.clock.Now(), Currency: "SEK", Total: money.MustParse("30.50"),
		Rows: []seqr.InvoiceRow{
			{Description: "Coffee", Quantity: "1", Total: money.MustParse("25.00")},
			{Description: "Bun", Quantity: "1", Total: money.MustParse("5.50")},
		},
	}
	first := h.send(till, inv)

	// 4 getPaymentStatus before scan, scan, getPaymentStatus again;
	// a new sendInvoice, wait 30 s, getPaymentStatus on the previous one.
	ps, err := h.c.GetPaymentStatus(ctx, till, first, 0)
	require.NoError(t, err)
	assert.Equal(t, seqr.StatusIssued, ps.Status)
	w, err := h.sim.Scan(seqrID)
	require.NoError(t, err)
	assert.Equal(t, first, w.InvoiceReference)
	assert.Equal(t, "30.50", w.Amount.String())
	ps, err = h.c.GetPaymentStatus(ctx, till, first, ps.Version)
	require.NoError(t, err)
	assert.Equal(t, seqr.StatusIssued, ps.Status)
	second := h.send(till, inv)
	h.clock.Advance(30 * time.Second)
	ps, err = h.c.GetPaymentStatus(ctx, till, first, ps.Version)
	require.NoError(t, err)
	assert.Equal(t, seqr.StatusCanceled, ps.Status, "superseded by the new invoice")

	// 5 the customer pays the second; poll to PAID; submitPaymentReceipt.
	_, err = h.sim.Pay(seqrID, seqrsim.OutcomePaid)
	require.NoError(t, err)
	h.clock.Advance(time.Second)
	ps, err = h.c.GetPaymentStatus(ctx, till, second, 1)
	require.NoError(t, err)
	require.Equal(t, seqr.StatusPaid, ps.Status)
	require.Equal(t, ps.ERSReference, ps.Receipt.PaymentReference)
	require.NoError(t, h.c.SubmitPaymentReceipt(ctx, till, ps.ERSReference, seqr.ReceiptDocument{MimeType: "text/html", Data: []byte("<p>Kvitto</p>"), Type: "PAYMENT_RECEIPT"}))

	// 6 sendInvoice, getPaymentStatus, cancelInvoice.
	third := h.send(till, inv)
	ps, err = h.c.GetPaymentStatus(ctx, till, third, 0)
	require.NoError(t, err)
	require.NoError(t, h.c.CancelInvoice(ctx, till, third))
	ps, err = h.c.GetPaymentStatus(ctx, till, third, ps.Version)
	require.NoError(t, err)
	assert.Equal(t, seqr.StatusCanceled, ps.Status)

	// 7 sendInvoice, getPaymentStatus, scan, getPaymentStatus, (pay), refundPayment.
	fourth := h.send(till, inv)
	ps, err = h.c.GetPaymentStatus(ctx, till, fourth, 0)
	require.NoError(t, err)
	_, err = h.sim.Scan(seqrID)
	require.NoError(t, err)
	ps, err = h.c.GetPaymentStatus(ctx, till, fourth, ps.Version)
	require.NoError(t, err)
	_, err = h.sim.Pay(seqrID, seqrsim.OutcomePaid)
	require.NoError(t, err)
	ps, err = h.c.GetPaymentStatus(ctx, till, fourth, ps.Version)
	require.NoError(t, err)
	require.Equal(t, seqr.StatusPaid, ps.Status)
	refundRef, err := h.c.RefundPayment(ctx, till, ps.ERSReference, seqr.Invoice{Title: "Refund", CashierID: "Anna", Total: money.MustParse("5.50"), Currency: "SEK"})
	require.NoError(t, err)
	require.NoError(t, h.c.SubmitPaymentReceipt(ctx, till, refundRef, seqr.ReceiptDocument{MimeType: "text/html", Data: []byte("<p>Retur</p>"), Type: "PAYMENT_RECEIPT"}))

	// 8 markTransactionPeriod at cash-register close, and the report.
	h.clock.Advance(time.Second)
	pid, err := h.c.MarkTransactionPeriod(ctx, h.reseller, []seqr.Param{{Key: "TERMINALID", Value: id}})
	require.NoError(t, err)
	h.clock.Advance(seqrsim.DefaultReportDelay)
	rep, err := h.c.ExecuteReport(ctx, h.reseller, "Reconciliation/STD_RECON_006.xml", "en", []seqr.Param{{Key: "transactionPeriodId", Value: pid}, {Key: "TERMINALID", Value: id}})
	require.NoError(t, err)
	assert.Contains(t, rep.ContentString, "<SalesCount>2</SalesCount><SalesTotal>61.00000</SalesTotal><RefundCount>1</RefundCount><RefundTotal>5.50000</RefundTotal>")

	// 9 unregisterTerminal; the till can no longer do anything.
	require.NoError(t, h.c.UnregisterTerminal(ctx, till))
	_, err = h.c.SendInvoice(ctx, till, inv, nil)
	requireCode(t, err, seqr.ResultInvalidInitiatorPrincipalState)

	// The emulator saw exactly the certification sequence, every call answered.
	var ops []string
	for _, c := range h.calls.Calls(simctl.Filter{Service: seqrsim.Service}) {
		ops = append(ops, c.Operation)
		require.NotNil(t, c.ResultCode, c.Operation)
	}
	assert.Equal(t, strings.Fields(`registerTerminal assignSeqrId sendInvoice getPaymentStatus getPaymentStatus sendInvoice getPaymentStatus
		getPaymentStatus submitPaymentReceipt sendInvoice getPaymentStatus cancelInvoice getPaymentStatus
		sendInvoice getPaymentStatus getPaymentStatus getPaymentStatus refundPayment submitPaymentReceipt
		markTransactionPeriod executeReport unregisterTerminal sendInvoice`), ops)
	info, _ := h.sim.Invoice(second)
	assert.Equal(t, 1, info.Receipts)
	assert.False(t, info.Reversed)
}

// TestResultNamesAgree forces every result code through the wire (an
// injected resultCode fault) and checks that the description the emulator
// writes reaches the client intact, for codes 1 to 100.
func TestResultNamesAgree(t *testing.T) {
	h := newHarness(t)
	assert.Equal(t, seqr.Namespace, "http://external.interfaces.ers.seamless.com/")
	for code := 1; code <= 100; code++ {
		require.NoError(t, h.faults.Set([]simctl.Rule{{Mode: simctl.ModeResultCode, Code: code, Count: 1}}))
		err := h.c.BenchmarkingNop(h.ctx)
		var re *seqr.ResultError
		require.ErrorAs(t, err, &re, "code %d", code)
		assert.Equal(t, code, re.Code)
		assert.Equal(t, seqr.ResultName(code), re.Description, "code %d", code)
	}
}

// TestClientRequestsAcceptedOnEveryEndpoint runs a short sale through each path.
func TestClientRequestsAcceptedOnEveryEndpoint(t *testing.T) {
	e := newEnv(t)
	for i, path := range []string{seqrsim.PathCashRegister2, seqrsim.PathServiceV2, seqrsim.PathServiceV1, seqrsim.PathCashRegister2 + "?wsdl"} {
		c, err := seqr.New(seqr.Config{URL: e.srv.URL + path, ClientID: "ACME", ClientReference: "x", HTTPClient: e.srv.Client()})
		require.NoError(t, err)
		ctx := context.Background()
		id, err := c.RegisterTerminal(ctx, seqr.Principal{Type: seqr.PrincipalResellerUser, ID: "public_test_shop/9900", Password: "1234"}, "x", "pass1234", "till")
		require.NoError(t, err, path)
		p := seqr.Terminal(id, "pass1234")
		seqrID := fmt.Sprintf("EP%d", i)
		require.NoError(t, c.AssignSeqrID(ctx, p, seqrID))
		res, err := c.SendInvoice(ctx, p, tv3(), nil)
		require.NoError(t, err)
		_, err = e.sim.Pay(seqrID, seqrsim.OutcomePaid)
		require.NoError(t, err, path)
		ps, err := c.GetPaymentStatus(ctx, p, res.InvoiceReference, 1)
		require.NoError(t, err)
		assert.Equal(t, seqr.StatusPaid, ps.Status, path)
	}
	paths := map[string]int{}
	for _, c := range e.calls.Calls(simctl.Filter{}) {
		paths[c.Path]++
		assert.Equal(t, 0, *c.ResultCode, c.Operation)
	}
	assert.Equal(t, map[string]int{seqrsim.PathCashRegister2: 8, seqrsim.PathServiceV2: 4, seqrsim.PathServiceV1: 4}, paths,
		"the query string is ignored on POST")
}
