//go:build browser

// The cashier page in headless Chromium against the fake register:
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
	fake := newFake()
	ts := startServer(t, fake, nil)

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
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("st-terminal").textContent.includes("T1")`))
	require.NoError(t, err, "status shown")

	// Start a payment of the default row (Kaffe 20.00).
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#pay"), chromedp.WaitVisible("#payment")))
	id := <-fake.subscribed // the page opened the event stream
	p, err := fake.Payment(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "20.00", p.Amount.String())

	fake.publish(register.Event{Type: "poll", PaymentID: id, State: register.StatePolling, SecondsLeft: 17, Payment: p})
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("countdown").textContent === "17"`))
	require.NoError(t, err, "countdown shows the poll event's seconds left")

	// The window runs out: the cashier sees "try again" and presses it.
	waiting := p
	waiting.State = register.StateAwaitingDecision
	fake.put(waiting)
	fake.publish(register.Event{Type: "state", PaymentID: id, State: register.StateAwaitingDecision, Payment: waiting})
	before := fake.Mutations()
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible("#retry"), chromedp.Click("#retry")))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("pay-state").textContent === "polling"`))
	require.NoError(t, err)
	assert.Equal(t, before+1, fake.Mutations(), "try again reached the register once")

	// Paid: the stream ends and the page offers a copy and a new sale.
	paid := p
	paid.State = register.StatePaid
	paid.ERSReference = "ers-42"
	fake.publish(register.Event{Type: "state", PaymentID: id, State: register.StatePaid, Payment: paid})
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible("#done"), chromedp.WaitVisible("#reprint")))
	ers, err := chromedp.Run(ctx, chromedp.Text("#pay-ers"))
	require.NoError(t, err)
	assert.True(t, strings.Contains(ers, "ers-42"), ers)
	assert.Equal(t, id, <-fake.unsubscribed)
}
