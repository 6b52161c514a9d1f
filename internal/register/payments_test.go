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

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/seqr"
)

// P7 and field validation: bad requests are refused before anything is
// stored or sent, naming the field.
func TestCreatePaymentValidation(t *testing.T) {
	fake := &fakeSEQR{}
	h := newHarness(t, fake, harnessOpt{})
	defer h.close()
	m := money.MustParse
	tests := []struct {
		name  string
		key   string
		edit  func(r *PaymentRequest)
		field string
	}{
		{"no key", "", func(r *PaymentRequest) {}, "Idempotency-Key"},
		{"method", "k", func(r *PaymentRequest) { r.Method = "cash" }, "method"},
		{"zero amount", "k", func(r *PaymentRequest) { r.Amount = 0 }, "amount"},
		{"negative amount", "k", func(r *PaymentRequest) { r.Amount = -100 }, "amount"},
		{"currency", "k", func(r *PaymentRequest) { r.Currency = "EUR" }, "currency"},
		{"no rows", "k", func(r *PaymentRequest) { r.Rows = nil }, "rows"},
		{"rows do not sum (P7)", "k", func(r *PaymentRequest) {
			r.Rows = append(r.Rows, Row{Description: "Cone", Quantity: "1", TotalAmount: m("5.00")})
		}, "receiptTotal"},
		{"row total is not qty x price", "k", func(r *PaymentRequest) {
			r.Rows = append(r.Rows, Row{Description: "Cone", Quantity: "3", UnitPrice: m("1.50"), TotalAmount: m("4.40")})
			r.ReceiptTotal += m("4.40")
			r.Amount = r.ReceiptTotal
		}, "rows[1].totalAmount"},
		{"bad quantity", "k", func(r *PaymentRequest) { r.Rows[0].Quantity = "1e3" }, "rows[0].quantity"},
		{"zero quantity", "k", func(r *PaymentRequest) { r.Rows[0].Quantity = "0" }, "rows[0].quantity"},
		{"tax rate", "k", func(r *PaymentRequest) { r.Rows[0].TaxRate = "125" }, "rows[0].taxRate"},
		{"description", "k", func(r *PaymentRequest) { r.Rows[0].Description = " " }, "rows[0].description"},
		{"ean", "k", func(r *PaymentRequest) { r.Rows[0].EAN = "12ab" }, "rows[0].ean"},
		{"zero row total", "k", func(r *PaymentRequest) { r.Rows[0].TotalAmount = 0; r.Rows[0].UnitPrice = 0 }, "rows[0].totalAmount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := sale("20.00")
			tt.edit(&req)
			_, _, err := h.r.CreatePayment(context.Background(), tt.key, req)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.field, ve.Field, ve.Message)
		})
	}
	assert.Equal(t, 0, fake.count("sendInvoice"))
	page, err := h.r.Payments(context.Background(), ListQuery{})
	all := page.Payments
	require.NoError(t, err)
	assert.Empty(t, all)
}

func TestExactQuantityArithmetic(t *testing.T) {
	m := money.MustParse
	tests := []struct {
		qty         string
		unit, total money.Amount
		ok          bool
	}{
		{"2", m("10.00"), m("20.00"), true},
		{"0.5", m("39.90"), m("19.95"), true},
		{"0.333", m("3.00"), m("1.00"), false}, // 0.999, not exact
		{"1.25", m("0.04"), m("0.05"), true},
		{"3", m("0.10"), m("0.30"), true}, // 0.1 * 3 is exactly 0.30 here, unlike float64
		{"3", m("0.10"), m("0.31"), false},
	}
	for _, tt := range tests {
		got, err := money.MustDecimal(tt.qty).MulAmount(tt.unit)
		assert.Equal(t, tt.ok, err == nil && got == tt.total, "%s x %s = %s", tt.qty, tt.unit, tt.total)
	}
}

