//go:build browser

// The cashier page's flows in headless Chromium against a real register
// (real SQLite and receipt file in a temp dir) with the SEQR, Resurs and
// Payson emulators over loopback:
//
//	npm install --prefix internal/api/testdata/browser   # axe-core and jsQR, once
//	CGO_ENABLED=1 go test -tags browser -run TestPage ./internal/api/
//
// Each test asserts what the cashier sees, runs axe-core in the page (no
// serious or critical violation) and writes screenshots to docs/screenshots.
package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/payson"
	"github.com/posd/posd/internal/payson/paysonsim"
	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/resurs"
	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/scanner"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/internal/simctl"
	"github.com/posd/posd/internal/store"
	"github.com/posd/posd/internal/store/seqrreg"
)

// screenshotDir is where the tests leave a picture of each screen (the
// README names it).
var screenshotDir = filepath.Join("..", "..", "docs", "screenshots")

// pageEnv is posd's API in front of the real register with SEQR, Resurs
// and Payson.
type pageEnv struct {
	base       string
	reg        *register.Register
	db         *store.DB
	sim        *seqrsim.Sim
	calls      *simctl.CallLog
	resurs     *resurssim.Sim
	resursBase string // the Resurs emulator's origin, the one the page may frame
	payson     *paysonsim.Sim
	dev        *devices
}

// devices stands in for the print worker and the scanner as Status sees
// them; a test changes what they report.
type devices struct {
	mu sync.Mutex
	pr printer.Status
	sc scanner.Status
}

type devPrinter struct{ d *devices }
type devScanner struct{ d *devices }

func (p devPrinter) Status() printer.Status {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	return p.d.pr
}

func (s devScanner) Status() scanner.Status {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return s.d.sc
}

func (d *devices) set(f func(pr *printer.Status, sc *scanner.Status)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(&d.pr, &d.sc)
}

// seqrWindow is short so that a test sees the window run out without
// waiting SEQR's 30 s.
const seqrWindow = 4 * time.Second

func startPageEnv(t *testing.T, enrolled bool) *pageEnv {
	t.Helper()
	b := newStackBase(t)
	db, journal := b.db, b.journal

	calls := simctl.NewCallLog(0)
	sim := seqrsim.New(seqrsim.Options{Calls: calls, ReportDelay: -1})
	simSrv := httptest.NewServer(sim.Handler())
	client, err := seqr.New(seqr.Config{URL: simSrv.URL + seqrsim.PathCashRegister2, ClientID: "posd",
		ClientReference: "posd page", HTTPClient: simSrv.Client()})
	require.NoError(t, err)
	pol := seqr.DefaultPolicy()
	pol.Window = seqrWindow
	seqrProv, err := seqr.NewAdapter(client, seqrreg.Store{DB: db}, seqr.AdapterConfig{Policy: pol}, time.Now)
	require.NoError(t, err)

	// The Resurs emulator is "localhost" to the page at 127.0.0.1: another
	// site, as Resurs's checkout is to a till, so its frame is cross-site.
	rsim := resurssim.New(resurssim.Options{})
	rsimSrv := httptest.NewServer(rsim.Handler())
	rsimBase := strings.Replace(rsimSrv.URL, "//127.0.0.1:", "//localhost:", 1)
	resursProv, err := resurs.NewAdapter(resurs.AdapterConfig{POSURL: rsimBase + "/pos",
		AfterShopURL: rsimBase + resurssim.PathAfterShop, Username: resurssim.TestUser, Password: resurssim.TestPassword,
		StoreID: resurssim.TestStoreID, SuccessURL: "https://shop.example/success", BackURL: "https://shop.example/back",
		ShopURL: "https://shop.example", RefPrefix: "S1T2-", CheckInterval: 200 * time.Millisecond,
		Transport: resurs.Transport{HTTP: rsimSrv.Client()}})
	require.NoError(t, err)

	psim := paysonsim.New(paysonsim.Options{})
	psimSrv := httptest.NewServer(psim.Handler())
	paysonProv, err := payson.NewAdapter(payson.AdapterConfig{URL: psimSrv.URL + "/2.0/", AgentID: paysonsim.TestAgentID,
		APIKey: paysonsim.TestAPIKey, CheckoutURI: "https://shop.example/checkout", ConfirmationURI: "https://shop.example/confirm",
		NotificationURI: "https://chain.example/payson/notify", TermsURI: "https://shop.example/terms",
		CheckInterval: 200 * time.Millisecond, HTTPClient: psimSrv.Client()})
	require.NoError(t, err)

	dev := &devices{pr: printer.Status{Device: "/dev/usb/lp0", Online: true, Paper: "ok"}, sc: scanner.Status{Device: "/dev/ttyACM0", Connected: true}}
	cfg := register.DefaultConfig()
	cfg.ReportRetry = 100 * time.Millisecond
	reg, err := register.New(cfg, register.Deps{Store: db, Providers: []payment.Provider{seqrProv, resursProv, paysonProv}, Journal: journal,
		Printer: devPrinter{dev}, Scanner: devScanner{dev}})
	require.NoError(t, err)
	// The page may frame the Resurs and Payson checkouts, as cmd/posd
	// allows the configured providers' origins, and nothing else.
	base := b.serve(t, reg, Config{Token: testToken, Heartbeat: time.Hour, FrameOrigins: []string{rsimBase, psimSrv.URL}}, enrolled,
		simSrv.Close, rsimSrv.Close, psimSrv.Close)
	return &pageEnv{base: base, reg: reg, db: db, sim: sim, calls: calls, resurs: rsim,
		resursBase: rsimBase, payson: psim, dev: dev}
}

