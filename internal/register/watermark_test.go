package register

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/store"
)

// countingJournal counts the references start-up asks the receipt file for.
type countingJournal struct {
	*receipt.Journal
	has atomic.Int64
}

func (c *countingJournal) Has(provider, ref string) bool {
	c.has.Add(1)
	return c.Journal.Has(provider, ref)
}

// seedPaid stores a paid payment (and, with post, its transaction post) as
// a finished recording leaves it.
func seedPaid(t *testing.T, h *harness, id string, post bool) store.Payment {
	t.Helper()
	ctx := context.Background()
	p, _, err := h.db.CreatePayment(ctx, store.Payment{ID: id, IdempotencyKey: "k-" + id, RequestHash: "h",
		Provider: "seqr", Method: "seqr", State: "polling", Amount: 2000, Currency: "SEK", ReceiptTotal: 2000, Balancing: "none",
		RowsJSON: []byte("[]"), SessionRef: "INV-" + id}, store.Audit{Actor: "test", Event: "seed", Outcome: "success"})
	require.NoError(t, err)
	p, err = h.db.Transition(ctx, p.ID, nil, store.Audit{Actor: "posd", Event: "paid", Outcome: "success"}, func(q *store.Payment) error {
		q.State, q.TransactionRef, q.PaidAt = "paid", "ERS-"+id, time.Now()
		return nil
	})
	require.NoError(t, err)
	if post {
		_, err := h.journal.Append(h.r.paymentPost(p))
		require.NoError(t, err)
	}
	return p
}

// TestStartChecksOnlyWhatFollowsTheWatermark (issue 11 item 8): the first
// start checks every paid payment and sets the watermark; a later start
// asks the receipt file only about what was recorded after it (a missing
// post among those is re-appended); a torn tail moved aside below the
// watermark makes the start check everything again, and the lost post is
// re-appended.
func TestStartChecksOnlyWhatFollowsTheWatermark(t *testing.T) {
	ctx := context.Background()
	var cj *countingJournal
	wrap := func(j *receipt.Journal) Journal { cj = &countingJournal{Journal: j}; return cj }
	h := newHarness(t, &fakeSEQR{}, harnessOpt{noRun: true, wrap: wrap})
	dir := h.dir
	const old = 40
	for i := range old {
		seedPaid(t, h, fmt.Sprintf("old%02d", i), i != 7) // old07's post is missing
	}
	h.start()
	assert.GreaterOrEqual(t, cj.has.Load(), int64(old), "no watermark yet: every paid payment is checked")
	assert.True(t, h.journal.Has("seqr", "ERS-old07"), "re-appended")
	w, ok, err := h.db.JournalWatermark(ctx)
	require.NoError(t, err)
	require.True(t, ok, "the first start sets the watermark")
	top, err := h.db.MaxAuditID(ctx)
	require.NoError(t, err)
	assert.LessOrEqual(t, w.AuditID, top)
	assert.Equal(t, h.journal.LastSeq(), w.JournalSeq)
	h.close()

	// Recorded after the watermark: one with its post, one without.
	h = newHarness(t, &fakeSEQR{}, harnessOpt{dir: dir, noRun: true, wrap: wrap})
	seedPaid(t, h, "new1", true)
	seedPaid(t, h, "new2", false)
	h.start()
	assert.LessOrEqual(t, cj.has.Load(), int64(4), "only the payments recorded after the watermark are checked")
	assert.True(t, h.journal.Has("seqr", "ERS-new2"), "a missing post after the watermark is re-appended")
	w2, ok, err := h.db.JournalWatermark(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Greater(t, w2.AuditID, w.AuditID, "the watermark moved past them")
	assert.Equal(t, h.journal.LastSeq(), w2.JournalSeq)
	lastSeq := h.journal.LastSeq()
	h.close()

	// A torn tail: the last post (new2's) is cut, and moved aside at open.
	name := dir + "/receipts.journal"
	files, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, f := range files { // the current file of the series is the newest journal file
		if fi, _ := f.Info(); fi != nil && !f.IsDir() && len(f.Name()) > len("receipts.journal") && f.Name()[:16] == "receipts.journal" &&
			f.Name() != "receipts.journal.index" {
			name = dir + "/" + f.Name()
		}
	}
	st, err := os.Stat(name)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(name, st.Size()-5))
	h = newHarness(t, &fakeSEQR{}, harnessOpt{dir: dir, noRun: true, wrap: wrap})
	defer h.close()
	require.Equal(t, lastSeq-1, h.journal.LastSeq(), "the torn post was moved aside")
	h.start()
	assert.GreaterOrEqual(t, cj.has.Load(), int64(old), "below the watermark: everything is checked again")
	assert.True(t, h.journal.Has("seqr", "ERS-new2"), "the lost post is re-appended")
	assert.Equal(t, lastSeq, h.journal.LastSeq())
}

// TestWatermarkAdvancesWhileRunning: the watermark follows recordings while
// posd runs (so the next start has little to check), and stops before a
// done refund whose post is not written yet.
func TestWatermarkAdvancesWhileRunning(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, &fakeSEQR{}, harnessOpt{noRun: true})
	defer h.close()
	seedPaid(t, h, "a", true)
	h.start()
	w0, ok, err := h.db.JournalWatermark(ctx)
	require.NoError(t, err)
	require.True(t, ok)

	seedPaid(t, h, "b", true)
	h.r.confirmPosts(ctx)
	w1, _, err := h.db.JournalWatermark(ctx)
	require.NoError(t, err)
	assert.Greater(t, w1.AuditID, w0.AuditID)

	// A refund recorded done whose post is still on its way.
	rf, err := h.db.BeginRefund(ctx, store.Refund{ID: "r1", PaymentID: "b", Provider: "seqr", Amount: 500, Currency: "SEK"},
		2000, store.Audit{Actor: "bob", Event: "refund_begin", Outcome: "success"})
	require.NoError(t, err)
	done, err := h.db.FinishRefund(ctx, rf.ID, "done", "ERS-R1", "", store.Audit{Actor: "posd", Event: "refund", Outcome: "success"})
	require.NoError(t, err)
	seedPaid(t, h, "c", true)
	h.r.confirmPosts(ctx)
	w2, _, err := h.db.JournalWatermark(ctx)
	require.NoError(t, err)
	top, err := h.db.MaxAuditID(ctx)
	require.NoError(t, err)
	assert.Less(t, w2.AuditID, top, "stops before the refund without its post")
	assert.GreaterOrEqual(t, w2.AuditID, w1.AuditID)

	_, err = h.journal.Append(h.r.refundPost(done))
	require.NoError(t, err)
	h.r.confirmPosts(ctx)
	w3, _, err := h.db.JournalWatermark(ctx)
	require.NoError(t, err)
	assert.Equal(t, top, w3.AuditID, "past it once the post is written")
}

// TestLongHistoryWithoutWatermarkCheckedAfterReady: a long history with no
// usable watermark (the first start after the upgrade) does not hold READY:
// it is checked in the background, the missing post appended, and the
// watermark set.
func TestLongHistoryWithoutWatermarkCheckedAfterReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		h := newHarness(t, &fakeSEQR{}, harnessOpt{noRun: true})
		defer h.close()
		seedPaid(t, h, "a", true)
		seedPaid(t, h, "b", false)
		h.r.fullCheckBeforeReady = 0 // every history is long
		h.start()
		synctest.Wait()
		assert.True(t, h.journal.Has("seqr", "ERS-b"), "re-appended after READY")
		_, ok, err := h.db.JournalWatermark(ctx)
		require.NoError(t, err)
		assert.True(t, ok, "the background check sets the watermark")
	})
}
