package register

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/store"
)

// checkFailJournal is a receipt file whose Check fails (closed, or the disk
// nearly full) while appends are never reached.
type checkFailJournal struct {
	*receipt.Journal
	err error
}

func (j *checkFailJournal) Check() error { return j.err }

// B4: a payment is refused before anything is stored or sent when the
// receipt file cannot take a durable append; Status says why.
func TestStorageGateChecksJournal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{}
		h := newHarness(t, fake, harnessOpt{wrap: func(j *receipt.Journal) Journal {
			return &checkFailJournal{Journal: j, err: fmt.Errorf("check journal: %w", receipt.ErrClosed)}
		}})
		defer h.close()
		ctx := context.Background()
		synctest.Wait() // the probe loop's first round is done

		_, _, err := h.r.CreatePayment(ctx, "k1", sale("20.00"))
		require.ErrorIs(t, err, ErrStorage)
		assert.Contains(t, err.Error(), "receipt file")
		assert.Zero(t, fake.count("sendInvoice"), "nothing sent")
		list, err := h.db.Payments(ctx)
		require.NoError(t, err)
		assert.Empty(t, list, "nothing stored as pending")
		_, err = h.db.PaymentByKey(ctx, "k1")
		require.ErrorIs(t, err, store.ErrNotFound)

		st, err := h.r.Status(ctx)
		require.NoError(t, err)
		assert.Contains(t, st.Storage, "receipt file")
	})
}