// paidSale records a paid SEQR payment through the register (not the page).
func (e *pageEnv) paidSale(t *testing.T, key, amount, saleID string) register.Payment {
	t.Helper()
	a, err := money.Parse(amount)
	require.NoError(t, err)
	p, _, err := e.reg.CreatePayment(context.Background(), key, register.PaymentRequest{Method: "seqr", SaleID: saleID,
		CashierID: "anna", Amount: a, Currency: "SEK", ReceiptTotal: a,
		Rows: []register.Row{{Description: "Kaffe", Quantity: "1", UnitPrice: a, TotalAmount: a, TaxRate: "12"}}})
	require.NoError(t, err)
	events, stop := e.reg.Subscribe(p.ID)
	defer stop()
	_, err = e.sim.Scan(contractSeqrID)
	require.NoError(t, err)
	_, err = e.sim.Pay(contractSeqrID, seqrsim.OutcomePaid)
	require.NoError(t, err)
	e.waitState(t, events, p.ID, register.StatePaid)
	p, err = e.reg.Payment(context.Background(), p.ID)
	require.NoError(t, err)
	return p
}

// waitState reads a subscription until the state; the timer bounds a
// failure, it is no synchronisation.
func (e *pageEnv) waitState(t *testing.T, events <-chan register.Event, id string, want register.State) {
	t.Helper()
	timeout := time.NewTimer(15 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case ev, ok := <-events:
			require.True(t, ok, "event stream of %s ended before %s", id, want)
			if ev.Type == "state" && ev.State == want {
				return
			}
		case <-timeout.C:
			t.Fatalf("payment %s not %s", id, want)
		}
	}
}

func (e *pageEnv) count(op string) int { return len(e.calls.Calls(simctl.Filter{Operation: op})) }

// browser starts headless Chromium at 1024x768 whose Accept-Language is acceptLang.
func browser(t *testing.T, acceptLang string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.NoSandbox, chromedp.WindowSize(1024, 768),
		chromedp.Flag("accept-lang", acceptLang), chromedp.Flag("lang", acceptLang))
	if p := os.Getenv("CHROME_PATH"); p != "" {
		opts = append(opts, chromedp.ExecPath(p))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 120*time.Second) // a hung browser fails instead of hanging CI
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1024, 768)))
	return ctx
}

// login opens the page and gives it the token.
func login(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible("#login"),
		chromedp.SendKeys("#token", testToken),
		chromedp.Click(`#login-form button[type="submit"]`),
		chromedp.WaitVisible("#app"),
	))
	waitJS(t, ctx, `document.getElementById("method").options.length > 0`, "the methods are listed")
}

