package register

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/resurs"
	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/store"
)

// resursRig is the real register with the Resurs adapter against the
// Resurs emulator over loopback.
type resursRig struct {
	r   *Register
	db  *store.DB
	sim *resurssim.Sim
}

func newResursRig(t *testing.T, cfg Config) *resursRig {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := store.Open(ctx, filepath.Join(dir, "posd.db"), store.Options{})
	require.NoError(t, err)
	j, _, err := receipt.OpenJournal(filepath.Join(dir, "receipts.journal"), time.Now)
	require.NoError(t, err)
	sim := resurssim.New(resurssim.Options{})
	srv := httptest.NewServer(sim.Handler())
	a, err := resurs.NewAdapter(resurs.AdapterConfig{POSURL: srv.URL + "/pos", AfterShopURL: srv.URL + resurssim.PathAfterShop,
		Username: resurssim.TestUser, Password: resurssim.TestPassword, StoreID: resurssim.TestStoreID, RefPrefix: "T1-",
		Transport: resurs.Transport{HTTP: srv.Client()}})
	require.NoError(t, err)
	r, err := New(cfg, Deps{Store: db, Providers: []payment.Provider{a}, Journal: j})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Ready()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
		_ = j.Close()
		_ = db.Close()
	})
	return &resursRig{r: r, db: db, sim: sim}
}

func resursRequest(method string) PaymentRequest {
	amt := money.MustParse("250.00")
	return PaymentRequest{Method: method, SaleID: "sale-1", CashierID: "anna", Title: "Soffa", Amount: amt, Currency: "SEK",
		ReceiptTotal: amt, Rows: []Row{{Description: "Pall", Quantity: "1", UnitPrice: amt, TotalAmount: amt, TaxRate: "25"}}}
}

func printedDocs(t *testing.T, db *store.DB, id string) []receipt.Document {
	t.Helper()
	jobs, err := db.PrintJobs(context.Background(), id)
	require.NoError(t, err)
	var docs []receipt.Document
	for _, j := range jobs {
		var d receipt.Document
		require.NoError(t, json.Unmarshal(j.Payload, &d))
		docs = append(docs, d)
	}
	return docs
}

// A "Betala sen" payment queues its pay-later slip with its start: the
// reference and the valid-to the cashier chose, not a receipt; a Checkout
// POS payment queues none.
func TestPayLaterSlip(t *testing.T) {
	rig := newResursRig(t, Config{ReferenceCode: receipt.SymbologyQR})
	ctx := context.Background()
	until := time.Now().Add(48 * time.Hour).Truncate(time.Minute)
	req := resursRequest("resurs_later")
	req.ValidUntil = &until
	req.Customer = &payment.Customer{GovernmentID: "198305147715", Mobile: "0701112233"}
	p, _, err := rig.r.CreatePayment(ctx, "k-later", req)
	require.NoError(t, err)
	require.Equal(t, StatePolling, p.State, p.Error)
	require.NotEmpty(t, p.ProviderRef)

	docs := printedDocs(t, rig.db, p.ID)
	require.Len(t, docs, 1, "one slip, queued with the start")
	slip := docs[0]
	text := strings.Join(append(append([]string(nil), slip.Header...), slip.Footer...), "\n")
	assert.Contains(t, text, "BETALA SEN")
	assert.Contains(t, text, "Referens: "+p.ProviderRef)
	assert.Contains(t, text, "Giltig till: "+until.In(receipt.Stockholm()).Format("2006-01-02 15:04"))
	assert.Contains(t, text, "Köp: sale-1")
	assert.Empty(t, slip.SaleID, "a slip is not a receipt (\"Kvitto\")")
	assert.Contains(t, text, "Not a receipt")
	assert.Empty(t, slip.Payments, "a slip records no payment")
	assert.Equal(t, p.ProviderRef, slip.Barcode)
	assert.Equal(t, receipt.SymbologyQR, slip.BarcodeAs)
	assert.Equal(t, money.MustParse("250.00"), slip.Total)

	// Without a valid-to from the cashier the adapter's default is printed.
	req2 := resursRequest("resurs_later")
	req2.SaleID = "sale-2"
	p2, _, err := rig.r.CreatePayment(ctx, "k-later-2", req2)
	require.NoError(t, err)
	docs = printedDocs(t, rig.db, p2.ID)
	require.Len(t, docs, 1)
	assert.Contains(t, strings.Join(docs[0].Footer, "\n"),
		"Giltig till: "+time.Now().Add(resurs.DefaultLaterValidity).In(receipt.Stockholm()).Format("2006-01-02"))

	// Split tender: Resurs takes part of the sale; the slip shows the whole
	// sale and what is paid otherwise, as the receipt will.
	split := resursRequest("resurs_later")
	split.SaleID, split.Amount = "sale-4", money.MustParse("200.00")
	p4, _, err := rig.r.CreatePayment(ctx, "k-later-split", split)
	require.NoError(t, err)
	docs = printedDocs(t, rig.db, p4.ID)
	require.Len(t, docs, 1, p4.Error)
	assert.Equal(t, money.MustParse("250.00"), docs[0].Total)
	assert.Equal(t, money.MustParse("50.00"), docs[0].LeftToPay)

	pos := resursRequest("resurs")
	pos.SaleID = "sale-3"
	p3, _, err := rig.r.CreatePayment(ctx, "k-pos", pos)
	require.NoError(t, err)
	require.Equal(t, StatePolling, p3.State, p3.Error)
	assert.Empty(t, printedDocs(t, rig.db, p3.ID), "a POS payment prints no slip")
}

// The widget calls go to the provider that has the capability; validation
// comes first and calls nobody.
func TestWidgetValidation(t *testing.T) {
	rig := newResursRig(t, Config{})
	ctx := context.Background()
	_, err := rig.r.PaymentMethodTypes(ctx, "B2G", []string{"x"})
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "customerType", ve.Field)
	_, err = rig.r.PaymentMethodTypes(ctx, "B2C", nil)
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "paymentMethodId", ve.Field)
	_, err = rig.r.PaymentMethodTypes(ctx, "B2C", []string{strings.Repeat("a", 101)})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "paymentMethodId[0]", ve.Field)
	// No Merchant API configured: not supported, naming the key.
	_, err = rig.r.WidgetSession(ctx)
	require.ErrorIs(t, err, ErrNotSupported)
	assert.Contains(t, err.Error(), "mapi_url")
}

// document() prints the reference as the configured code.
func TestReceiptReferenceCode(t *testing.T) {
	for _, sym := range []receipt.Symbology{"", receipt.SymbologyCode128, receipt.SymbologyQR} {
		r := &Register{cfg: Config{ReferenceCode: sym}.withDefaults()}
		rows, err := json.Marshal([]Row{{Description: "x", Quantity: "1", UnitPrice: 500, TotalAmount: 500}})
		require.NoError(t, err)
		doc, err := r.document(store.Payment{ID: "p", Provider: "payson", TransactionRef: "4711", Amount: 500, ReceiptTotal: 500, RowsJSON: rows}, nil)
		require.NoError(t, err)
		assert.Equal(t, "4711", doc.Barcode)
		assert.Equal(t, sym, doc.BarcodeAs)
	}
}
