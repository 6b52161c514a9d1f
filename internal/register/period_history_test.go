package register

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/store"
)

// TestPaymentMatchedAcrossABoundaryBelongsToItsPeriod (issue 11 item 10):
// a payment SEQR counts in period N that posd recorded just after N's mark
// is reconciled in N (matched by reference), and period N+1, whose bounds
// hold its paid time, does not report it "only local".
func TestPaymentMatchedAcrossABoundaryBelongsToItsPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) { return paidStatus("ERS-" + ref), nil }}
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		ctx := context.Background()
		p1 := paidPayment(t, h, "k1", "20.00")
		raw, err := sql.Open("sqlite3", "file:"+h.dir+"/posd.db?_busy_timeout=5000")
		require.NoError(t, err)
		defer raw.Close()
		// Paid at SEQR before N's mark, recorded a minute after it.
		_, err = raw.Exec("UPDATE payments SET paid_at = ? WHERE id = ?",
			time.Now().Add(time.Minute).UTC().Format("2006-01-02T15:04:05.000000000Z"), p1.ID)
		require.NoError(t, err)

		var mu sync.Mutex
		listed := []string{p1.ERSReference}
		fake.mu.Lock()
		fake.report = func(n int, id string) (seqr.Report, error) {
			mu.Lock()
			defer mu.Unlock()
			if strings.Contains(id, "006") {
				total := money.Amount(2000 * len(listed))
				return seqr.Report{ContentString: reconXML("TerminalTransactionSummary", nil,
					map[string]string{"SalesCount": string(rune('0' + len(listed))), "SalesTotal": total.String()})}, nil
			}
			var rows []map[string]string
			for _, ref := range listed {
				rows = append(rows, map[string]string{"ErsReference": ref, "SalesAmount": "20.00"})
			}
			return seqr.Report{ContentString: reconXML("TransactionDetails", nil, rows...)}, nil
		}
		fake.mu.Unlock()
		rep, err := h.r.ClosePeriod(ctx, "")
		require.NoError(t, err)
		require.True(t, rep.Match, "%+v", rep)
		assert.Equal(t, 1, rep.LocalCount)

		time.Sleep(2 * time.Minute) // N+1's bounds now hold p1's paid time
		mu.Lock()
		listed = nil
		mu.Unlock()
		rep2, err := h.r.ClosePeriod(ctx, "")
		require.NoError(t, err)
		assert.Empty(t, rep2.OnlyLocal, "reconciled in the period before")
		assert.Zero(t, rep2.LocalCount)
		assert.True(t, rep2.Match, "%+v", rep2)
	})
}

// reporting is SEQR with a period report the test writes (refund lines,
// which SEQR's per-terminal details report does not carry).
type reporting struct {
	*seqr.Adapter
	mu     sync.Mutex
	report payment.Report
}

func (p *reporting) MarkPeriod(ctx context.Context, from, to time.Time) (string, error) {
	return "P-" + to.UTC().Format("150405.000000000"), nil
}

func (p *reporting) Report(ctx context.Context, period string, from, to time.Time) (payment.Report, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.report, nil
}

// TestUnknownRefundSettledFromThePeriodReport (issue 11 item 10): a refund
// whose outcome was lost is recorded done from the report's refund line for
// the same payment and amount, its post is written, and the payment shows
// it refunded; a line for another amount settles nothing.
func TestUnknownRefundSettledFromThePeriodReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) { return paidStatus("ERS-" + ref), nil }}
		h := newHarness(t, fake, harnessOpt{noRun: true})
		prov := &reporting{Adapter: seqrProvider(t, fake, h.db, payment.Policy{})}
		r, err := New(Config{}, Deps{Store: h.db, Providers: []payment.Provider{prov}, Journal: h.journal})
		require.NoError(t, err)
		h.r = r
		h.start()
		defer h.close()
		ctx := context.Background()
		p := paidPayment(t, h, "k1", "20.00")
		q := paidPayment(t, h, "k2", "30.00")
		lost := func(id string, pay Payment, amount string) store.Refund {
			rf, err := h.db.BeginRefund(ctx, store.Refund{ID: id, PaymentID: pay.ID, Provider: "seqr", Amount: money.MustParse(amount), Currency: "SEK"},
				pay.Amount, store.Audit{Actor: "bob", Event: "refund_begin", Outcome: "success"})
			require.NoError(t, err)
			rf, err = h.db.FinishRefund(ctx, rf.ID, "unknown", "", "refund: connection reset", store.Audit{Actor: "bob", Event: "refund", Outcome: "failure: unknown"})
			require.NoError(t, err)
			return rf
		}
		rf := lost("r1", p, "5.00")
		other := lost("r2", q, "7.00")
		prov.mu.Lock()
		prov.report = payment.Report{Count: 2, Total: money.MustParse("50.00") - money.MustParse("5.00") - money.MustParse("6.00"), Lines: []payment.ReportLine{
			{Ref: p.TransactionRef, Amount: p.Amount}, {Ref: q.TransactionRef, Amount: q.Amount},
			{Ref: "ERS-R1", Refund: true, Amount: money.MustParse("5.00"), PaymentRef: p.TransactionRef},
			{Ref: "ERS-R2", Refund: true, Amount: money.MustParse("6.00"), PaymentRef: q.TransactionRef}, // not r2's amount
		}}
		prov.mu.Unlock()
		rep, err := h.r.ClosePeriod(ctx, "")
		require.NoError(t, err)
		assert.Equal(t, []string{rf.ID}, rep.SettledRefunds)

		refs, err := h.db.Refunds(ctx, p.ID)
		require.NoError(t, err)
		require.Len(t, refs, 1)
		assert.Equal(t, "done", refs[0].State)
		assert.Equal(t, "ERS-R1", refs[0].ProviderRef)
		assert.True(t, h.journal.Has("seqr", "ERS-R1"), "the refund's transaction post is written")
		got, err := h.r.Payment(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, money.MustParse("5.00"), got.Refunded)

		refs, err = h.db.Refunds(ctx, q.ID)
		require.NoError(t, err)
		require.Len(t, refs, 1)
		assert.Equal(t, other.ID, refs[0].ID)
		assert.Equal(t, "unknown", refs[0].State, "another amount is not this refund")
	})
}
