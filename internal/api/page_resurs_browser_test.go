//go:build browser

package api

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/store"
)

// TestPageResursSale: a Resurs Checkout POS sale from the cashier page.
// The page frames the emulator's checkout (allowed by the page's CSP
// frame-src and by nothing else), the cashier fills in the customer's
// identity number, mobile and e-mail INSIDE that frame, picks invoice, the
// customer e-signs, and the page shows the sale paid with Resurs's payment
// id; the receipt naming Resurs Bank is queued for the printer.
//
// The emulator is served as "localhost" and the page as "127.0.0.1": two
// sites, as Resurs's checkout and the till are, so Chrome runs the frame in
// its own process (an out-of-process iframe). The test drives it through the
// frame's own DevTools target, not through the page's DOM, which cannot
// reach it.
func TestPageResursSale(t *testing.T) {
	env := startPageEnv(t, true)
	ctx := browser(t, "en-US")
	login(t, ctx, env.base)

	// The page's CSP names the emulator's origin in frame-src.
	hc := &http.Client{Timeout: 10 * time.Second}
	res, err := hc.Get(env.base + "/")
	require.NoError(t, err)
	_ = res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "; frame-src "+env.resursBase, "the page may frame the configured Resurs origin")
	assert.Contains(t, csp, "frame-ancestors 'none'", "the page itself is never framed")

	// Every CSP violation in the page is kept, to show none blocked the frame.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.cspViolations = [];
		document.addEventListener("securitypolicyviolation", e => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));
		true`))
	require.NoError(t, err)

	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue("#method", "resurs"), chromedp.Click("#pay")))
	waitJS(t, ctx, `!document.getElementById("customer-view").hidden && document.getElementById("pay-id").textContent !== ""`, "the customer view")
	id := text(t, ctx, "#pay-id")
	p, err := env.reg.Payment(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "resurs", p.Method)
	assert.Equal(t, "Resurs", text(t, ctx, "#pay-provider"))
	require.NotNil(t, p.CustomerView)
	checkout := p.CustomerView.URL
	require.True(t, strings.HasPrefix(checkout, env.resursBase+resurssim.PathCheckoutPage+"?"),
		"the view is the emulator's checkout page: %s", checkout)
	assert.Equal(t, checkout, must(chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("cv-frame").getAttribute("src")`))))
	sessionID := strings.TrimPrefix(checkout, env.resursBase+resurssim.PathCheckoutPage+"?")

	// The checkout loaded in the frame: Chrome gives it its own target at
	// the emulator's URL (a frame blocked by the CSP would show Chrome's
	// error page instead), and its form is there.
	frame := oopFrame(t, ctx, checkout)
	require.NoError(t, chromedp.Do(frame, chromedp.WaitVisible("#governmentId")))
	assert.Contains(t, must(chromedp.Run(frame, chromedp.Text("#amount"))), "20", "the checkout asks for the sale's 20.00")
	assert.Equal(t, "Resurs Bank", must(chromedp.Run(frame, chromedp.Text("h1"))))

	// The cashier fills in the customer's data in the frame and picks invoice.
	require.NoError(t, chromedp.Do(frame,
		chromedp.Clear("#governmentId"), chromedp.SendKeys("#governmentId", "198305147715"),
		chromedp.Clear("#mobile"), chromedp.SendKeys("#mobile", "0701234567"),
		chromedp.Clear("#email"), chromedp.SendKeys("#email", "vincent@example.com"),
		chromedp.SetValue("#method", "invoice"),
	))
	assert.Equal(t, "invoice", must(chromedp.Run(frame, chromedp.Value("#method"))))
	violations := must(chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.cspViolations)`)))
	assert.Equal(t, "[]", violations, "nothing in the page was blocked by its CSP")
	axeCheck(t, ctx, "Resurs checkout")
	screenshot(t, ctx, "sale-resurs-checkout")

	// Step 2: the BankID signature, still in the frame.
	require.NoError(t, chromedp.Do(frame, chromedp.Click("#next"), chromedp.WaitVisible("#sign")))
	info, err := env.resurs.Session(sessionID)
	require.NoError(t, err)
	assert.Equal(t, resurssim.SessionCreated, info.State, "nothing is booked before the customer signs")
	screenshot(t, ctx, "sale-resurs-bankid")
	events, stop := env.reg.Subscribe(id)
	defer stop()
	require.NoError(t, chromedp.Do(frame, chromedp.Click("#sign")))

	// The emulator booked it, for the person and the method typed in the frame.
	env.waitState(t, events, id, register.StatePaid)
	info, err = env.resurs.Session(sessionID)
	require.NoError(t, err)
	assert.Equal(t, resurssim.SessionBooked, info.State)
	require.NotEmpty(t, info.PaymentID)
	require.NotNil(t, info.Payment)
	assert.Equal(t, "INVOICE", info.Payment.Method, "the method picked in the frame")
	booked := resursBooked(t, hc, env.resursBase, info.OrderReference)
	assert.Equal(t, "198305147715", booked.Customer.GovernmentID, "the identity number typed in the frame")
	assert.Equal(t, "0701234567", booked.Customer.Phone, "the mobile typed in the frame")
	assert.Equal(t, "vincent@example.com", booked.Customer.Email, "the e-mail typed in the frame")

	// The page shows paid with Resurs's payment id.
	waitJS(t, ctx, `document.getElementById("pay-state").textContent === "paid"`, "paid")
	p, err = env.reg.Payment(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, register.StatePaid, p.State)
	assert.Equal(t, info.PaymentID, p.TransactionRef, "the payment's reference is Resurs's payment id")
	assert.Contains(t, text(t, ctx, "#pay-ers"), info.PaymentID, "the page shows Resurs's payment id")
	assert.True(t, must(chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("customer-view").hidden`))), "the checkout goes with the final state")
	axeCheck(t, ctx, "Resurs paid")
	screenshot(t, ctx, "sale-resurs-paid")

	// The receipt: in GET /v1/payments/{id} and queued for the printer.
	req, err := http.NewRequest(http.MethodGet, env.base+"/v1/payments/"+id, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err = hc.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var detail struct {
		State       string `json:"state"`
		ReceiptText string `json:"receiptText"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&detail))
	assert.Equal(t, "paid", detail.State)
	assert.Contains(t, detail.ReceiptText, "Resurs Bank Faktura", "the receipt names Resurs Bank and the invoice picked in the frame")
	assert.Contains(t, detail.ReceiptText, info.PaymentID, "the receipt carries Resurs's payment id")
	job, ok, err := env.db.NextPrintJob(context.Background())
	require.NoError(t, err)
	require.True(t, ok, "a print job is queued")
	assert.Equal(t, id, job.PaymentID)
	assert.Equal(t, "receipt", job.Kind)
	assert.Contains(t, string(job.Payload), "Resurs Bank")

	// The print worker takes the job to a virtual printer, which keeps what
	// it printed as text.
	printed := printQueued(t, env.db)
	t.Logf("printed receipt:\n%s", printed)
	assert.Contains(t, printed, "Resurs Bank Faktura", "the printed receipt names Resurs Bank and the invoice")
	assert.Contains(t, printed, info.PaymentID, "the printed receipt carries Resurs's payment id")
	assert.NotContains(t, printed, "COPY", "the first print is the original")
	jobs, err := env.db.PrintJobs(context.Background(), id)
	require.NoError(t, err)
	require.Len(t, jobs, 1, "one receipt for the sale")
	assert.Equal(t, "printed", jobs[0].State)
}

// printQueued runs the print worker over db's queue with a virtual printer
// until it has printed one job, and returns that job's text as printed.
func printQueued(t *testing.T, db *store.DB) string {
	t.Helper()
	dir := t.TempDir()
	q := signalQueue{db: db, printed: make(chan int64, 1)}
	w, err := printer.NewWorker(printer.WorkerConfig{Device: "virtual:" + dir, Columns: 42}, q)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	timeout := time.NewTimer(15 * time.Second) // bounds a failure only
	defer timeout.Stop()
	select {
	case <-q.printed:
	case err := <-done:
		t.Fatalf("print worker ended: %v", err)
	case <-timeout.C:
		t.Fatalf("the receipt was not printed; printer status %+v", w.Status())
	}
	b, err := os.ReadFile(filepath.Join(dir, "job-1.txt"))
	require.NoError(t, err)
	return string(b)
}

// signalQueue is the print queue over the database, as cmd/posd builds it,
// that tells the test when a job is printed.
type signalQueue struct {
	db      *store.DB
	printed chan int64
}

func (q signalQueue) NextJob(ctx context.Context) (printer.Job, bool, error) {
	j, ok, err := q.db.NextPrintJob(ctx)
	if err != nil || !ok {
		return printer.Job{}, ok, err
	}
	return printer.Job{ID: j.ID, PaymentID: j.PaymentID, Kind: j.Kind, Payload: j.Payload,
		Copy: j.Copy || j.Started, CreatedAt: j.CreatedAt, Attempts: j.Attempts}, true, nil
}

func (q signalQueue) JobStarted(ctx context.Context, id int64) error {
	return q.db.PrintJobStarted(ctx, id)
}

func (q signalQueue) JobPrinted(ctx context.Context, id int64) error {
	if err := q.db.PrintJobPrinted(ctx, id); err != nil {
		return err
	}
	select {
	case q.printed <- id:
	default:
	}
	return nil
}

func (q signalQueue) JobFailed(ctx context.Context, id int64, reason string) error {
	return q.db.PrintJobFailed(ctx, id, reason)
}

func (q signalQueue) JobDropped(ctx context.Context, id int64, reason string) error {
	return q.db.PrintJobDropped(ctx, id, reason)
}

func (q signalQueue) PendingJobs(ctx context.Context) (int, error) { return q.db.PendingPrintJobs(ctx) }

// oopFrame returns a context attached to the out-of-process iframe whose
// URL is url: the page's DOM does not reach a frame of another site, its
// own DevTools target does. It polls the browser's targets until the frame
// is there; the bound only limits a failure.
func oopFrame(t *testing.T, ctx context.Context, url string) context.Context {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var seen []string
	for {
		infos, err := chromedp.Targets(ctx)
		require.NoError(t, err)
		seen = seen[:0]
		for _, info := range infos {
			seen = append(seen, string(info.Type)+" "+info.URL)
			if info.Type == "iframe" && info.URL == url {
				fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(info.TargetID))
				t.Cleanup(cancel)
				return fctx
			}
		}
		if time.Now().After(deadline) {
			blocked, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.cspViolations || [])`))
			t.Fatalf("no iframe target at %s; targets: %v; CSP violations in the page: %s", url, seen, blocked)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("no iframe target at %s: %v", url, ctx.Err())
		}
	}
}

// resursBooked reads the booked payment as Resurs's Checkout POS REST API
// answers it (GET /pos/payments/{orderReference}).
func resursBooked(t *testing.T, hc *http.Client, base, ref string) (out struct {
	Customer struct {
		GovernmentID string `json:"governmentId"`
		Phone        string `json:"phone"`
		Email        string `json:"email"`
	} `json:"customer"`
}) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/pos/payments/"+ref, nil)
	require.NoError(t, err)
	req.SetBasicAuth(resurssim.TestUser, resurssim.TestPassword)
	res, err := hc.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
	return out
}
