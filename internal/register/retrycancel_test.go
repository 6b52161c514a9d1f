package register

import (
	"github.com/posd/posd/internal/payment"

	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// "Try again" is refused while a cancel is on its way (the cashier's or
// posd's own after the decision limit): otherwise the cashier is told a new
// window started and the cancel then closes the payment anyway.
func TestRetryRefusedWhileCancelInFlight(t *testing.T) {
	for _, auto := range []bool{true, false} {
		name := "cashier's cancel"
		if auto {
			name = "posd's auto-cancel"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := &fakeSEQR{}
				fake.cancel = func(n int, ref string) error {
					time.Sleep(2 * time.Second)
					return nil
				}
				h := newHarness(t, fake, harnessOpt{policy: payment.Policy{DecisionLimit: 10 * time.Second}})
				defer h.close()
				ctx := context.Background()
				p, _, err := h.r.CreatePayment(ctx, "k1", sale("20.00"))
				require.NoError(t, err)
				if auto {
					time.Sleep(30*time.Second + 10*time.Second + 1500*time.Millisecond) // window end + limit: cancel in flight
				} else {
					time.Sleep(31 * time.Second)
					go func() { _, _ = h.r.Cancel(ctx, p.ID) }()
					time.Sleep(500 * time.Millisecond)
				}
				synctest.Wait()
				require.Equal(t, 1, fake.count("cancelInvoice"), "a cancel is in flight")

				q, err := h.r.Retry(ctx, p.ID)
				require.ErrorIs(t, err, ErrInvalidState)
				assert.Contains(t, err.Error(), "cancel")
				assert.Equal(t, StateAwaitingDecision, q.State, "no new window")
				time.Sleep(3 * time.Second)
				synctest.Wait()
				got, err := h.r.Payment(ctx, p.ID)
				require.NoError(t, err)
				assert.Equal(t, StateCanceled, got.State)
			})
		})
	}
}
