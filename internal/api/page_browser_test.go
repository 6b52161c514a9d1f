//go:build browser

// The cashier page in headless Chromium against the real register (with a
// fake provider) and hand-made event streams:
//
//	CGO_ENABLED=1 go test -tags browser -run TestCashierPage ./internal/api/
//
// Behind a build tag because it needs a Chromium binary (apt-get install
// chromium); CHROME_PATH overrides where it is looked for.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/payment/paymenttest"
	"github.com/posd/posd/internal/register"
)

func TestCashierPage(t *testing.T) {
	spy := newSpy(t)
	spy.scriptEvery() // the test plays the register's events
	ts := startServer(t, spy, nil)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.NoSandbox)
	if p := os.Getenv("CHROME_PATH"); p != "" {
		opts = append(opts, chromedp.ExecPath(p))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second) // a hung browser fails instead of hanging CI
	defer cancelTimeout()

	// Log in with the token; the page keeps it in sessionStorage.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(ts.base+"/"),
		chromedp.WaitVisible("#login"),
		chromedp.SendKeys("#token", testToken),
		chromedp.Click(`#login-form button[type="submit"]`), // Submit() would bypass the page's submit handler
		chromedp.WaitVisible("#app"),
	))
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("posd.token")`))
	require.NoError(t, err)
	assert.Equal(t, testToken, stored)
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("st-terminal").textContent.includes("fake-terminal")`))
	require.NoError(t, err, "status shown")

	// Start a payment of the default row (Kaffe 20.00).
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#pay"), chromedp.WaitVisible("#payment")))
	id := <-spy.subscribed // the page opened the event stream
	p, err := spy.Payment(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "20.00", p.Amount.String())

	spy.publish(register.Event{Type: "poll", PaymentID: id, State: register.StatePolling, SecondsLeft: 17, Payment: p})
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("countdown").textContent === "17"`))
	require.NoError(t, err, "countdown shows the poll event's seconds left")

	// The window runs out: the cashier sees "try again" and presses it (the
	// register, still checking in its window, answers the payment polling).
	waiting := p
	waiting.State = register.StateAwaitingDecision
	spy.publish(register.Event{Type: "state", PaymentID: id, State: register.StateAwaitingDecision, Payment: waiting})
	before := spy.Mutations()
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible("#retry"), chromedp.Click("#retry")))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("pay-state").textContent === "waiting for the customer"`))
	require.NoError(t, err)
	assert.Equal(t, before+1, spy.Mutations(), "try again reached the register once")

	// Paid while the printer is out of paper: as the register does, the
	// printer's problem comes just before the paid event and the stream stays
	// open for the receipt. The page offers a copy and a new sale at once and
	// keeps showing what the printer says.
	paid := p
	paid.State = register.StatePaid
	paid.ERSReference = "ers-42"
	spy.receiptWaits(id)
	printer := func(msg string) register.Event {
		return register.Event{Type: "printer", PaymentID: id, State: register.StatePaid, Message: msg, Payment: paid}
	}
	spy.publish(printer("printer out of paper: receipt waits"))
	spy.publish(register.Event{Type: "state", PaymentID: id, State: register.StatePaid, Payment: paid})
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible("#done"), chromedp.WaitVisible("#reprint")))
	ers, err := chromedp.Run(ctx, chromedp.Text("#pay-ers"))
	require.NoError(t, err)
	assert.True(t, strings.Contains(ers, "ers-42"), ers)
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("pay-message").textContent.includes("out of paper")`))
	require.NoError(t, err, "the printer's problem is shown with the paid state")

	spy.publish(printer("printer ok: printing"))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("pay-message").textContent === "Printer: printer ok: printing"`))
	require.NoError(t, err, "printer events after paid are shown")

	// The receipt is printed: the register ends the stream, which is no error.
	spy.endReceipt(printer("printer ok: receipt printed"))
	assert.Equal(t, id, <-spy.unsubscribed)
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("pay-message").textContent.includes("receipt printed")`))
	require.NoError(t, err)
	actionErr, err := chromedp.Run(ctx, chromedp.Text("#action-error"))
	require.NoError(t, err)
	assert.Empty(t, actionErr, "the end of the stream is not an error")
	assert.Empty(t, spy.subscribed, "the page does not reconnect after the stream ends")
	state, err := chromedp.Run(ctx, chromedp.Text("#pay-state"))
	require.NoError(t, err)
	assert.Equal(t, "paid", state)
}

// TestPageUnknownHighlighted: a payment whose outcome is unknown stands out
// in the history, and its detail says what to do; it cannot be refunded.
func TestPageUnknownHighlighted(t *testing.T) {
	stack := newFakeStack(t).run()
	stack.paid("k-paid")
	// The reply to the start is lost: the outcome is unknown, never resent.
	stack.prov.Set(func(f *paymenttest.Fake) {
		f.StartFn = func(context.Context, payment.Order) (payment.Session, error) {
			return payment.Session{}, errors.New("read tcp 127.0.0.1:1: connection reset by peer")
		}
	})
	unknown, _, err := stack.reg.CreatePayment(context.Background(), "k-unknown", stackSale())
	require.NoError(t, err)
	require.Equal(t, register.StateUnknown, unknown.State)
	ts := startServer(t, spyOn(stack), nil)
	ctx := browser(t, "en-US")
	login(t, ctx, ts.base)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#tab-history")))
	waitJS(t, ctx, `document.querySelectorAll("#history-table tbody tr").length === 2`, "both listed")
	assert.Equal(t, "unknown-row", must(chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#history-table tbody tr:first-child").className`))),
		"the unknown payment (newest) is highlighted")
	assert.Empty(t, must(chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#history-table tbody tr:last-child").className`))))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#history-table tbody tr:first-child button")))
	waitJS(t, ctx, `!document.getElementById("detail").hidden && !document.getElementById("d-unknown").hidden`, "the unknown warning")
	assert.Contains(t, text(t, ctx, "#d-unknown"), "Do not hand over the goods or charge again")
	assert.True(t, must(chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("d-refund").hidden`))), "no refund of an unknown payment")
	axeCheck(t, ctx, "unknown payment")
	screenshot(t, ctx, "history-unknown")
}

// TestPageHistoryCursor: against a list that pages with a cursor (GET
// /v1/payments answering {"payments", "next"}), the page sends its filters
// as query parameters and follows next. posd's own list answers before the
// cursor lands, so the list route is played here in front of the real API,
// which serves everything else.
func TestPageHistoryCursor(t *testing.T) {
	ts := startServer(t, newSpy(t), nil)
	target, err := url.Parse(ts.base)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	queries := make(chan url.Values, 8)
	amount, err := money.Parse("12.00")
	require.NoError(t, err)
	page := func(from, n int) []register.Payment {
		var ps []register.Payment
		for i := from; i < from+n; i++ {
			ps = append(ps, register.Payment{ID: fmt.Sprintf("p%03d", i), Method: "seqr", Provider: "seqr", State: register.StatePaid,
				Amount: amount, ReceiptTotal: amount, Currency: "SEK", CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()})
		}
		return ps
	}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v1/payments" {
			q := r.URL.Query()
			queries <- q
			w.Header().Set("Content-Type", "application/json")
			if q.Get("cursor") == "" {
				_ = json.NewEncoder(w).Encode(map[string]any{"payments": page(0, 50), "next": "C2"})
			} else {
				_ = json.NewEncoder(w).Encode(map[string]any{"payments": page(50, 7)})
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	ctx := browser(t, "en-US")
	login(t, ctx, front.URL)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#tab-history")))
	first := <-queries
	assert.Equal(t, "50", first.Get("limit"))
	assert.Equal(t, "desc", first.Get("order"), "the history reads newest first")
	waitJS(t, ctx, `document.querySelectorAll("#history-table tbody tr").length === 50`, "the first page")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#more")))
	second := <-queries
	assert.Equal(t, "C2", second.Get("cursor"))
	waitJS(t, ctx, `document.querySelectorAll("#history-table tbody tr").length === 57`, "the second page")
	assert.True(t, must(chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("more").hidden`))), "no next: no more")

	// The filters go to the server as its query parameters.
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue("#f-state", "paid"), chromedp.SetValue("#f-provider", "seqr"),
		chromedp.SendKeys("#f-q", "ers-9"), chromedp.SetValue("#f-from", "2026-12-01"), chromedp.SetValue("#f-to", "2026-12-02"),
		chromedp.Click(`#search-form button[type="submit"]`)))
	q := <-queries
	assert.Equal(t, "paid", q.Get("state"))
	assert.Equal(t, "seqr", q.Get("provider"))
	assert.Equal(t, "ers-9", q.Get("q"))
	assert.Empty(t, q.Get("cursor"), "a new search starts at the first page")
	from, err := time.Parse(time.RFC3339, q.Get("from"))
	require.NoError(t, err, q.Get("from"))
	to, err := time.Parse(time.RFC3339, q.Get("to"))
	require.NoError(t, err, q.Get("to"))
	assert.True(t, to.After(from))
	assert.Equal(t, 48*time.Hour, to.Sub(from).Round(time.Hour), "from the start of the first day to the end of the last")
}

