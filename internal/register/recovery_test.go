package register

import (
	"context"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/payment/paymenttest"
	"github.com/posd/posd/internal/store"
)

// Recovery: after a restart, every open payment with a reference is polled
// at once (before new payments are accepted); a payment that crashed while
// sending becomes unknown and is never resent; a PAID whose recording was
// interrupted is finished; missing journal posts are re-appended.
func TestRecoveryAfterRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		// The register's own rule, whatever the provider: a fake one that
		// allows several open payments (SEQR allows one per till). It takes
		// one of the product's methods: the register refuses any other.
		prov := &paymenttest.Fake{MethodList: []string{MethodPayson}, PolicyFn: func(string) payment.Policy {
			return payment.Policy{CheckInterval: time.Second, Window: 30 * time.Second, DecisionLimit: 5 * time.Minute}
		}}
		h := newHarness(t, nil, harnessOpt{provider: prov, noTerminal: true})
		dir := h.dir
		create := func(key, amount string) Payment {
			req := sale(amount)
			req.Method = MethodPayson
			p, _, err := h.r.CreatePayment(ctx, key, req)
			require.NoError(t, err)
			return p
		}
		open := create("open", "20.00")
		waiting := create("waiting", "30.00")
		ch, cancel := h.r.Subscribe(waiting.ID)
		waitState(t, ch, StateAwaitingDecision)
		cancel()
		paid := create("paid", "40.00")
		prov.Pay(paid.ProviderRef, "TX-"+paid.ProviderRef)
		ch, cancel = h.r.Subscribe(paid.ID)
		waitState(t, ch, StatePaid)
		cancel()
		// A crash while sending: committed "created", never answered.
		crashed, _, err := h.db.CreatePayment(ctx, store.Payment{ID: "crashed", IdempotencyKey: "crashed", RequestHash: "h",
			Provider: prov.Name(), Method: MethodPayson, State: "created", Amount: 500, Currency: "SEK", ReceiptTotal: 500,
			Balancing: "none", RowsJSON: []byte("[]")}, store.Audit{Actor: "bob", Event: "create", Outcome: "success"})
		require.NoError(t, err)
		h.close()
		require.NoError(t, os.Remove(dir+"/receipts.journal")) // the file lost: SQLite re-creates its posts

		startsBefore := prov.Count(paymenttest.OpStart)
		restart := time.Now()
		h2 := newHarness(t, nil, harnessOpt{dir: dir, provider: prov, noTerminal: true})
		defer h2.close()

		for _, ref := range []string{open.ProviderRef, waiting.ProviderRef} {
			var first *paymenttest.Call
			for _, c := range prov.Calls(paymenttest.OpCheck) {
				if c.Ref == ref && !c.At.Before(restart) {
					first = &c
					break
				}
			}
			require.NotNil(t, first, "checked after restart")
			assert.LessOrEqual(t, first.At.Sub(restart), 2*time.Second, "first check within 2 s of start")
		}
		assert.Equal(t, startsBefore, prov.Count(paymenttest.OpStart), "nothing started again")
		got, err := h2.r.Payment(ctx, crashed.ID)
		require.NoError(t, err)
		assert.Equal(t, StateUnknown, got.State)
		assert.NotEmpty(t, got.Error)
		w, err := h2.r.Payment(ctx, waiting.ID)
		require.NoError(t, err)
		assert.Equal(t, StateAwaitingDecision, w.State)
		assert.True(t, h2.journal.Has(prov.Name(), "TX-"+paid.ProviderRef), "post re-appended from SQLite")
		assert.Len(t, allPosts(t, h2.journal), 1)

		// The resumed loop still answers the cashier and records a PAID.
		prov.Pay(open.ProviderRef, "TX-"+open.ProviderRef)
		ch, cancel = h2.r.Subscribe(open.ID)
		defer cancel()
		waitState(t, ch, StatePaid)
		assert.Len(t, allPosts(t, h2.journal), 2)
	})
}

