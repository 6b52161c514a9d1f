//go:build browser

package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/resurs"
	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/store"
)

// The cashier page's refund by lines (issue 13) in headless Chromium
// against the real register, SQLite and the Resurs adapter with its
// emulator over loopback:
//
//	CGO_ENABLED=1 go test -tags browser -run 'TestPageRefund' ./internal/api/

// resursPaidRows is resursPaid with a three-row sale of 699.93: a coffee
// maker (1 x 500.00), filters (5 x 25.00) and weighed beans (0.750 kg for
// 74.93, no unit price), each with its SKU.
func (s *realStack) resursPaidRows(t *testing.T) (id, paymentID string) {
	t.Helper()
	body := paymentBody("699.93")
	body["method"] = register.MethodResurs
	body["rows"] = []any{
		map[string]any{"description": "Kaffebryggare", "quantity": "1", "unitPrice": "500.00", "totalAmount": "500.00", "taxRate": "25", "sku": "KB-1"},
		map[string]any{"description": "Kaffefilter", "quantity": "5", "unitPrice": "25.00", "totalAmount": "125.00", "taxRate": "25", "sku": "KF-5"},
		map[string]any{"description": "Kaffebönor", "quantity": "0.750", "totalAmount": "74.93", "taxRate": "12", "sku": "KBO-1"},
	}
	body["customer"] = map[string]any{"governmentId": approvedGovID, "mobile": "+46701234567", "email": "kund@example.se"}
	a := s.pay(t, body)
	require.Equal(t, http.StatusAccepted, a.status, a.raw)
	id = a.body["id"].(string)
	view, _ := a.body["customerView"].(map[string]any)
	u, err := url.Parse(view["url"].(string))
	require.NoError(t, err)
	paid := s.payAndWait(t, id, func() {
		_, err := s.resurs.CompleteSession(u.RawQuery, resurssim.Complete{GovernmentID: approvedGovID, Method: "invoice"})
		require.NoError(t, err)
	})
	return id, paid.TransactionRef
}

// creditDiffs reads payment paymentID back from the emulator with Resurs's
// own getPayment and returns its CREDIT diffs: what Resurs was asked to
// credit, line by line.
func (s *realStack) creditDiffs(t *testing.T, paymentID string) []resurs.Diff {
	t.Helper()
	srv := httptest.NewServer(s.resurs.Handler())
	t.Cleanup(srv.Close)
	c, err := resurs.NewAfterShop(resurs.AfterShopConfig{URL: srv.URL + resurssim.PathAfterShop, Username: resurssim.TestUser,
		Password: resurssim.TestPassword, Transport: resurs.Transport{HTTP: srv.Client()}})
	require.NoError(t, err)
	p, err := c.GetPayment(context.Background(), paymentID)
	require.NoError(t, err)
	var out []resurs.Diff
	for _, d := range p.Diffs {
		if d.Type == resurs.DiffCredit {
			out = append(out, d)
		}
	}
	return out
}

// typeInto replaces an input's text by typing, as the cashier does (the
// page hears every key).
func typeInto(sel, s string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		if _, err := chromedp.Evaluate[bool](`(e => { e.value = ""; return true; })(document.querySelector(`+jsString(sel)+`))`)(ctx, tg); err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.SendKeys(sel, s)(ctx, tg)
	}
}

