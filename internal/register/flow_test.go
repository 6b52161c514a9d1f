package register

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/seqr"
)

const ers1 = "2015102910184861801032678"

// orderJournal checks, at the moment of each append, that the API does not
// yet show the payment as paid (the post must be fsynced first).
type orderJournal struct {
	*receipt.Journal
	mu        sync.Mutex
	r         *Register
	violation []string
	appends   int
}

func (j *orderJournal) Append(p receipt.Post) (receipt.Post, error) {
	if j.r != nil && p.Kind == "payment" {
		if got, err := j.r.Payment(context.Background(), p.PaymentID); err == nil && got.State == StatePaid {
			j.mu.Lock()
			j.violation = append(j.violation, p.PaymentID)
			j.mu.Unlock()
		}
	}
	j.mu.Lock()
	j.appends++
	j.mu.Unlock()
	return j.Journal.Append(p)
}

// P2: PAID at poll k is recorded within that poll; the post is in the
// journal before the API shows paid; submitPaymentReceipt is retried until
// SEQR answers 0; a receipt is queued for printing.
func TestJournalPostPrecedesPaid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{}
		fake.status = func(n int, ref string, v int) (seqr.PaymentStatus, error) {
			if n >= 5 {
				return paidStatus(ers1), nil
			}
			return seqr.PaymentStatus{Status: seqr.StatusIssued, Version: 1}, nil
		}
		fake.submit = func(n int, ers string) error {
			if n < 3 {
				return resultErr("submitPaymentReceipt", seqr.ResultSystemError)
			}
			return nil
		}
		var oj *orderJournal
		h := newHarness(t, fake, harnessOpt{cfg: Config{ReceiptHeader: []string{"My Shop"}},
			wrap: func(j *receipt.Journal) Journal { oj = &orderJournal{Journal: j}; return oj }})
		defer h.close()
		oj.r = h.r

		p, _, err := h.r.CreatePayment(context.Background(), "k1", sale("20.00"))
		require.NoError(t, err)
		ch, cancel := h.r.Subscribe(p.ID)
		defer cancel()
		start := time.Now()
		ev := waitState(t, ch, StatePaid)
		assert.Equal(t, 4*time.Second, time.Since(start), "recorded at the poll that saw PAID")
		assert.Equal(t, ers1, ev.Payment.ERSReference)
		_, open := <-ch
		assert.False(t, open, "the stream ends with the final state")
		assert.Empty(t, oj.violation, "journal appended before the API reported paid")
		assert.True(t, h.journal.Has("seqr", ers1))
		posts := allPosts(t, h.journal)
		require.Len(t, posts, 1)
		assert.Equal(t, "SEQR payment", posts[0].Text)
		assert.Equal(t, p.ID, posts[0].PaymentID)
		assert.Equal(t, p.Amount, posts[0].Amount)

		statusCalls := fake.count("getPaymentStatus")
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		assert.Equal(t, statusCalls, fake.count("getPaymentStatus"), "polling stopped")
		assert.Equal(t, 3, fake.count("submitPaymentReceipt"), "retried until 0, then never again")
		items, err := h.db.OutboxItems(context.Background(), p.ID)
		require.NoError(t, err)
		require.Len(t, items, 1)
		assert.False(t, items[0].DoneAt.IsZero())

		jobs, err := h.db.PrintJobs(context.Background(), p.ID)
		require.NoError(t, err)
		require.Len(t, jobs, 1)
		assert.Contains(t, string(jobs[0].Payload), ers1)
		assert.Contains(t, string(jobs[0].Payload), "SEQR payment")
		assert.Contains(t, string(jobs[0].Payload), "My Shop")

		trail, err := h.db.AuditTrail(context.Background(), p.ID)
		require.NoError(t, err)
		var events []string
		for _, a := range trail {
			events = append(events, a.Event)
		}
		assert.Equal(t, []string{"create", "start", "paid_received", "paid"}, events)
	})
}

