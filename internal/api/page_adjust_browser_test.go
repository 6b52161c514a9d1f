//go:build browser

package api

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/simctl"
	"github.com/posd/posd/internal/store"
)

// The cashier page's annul and additional debit (issue 13) in headless
// Chromium against the real register, SQLite and the Resurs adapter with
// its emulator over loopback:
//
//	CGO_ENABLED=1 go test -tags browser -run 'TestPage(ResursDebitThenAnnul|SeqrNoAnnulNoDebit)' ./internal/api/

// openHistoryDetail opens the history and the detail of its only payment.
func openHistoryDetail(t *testing.T, ctx context.Context) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#tab-history")))
	waitJS(t, ctx, `document.querySelectorAll("#history-table tbody button").length === 1`, "the payment listed")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#history-table tbody button"), chromedp.WaitVisible("#d-fields")))
}

func hidden(t *testing.T, ctx context.Context, id string) bool {
	t.Helper()
	return must(chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById(`+jsString(id)+`).hidden`)))
}

// TestPageResursDebitThenAnnul: a Resurs Checkout POS sale of 625.00, paid
// and finalized by Resurs, with a shadow limit of 20 % (750.00). In the
// Swedish page's history detail the cashier adds a 100.00 row at 25 % VAT
// as an additional debit: a confirmation first (nothing sent before it),
// then a double click that debits once; the detail shows the debit. Then
// the cashier tries to annul the finalized payment: the page offers the
// 725.00 that is left, and shows Resurs's rule (refund it instead) as
// posd's problem detail says it; nothing is annulled.
func TestPageResursDebitThenAnnul(t *testing.T) {
	s, calls := startResursStackWith(t, quickResurs(resurssim.Options{ShadowLimitPct: 20}))
	id, paymentID := s.resursPaid(t, register.MethodResurs)
	p, err := s.reg.Payment(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, []string{"refund", "annul", "debit"}, p.Actions, "the API offers the three actions for Resurs")

	ctx := browser(t, "sv-SE")
	login(t, ctx, s.base)
	openHistoryDetail(t, ctx)
	waitJS(t, ctx, `!document.getElementById("d-debit").hidden`, "the additional debit offered")
	assert.False(t, hidden(t, ctx, "d-refund"), "a refund is offered too")
	assert.False(t, hidden(t, ctx, "d-annul"), "an annulment is offered (Resurs's rules decide whether it may be made)")
	assert.Equal(t, "Tilläggsdebitera", text(t, ctx, "#d-debit"))
	assert.Equal(t, "Annullera", text(t, ctx, "#d-annul"))

	// The debit: one row, a VAT rate from the select, then the confirmation.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#d-debit"), chromedp.WaitVisible("#debit-form")))
	assert.True(t, hidden(t, ctx, "refund-form") && hidden(t, ctx, "annul-form"), "one form at a time")
	vats := must(chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#db-vat option")].map(o => o.value)`)))
	assert.Equal(t, []string{"25", "12", "6", "0"}, vats)
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys("#db-amount", "100,00"), chromedp.Click("#db-next")))
	waitJS(t, ctx, `document.getElementById("db-error").textContent === "beskrivningen är tom"`, "a debit without a description is not sent")
	assert.True(t, hidden(t, ctx, "db-confirm"))
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys("#db-desc", "Filter"), chromedp.SetValue("#db-vat", "25"),
		chromedp.SendKeys("#db-reason", "Kunden tog ett filter till"), chromedp.Click("#db-next"), chromedp.WaitVisible("#db-confirm")))
	assert.Equal(t, "Debitera 100,00 SEK (Filter, moms 25 %) på betalning "+id+"?", text(t, ctx, "#db-confirm-text"))
	assert.Zero(t, countCalls(calls, "additionalDebitOfPayment"), "nothing is sent before the confirmation")
	pending := must(chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.parse(sessionStorage.getItem("posd.debit.`+id+`")).key`)))
	assert.NotEmpty(t, pending, "the pending debit's Idempotency-Key is kept in the tab before it is sent")
	axeCheck(t, ctx, "additional debit confirmation")
	screenshot(t, ctx, "history-debit-confirm")

	require.NoError(t, chromedp.Do(ctx, chromedp.DoubleClick("#db-yes")))
	waitJS(t, ctx, `!document.getElementById("r-result").hidden`, "the debit's result")
	assert.Contains(t, text(t, ctx, "#r-result-text"), "Tilläggsdebiterat 100,00 SEK, referens "+paymentID)
	waitJS(t, ctx, `document.getElementById("d-fields").textContent.includes("Tilläggsdebiterat100,00 SEK")`, "the detail shows the debit")
	assert.True(t, hidden(t, ctx, "debit-form"), "the form goes with the answer")
	assert.Equal(t, 1, countCalls(calls, "additionalDebitOfPayment"), "a double click debits once")
	assert.Empty(t, must(chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("posd.debit.`+id+`") || ""`))),
		"the key is dropped once the debit is answered: the next debit is a new one")
	p, err = s.reg.Payment(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "100.00", p.Debited.String())
	var debits []store.Refund
	refunds, err := s.db.Refunds(context.Background(), id)
	require.NoError(t, err)
	for _, rf := range refunds {
		if rf.Kind == store.KindDebit {
			debits = append(debits, rf)
		}
	}
	require.Len(t, debits, 1, "one debit recorded")
	assert.Equal(t, pending, debits[0].IdempotencyKey, "sent with the key kept before the confirmation")
	assert.Equal(t, "Kunden tog ett filter till", debits[0].Reason)
	var rows []register.Row
	require.NoError(t, json.Unmarshal([]byte(debits[0].Rows), &rows), debits[0].Rows)
	require.Len(t, rows, 1, debits[0].Rows)
	assert.Equal(t, []string{"Filter", "1", "100.00", "25"}, []string{rows[0].Description, rows[0].Quantity, rows[0].TotalAmount.String(), rows[0].TaxRate})
	axeCheck(t, ctx, "after the additional debit")
	screenshot(t, ctx, "history-debited")

	// The annulment of the finalized payment: all that is left is offered,
	// Resurs's rule is shown, and nothing is annulled.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#d-annul"), chromedp.WaitVisible("#annul-form")))
	assert.True(t, hidden(t, ctx, "debit-form") && hidden(t, ctx, "r-result"), "the debit's form and result go")
	assert.Equal(t, "725,00", must(chromedp.Run(ctx, chromedp.Value("#a-amount"))), "625.00 paid + 100.00 debited is left")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#a-next"), chromedp.WaitVisible("#a-confirm")))
	assert.Contains(t, text(t, ctx, "#a-confirm-text"), "Annullera 725,00 SEK av betalning "+id)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#a-yes")))
	waitJS(t, ctx, `document.getElementById("a-error").textContent !== ""`, "the refusal shown")
	refusal := text(t, ctx, "#a-error")
	assert.Contains(t, refusal, "refund it instead", "Resurs's rule as posd's problem detail gives it")
	assert.Equal(t, "alert", must(chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("a-error").getAttribute("role")`))),
		"the refusal is announced")
	assert.False(t, must(chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("a-yes").disabled`))),
		"the cashier may go back or try again with the same key")
	waitJS(t, ctx, `[...document.querySelectorAll("#d-audit li")].some(li => li.textContent.includes("annul · ") && li.textContent.includes("refund it instead"))`,
		"the refreshed detail's audit trail says the annulment was refused")
	p, err = s.reg.Payment(context.Background(), id)
	require.NoError(t, err)
	assert.Zero(t, p.Annulled, "nothing was annulled")
	assert.Zero(t, countCalls(calls, "annulPayment"), "posd refused it itself, before Resurs was asked")
	axeCheck(t, ctx, "annulment refused")
	screenshot(t, ctx, "history-annul-refused")
}