// Split tender: the invoice rows always sum to the invoice total.
func TestSplitTenderBalancingRow(t *testing.T) {
	m := money.MustParse
	tests := []struct {
		name      string
		amount    string
		balancing Balancing
		row       string
		rowAmount string
	}{
		{"exact", "100.00", BalancingNone, "", ""},
		{"rest paid otherwise", "60.00", BalancingOther, "Other payment", "-40.00"},
		{"change given back", "150.00", BalancingChange, "Change", "50.00"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got seqr.Invoice
			fake := &fakeSEQR{}
			fake.sendInvoice = func(inv seqr.Invoice) (seqr.SendInvoiceResult, error) {
				got = inv
				return seqr.SendInvoiceResult{InvoiceReference: fmt.Sprint(1000 + i)}, nil
			}
			h := newHarness(t, fake, harnessOpt{})
			defer h.close()
			req := PaymentRequest{Amount: m(tt.amount), Currency: "SEK", ReceiptTotal: m("100.00"), CashierID: "bob",
				Rows: []Row{{Description: "Shoes", Quantity: "1", TotalAmount: m("100.00"), TaxRate: "25"}}}
			p, _, err := h.r.CreatePayment(context.Background(), "k", req)
			require.NoError(t, err)
			assert.Equal(t, tt.balancing, p.Balancing)
			var sum money.Amount
			for _, r := range got.Rows {
				sum += r.Total
			}
			assert.Equal(t, m(tt.amount), got.Total)
			assert.Equal(t, got.Total, sum, "rows sum to the invoice total")
			if tt.row == "" {
				assert.Len(t, got.Rows, 1)
				return
			}
			require.Len(t, got.Rows, 2)
			assert.Equal(t, tt.row, got.Rows[1].Description)
			assert.Equal(t, m(tt.rowAmount), got.Rows[1].Total)
			assert.Equal(t, "IMMEDIATE_DEBIT", got.PaymentMode)
			assert.Equal(t, "NO_ACKNOWLEDGMENT", got.AcknowledgmentMode)
			assert.Equal(t, p.ID, got.ClientInvoiceID)
		})
	}
}

// S6: ten concurrent copies with one key send one invoice; the same key with
// another amount is refused.
func TestOneIdempotencyKeyStartsOnePayment(t *testing.T) {
	fake := &fakeSEQR{}
	h := newHarness(t, fake, harnessOpt{})
	defer h.close()
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make([]string, 10)
	createdN := 0
	var mu sync.Mutex
	for i := range 10 {
		wg.Go(func() {
			p, created, err := h.r.CreatePayment(ctx, "key-1", sale("20.00"))
			assert.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			ids[i] = p.ID
			if created {
				createdN++
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, fake.count("sendInvoice"), "exactly one sendInvoice")
	assert.Equal(t, 1, createdN)
	for _, id := range ids {
		assert.Equal(t, ids[0], id)
	}
	p, created, err := h.r.CreatePayment(ctx, "key-1", sale("20.00"))
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, ids[0], p.ID)

	_, _, err = h.r.CreatePayment(ctx, "key-1", sale("21.00"))
	require.ErrorIs(t, err, ErrIdempotencyKey)
	assert.Equal(t, 1, fake.count("sendInvoice"))
}

// P6: with SEQR unreachable a payment is refused within OfflineTimeout and
// nothing is stored or sent.
func TestOfflineProviderIsRefusedBeforeAnythingIsStored(t *testing.T) {
	tests := []struct {
		name string
		nop  func(ctx context.Context) error
	}{
		{"connection refused", func(ctx context.Context) error {
			return fmt.Errorf("dial tcp 127.0.0.1:9: connect: connection refused: %w", seqr.ErrNotSent)
		}},
		{"black hole", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := &fakeSEQR{}
				h := newHarness(t, fake, harnessOpt{})
				defer h.close()
				fake.mu.Lock()
				fake.nop = tt.nop
				fake.mu.Unlock()
				start := time.Now()
				_, _, err := h.r.CreatePayment(context.Background(), "k1", sale("20.00"))
				require.ErrorIs(t, err, ErrOffline)
				assert.LessOrEqual(t, time.Since(start), 3*time.Second, "refused within the offline timeout")
				assert.Equal(t, 0, fake.count("sendInvoice"))
				page, err := h.r.Payments(context.Background(), ListQuery{})
				all := page.Payments
				require.NoError(t, err)
				assert.Empty(t, all, "nothing stored")
				st, err := h.r.Status(context.Background())
				require.NoError(t, err)
				assert.False(t, st.Provider.Reachable)
				assert.NotNil(t, st.Provider.LastChecked)
			})
		})
	}
}

