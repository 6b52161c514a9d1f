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
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("pay-state").textContent === "polling"`))
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
