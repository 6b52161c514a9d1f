package register

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/scanner"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/store"
)

// paidPayment runs a payment to paid on the fake.
func paidPayment(t *testing.T, h *harness, key, amount string) Payment {
	t.Helper()
	p, _, err := h.r.CreatePayment(context.Background(), key, sale(amount))
	require.NoError(t, err)
	ch, cancel := h.r.Subscribe(p.ID)
	defer cancel()
	return waitState(t, ch, StatePaid).Payment
}

func TestRefundLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) { return paidStatus("ERS-" + ref), nil }}
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		ctx := context.Background()
		p := paidPayment(t, h, "k", "20.00")
		m := money.MustParse

		r1, _, err := h.r.Refund(ctx, p.ID, "rk-1", RefundRequest{Amount: m("15.00"), CashierID: "bob", Reason: "broken"})
		require.NoError(t, err)
		assert.NotEmpty(t, r1.ERSReference)
		_, _, err = h.r.Refund(ctx, p.ID, "rk-2", RefundRequest{Amount: m("5.01"), CashierID: "bob"})
		require.ErrorIs(t, err, ErrRefundExceeds)
		assert.Equal(t, 1, fake.count("refundPayment"), "checked locally, nothing sent")
		_, _, err = h.r.Refund(ctx, p.ID, "rk-3", RefundRequest{Amount: 0})
		var ve *ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "amount", ve.Field)

		// SEQR refusing (98) does not count against the limit.
		fake.mu.Lock()
		fake.refund = func(string, seqr.Invoice) (string, error) { return "", resultErr("refundPayment", 98) }
		fake.mu.Unlock()
		_, _, err = h.r.Refund(ctx, p.ID, "rk-4", RefundRequest{Amount: m("5.00")})
		require.ErrorIs(t, err, ErrRefundExceeds)
		fake.mu.Lock()
		fake.refund = nil
		fake.mu.Unlock()
		r2, _, err := h.r.Refund(ctx, p.ID, "rk-5", RefundRequest{Amount: m("5.00")})
		require.NoError(t, err)

		got, err := h.r.Payment(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, m("20.00"), got.Refunded)
		var refundPosts []receipt.Post
		for _, post := range allPosts(t, h.journal) {
			if post.Kind == "refund" {
				refundPosts = append(refundPosts, post)
			}
		}
		require.Len(t, refundPosts, 2)
		assert.Equal(t, "SEQR refund", refundPosts[0].Text)
		assert.Equal(t, r1.ERSReference, refundPosts[0].Reference)
		assert.Equal(t, r2.ERSReference, refundPosts[1].Reference)

		doc, err := h.r.ReceiptDocument(ctx, p.ID)
		require.NoError(t, err)
		assert.Len(t, doc.Refunds, 2)

		open, _, err := h.r.CreatePayment(ctx, "other", sale("10.00"))
		require.NoError(t, err)
		_, _, err = h.r.Refund(ctx, open.ID, "rk-6", RefundRequest{Amount: m("1.00")})
		if open.State != StatePaid {
			require.ErrorIs(t, err, ErrInvalidState)
		}
	})
}

func reconXML(root string, meta map[string]string, rows ...map[string]string) string {
	var b strings.Builder
	b.WriteString("<" + root + "><Meta>")
	for k, v := range meta {
		fmt.Fprintf(&b, "<%s>%s</%s>", k, v, k)
	}
	b.WriteString("</Meta>")
	for _, r := range rows {
		b.WriteString("<Row>")
		for k, v := range r {
			fmt.Fprintf(&b, "<%s>%s</%s>", k, v, k)
		}
		b.WriteString("</Row>")
	}
	b.WriteString("</" + root + ">")
	return b.String()
}