// TestPageSeqrNoAnnulNoDebit: a paid SEQR payment offers a refund only:
// neither annul nor additional debit is shown, as the API lists.
func TestPageSeqrNoAnnulNoDebit(t *testing.T) {
	env := startPageEnv(t, true)
	paid := env.paidSale(t, "k1", "30.00", "S-30")
	require.Equal(t, []string{"refund"}, paid.Actions, "the API offers SEQR refunds only")
	ctx := browser(t, "en-US")
	login(t, ctx, env.base)
	openHistoryDetail(t, ctx)
	waitJS(t, ctx, `!document.getElementById("d-refund").hidden`, "the refund offered")
	assert.True(t, hidden(t, ctx, "d-annul"), "no annulment for SEQR")
	assert.True(t, hidden(t, ctx, "d-debit"), "no additional debit for SEQR")
	assert.True(t, hidden(t, ctx, "annul-form") && hidden(t, ctx, "debit-form"))
}

// TestPageResursLaterAnnulAfterReload: a "Betala sen" payment, paid by the
// customer while Resurs refuses posd's finalizePayment, so it is still
// annullable. The page sent an annulment of 200.00 and was reloaded before
// the answer came; the cashier does it again and the page reuses the
// annulment's Idempotency-Key: Resurs annuls once, and the page shows the
// annulment and what is left.
func TestPageResursLaterAnnulAfterReload(t *testing.T) {
	faults := simctl.NewFaults(nil)
	require.NoError(t, faults.Set([]simctl.Rule{{Service: resurssim.Service, Operation: "finalizePayment", Mode: simctl.ModeHTTP500}}))
	s, calls := startResursStackWith(t, quickResurs(resurssim.Options{Faults: faults}))
	id, paymentID := s.resursPaid(t, register.MethodResursLater)

	ctx := browser(t, "en-US")
	login(t, ctx, s.base)
	openAnnul := func() {
		openHistoryDetail(t, ctx)
		waitJS(t, ctx, `!document.getElementById("d-annul").hidden`, "the annulment offered")
		require.NoError(t, chromedp.Do(ctx, chromedp.Click("#d-annul"), chromedp.WaitVisible("#annul-form")))
	}
	openAnnul()
	assert.Equal(t, "Annul", text(t, ctx, "#d-annul"))
	assert.Equal(t, "Additional debit", text(t, ctx, "#d-debit"))
	assert.Equal(t, "625.00", must(chromedp.Run(ctx, chromedp.Value("#a-amount"))), "all that is left is offered")
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue("#a-amount", "200.00"), chromedp.Click("#a-next"), chromedp.WaitVisible("#a-confirm")))
	assert.Equal(t, "Annul 200.00 SEK of payment "+id+"? The customer is never charged this amount.", text(t, ctx, "#a-confirm-text"))
	key := must(chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.parse(sessionStorage.getItem("posd.annul.`+id+`")).key`)))
	require.NotEmpty(t, key)
	assert.Zero(t, countCalls(calls, "annulPayment"), "nothing is sent before the confirmation")

	// The request the page sent before the reload, with its key and body.
	amount, err := money.Parse("200.00")
	require.NoError(t, err)
	_, created, err := s.reg.Annul(context.Background(), id, key, register.AnnulRequest{Amount: amount, CashierID: "1"})
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, 1, countCalls(calls, "annulPayment"))

	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible("#app")))
	openAnnul()
	assert.Equal(t, "425.00", must(chromedp.Run(ctx, chromedp.Value("#a-amount"))), "what is left after the annulment")
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue("#a-amount", "200.00"), chromedp.Click("#a-next"), chromedp.WaitVisible("#a-confirm"),
		chromedp.Click("#a-yes")))
	waitJS(t, ctx, `!document.getElementById("r-result").hidden`, "the annulment's result")
	assert.Contains(t, text(t, ctx, "#r-result-text"), "Annulled 200.00 SEK, reference "+paymentID)
	waitJS(t, ctx, `document.getElementById("d-fields").textContent.includes("Annulled200.00 SEK")`, "the detail shows the annulment")
	assert.Equal(t, 1, countCalls(calls, "annulPayment"), "the same key: Resurs annuls once")
	assert.Empty(t, must(chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("posd.annul.`+id+`") || ""`))),
		"the key is dropped once the annulment is answered")
	p, err := s.reg.Payment(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "200.00", p.Annulled.String())
	axeCheck(t, ctx, "annulment made")
	screenshot(t, ctx, "history-annulled")
}