// P3: "try again" opens a new window on the same reference; there is never
// a second sendInvoice. PAID arriving while the cashier decides is recorded once.
func TestTryAgainKeepsTheSessionAndRecordsPaidOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{}
		var mu sync.Mutex
		paid := false
		fake.status = func(n int, ref string, v int) (seqr.PaymentStatus, error) {
			mu.Lock()
			defer mu.Unlock()
			if paid {
				return paidStatus(ers1), nil
			}
			return seqr.PaymentStatus{Status: seqr.StatusIssued, Version: 1}, nil
		}
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		ctx := context.Background()
		p, _, err := h.r.CreatePayment(ctx, "k1", sale("20.00"))
		require.NoError(t, err)
		ch, cancel := h.r.Subscribe(p.ID)
		defer cancel()
		waitState(t, ch, StateAwaitingDecision)

		_, err = h.r.Cancel(ctx, "nope")
		require.ErrorIs(t, err, ErrNotFound)

		q, err := h.r.Retry(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, StatePolling, q.State)
		assert.Equal(t, 2, q.Window)
		assert.Equal(t, p.InvoiceReference, q.InvoiceReference)
		require.NotNil(t, q.WindowEndsAt)
		assert.Equal(t, time.Now().Add(30*time.Second).UTC(), *q.WindowEndsAt)

		waitState(t, ch, StateAwaitingDecision)
		// Still undecided: the customer pays now.
		mu.Lock()
		paid = true
		mu.Unlock()
		ev := waitState(t, ch, StatePaid)
		assert.Equal(t, ers1, ev.Payment.ERSReference)
		assert.Equal(t, 1, fake.count("sendInvoice"))
		for _, c := range fake.callsOf("getPaymentStatus") {
			assert.Equal(t, p.InvoiceReference, c.ref)
		}
		assert.Len(t, allPosts(t, h.journal), 1, "recorded once")
		_, err = h.r.Retry(ctx, p.ID)
		require.ErrorIs(t, err, ErrInvalidState)
	})
}

// P4: cancelInvoice outcomes.
func TestCancelOutcomesDecideTheState(t *testing.T) {
	tests := []struct {
		name    string
		cancel  error
		want    State
		wantErr error
	}{
		{"0 canceled", nil, StateCanceled, nil},
		{"95 already canceled", resultErr("cancelInvoice", 95), StateCanceled, nil},
		{"50 paid", resultErr("cancelInvoice", 50), StatePaid, nil},
		{"51 keep polling", resultErr("cancelInvoice", 51), StateAwaitingDecision, ErrProviderRejected},
		{"transport error", errTransport, StateAwaitingDecision, ErrOffline},
		{"54", resultErr("cancelInvoice", 54), StateAwaitingDecision, ErrProviderRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := &fakeSEQR{}
				var mu sync.Mutex
				canceledWithPay := false
				fake.cancel = func(n int, ref string) error {
					mu.Lock()
					defer mu.Unlock()
					if tt.want == StatePaid {
						canceledWithPay = true
					}
					return tt.cancel
				}
				fake.status = func(n int, ref string, v int) (seqr.PaymentStatus, error) {
					mu.Lock()
					defer mu.Unlock()
					if canceledWithPay {
						return paidStatus(ers1), nil
					}
					return seqr.PaymentStatus{Status: seqr.StatusIssued, Version: 1}, nil
				}
				h := newHarness(t, fake, harnessOpt{})
				defer h.close()
				ctx := context.Background()
				p, _, err := h.r.CreatePayment(ctx, "k1", sale("20.00"))
				require.NoError(t, err)
				ch, cancel := h.r.Subscribe(p.ID)
				defer cancel()
				waitState(t, ch, StateAwaitingDecision)

				q, err := h.r.Cancel(ctx, p.ID)
				if tt.wantErr != nil {
					require.ErrorIs(t, err, tt.wantErr)
				} else {
					require.NoError(t, err)
				}
				assert.Equal(t, tt.want, q.State)
				if !tt.want.Final() {
					before := fake.count("getPaymentStatus")
					time.Sleep(5 * time.Second)
					synctest.Wait()
					assert.Greater(t, fake.count("getPaymentStatus"), before, "still polling")
					got, err := h.r.Payment(ctx, p.ID)
					require.NoError(t, err)
					assert.Equal(t, tt.want, got.State)
				}
				if tt.want == StatePaid {
					assert.Equal(t, ers1, q.ERSReference)
					assert.True(t, h.journal.Has("seqr", ers1))
				}
			})
		})
	}
}

