package register

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/seqr"
)

// An unknown payment without an invoice reference can never be polled
// (SEQR reverses it): it is not "open", does not block unregistering the
// terminal, and stays listable as unknown.
func TestUnknownWithoutReferenceIsNotOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{}
		fake.sendInvoice = func(inv seqr.Invoice) (seqr.SendInvoiceResult, error) { return seqr.SendInvoiceResult{}, errTransport }
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		ctx := context.Background()
		p, _, err := h.r.CreatePayment(ctx, "k1", sale("20.00"))
		require.NoError(t, err)
		require.Equal(t, StateUnknown, p.State)
		require.Empty(t, p.InvoiceReference)

		st, err := h.r.Status(ctx)
		require.NoError(t, err)
		assert.Zero(t, st.Open)
		page, err := h.r.Payments(ctx, ListQuery{State: StateUnknown})
		list := page.Payments
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, p.ID, list[0].ID)

		require.NoError(t, h.r.UnregisterTerminal(ctx))
		assert.Equal(t, 1, fake.count("unregisterTerminal"))
	})
}