func TestGates(t *testing.T) {
	ctx := context.Background()
	t.Run("not registered", func(t *testing.T) {
		h := newHarness(t, &fakeSEQR{}, harnessOpt{noTerminal: true})
		defer h.close()
		_, _, err := h.r.CreatePayment(ctx, "k", sale("20.00"))
		require.ErrorIs(t, err, ErrNotRegistered)
	})
	t.Run("no seqr id", func(t *testing.T) {
		h := newHarness(t, &fakeSEQR{}, harnessOpt{noSeqrID: true})
		defer h.close()
		_, _, err := h.r.CreatePayment(ctx, "k", sale("20.00"))
		require.ErrorIs(t, err, ErrNoSeqrID)
	})
	t.Run("not ready", func(t *testing.T) {
		h := newHarness(t, &fakeSEQR{}, harnessOpt{noRun: true})
		defer h.close()
		_, _, err := h.r.CreatePayment(ctx, "k", sale("20.00"))
		require.ErrorIs(t, err, ErrNotReady)
	})
	t.Run("storage", func(t *testing.T) {
		fake := &fakeSEQR{}
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		h.r.block("held-paid") // a PAID waiting for storage (D1)
		_, _, err := h.r.CreatePayment(ctx, "k", sale("20.00"))
		require.ErrorIs(t, err, ErrStorage)
		assert.Equal(t, 0, fake.count("sendInvoice"), "nothing sent")
		st, err := h.r.Status(ctx)
		require.NoError(t, err)
		assert.NotEqual(t, "ok", st.Storage)
	})
}

// P5 on sendInvoice, and transport outcomes: an answer with a result code
// means no invoice exists (failed); a transport error after the request may
// have arrived is unknown; nothing is ever sent twice.
func TestSendInvoiceOutcomes(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		state State
	}{
		{"20", resultErr("sendInvoice", 20), StateFailed},
		{"21", resultErr("sendInvoice", 21), StateFailed},
		{"29", resultErr("sendInvoice", 29), StateFailed},
		{"37", resultErr("sendInvoice", 37), StateFailed},
		{"49", resultErr("sendInvoice", 49), StateFailed},
		{"54", resultErr("sendInvoice", 54), StateFailed},
		{"90", resultErr("sendInvoice", 90), StateFailed},
		{"94", resultErr("sendInvoice", 94), StateFailed},
		{"not sent", fmt.Errorf("dial: %w", seqr.ErrNotSent), StateFailed},
		{"timeout after sending", context.DeadlineExceeded, StateUnknown},
		{"reset after sending", errTransport, StateUnknown},
		{"soap fault", &seqr.FaultError{Op: "sendInvoice", Code: "soap:Server", String: "boom"}, StateUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSEQR{}
			fake.sendInvoice = func(seqr.Invoice) (seqr.SendInvoiceResult, error) { return seqr.SendInvoiceResult{}, tt.err }
			h := newHarness(t, fake, harnessOpt{})
			defer h.close()
			p, created, err := h.r.CreatePayment(context.Background(), "k", sale("20.00"))
			require.NoError(t, err)
			assert.True(t, created)
			assert.Equal(t, tt.state, p.State)
			assert.NotEmpty(t, p.Error)
			// A retry of the same request returns the same payment and sends nothing.
			again, created, err := h.r.CreatePayment(context.Background(), "k", sale("20.00"))
			require.NoError(t, err)
			assert.False(t, created)
			assert.Equal(t, p.ID, again.ID)
			assert.Equal(t, 1, fake.count("sendInvoice"))
			assert.Equal(t, 0, fake.count("getPaymentStatus"))
			if tt.state == StateUnknown {
				_, err := h.r.Cancel(context.Background(), p.ID)
				require.ErrorIs(t, err, ErrInvalidState, "no reference: nothing to cancel")
			}
		})
	}
}

func TestAmountBoundsPreventOverflow(t *testing.T) {
	r := validatingRegister(time.Now)
	huge := money.Amount(4_611_686_018_427_387_904) // 2^62: two of them wrap int64
	req := PaymentRequest{Method: "seqr", Amount: 100, Currency: "SEK", ReceiptTotal: 100, Rows: []Row{
		{Description: "a", Quantity: "1", TotalAmount: huge},
		{Description: "b", Quantity: "1", TotalAmount: huge},
		{Description: "c", Quantity: "1", TotalAmount: 100},
	}}
	err := r.validate(req)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "rows[0].totalAmount", ve.Field)
}