// Period close: mark, store, wait for the report (code 2 retried), compare,
// list discrepancies by reference; a second close after a crash before the
// report re-reads the same period.
func TestClosePeriodMismatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) { return paidStatus("ERS-" + ref), nil }}
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		ctx := context.Background()
		p1 := paidPayment(t, h, "k1", "20.00")
		paidPayment(t, h, "k2", "30.00")

		fake.mu.Lock()
		fake.report = func(n int, id string) (seqr.Report, error) {
			if n <= 4 {
				return seqr.Report{}, resultErr("executeReport", seqr.ResultReportNotReady)
			}
			if strings.Contains(id, "006") {
				return seqr.Report{ContentString: reconXML("TerminalTransactionSummary", map[string]string{"TransactionPeriodId": "P"},
					map[string]string{"SalesCount": "2", "SalesTotal": "45.00000"})}, nil
			}
			return seqr.Report{ContentString: reconXML("TransactionDetails", map[string]string{"TransactionPeriodId": "P"},
				map[string]string{"ErsReference": p1.ERSReference, "SalesAmount": "20.00000"},
				map[string]string{"ErsReference": "ERS-ONLY-AT-SEQR", "SalesAmount": "25.00000"})}, nil
		}
		fake.mu.Unlock()

		start := time.Now()
		rep, err := h.r.ClosePeriod(ctx, "")
		require.NoError(t, err)
		assert.Equal(t, 3*time.Second+4*3*time.Second, time.Since(start), "3 s after mark, then every 3 s")
		assert.False(t, rep.Match)
		assert.Equal(t, 2, rep.RemoteCount)
		assert.Equal(t, money.MustParse("45.00"), rep.RemoteTotal)
		assert.Equal(t, 2, rep.LocalCount)
		assert.Equal(t, money.MustParse("50.00"), rep.LocalTotal)
		assert.Equal(t, []string{"ERS-ONLY-AT-SEQR"}, rep.OnlyRemote)
		require.Len(t, rep.OnlyLocal, 1)
		assert.NotEqual(t, p1.ERSReference, rep.OnlyLocal[0])
		assert.Equal(t, 1, fake.count("markTransactionPeriod"))

		// Report never ready: ErrReportNotReady after the timeout, and the
		// next close re-reads the same stored period (E3).
		fake.mu.Lock()
		fake.report = nil
		fake.mu.Unlock()
		_, err = h.r.ClosePeriod(ctx, "")
		require.ErrorIs(t, err, ErrReportNotReady)
		assert.Equal(t, 2, fake.count("markTransactionPeriod"))
		_, err = h.r.ClosePeriod(ctx, "")
		require.ErrorIs(t, err, ErrReportNotReady)
		assert.Equal(t, 2, fake.count("markTransactionPeriod"), "the stored period is re-read, not marked again")
	})
}

// The reseller password and the generated terminal password never appear
// in a log line or an error.
func TestCanaryPasswordNeverLogged(t *testing.T) {
	const canary = "CANARY-s3cr3t-reseller-pw"
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core)
	var terminalPassword string
	fake := &fakeSEQR{}
	calls := 0
	fake.register = func(reseller seqr.Principal, password string) (string, error) {
		calls++
		terminalPassword = password
		assert.Equal(t, canary, reseller.Password)
		if calls == 1 {
			// A transport error that echoes what it was given.
			return "", fmt.Errorf("post https://x/?pw=%s&t=%s: connection reset", canary, password)
		}
		return "87e791f9e24148a6892c52aa85bb0331", nil
	}
	h := newHarness(t, fake, harnessOpt{noTerminal: true, logger: logger})
	defer h.close()
	ctx := context.Background()
	req := RegisterTerminalRequest{ResellerID: "public_test_shop", ResellerUserID: "9900", ResellerPassword: canary,
		ExternalTerminalID: "Shop 1/POS 2", Name: "till 2"}

	_, err := h.r.RegisterTerminal(ctx, req)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), canary)
	assert.NotContains(t, err.Error(), terminalPassword)

	term, err := h.r.RegisterTerminal(ctx, req)
	require.NoError(t, err)
	assert.True(t, term.Registered)
	b, _ := json.Marshal(term)
	assert.NotContains(t, string(b), terminalPassword)
	_, err = h.r.RegisterTerminal(ctx, req)
	require.ErrorIs(t, err, ErrAlreadyRegistered)

	stored, err := h.db.Terminal(ctx)
	require.NoError(t, err)
	assert.Equal(t, terminalPassword, stored.Password)
	assert.Len(t, stored.Password, 24)
	assert.Regexp(t, "^[A-Za-z0-9]{24}$", stored.Password, "alphanumeric")

	_, err = h.r.AssignSeqrID(ctx, "ACME-0001")
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "seqrId", ve.Field)
	_, err = h.r.AssignSeqrID(ctx, "ACME0001")
	require.NoError(t, err)

	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		assert.NotContains(t, line, canary)
		assert.NotContains(t, line, terminalPassword)
	}
	trail, err := h.db.AuditTrail(ctx, "")
	require.NoError(t, err)
	for _, a := range trail {
		assert.NotContains(t, a.Detail+a.Outcome, canary)
	}
	require.NoError(t, h.r.UnregisterTerminal(ctx))
	st, err := h.r.Status(ctx)
	require.NoError(t, err)
	assert.False(t, st.Terminal.Registered)
}