// waitJS polls a JavaScript condition until it holds.
func waitJS(t *testing.T, ctx context.Context, cond, what string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(20*time.Second)))
	require.NoError(t, err, what+": "+cond)
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+jsString(sel)+`).textContent`))
	require.NoError(t, err, sel)
	return s
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// key presses a function key in the page.
func key(t *testing.T, ctx context.Context, k string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.dispatchEvent(new KeyboardEvent("keydown", {key: `+jsString(k)+`, bubbles: true}))`))
	require.NoError(t, err)
}

// screenshot writes the page as it is to docs/screenshots/name.png.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(screenshotDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(screenshotDir, name+".png"), b, 0o644))
}

// npmScript loads a third-party script installed by npm into the page (by
// the DevTools protocol, which the page's CSP does not govern). Without it
// the check is reported and skipped, and under CI=true it fails.
func npmScript(t *testing.T, ctx context.Context, rel, what string) bool {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "browser", "node_modules", rel))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (npm install --prefix internal/api/testdata/browser): %v", what, err)
		}
		t.Logf("%s check not run: not installed (npm install --prefix internal/api/testdata/browser): %v", what, err)
		return false
	}
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](string(src)+";true"))
	require.NoError(t, err)
	return true
}

// axeCheck runs axe-core in the page: no serious or critical violation.
func axeCheck(t *testing.T, ctx context.Context, screen string) {
	t.Helper()
	if !npmScript(t, ctx, "axe-core/axe.min.js", "axe-core") {
		return
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document).then(r => JSON.stringify({
		passes: r.passes.length,
		bad: r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
		 .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))}))}))`,
		chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	var res struct {
		Passes int
		Bad    []json.RawMessage
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	assert.Positive(t, res.Passes, "axe ran its rules on the %s screen", screen)
	assert.Empty(t, res.Bad, "axe: serious or critical violations on the %s screen: %s", screen, out)
}

// TestPageSale: a Swedish till sells two rows at two VAT rates with a
// split tender by SEQR, using the function keys; the window runs out, the
// cashier tries again, the customer pays, the reference is shown.
func TestPageSale(t *testing.T) {
	env := startPageEnv(t, true)
	ctx := browser(t, "sv-SE")
	login(t, ctx, env.base)
	assert.Equal(t, "sv", must(chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))), "Swedish by default")
	assert.Equal(t, "Betalsätt", text(t, ctx, `[data-t="method"]`))

	// Rows: Kaffe 1 x 20.00 at 12 % (the default row), Bulle 2 x 12.50 at 12 %, Tröja 1 x 199.00 at 25 %.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#add-row"), chromedp.Click("#add-row")))
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const rows = document.querySelectorAll("#rows tbody tr");
		const set = (tr, d, q, p, v) => { tr.querySelector(".desc").value = d; tr.querySelector(".qty").value = q;
			tr.querySelector(".price").value = p; tr.querySelector(".vat").value = v; tr.querySelector(".desc").dispatchEvent(new Event("input")); };
		set(rows[1], "Bulle", "2", "12,50", "12"); set(rows[2], "Tröja", "1", "199.00", "25");
		return true; })()`))
	require.NoError(t, err)
	waitJS(t, ctx, `document.getElementById("receipt-total").textContent === "244,00 SEK"`, "the total in Swedish format")
	vat := text(t, ctx, "#vat-table tbody")
	assert.Equal(t, "25"+"39,80"+"159,20"+"199,00"+"12"+"4,82"+"40,18"+"45,00", strings.ReplaceAll(vat, "\u00a0", ""),
		"VAT per rate, highest first: 25 % of 199.00 is 39.80, 12 % of 45.00 is 4.82")

	// Split tender: 100.00 by SEQR, the rest paid otherwise.
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys("#amount", "100")))
	waitJS(t, ctx, `document.getElementById("split-note").textContent.includes("144,00 SEK")`, "the rest is shown")
	axeCheck(t, ctx, "sale")
	screenshot(t, ctx, "sale-sv")

	key(t, ctx, "F2")
	waitJS(t, ctx, `!document.getElementById("payment").hidden && document.getElementById("pay-id").textContent !== ""`, "the payment is shown")
	id := text(t, ctx, "#pay-id")
	p, err := env.reg.Payment(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "100.00", p.Amount.String())
	assert.Equal(t, "244.00", p.ReceiptTotal.String())
	assert.Equal(t, register.BalancingOther, p.Balancing)
	assert.Equal(t, "seqr", p.Method)
	waitJS(t, ctx, `document.getElementById("pay-state").textContent === "väntar på kunden"`, "polling in Swedish")
	waitJS(t, ctx, `Number(document.getElementById("countdown").textContent) <= 4 && !document.getElementById("countdown-box").hidden`, "the countdown runs")
	screenshot(t, ctx, "sale-countdown")

	// The window runs out: try again (F7) opens window 2 on the same invoice.
	waitJS(t, ctx, `!document.getElementById("retry").hidden`, "try again offered")
	assert.Contains(t, text(t, ctx, "#pay-message"), "Fönstret tog slut")
	assert.Contains(t, text(t, ctx, "#countdown-sr"), "väntar på kassören", "the live region announced the state")
	axeCheck(t, ctx, "awaiting decision")
	screenshot(t, ctx, "sale-try-again")
	invoices := env.count("sendInvoice")
	key(t, ctx, "F7")
	waitJS(t, ctx, `document.getElementById("pay-window").textContent === "2" && document.getElementById("pay-state").textContent === "väntar på kunden"`, "window 2")
	assert.Equal(t, invoices, env.count("sendInvoice"), "try again sends no new invoice")

	_, err = env.sim.Scan(contractSeqrID)
	require.NoError(t, err)
	_, err = env.sim.Pay(contractSeqrID, seqrsim.OutcomePaid)
	require.NoError(t, err)
	waitJS(t, ctx, `document.getElementById("pay-state").textContent === "betald"`, "paid")
	p, err = env.reg.Payment(context.Background(), id)
	require.NoError(t, err)
	require.NotEmpty(t, p.TransactionRef)
	assert.Contains(t, text(t, ctx, "#pay-ers"), p.TransactionRef, "the reference is shown")
	assert.False(t, must(chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("done").hidden`))))
	screenshot(t, ctx, "sale-paid")

	// F9: a new sale.
	key(t, ctx, "F9")
	waitJS(t, ctx, `!document.getElementById("sale").hidden && document.getElementById("payment").hidden`, "new sale")
	assert.Empty(t, must(chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("posd.current") || ""`))))
}

// TestPageReloadReattaches: a reload during a sale follows the same open
// payment; the cashier cancels it with F8.
func TestPageReloadReattaches(t *testing.T) {
	env := startPageEnv(t, true)
	ctx := browser(t, "en-US")
	login(t, ctx, env.base)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#pay")))
	waitJS(t, ctx, `document.getElementById("pay-state").textContent === "waiting for the customer"`, "polling")
	id := text(t, ctx, "#pay-id")

	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible("#app")))
	waitJS(t, ctx, `document.getElementById("pay-id").textContent === `+jsString(id), "the reload reattached to the open payment")
	assert.Equal(t, 1, env.count("sendInvoice"), "the reload sent no second invoice")
	waitJS(t, ctx, `!document.getElementById("cancel").hidden`, "cancel offered")
	key(t, ctx, "F8")
	waitJS(t, ctx, `document.getElementById("pay-state").textContent === "canceled"`, "canceled")
	p, err := env.reg.Payment(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, register.StateCanceled, p.State)
}

// TestPageHistoryRefund: the history finds a sale by its reference, shows
// its detail, and a double-clicked refund confirmation refunds once.
func TestPageHistoryRefund(t *testing.T) {
	env := startPageEnv(t, true)
	env.paidSale(t, "k1", "20.00", "S-100")
	target := env.paidSale(t, "k2", "35.50", "S-200")
	ctx := browser(t, "en-GB")
	login(t, ctx, env.base)

	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#tab-history")))
	waitJS(t, ctx, `document.querySelectorAll("#history-table tbody tr").length === 2`, "both payments listed")
	axeCheck(t, ctx, "history")
	screenshot(t, ctx, "history")

	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys("#f-q", target.TransactionRef), chromedp.Click(`#search-form button[type="submit"]`)))
	waitJS(t, ctx, `document.querySelectorAll("#history-table tbody tr").length === 1`, "the search by reference finds one")
	assert.Contains(t, text(t, ctx, "#history-table tbody"), "35.50 SEK")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#history-table tbody button")))
	waitJS(t, ctx, `!document.getElementById("detail").hidden && document.getElementById("d-id").textContent === `+jsString(target.ID), "the detail")
	fields := text(t, ctx, "#d-fields")
	assert.Contains(t, fields, target.TransactionRef)
	assert.Contains(t, fields, "S-200")
	assert.Contains(t, fields, "anna")

	// Refund 10.00 of 35.50: a confirmation step, then a double click.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#d-refund"), chromedp.WaitVisible("#refund-form")))
	assert.Equal(t, "35.50", must(chromedp.Run(ctx, chromedp.Value("#r-amount"))), "the refundable rest is offered")
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue("#r-amount", "10.00"), chromedp.SendKeys("#r-reason", "Broken cup"),
		chromedp.Click("#r-next"), chromedp.WaitVisible("#r-confirm")))
	assert.Contains(t, text(t, ctx, "#r-confirm-text"), "10.00 SEK")
	assert.Zero(t, env.count("refundPayment"), "nothing is sent before the confirmation")
	screenshot(t, ctx, "refund-confirm")
	require.NoError(t, chromedp.Do(ctx, chromedp.DoubleClick("#r-yes")))
	waitJS(t, ctx, `!document.getElementById("r-result").hidden`, "the refund's result")
	assert.Contains(t, text(t, ctx, "#r-result-text"), "10.00 SEK")
	waitJS(t, ctx, `document.getElementById("d-fields").textContent.includes("Refunded10.00 SEK")`, "the detail shows the refunded sum")
	assert.Equal(t, 1, env.count("refundPayment"), "a double click refunds once")
	p, err := env.reg.Payment(context.Background(), target.ID)
	require.NoError(t, err)
	assert.Equal(t, "10.00", p.Refunded.String())
	axeCheck(t, ctx, "payment detail")
	screenshot(t, ctx, "history-detail-refunded")

	// Reprint, marked COPY by the register.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#d-reprint")))
	waitJS(t, ctx, `document.getElementById("d-message").textContent === "Copy queued for the printer."`, "the copy queued")
}

