package register

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/seqr"
)

// cancelInvoice answers 50 while an older getPaymentStatus is in flight.
// That older poll's ISSUED must not answer the cancel as "still open": the
// cancel is answered by a poll started after the 50. When that poll says
// PAID the cashier sees paid; when it does not, an error that says the
// customer has paid (never 200 "polling", which would let the sale be voided).
func TestCancel50AnsweredByALaterPoll(t *testing.T) {
	for _, paidAfter50 := range []bool{true, false} {
		name := "later poll PAID"
		if !paidAfter50 {
			name = "later poll not PAID yet"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := &fakeSEQR{}
				var mu sync.Mutex
				canceledAt := 0 // status calls made when the cancel was answered
				fake.cancel = func(n int, ref string) error {
					mu.Lock()
					defer mu.Unlock()
					canceledAt = fake.count("getPaymentStatus")
					return resultErr("cancelInvoice", seqr.ResultCannotCancelPaidInvoice)
				}
				fake.status = func(n int, ref string, v int) (seqr.PaymentStatus, error) {
					time.Sleep(1500 * time.Millisecond) // slow: the next tick finds it in flight
					mu.Lock()
					defer mu.Unlock()
					if paidAfter50 && canceledAt > 0 && n > canceledAt {
						return paidStatus(ers1), nil
					}
					return seqr.PaymentStatus{Status: seqr.StatusIssued, Version: 1}, nil
				}
				h := newHarness(t, fake, harnessOpt{})
				defer h.close()
				ctx := context.Background()
				p, _, err := h.r.CreatePayment(ctx, "k1", sale("20.00"))
				require.NoError(t, err)
				time.Sleep(2200 * time.Millisecond) // poll 2 (started at 2 s) is in flight
				synctest.Wait()

				q, err := h.r.Cancel(ctx, p.ID)
				if paidAfter50 {
					require.NoError(t, err)
					assert.Equal(t, StatePaid, q.State)
					assert.Equal(t, ers1, q.ERSReference)
					return
				}
				require.ErrorIs(t, err, ErrCustomerPaid)
				require.ErrorIs(t, err, ErrProviderRejected)
				assert.Contains(t, err.Error(), "the customer has paid")
				assert.NotEqual(t, StateCanceled, q.State)
				mu.Lock()
				at := canceledAt
				mu.Unlock()
				assert.Greater(t, fake.count("getPaymentStatus"), at, "answered by a poll started after the 50")
			})
		})
	}
}