// TestPageRefundLines: a Resurs sale of three rows, paid and finalized. In
// the Swedish page's history detail the cashier chooses "Valda rader": the
// rows are listed with a quantity to return each and the line totals are
// computed in öre (a quarter of the weighed beans, sold without a unit
// price, is 74.93 x 0.25 / 0.75 = 24.9767, rounded to 24,98); a quantity
// that is not whole units or more than was sold is refused. Two of the
// five filters go back: the confirmation names the line and the sum, a
// double click sends once, Resurs is asked to credit exactly that line,
// and the page shows the lines its answer names and the refunded sum.
func TestPageRefundLines(t *testing.T) {
	s, calls := startResursStackWith(t, quickResurs(resurssim.Options{}))
	id, paymentID := s.resursPaidRows(t)

	ctx := browser(t, "sv-SE")
	login(t, ctx, s.base)
	openHistoryDetail(t, ctx)
	waitJS(t, ctx, `!document.getElementById("d-refund").hidden`, "the refund offered")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#d-refund"), chromedp.WaitVisible("#refund-form")))
	assert.Equal(t, "699,93", must(chromedp.Run(ctx, chromedp.Value("#r-amount"))), "an amount, all that is left, is the first choice")
	assert.Equal(t, "Kvar att återbetala: 699,93 SEK.", text(t, ctx, "#r-left"))
	assert.False(t, hidden(t, ctx, "r-mode-lines-box"), "the sale has rows: lines may be chosen")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#r-mode-lines"), chromedp.WaitVisible("#r-lines-box")))
	assert.True(t, hidden(t, ctx, "r-amount-box"), "no amount field when lines are chosen")

	cells := must(chromedp.Run(ctx, chromedp.Evaluate[[][]string](`[...document.querySelectorAll("#r-lines tbody tr")].map(tr =>
		[...tr.cells].map(td => td.querySelector("input") ? td.querySelector("input").value : td.textContent))`)))
	assert.Equal(t, [][]string{
		{"Kaffebryggare", "1", "500,00", "0", "0,00"},
		{"Kaffefilter", "5", "25,00", "0", "0,00"},
		{"Kaffebönor", "0,75", "", "0", "0,00"},
	}, cells, "each row with what was sold and nothing returned yet")
	assert.Equal(t, "0,00 SEK", text(t, ctx, "#r-lines-sum"))
	const filters, beans = `#r-lines tbody tr:nth-child(2) input`, `#r-lines tbody tr:nth-child(3) input`
	lineTotal := func(n int) string {
		return text(t, ctx, fmt.Sprintf("#r-lines tbody tr:nth-child(%d) .back-total", n))
	}

	// Weighed goods go back in the row's decimals; without a unit price the
	// line's total is its share of the row's, rounded half up to öre.
	require.NoError(t, chromedp.Do(ctx, typeInto(beans, "0,25")))
	assert.Equal(t, "24,98", lineTotal(3))
	assert.Equal(t, "24,98 SEK", text(t, ctx, "#r-lines-sum"))
	require.NoError(t, chromedp.Do(ctx, typeInto(beans, "0"), typeInto(filters, "2,5"), chromedp.Click("#r-next")))
	waitJS(t, ctx, `document.getElementById("r-error").textContent !== ""`, "a part of a filter refused")
	assert.Equal(t, "Kaffefilter: antalet ska vara ett heltal från 0 till 5", text(t, ctx, "#r-error"))
	assert.Equal(t, "?", lineTotal(2))
	require.NoError(t, chromedp.Do(ctx, typeInto(filters, "6"), chromedp.Click("#r-next")))
	assert.Equal(t, "Kaffefilter: antalet ska vara ett heltal från 0 till 5", text(t, ctx, "#r-error"), "not more than was sold")
	assert.True(t, hidden(t, ctx, "r-confirm"))

	require.NoError(t, chromedp.Do(ctx, typeInto(filters, "2"), chromedp.SendKeys("#r-reason", "Fel storlek"),
		chromedp.Click("#r-next"), chromedp.WaitVisible("#r-confirm")))
	assert.Equal(t, "50,00", lineTotal(2))
	assert.Equal(t, "50,00 SEK", text(t, ctx, "#r-lines-sum"))
	assert.Empty(t, text(t, ctx, "#r-error"))
	assert.Equal(t, "Återbetala 2 × Kaffefilter (50,00): totalt 50,00 SEK av betalning "+id+"?", text(t, ctx, "#r-confirm-text"))
	assert.Zero(t, countCalls(calls, "creditPayment"), "nothing is sent before the confirmation")
	pending := must(chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.parse(sessionStorage.getItem("posd.refund.`+id+`")).key`)))
	assert.NotEmpty(t, pending, "the pending refund's Idempotency-Key is kept in the tab before it is sent")
	axeCheck(t, ctx, "refund by lines, confirmation")
	screenshot(t, ctx, "history-refund-lines-confirm")

	require.NoError(t, chromedp.Do(ctx, chromedp.DoubleClick("#r-yes")))
	waitJS(t, ctx, `!document.getElementById("r-result").hidden`, "the refund's result")
	assert.True(t, strings.HasPrefix(text(t, ctx, "#r-result-text"), "Återbetalt 50,00 SEK: 2 × Kaffefilter (50,00). Referens "+paymentID),
		"the lines as the answer names them: %s", text(t, ctx, "#r-result-text"))
	waitJS(t, ctx, `document.getElementById("d-fields").textContent.includes("Återbetalt50,00 SEK")`, "the detail shows the refund")
	assert.True(t, hidden(t, ctx, "refund-form"), "the form goes with the answer")
	assert.Equal(t, 1, countCalls(calls, "creditPayment"), "a double click refunds once")
	assert.Empty(t, must(chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("posd.refund.`+id+`") || ""`))),
		"the key is dropped once the refund is answered")

	// What posd recorded and what Resurs was asked to credit: that line.
	p, err := s.reg.Payment(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "50.00", p.Refunded.String())
	var refunds []store.Refund
	all, err := s.db.Refunds(context.Background(), id)
	require.NoError(t, err)
	for _, rf := range all {
		if rf.Kind == store.KindRefund || rf.Kind == "" {
			refunds = append(refunds, rf)
		}
	}
	require.Len(t, refunds, 1, "one refund recorded")
	assert.Equal(t, pending, refunds[0].IdempotencyKey, "sent with the key kept before the confirmation")
	assert.Equal(t, "Fel storlek", refunds[0].Reason)
	var rows []register.Row
	require.NoError(t, json.Unmarshal([]byte(refunds[0].Rows), &rows), refunds[0].Rows)
	require.Len(t, rows, 1, refunds[0].Rows)
	assert.Equal(t, []string{"Kaffefilter", "2", "25.00", "50.00", "25", "KF-5"},
		[]string{rows[0].Description, rows[0].Quantity, rows[0].UnitPrice.String(), rows[0].TotalAmount.String(), rows[0].TaxRate, rows[0].SKU})

	credits := s.creditDiffs(t, paymentID)
	require.Len(t, credits, 1, "Resurs credited once")
	lines := credits[0].Spec.Lines
	require.Len(t, lines, 1, "Resurs credited one line: %+v", credits[0].Spec)
	assert.Equal(t, "Kaffefilter", lines[0].Description)
	assert.Equal(t, "KF-5", lines[0].ArtNo)
	assert.Zero(t, lines[0].Quantity.Cmp("2"), "quantity %s", lines[0].Quantity)
	assert.Zero(t, lines[0].VatPct.Cmp("25"), "VAT %s", lines[0].VatPct)
	assert.Zero(t, lines[0].TotalAmount.Cmp("50"), "total %s", lines[0].TotalAmount)
	assert.Zero(t, credits[0].Spec.TotalAmount.Cmp("50"), "spec total %s", credits[0].Spec.TotalAmount)
	axeCheck(t, ctx, "refund by lines, made")
	screenshot(t, ctx, "history-refund-lines-done")
}