// TestPageHistoryPaging: more payments than a page; the cashier pages on
// and filters by state.
func TestPageHistoryPaging(t *testing.T) {
	env := startPageEnv(t, true)
	const n = 57
	for i := range n {
		a, err := money.Parse("1.00")
		require.NoError(t, err)
		p, _, err := env.reg.CreatePayment(context.Background(), fmt.Sprintf("page-%02d", i), register.PaymentRequest{
			Method: "seqr", SaleID: fmt.Sprintf("S-%02d", i), Amount: a, Currency: "SEK", ReceiptTotal: a,
			Rows: []register.Row{{Description: "Bulle", Quantity: "1", TotalAmount: a, TaxRate: "12"}}})
		require.NoError(t, err)
		_, err = env.reg.Cancel(context.Background(), p.ID)
		require.NoError(t, err)
	}
	paid := env.paidSale(t, "paid-1", "42.00", "S-PAID")
	ctx := browser(t, "en-US")
	login(t, ctx, env.base)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#tab-history")))
	waitJS(t, ctx, `document.querySelectorAll("#history-table tbody tr").length === 50`, "one page of 50")
	assert.Contains(t, text(t, ctx, "#history-status"), "there are more")
	assert.Contains(t, text(t, ctx, "#history-table tbody tr:first-child"), "42.00 SEK", "newest first")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#more")))
	waitJS(t, ctx, `document.querySelectorAll("#history-table tbody tr").length === 58`, "the next page")
	assert.False(t, must(chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById("more").hidden`))), "no more after the last page")

	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue("#f-state", "paid"), chromedp.Click(`#search-form button[type="submit"]`)))
	waitJS(t, ctx, `document.querySelectorAll("#history-table tbody tr").length === 1`, "only the paid one")
	assert.Contains(t, text(t, ctx, "#history-table tbody"), paid.TransactionRef)
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue("#f-state", ""), chromedp.SendKeys("#f-amount", "42"),
		chromedp.Click(`#search-form button[type="submit"]`)))
	waitJS(t, ctx, `document.querySelectorAll("#history-table tbody tr").length === 1`, "the amount filter")
}