// P5: result codes on getPaymentStatus never turn a payment into "not
// paid"; transient ones mark an outage, which a good answer clears; a PAID
// after them is still recorded.
func TestCheckErrorsNeverMakeAPaymentNotPaid(t *testing.T) {
	for _, code := range []int{20, 21, 29, 37, 49, 54, 90, 93, 94, -1} {
		name := fmt.Sprint(code)
		if code == -1 {
			name = "transport"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := &fakeSEQR{}
				fake.status = func(n int, ref string, v int) (seqr.PaymentStatus, error) {
					switch {
					case n <= 3:
						return seqr.PaymentStatus{Status: seqr.StatusIssued, Version: 1}, nil
					case n <= 12:
						if code == -1 {
							return seqr.PaymentStatus{}, errTransport
						}
						return seqr.PaymentStatus{}, resultErr("getPaymentStatus", code)
					case n <= 14:
						return seqr.PaymentStatus{Status: seqr.StatusIssued, Version: 1}, nil
					}
					return paidStatus(ers1), nil
				}
				h := newHarness(t, fake, harnessOpt{})
				defer h.close()
				ctx := context.Background()
				p, _, err := h.r.CreatePayment(ctx, "k1", sale("20.00"))
				require.NoError(t, err)
				ch, cancel := h.r.Subscribe(p.ID)
				defer cancel()
				time.Sleep(8 * time.Second)
				synctest.Wait()
				mid, err := h.r.Payment(ctx, p.ID)
				require.NoError(t, err)
				assert.Equal(t, StatePolling, mid.State, "a failed poll keeps the payment open")
				assert.NotEmpty(t, mid.Error)
				transientCode := code == -1 || code == 90 || code == 93 || code == 94
				assert.Equal(t, transientCode, mid.OutageSince != nil)

				ev := waitState(t, ch, StatePaid)
				assert.Nil(t, ev.Payment.OutageSince)
				assert.Empty(t, ev.Payment.Error)
			})
		})
	}
}

// P5 on cancelInvoice: no code but 0/95 (canceled) or 50 (paid) closes the payment.
func TestOnlyAConfirmedCancelClosesThePayment(t *testing.T) {
	for _, code := range []int{20, 21, 29, 37, 48, 49, 51, 54, 90, 94} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := &fakeSEQR{cancel: func(int, string) error { return resultErr("cancelInvoice", code) }}
				h := newHarness(t, fake, harnessOpt{})
				defer h.close()
				ctx := context.Background()
				p, _, err := h.r.CreatePayment(ctx, "k1", sale("20.00"))
				require.NoError(t, err)
				q, err := h.r.Cancel(ctx, p.ID)
				require.Error(t, err)
				assert.Equal(t, StatePolling, q.State)
			})
		})
	}
}

// Final statuses other than PAID.
func TestFinalStatuses(t *testing.T) {
	tests := []struct {
		status seqr.Status
		want   State
	}{
		{seqr.StatusCanceled, StateCanceled},
		{seqr.StatusFailed, StateFailed},
		{seqr.StatusExpired, StateFailed},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) {
					if n > 2 {
						return seqr.PaymentStatus{Status: tt.status, Version: 2}, nil
					}
					return seqr.PaymentStatus{Status: seqr.StatusPendingIssuerAcknowledge, Version: 1}, nil
				}}
				h := newHarness(t, fake, harnessOpt{})
				defer h.close()
				p, _, err := h.r.CreatePayment(context.Background(), "k1", sale("20.00"))
				require.NoError(t, err)
				ch, cancel := h.r.Subscribe(p.ID)
				defer cancel()
				var last Event
				for ev := range ch {
					last = ev
				}
				assert.Equal(t, tt.want, last.State)
				assert.Empty(t, allPosts(t, h.journal))
			})
		})
	}
}

// Past the decision limit posd cancels the invoice itself.
func TestDecisionLimitCancels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{}
		h := newHarness(t, fake, harnessOpt{policy: payment.Policy{DecisionLimit: 2 * time.Minute}})
		defer h.close()
		p, _, err := h.r.CreatePayment(context.Background(), "k1", sale("20.00"))
		require.NoError(t, err)
		ch, cancel := h.r.Subscribe(p.ID)
		defer cancel()
		start := time.Now()
		waitState(t, ch, StateAwaitingDecision)
		ev := waitState(t, ch, StateCanceled)
		assert.Equal(t, 30*time.Second+2*time.Minute, time.Since(start))
		assert.Equal(t, 1, fake.count("cancelInvoice"))
		assert.InDelta(t, 150, fake.count("getPaymentStatus"), 2, "polled all along")
		trail, err := h.db.AuditTrail(context.Background(), ev.PaymentID)
		require.NoError(t, err)
		assert.Equal(t, "posd", trail[len(trail)-1].Actor)
		assert.Contains(t, ev.Payment.Error, "canceled by posd", "a payment that ends by anything but the cashier says why")
	})
}

// A payment the provider ends (SEQR status CANCELED, FAILED) carries the
// provider's reason, so the cashier sees why the sale did not go through.
func TestPaymentEndedByTheProviderSaysWhy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) {
			return seqr.PaymentStatus{Status: seqr.StatusCanceled, Version: v + 1}, nil
		}}
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		p, _, err := h.r.CreatePayment(context.Background(), "k1", sale("20.00"))
		require.NoError(t, err)
		ch, cancel := h.r.Subscribe(p.ID)
		defer cancel()
		ev := waitState(t, ch, StateCanceled)
		assert.Contains(t, ev.Payment.Error, "CANCELED")
	})
}