func TestAssignSeqrIDByScan(t *testing.T) {
	tests := []struct {
		name    string
		code    string
		want    string
		field   bool
		timeout bool
	}{
		{"sticker id", "ACME0001", "ACME0001", false, false},
		{"sticker QR payload", "HTTP://SEQR.SE/QACME0002", "ACME0002", false, false},
		{"not an id", "ab-12 34", "", true, false},
		{"no scan", "", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := &fakeSEQR{}
				h := newHarness(t, fake, harnessOpt{noSeqrID: true, scanner: aScanner{}})
				defer h.close()
				h.r.HandleScan(scanner.Scan{Code: "IGNORED1"}) // outside the mode: ignored
				type res struct {
					t   Terminal
					err error
				}
				done := make(chan res, 1)
				go func() {
					tm, err := h.r.AssignSeqrIDByScan(context.Background(), 10*time.Second)
					done <- res{tm, err}
				}()
				synctest.Wait()
				if !tt.timeout {
					h.r.HandleScan(scanner.Scan{Code: tt.code, Symbology: "code128"})
				}
				got := <-done
				switch {
				case tt.timeout:
					require.ErrorIs(t, got.err, ErrScanTimeout)
				case tt.field:
					var ve *ValidationError
					require.ErrorAs(t, got.err, &ve)
					assert.Equal(t, "seqrId", ve.Field)
					assert.Contains(t, ve.Message, tt.code)
				default:
					require.NoError(t, got.err)
					assert.Equal(t, tt.want, got.t.SeqrID)
				}
				for _, c := range fake.callsOf("assignSeqrId") {
					assert.NotEqual(t, "IGNORED1", c.ref)
				}
			})
		})
	}
}

// With no scanner configured, assign-by-scan is refused at once: waiting
// the whole timeout for a scan that cannot come only holds the cashier up.
func TestAssignByScanWithoutScannerIsRefusedAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, &fakeSEQR{}, harnessOpt{noSeqrID: true})
		defer h.close()
		start := time.Now()
		_, err := h.r.AssignSeqrIDByScan(context.Background(), 5*time.Minute)
		require.ErrorIs(t, err, ErrNoScanner)
		assert.Zero(t, time.Since(start), "no wait at all (fake time)")
	})
}

func TestPrintQueueAndReprint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) { return paidStatus(ers1), nil }}
		h := newHarness(t, fake, harnessOpt{cfg: Config{ReceiptHeader: []string{"My Shop", "Storgatan 1"}}})
		defer h.close()
		ctx := context.Background()
		req := sale("60.00")
		req.ReceiptTotal = money.MustParse("100.00")
		req.Rows[0].UnitPrice, req.Rows[0].TotalAmount = money.MustParse("100.00"), money.MustParse("100.00")
		p, _, err := h.r.CreatePayment(ctx, "k", req)
		require.NoError(t, err)
		ch, cancel := h.r.Subscribe(p.ID)
		defer cancel()
		waitState(t, ch, StatePaid)

		job, ok, err := h.db.NextPrintJob(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		assert.False(t, job.Copy)
		var doc receipt.Document
		require.NoError(t, json.Unmarshal(job.Payload, &doc))
		assert.Equal(t, []string{"My Shop", "Storgatan 1"}, doc.Header)
		assert.Equal(t, money.MustParse("40.00"), doc.LeftToPay, "split tender: the rest paid otherwise")
		require.Len(t, doc.Payments, 1)
		assert.Equal(t, receipt.Payment{Method: "SEQR payment", Amount: money.MustParse("60.00"), Reference: ers1}, doc.Payments[0])

		// (The queue that turns a started job into a COPY is cmd/posd's:
		// TestPrintQueueStartedJobComesBackAsCopy.)

		require.NoError(t, h.db.PrintJobPrinted(ctx, job.ID))
		require.NoError(t, h.r.ReprintReceipt(ctx, p.ID))
		job, ok, err = h.db.NextPrintJob(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		assert.True(t, job.Copy)
		require.NoError(t, json.Unmarshal(job.Payload, &doc))
		assert.True(t, doc.Copy)

		posts, err := h.r.Journal(ctx, 0, 0)
		require.NoError(t, err)
		require.Len(t, posts, 1)
		posts, err = h.r.Journal(ctx, 1, 0)
		require.NoError(t, err)
		assert.Empty(t, posts)
	})
}

// A printer fault never touches recording: the status is only shown.
type paperOut struct{}

func (paperOut) Status() printer.Status { return printer.Status{Online: true, Paper: "out"} }