// TestPageDayClose: the period is closed and the reconciliation shown.
func TestPageDayClose(t *testing.T) {
	env := startPageEnv(t, true)
	env.paidSale(t, "k1", "20.00", "S-1")
	env.paidSale(t, "k2", "5.25", "S-2")
	ctx := browser(t, "en-US")
	login(t, ctx, env.base)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#tab-close"), chromedp.WaitVisible("#close-btn")))
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue("#close-provider", "seqr"), chromedp.Click("#close-btn")))
	waitJS(t, ctx, `!document.getElementById("report").hidden`, "the report")
	assert.Equal(t, "Matches", text(t, ctx, "#rep-match"))
	assert.Equal(t, "2", text(t, ctx, "#rep-lc"))
	assert.Equal(t, "2", text(t, ctx, "#rep-rc"))
	assert.Equal(t, "25.25", text(t, ctx, "#rep-lt"))
	assert.Equal(t, "25.25", text(t, ctx, "#rep-rt"))
	assert.Equal(t, 1, env.count("markTransactionPeriod"))
	axeCheck(t, ctx, "day close")
	screenshot(t, ctx, "day-close")
}

// TestPageTillSetup: a new till is registered (the password leaves the
// browser once and is not kept), gets its SEQR id typed, and is
// unregistered after a confirmation; the providers' status is listed.
func TestPageTillSetup(t *testing.T) {
	env := startPageEnv(t, false)
	ctx := browser(t, "en-US")
	login(t, ctx, env.base)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#tab-till"), chromedp.WaitVisible("#reg-form")))
	assert.Equal(t, "not registered", text(t, ctx, "#st-terminal"))
	waitJS(t, ctx, `document.querySelectorAll("#st-providers li").length === 3`, "the three providers listed")
	assert.Contains(t, text(t, ctx, "#st-providers"), "Payson: reachable")
	axeCheck(t, ctx, "till setup")
	screenshot(t, ctx, "till-unregistered")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys("#reg-reseller", seqrsim.TestResellerID), chromedp.SendKeys("#reg-user", seqrsim.TestResellerUserID),
		chromedp.SendKeys("#reg-password", seqrsim.TestResellerPassword), chromedp.SendKeys("#reg-ext", "Shop 1/POS 9"),
		chromedp.SendKeys("#reg-name", "Kassa 9"), chromedp.Click("#reg-btn")))
	waitJS(t, ctx, `document.getElementById("till-message").textContent.startsWith("The till is registered as")`, "registered")
	assert.Equal(t, "", must(chromedp.Run(ctx, chromedp.Value("#reg-password"))), "the password is not kept in the form")
	stored := must(chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify([Object.keys(sessionStorage).sort(), Object.keys(localStorage)])`)))
	assert.Equal(t, `[["posd.token"],[]]`, stored, "the browser keeps the token only, never the password")
	waitJS(t, ctx, `document.getElementById("st-terminal").textContent.includes("Kassa 9")`, "the terminal shown")

	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys("#seqr-id", "KASSA9"), chromedp.Click(`#seqr-form button[type="submit"]`)))
	waitJS(t, ctx, `document.getElementById("st-seqr").textContent === "KASSA9"`, "the SEQR id")
	tm, err := env.reg.Terminal(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "KASSA9", tm.SeqrID)
	screenshot(t, ctx, "till-registered")

	// By scan: the page waits live and shows what was read.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#scan-btn")))
	waitJS(t, ctx, `document.getElementById("scan-status").textContent.startsWith("Waiting for the scan")`, "waiting for the scan")
	// The scan is delivered until the register is waiting for it (the
	// page's request may not have reached it yet): the bound is the poll's.
	for i := 0; ; i++ {
		env.reg.HandleScan(scanner.Scan{Code: "STICKER42", At: time.Now()})
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("scan-status").textContent.startsWith("Read: STICKER42")`,
			chromedp.WithPollingTimeout(500*time.Millisecond)))
		if err == nil {
			break
		}
		require.Less(t, i, 40, "the scan was never shown")
	}
	waitJS(t, ctx, `document.getElementById("st-seqr").textContent === "STICKER42"`, "the scanned SEQR id")

	// Printer and scanner status, refreshed live.
	assert.Contains(t, text(t, ctx, "#st-printer"), "online, paper ok")
	env.dev.set(func(pr *printer.Status, sc *scanner.Status) {
		pr.Paper, pr.CoverOpen, pr.Queued = "out", true, 2
		sc.Connected, sc.LastError = false, "device gone"
	})
	waitJS(t, ctx, `document.getElementById("st-printer").textContent === "online, paper OUT, cover open, 2 queued"`, "the printer's news shown live")
	waitJS(t, ctx, `document.getElementById("st-scanner").textContent.startsWith("disconnected")`, "the scanner's news shown live")
	screenshot(t, ctx, "till-devices")

	// A test print: a slip on the printer's queue, not a receipt.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#test-print")))
	waitJS(t, ctx, `document.getElementById("test-print-note").textContent === "The test print is queued for the printer."`, "test print queued")
	job, ok, err := env.db.NextPrintJob(context.Background())
	require.NoError(t, err)
	require.True(t, ok, "a print job is queued")
	assert.Contains(t, string(job.Payload), "TEST PRINT")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#unreg-btn"), chromedp.WaitVisible("#unreg-confirm")))
	assert.Zero(t, env.count("unregisterTerminal"), "nothing before the confirmation")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#unreg-yes")))
	waitJS(t, ctx, `document.getElementById("st-terminal").textContent === "not registered"`, "unregistered")
	assert.Equal(t, 1, env.count("unregisterTerminal"))
}

// TestPagePaysonCustomerView: choosing Payson shows its checkout page and
// a QR code of its address; the customer pays on the emulator.
func TestPagePaysonCustomerView(t *testing.T) {
	env := startPageEnv(t, true)
	ctx := browser(t, "en-US")
	login(t, ctx, env.base)
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue("#method", "payson"), chromedp.Click("#pay")))
	waitJS(t, ctx, `!document.getElementById("customer-view").hidden`, "the customer view")
	id := text(t, ctx, "#pay-id")
	p, err := env.reg.Payment(context.Background(), id)
	require.NoError(t, err)
	require.NotNil(t, p.CustomerView)
	require.NotEmpty(t, p.CustomerView.URL)
	assert.Equal(t, p.CustomerView.URL, text(t, ctx, "#cv-url"))
	assert.Equal(t, p.CustomerView.URL, must(chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("cv-frame").getAttribute("src")`))))
	assert.True(t, must(chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#cv-qr svg path").getAttribute("d").length > 100`))), "a QR code is drawn")
	// jsQR reads the drawn code back: it holds the URL.
	if npmScript(t, ctx, "jsqr/dist/jsQR.js", "jsQR") {
		read, err := chromedp.Run(ctx, chromedp.Evaluate[string](`new Promise((resolve, reject) => {
			const svg = document.querySelector("#cv-qr svg");
			const img = new Image();
			img.onload = () => {
				const c = document.createElement("canvas");
				c.width = img.width; c.height = img.height;
				const g = c.getContext("2d");
				g.drawImage(img, 0, 0);
				const code = jsQR(g.getImageData(0, 0, c.width, c.height).data, c.width, c.height);
				resolve(code ? code.data : "(no code read)");
			};
			img.onerror = () => reject(new Error("the QR svg did not load as an image"));
			img.src = "data:image/svg+xml;base64," + btoa(new XMLSerializer().serializeToString(svg));
		})`, chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		assert.Equal(t, p.CustomerView.URL, read, "the QR code holds the checkout's URL")
	}
	assert.Equal(t, "Payson", text(t, ctx, "#pay-provider"))
	axeCheck(t, ctx, "customer view")
	screenshot(t, ctx, "sale-payson-customer-view")

	require.NoError(t, env.payson.Pay(p.ProviderRef, paysonsim.PayRequest{}))
	waitJS(t, ctx, `document.getElementById("pay-state").textContent === "paid"`, "paid")
	assert.True(t, must(chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("customer-view").hidden`))), "the view goes with the final state")
}

// TestPageLanguageSwitch: an English browser gets English; the cashier
// switches to Swedish and amounts follow the locale.
func TestPageLanguageSwitch(t *testing.T) {
	env := startPageEnv(t, true)
	ctx := browser(t, "en-US")
	login(t, ctx, env.base)
	assert.Equal(t, "en", must(chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))))
	assert.Equal(t, "20.00 SEK", text(t, ctx, "#receipt-total"))
	assert.Equal(t, "Sale", text(t, ctx, "#tab-sale"))
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue("#lang", "sv")))
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("lang").dispatchEvent(new Event("change"))`))
	require.NoError(t, err)
	waitJS(t, ctx, `document.getElementById("tab-sale").textContent === "Försäljning"`, "Swedish")
	assert.Equal(t, "20,00 SEK", text(t, ctx, "#receipt-total"))
	assert.Equal(t, "sv", must(chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))))
	// The choice survives a reload in this tab.
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible("#app")))
	waitJS(t, ctx, `document.getElementById("tab-sale").textContent === "Försäljning"`, "still Swedish after a reload")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestPageRefundAfterReload: the page sent a refund and was reloaded