// A PAID whose reference was committed but whose post and final commit did
// not happen (crash in between) is finished at start, once.
func TestRecoveryFinishesHalfRecordedPaid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fake := &fakeSEQR{}
		h := newHarness(t, fake, harnessOpt{})
		p, _, err := h.r.CreatePayment(ctx, "k", sale("20.00"))
		require.NoError(t, err)
		h.close()
		db, err := store.Open(ctx, h.dir+"/posd.db", store.Options{})
		require.NoError(t, err)
		_, err = db.Transition(ctx, p.ID, nil, store.Audit{Actor: "posd", Event: "paid_received", Outcome: "success"},
			func(q *store.Payment) error { q.TransactionRef, q.PaidAt = ers1, time.Now(); return nil })
		require.NoError(t, err)
		require.NoError(t, db.Close())

		h2 := newHarness(t, fake, harnessOpt{dir: h.dir})
		defer h2.close()
		ch, cancel := h2.r.Subscribe(p.ID)
		defer cancel()
		waitState(t, ch, StatePaid)
		assert.True(t, h2.journal.Has("seqr", ers1))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		assert.Equal(t, 1, fake.count("submitPaymentReceipt"))
	})
}

// At start only the posts the receipt file lacks are re-appended, read from
// SQLite by reference: paid payments by creation, then done refunds; posts
// already in the file, open payments and unfinished refunds are left alone.
func TestRecoveryReappendsOnlyMissingPosts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		h := newHarness(t, &fakeSEQR{}, harnessOpt{noRun: true})
		paidAt := time.Now().Add(-48 * time.Hour) // old: no time cut-off may skip it
		seed := func(id, state, ers string) store.Payment {
			p, _, err := h.db.CreatePayment(ctx, store.Payment{ID: id, IdempotencyKey: "k-" + id, RequestHash: "h",
				Provider: "seqr", Method: "seqr", State: state, Amount: 2000, Currency: "SEK", ReceiptTotal: 2000, Balancing: "none",
				RowsJSON: []byte("[]"), TransactionRef: ers, PaidAt: paidAt}, store.Audit{Actor: "test", Event: "seed", Outcome: "success"})
			require.NoError(t, err)
			return p
		}
		p3 := seed("p3", "paid", "ERS-3")
		p1 := seed("p1", "paid", "ERS-1")
		p2 := seed("p2", "paid", "ERS-2")
		seed("open", "polling", "")
		_, err := h.journal.Append(h.r.paymentPost(p2)) // already in the file
		require.NoError(t, err)
		rf, err := h.db.BeginRefund(ctx, store.Refund{ID: "r1", PaymentID: p1.ID, Provider: "seqr", Amount: 500, Currency: "SEK", CashierID: "bob"},
			2000, store.Audit{Actor: "bob", Event: "refund", Outcome: "success"})
		require.NoError(t, err)
		_, err = h.db.FinishRefund(ctx, rf.ID, "done", "ERS-R1", "", store.Audit{Actor: "posd", Event: "refund", Outcome: "success"})
		require.NoError(t, err)
		_, err = h.db.BeginRefund(ctx, store.Refund{ID: "r2", PaymentID: p3.ID, Provider: "seqr", Amount: 500, Currency: "SEK", CashierID: "bob"},
			2000, store.Audit{Actor: "bob", Event: "refund", Outcome: "success"})
		require.NoError(t, err) // still "sending": no post

		h.start()
		defer h.close()
		var got []string
		for _, post := range allPosts(t, h.journal) {
			got = append(got, post.Kind+" "+post.PaymentID+" "+post.Reference)
		}
		assert.Equal(t, []string{"payment p2 ERS-2", "payment p1 ERS-1", "payment p3 ERS-3", "refund p1 ERS-R1"}, got)
		posts, err := h.journal.Posts(1, 10)
		require.NoError(t, err)
		require.NotEmpty(t, posts)
		stored, err := h.db.Payment(ctx, p1.ID)
		require.NoError(t, err)
		assert.True(t, posts[0].Time.Equal(stored.PaidAt), "post keeps the paid time: %s, want %s", posts[0].Time, stored.PaidAt)
	})
}