func TestStatusShowsDevicesWithoutBlockingPayments(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) { return paidStatus(ers1), nil }}
		h := newHarness(t, fake, harnessOpt{noRun: true})
		r, err := New(Config{Version: "1.2.3"}, Deps{Store: h.db, Providers: []payment.Provider{seqrProvider(t, fake, h.db, payment.Policy{})}, Journal: h.journal, Printer: paperOut{}})
		require.NoError(t, err)
		h.r = r
		h.start()
		defer h.close()
		p := paidPayment(t, h, "k", "20.00")
		assert.Equal(t, StatePaid, p.State)
		st, err := h.r.Status(context.Background())
		require.NoError(t, err)
		require.NotNil(t, st.Printer)
		assert.Equal(t, "out", st.Printer.Paper)
		assert.Nil(t, st.Scanner)
		assert.Equal(t, "1.2.3", st.Version)
		assert.True(t, st.Ready)
		assert.Equal(t, "ok", st.Storage)
		assert.True(t, st.Provider.Reachable)
		assert.Equal(t, 0, st.Open)
	})
}

// E2: a payment posd holds as not final that SEQR reports paid is raised
// (audit, log) and never changed automatically.
func TestClosePeriodRaisesOpenPaymentPaidAtSEQR(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{}
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		ctx := context.Background()
		p, _, err := h.r.CreatePayment(ctx, "k1", sale("20.00"))
		require.NoError(t, err)
		// E2 is about an UNKNOWN sale (a polling one refuses the close):
		// posd's own cancel was refused, so the outcome is unknown while
		// polling goes on.
		_, err = h.db.Transition(ctx, p.ID, []string{string(StatePolling)},
			store.Audit{Actor: "posd", Event: "decision_limit", Outcome: "failure: 54", Origin: "poll"},
			func(q *store.Payment) error { q.State = string(StateUnknown); return nil })
		require.NoError(t, err)
		fake.mu.Lock()
		fake.report = func(n int, id string) (seqr.Report, error) {
			if strings.Contains(id, "006") {
				return seqr.Report{ContentString: reconXML("S", nil, map[string]string{"SalesCount": "1", "SalesTotal": "20.00000"})}, nil
			}
			return seqr.Report{ContentString: reconXML("D", nil, map[string]string{"ErsReference": "ERS-X", "SalesAmount": "20.00000",
				"InvoiceReference": p.InvoiceReference})}, nil
		}
		fake.mu.Unlock()
		rep, err := h.r.ClosePeriod(ctx, "")
		require.NoError(t, err)
		assert.False(t, rep.Match)
		assert.Equal(t, []string{"ERS-X"}, rep.OnlyRemote)
		got, err := h.r.Payment(ctx, p.ID)
		require.NoError(t, err)
		assert.False(t, got.State.Final(), "never changed automatically")
		trail, err := h.db.AuditTrail(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, "period_report", trail[len(trail)-1].Event)
		assert.Contains(t, trail[len(trail)-1].Detail, "ERS-X")
	})
}

// A payment's detail has its rows, its audit trail (who did what) and, once
// paid, the receipt as printed.
func TestPaymentDetailHasRowsAuditAndReceipt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) { return paidStatus(ers1), nil }}
		h := newHarness(t, fake, harnessOpt{cfg: Config{ReceiptHeader: []string{"My Shop"}}})
		defer h.close()
		ctx := context.Background()
		p, _, err := h.r.CreatePayment(ctx, "k", sale("20.00"))
		require.NoError(t, err)
		ch, cancel := h.r.Subscribe(p.ID)
		defer cancel()
		waitState(t, ch, StatePaid)
		d, err := h.r.PaymentDetail(ctx, p.ID)
		require.NoError(t, err)
		require.Len(t, d.Rows, 1)
		assert.Equal(t, "Ice cream", d.Rows[0].Description)
		var actions []string
		for _, a := range d.Audit {
			actions = append(actions, a.Action)
		}
		assert.Equal(t, []string{"create", "start", "paid_received", "paid"}, actions)
		assert.Equal(t, "bob", d.Audit[0].Actor)
		assert.Contains(t, d.ReceiptText, "Kvitto S-1")
		assert.Contains(t, d.ReceiptText, ers1)
		_, err = h.r.PaymentDetail(ctx, "nope")
		require.ErrorIs(t, err, ErrNotFound)
	})
}

// A test print is a slip on the printer queue, not a receipt of a payment.
func TestTestPrintQueuesASlip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, &fakeSEQR{}, harnessOpt{cfg: Config{ReceiptHeader: []string{"My Shop"}}})
		defer h.close()
		ctx := context.Background()
		require.NoError(t, h.r.TestPrint(ctx))
		job, ok, err := h.db.NextPrintJob(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Empty(t, job.PaymentID)
		var doc receipt.Document
		require.NoError(t, json.Unmarshal(job.Payload, &doc))
		assert.Contains(t, doc.Header, "TESTUTSKRIFT / TEST PRINT")
		assert.Contains(t, doc.Footer, "Detta är inget kvitto / Not a receipt")
	})
}