// before the answer came; the cashier does it again and the page reuses the
// refund's Idempotency-Key, so the payment is refunded once.
func TestPageRefundAfterReload(t *testing.T) {
	env := startPageEnv(t, true)
	paid := env.paidSale(t, "k1", "30.00", "S-30")
	ctx := browser(t, "en-US")
	login(t, ctx, env.base)
	openRefund := func() {
		require.NoError(t, chromedp.Do(ctx, chromedp.Click("#tab-history")))
		waitJS(t, ctx, `document.querySelectorAll("#history-table tbody button").length === 1`, "listed")
		require.NoError(t, chromedp.Do(ctx, chromedp.Click("#history-table tbody button"), chromedp.WaitVisible("#d-refund"),
			chromedp.Click("#d-refund"), chromedp.WaitVisible("#refund-form"),
			chromedp.SetValue("#r-amount", "5.00"), chromedp.Click("#r-next"), chromedp.WaitVisible("#r-confirm")))
	}
	openRefund()
	key := must(chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.parse(sessionStorage.getItem("posd.refund.`+paid.ID+`")).key`)))
	require.NotEmpty(t, key)

	// The request the page sent before the reload, with its key and body.
	a, err := money.Parse("5.00")
	require.NoError(t, err)
	_, created, err := env.reg.Refund(context.Background(), paid.ID, key, register.RefundRequest{Amount: a, CashierID: "1"})
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, 1, env.count("refundPayment"))

	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible("#app")))
	openRefund()
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#r-yes")))
	waitJS(t, ctx, `!document.getElementById("r-result").hidden`, "the refund's result")
	assert.Contains(t, text(t, ctx, "#r-result-text"), "5.00 SEK")
	assert.Equal(t, 1, env.count("refundPayment"), "the same key: no second refund")
	p, err := env.reg.Payment(context.Background(), paid.ID)
	require.NoError(t, err)
	assert.Equal(t, "5.00", p.Refunded.String())
	assert.Empty(t, must(chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("posd.refund.`+paid.ID+`") || ""`))),
		"the key is dropped once the refund is answered: the next refund is a new one")
}