// flakyJournal fails appends while full is set, like a full disk.
type flakyJournal struct {
	*receipt.Journal
	mu   sync.Mutex
	full bool
	errs int
}

func (j *flakyJournal) Append(p receipt.Post) (receipt.Post, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.full {
		j.errs++
		return receipt.Post{}, fmt.Errorf("append %s: write: no space left on device: %w", p.Reference, receipt.ErrNotDurable)
	}
	return j.Journal.Append(p)
}

func (j *flakyJournal) setFull(v bool) {
	j.mu.Lock()
	j.full = v
	j.mu.Unlock()
}

// D1: with the disk full, a PAID is held in memory and retried; the API
// does not show paid until the post is written; new payments are refused
// before sendInvoice; once space is back it is recorded within seconds.
func TestPaidIsHeldInMemoryWhileTheDiskIsFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) {
			if n >= 3 {
				return paidStatus(ers1), nil
			}
			return seqr.PaymentStatus{Status: seqr.StatusIssued, Version: 1}, nil
		}}
		var fj *flakyJournal
		h := newHarness(t, fake, harnessOpt{wrap: func(j *receipt.Journal) Journal { fj = &flakyJournal{Journal: j}; return fj }})
		defer h.close()
		ctx := context.Background()
		fj.setFull(true)
		p, _, err := h.r.CreatePayment(ctx, "k1", sale("20.00"))
		require.NoError(t, err)
		time.Sleep(10 * time.Second)
		synctest.Wait()

		got, err := h.r.Payment(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, StatePolling, got.State, "not paid before the journal has it")
		assert.Empty(t, got.ERSReference)
		assert.Greater(t, fj.errs, 5, "retried")
		sends := fake.count("sendInvoice")
		_, _, err = h.r.CreatePayment(ctx, "k2", sale("10.00"))
		require.ErrorIs(t, err, ErrStorage)
		assert.Equal(t, sends, fake.count("sendInvoice"), "nothing sent while storage fails")

		ch, cancel := h.r.Subscribe(p.ID)
		defer cancel()
		fj.setFull(false)
		freed := time.Now()
		ev := waitState(t, ch, StatePaid)
		assert.LessOrEqual(t, time.Since(freed), 5*time.Second)
		assert.Equal(t, ers1, ev.Payment.ERSReference)
		assert.Len(t, allPosts(t, h.journal), 1)
		_, _, err = h.r.CreatePayment(ctx, "k2", sale("10.00"))
		require.NoError(t, err)
	})
}

// Two invoices answered PAID with one ersReference: the second is never
// recorded as a second transaction.
func TestDuplicateERSReferenceNotRecordedTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) { return paidStatus(ers1), nil }}
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		ctx := context.Background()
		first := paidPayment(t, h, "k1", "20.00")
		assert.Equal(t, StatePaid, first.State)
		p, _, err := h.r.CreatePayment(ctx, "k2", sale("30.00"))
		require.NoError(t, err)
		ch, cancel := h.r.Subscribe(p.ID)
		defer cancel()
		ev := waitState(t, ch, StateUnknown)
		assert.Contains(t, ev.Payment.Error, ers1)
		assert.Len(t, allPosts(t, h.journal), 1)
		_, _, err = h.r.CreatePayment(ctx, "k3", sale("10.00"))
		require.NoError(t, err, "not blocking new payments")
	})
}

// A refund done at SEQR while the journal cannot write: the refund is
// recorded in SQLite, its post follows once space is back, and new payments
// are refused meanwhile.
func TestRefundPostHeldWhileDiskFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) { return paidStatus(ers1), nil }}
		var fj *flakyJournal
		h := newHarness(t, fake, harnessOpt{wrap: func(j *receipt.Journal) Journal { fj = &flakyJournal{Journal: j}; return fj }})
		defer h.close()
		ctx := context.Background()
		p := paidPayment(t, h, "k1", "20.00")
		fj.setFull(true)
		rf, _, err := h.r.Refund(ctx, p.ID, "rk-7", RefundRequest{Amount: 500})
		require.NoError(t, err)
		_, _, err = h.r.CreatePayment(ctx, "k2", sale("10.00"))
		require.ErrorIs(t, err, ErrStorage)
		fj.setFull(false)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.True(t, h.journal.Has("seqr", rf.ERSReference))
		_, _, err = h.r.CreatePayment(ctx, "k2", sale("10.00"))
		require.NoError(t, err)
	})
}
