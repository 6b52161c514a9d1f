package register

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/seqr"
)

// A period is not closed while a payment may still become paid on one side
// of the mark and be recorded on the other.
func TestClosePeriodRefusedWhilePaymentsOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{}
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		ctx := context.Background()
		p, _, err := h.r.CreatePayment(ctx, "k1", sale("20.00"))
		require.NoError(t, err)
		require.Equal(t, StatePolling, p.State)

		_, err = h.r.ClosePeriod(ctx, "")
		require.ErrorIs(t, err, ErrInvalidState)
		assert.Contains(t, err.Error(), "1 payments still open: finish or cancel them before closing the period")
		assert.Zero(t, fake.count("markTransactionPeriod"), "nothing marked")

		_, err = h.r.Cancel(ctx, p.ID)
		require.NoError(t, err)
		fake.mu.Lock()
		fake.report = func(n int, id string) (seqr.Report, error) {
			if strings.Contains(id, "006") {
				return seqr.Report{ContentString: reconXML("TerminalTransactionSummary", nil,
					map[string]string{"SalesCount": "0", "SalesTotal": "0.00"})}, nil
			}
			return seqr.Report{ContentString: reconXML("TransactionDetails", nil)}, nil
		}
		fake.mu.Unlock()
		rep, err := h.r.ClosePeriod(ctx, "")
		require.NoError(t, err)
		assert.True(t, rep.Match)
	})
}

// A payment SEQR counts in the period but posd recorded just after the mark
// is matched by its ersReference from STD_RECON_007, not reported missing.
func TestClosePeriodMatchesByERSReference(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) { return paidStatus("ERS-" + ref), nil }}
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		ctx := context.Background()
		p1 := paidPayment(t, h, "k1", "20.00")
		// Recorded after the mark (paid at SEQR before it, polled after).
		raw, err := sql.Open("sqlite3", "file:"+h.dir+"/posd.db?_busy_timeout=5000")
		require.NoError(t, err)
		defer raw.Close()
		_, err = raw.Exec("UPDATE payments SET paid_at = '2999-01-01T00:00:00.000000000Z' WHERE id = ?", p1.ID)
		require.NoError(t, err)

		fake.mu.Lock()
		fake.report = func(n int, id string) (seqr.Report, error) {
			if strings.Contains(id, "006") {
				return seqr.Report{ContentString: reconXML("TerminalTransactionSummary", nil,
					map[string]string{"SalesCount": "1", "SalesTotal": "20.00000"})}, nil
			}
			return seqr.Report{ContentString: reconXML("TransactionDetails", nil,
				map[string]string{"ErsReference": p1.ERSReference, "SalesAmount": "20.00000"})}, nil
		}
		fake.mu.Unlock()
		rep, err := h.r.ClosePeriod(ctx, "")
		require.NoError(t, err)
		assert.Empty(t, rep.OnlyRemote)
		assert.Empty(t, rep.OnlyLocal)
		assert.Equal(t, 1, rep.LocalCount)
		assert.Equal(t, money.MustParse("20.00"), rep.LocalTotal)
		assert.True(t, rep.Match)
	})
}