// TestPageDayCloseDiscrepancy: a reconciliation that does not match is
// shown as such, each reference found on one side only highlighted. (The
// emulator's reports always match posd's records, so the report is played
// here in front of the real API, which serves the page and the rest.)
func TestPageDayCloseDiscrepancy(t *testing.T) {
	ts := startServer(t, newSpy(t), nil)
	target, err := url.Parse(ts.base)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	closes := make(chan string, 2)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/periods/close" {
			closes <- r.URL.Query().Get("provider")
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"provider":"seqr","periodRef":"tp-77","markedAt":"2026-12-01T21:00:00Z","remoteCount":3,"remoteTotal":"60.00",` +
				`"localCount":2,"localTotal":"45.00","match":false,"onlyRemote":["ers-901"],"onlyLocal":[]}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	ctx := browser(t, "sv-SE")
	login(t, ctx, front.URL)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#tab-close"), chromedp.WaitVisible("#close-btn"), chromedp.Click("#close-btn")))
	assert.Equal(t, "seqr", <-closes)
	waitJS(t, ctx, `!document.getElementById("report").hidden`, "the report")
	assert.Equal(t, "AVVIKELSE", text(t, ctx, "#rep-match"))
	assert.Equal(t, "badge bad", must(chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("rep-match").className`))))
	assert.Equal(t, "60,00", text(t, ctx, "#rep-rt"))
	assert.Equal(t, "45,00", text(t, ctx, "#rep-lt"))
	assert.Equal(t, "Bara hos leverantören", text(t, ctx, "#rep-diff h4"))
	assert.Equal(t, "ers-901", text(t, ctx, "#rep-diff li.discrepancy"), "the reference only the provider has is highlighted")
	axeCheck(t, ctx, "day close with a discrepancy")
	screenshot(t, ctx, "day-close-discrepancy")
}