// TestPageRefundWhatIsLeft: the same sale after a refund of 600.00 through
// the API, in the English page. Only what is left (99.93) is offered: the
// coffee maker cannot go back at all, at most three filters can, and the
// beans can; lines or an amount above what is left are refused before
// anything is sent. "The whole amount" refunds the 99.93 left, as an
// amount without rows, and the refund is no longer offered.
func TestPageRefundWhatIsLeft(t *testing.T) {
	s, calls := startResursStackWith(t, quickResurs(resurssim.Options{}))
	id, paymentID := s.resursPaidRows(t)
	first := s.send(t, "POST", "/v1/payments/"+id+"/refunds", map[string]any{"amount": "600.00", "cashierId": "bob"},
		map[string]string{"Idempotency-Key": s.key()})
	require.Equal(t, http.StatusCreated, first.status, first.raw)

	ctx := browser(t, "en-GB")
	login(t, ctx, s.base)
	openHistoryDetail(t, ctx)
	waitJS(t, ctx, `!document.getElementById("d-refund").hidden`, "the refund offered")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#d-refund"), chromedp.WaitVisible("#refund-form"),
		chromedp.Click("#r-mode-lines"), chromedp.WaitVisible("#r-lines-box")))
	assert.Equal(t, "Left to refund: 99.93 SEK.", text(t, ctx, "#r-left"))
	assert.Equal(t, "The whole amount (99.93 SEK)", must(chromedp.Run(ctx, chromedp.Evaluate[string](
		`document.getElementById("r-mode-whole").closest("label").textContent.trim().replace(/\s+/g, " ")`))))
	offered := must(chromedp.Run(ctx, chromedp.Evaluate[[][]string](`[...document.querySelectorAll("#r-lines tbody tr")].map(tr =>
		[tr.cells[0].textContent, String(tr.querySelector("input").disabled), tr.cells[3].textContent.trim()])`)))
	assert.Equal(t, [][]string{
		{"Kaffebryggare", "true", "at most 0"},
		{"Kaffefilter", "false", "at most 3"},
		{"Kaffebönor", "false", ""},
	}, offered, "what fits in the 99.93 left")

	const filters, beans = `#r-lines tbody tr:nth-child(2) input`, `#r-lines tbody tr:nth-child(3) input`
	require.NoError(t, chromedp.Do(ctx, typeInto(filters, "3"), typeInto(beans, "0.75"), chromedp.Click("#r-next")))
	assert.Equal(t, "149.93 SEK", text(t, ctx, "#r-lines-sum"))
	waitJS(t, ctx, `document.getElementById("r-error").textContent !== ""`, "more than is left refused")
	assert.Equal(t, "at most 99.93 SEK is left to refund", text(t, ctx, "#r-error"))

	// A change of language rewrites the lines and keeps what was typed.
	setLang := func(l string) {
		must(chromedp.Run(ctx, chromedp.Evaluate[bool](`(s => { s.value = `+jsString(l)+`; s.dispatchEvent(new Event("change")); return true; })(document.getElementById("lang"))`)))
	}
	setLang("sv")
	assert.Equal(t, "149,93 SEK", text(t, ctx, "#r-lines-sum"))
	assert.Equal(t, "högst 3", text(t, ctx, "#r-lines tbody tr:nth-child(2) .hint"))
	assert.Equal(t, []string{"0", "3", "0.75"}, must(chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#r-lines input")].map(i => i.value)`))))
	setLang("en")
	assert.Equal(t, "149.93 SEK", text(t, ctx, "#r-lines-sum"))

	require.NoError(t, chromedp.Do(ctx, typeInto(filters, "4"), chromedp.Click("#r-next")))
	assert.Equal(t, "Kaffefilter: the quantity must be a whole number from 0 to 3", text(t, ctx, "#r-error"))

	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#r-mode-amount"), chromedp.WaitVisible("#r-amount-box")))
	assert.True(t, hidden(t, ctx, "r-lines-box"))
	assert.Equal(t, "99.93", must(chromedp.Run(ctx, chromedp.Value("#r-amount"))))
	require.NoError(t, chromedp.Do(ctx, typeInto("#r-amount", "100.00"), chromedp.Click("#r-next")))
	assert.Equal(t, "at most 99.93 SEK is left to refund", text(t, ctx, "#r-error"))
	assert.True(t, hidden(t, ctx, "r-confirm"))
	assert.Equal(t, 1, countCalls(calls, "creditPayment"), "only the API's refund was sent")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#r-mode-whole"), chromedp.Click("#r-next"), chromedp.WaitVisible("#r-confirm")))
	assert.True(t, hidden(t, ctx, "r-amount-box") && hidden(t, ctx, "r-lines-box"))
	assert.Equal(t, "Refund all that is left, 99.93 SEK, of payment "+id+"?", text(t, ctx, "#r-confirm-text"))
	axeCheck(t, ctx, "refund of all that is left, confirmation")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#r-yes")))
	waitJS(t, ctx, `!document.getElementById("r-result").hidden`, "the refund's result")
	assert.Contains(t, text(t, ctx, "#r-result-text"), "Refunded 99.93 SEK, reference "+paymentID)
	waitJS(t, ctx, `document.getElementById("d-fields").textContent.includes("Refunded699.93 SEK")`, "the detail shows all refunded")
	assert.True(t, hidden(t, ctx, "d-refund"), "nothing is left to refund")
	assert.Equal(t, 2, countCalls(calls, "creditPayment"))

	all, err := s.db.Refunds(context.Background(), id)
	require.NoError(t, err)
	require.Len(t, all, 2)
	last := all[len(all)-1]
	assert.Equal(t, "99.93", last.Amount.String())
	assert.Empty(t, last.Rows, "the whole amount is refunded as an amount, not lines")
	credits := s.creditDiffs(t, paymentID)
	require.Len(t, credits, 2)
	var total money.Amount
	for _, c := range credits {
		a, err := c.Spec.TotalAmount.Amount()
		require.NoError(t, err)
		total += a
	}
	assert.Equal(t, "699.93", total.String(), "Resurs credited all that was paid")
}
