package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/resurs"
	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/simctl"
)

// Annulments and additional debits of Resurs payments through the API, the
// real register and SQLite, the Resurs adapter and its emulator.

const approvedGovID = "198305147715"

// quickResurs follows "Betala sen" and the outbox at test speed.
func quickResurs(sim resurssim.Options) resursStackOptions {
	return resursStackOptions{sim: sim,
		adapt: func(c *resurs.AdapterConfig) {
			c.LaterCheckInterval, c.CheckInterval = 20*time.Millisecond, 20*time.Millisecond
		},
		config: register.Config{OutboxInterval: 10 * time.Millisecond, OutboxRetryMin: 10 * time.Millisecond,
			OutboxRetryMax: 20 * time.Millisecond, ReportRetry: time.Millisecond}}
}

// resursPaid starts a 625.00 payment of method, has the emulator's customer
// pay it (a POS payment: booked and finalized; "Betala sen": booked, left
// to posd to finalize) and returns posd's id and Resurs's payment id once
// the register has recorded it paid.
func (s *realStack) resursPaid(t *testing.T, method string) (id, paymentID string) {
	t.Helper()
	body := paymentBody("625.00")
	body["method"] = method
	body["rows"] = []any{map[string]any{"description": "Kaffebryggare", "quantity": "1", "totalAmount": "625.00", "taxRate": "25"}}
	body["customer"] = map[string]any{"governmentId": approvedGovID, "mobile": "+46701234567", "email": "kund@example.se"}
	a := s.pay(t, body)
	require.Equal(t, http.StatusAccepted, a.status, a.raw)
	id = a.body["id"].(string)
	view, _ := a.body["customerView"].(map[string]any)
	u, err := url.Parse(view["url"].(string))
	require.NoError(t, err)
	paid := s.payAndWait(t, id, func() {
		_, err := s.resurs.CompleteSession(u.RawQuery, resurssim.Complete{GovernmentID: approvedGovID, Method: "invoice",
			Later: method == register.MethodResursLater})
		require.NoError(t, err)
	})
	return id, paid.TransactionRef
}

// outboxDone reports whether every outbox task of payment id has ended.
func (s *realStack) outboxDone(t *testing.T, id string) bool {
	items, err := s.db.OutboxItems(context.Background(), id)
	require.NoError(t, err)
	for _, it := range items {
		if it.DoneAt.IsZero() {
			return false
		}
	}
	return len(items) > 0
}

func (s *realStack) journalTexts(t *testing.T, id string) []string {
	a := s.send(t, "GET", "/v1/journal", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	var out []string
	posts, _ := a.body["posts"].([]any)
	for _, p := range posts {
		m := p.(map[string]any)
		if m["paymentId"] == id {
			out = append(out, m["kind"].(string)+" "+m["amount"].(string)+" "+m["text"].(string))
		}
	}
	return out
}

// "Betala sen" paid while Resurs refuses finalizePayment: the finalize
// waits in the outbox, the cashier annuls the sale, and the finalize queued
// behind the annulment ends with nothing to capture. One annulment at
// Resurs, none twice, its own post; no refund is left to give.
func TestResursAnnulWhileFinalizeIsQueued(t *testing.T) {
	faults := simctl.NewFaults(nil)
	require.NoError(t, faults.Set([]simctl.Rule{{Service: resurssim.Service, Operation: "finalizePayment", Mode: simctl.ModeHTTP500}}))
	s, calls := startResursStackWith(t, quickResurs(resurssim.Options{Faults: faults}))
	id, paymentID := s.resursPaid(t, register.MethodResursLater)
	require.Eventually(t, func() bool { return countCalls(calls, "finalizePayment") > 0 }, 10*time.Second, 5*time.Millisecond,
		"the finalize was tried (and refused)")
	require.False(t, s.outboxDone(t, id), "the finalize waits in the outbox")

	key := s.key()
	body := map[string]any{"cashierId": "bob", "reason": "Kunden ångrade sig"}
	a := s.send(t, "POST", "/v1/payments/"+id+"/annul", body, map[string]string{"Idempotency-Key": key})
	require.Equal(t, http.StatusCreated, a.status, a.raw)
	assert.Equal(t, "annul", a.body["kind"])
	assert.Equal(t, "625.00", a.body["amount"])
	assert.True(t, strings.HasPrefix(a.body["providerRef"].(string), paymentID+"/posd-"), a.raw)
	again := s.send(t, "POST", "/v1/payments/"+id+"/annul", body, map[string]string{"Idempotency-Key": key})
	require.Equal(t, http.StatusOK, again.status, again.raw)
	assert.Equal(t, a.body["id"], again.body["id"])
	assert.Equal(t, 1, countCalls(calls, "annulPayment"), "annulled once")

	st, err := s.resurs.Payment(paymentID)
	require.NoError(t, err)
	assert.False(t, st.Finalized)
	assert.Contains(t, st.Status, "IS_ANNULLED")
	p := s.send(t, "GET", "/v1/payments/"+id, nil, nil)
	assert.Equal(t, "625.00", p.body["annulled"], p.raw)
	adj, _ := p.body["adjustments"].([]any)
	require.Len(t, adj, 1, p.raw)
	assert.Equal(t, "annul", adj[0].(map[string]any)["kind"])
	assert.Equal(t, "done", adj[0].(map[string]any)["state"])

	rf := s.send(t, "POST", "/v1/payments/"+id+"/refunds", map[string]any{"amount": "1.00"}, map[string]string{"Idempotency-Key": s.key()})
	require.Equal(t, http.StatusUnprocessableEntity, rf.status, rf.raw)
	assert.Equal(t, ProblemBase+"refund-exceeds", rf.problem.Type)
	more := s.send(t, "POST", "/v1/payments/"+id+"/annul", map[string]any{}, map[string]string{"Idempotency-Key": s.key()})
	require.Equal(t, http.StatusUnprocessableEntity, more.status, more.raw)

	tried := countCalls(calls, "finalizePayment")
	faults.Clear()
	require.Eventually(t, func() bool { return s.outboxDone(t, id) }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, tried, countCalls(calls, "finalizePayment"), "nothing was left to finalize: no call")
	detail, err := s.reg.PaymentDetail(context.Background(), id)
	require.NoError(t, err)
	for _, e := range detail.Audit {
		assert.NotEqual(t, "task_finalizePayment", e.Action, "the finalize ended quietly, not raised for manual handling: %+v", e)
	}
	assert.Equal(t, []string{"payment 625.00 Resurs Bank Faktura", "refund 625.00 Resurs Bank annulment"}, s.journalTexts(t, id))
	s.requirePeriodMatches(t, 2, "0.00")
}

// requirePeriodMatches closes the Resurs period: findPayments and posd's
// records agree, line by line and in total.
func (s *realStack) requirePeriodMatches(t *testing.T, count int, total string) {
	t.Helper()
	a := s.send(t, "POST", "/v1/periods/close?provider=resurs", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Equal(t, true, a.body["match"], a.raw)
	assert.Equal(t, float64(count), a.body["remoteCount"], a.raw)
	assert.Equal(t, float64(count), a.body["localCount"], a.raw)
	assert.Equal(t, total, a.body["localTotal"], a.raw)
	assert.Equal(t, total, a.body["remoteTotal"], a.raw)
}

// A POS payment (finalized by Resurs) takes an additional debit within its
// shadow limit, captured through the outbox; more than the limit leaves is
// refused by posd before Resurs is asked; the refund limit grows by the
// debit; an annulment of a finalized payment is refused (refund instead).
func TestResursAdditionalDebitThenRefund(t *testing.T) {
	s, calls := startResursStackWith(t, quickResurs(resurssim.Options{ShadowLimitPct: 20})) // limit 750.00
	id, paymentID := s.resursPaid(t, register.MethodResurs)

	rows := func(amount string) map[string]any {
		return map[string]any{"rows": []any{map[string]any{"description": "Filter", "quantity": "1", "totalAmount": amount, "taxRate": "25"}},
			"cashierId": "bob"}
	}
	d := s.send(t, "POST", "/v1/payments/"+id+"/debits", rows("100.00"), map[string]string{"Idempotency-Key": s.key()})
	require.Equal(t, http.StatusCreated, d.status, d.raw)
	assert.Equal(t, "debit", d.body["kind"])
	assert.Equal(t, "100.00", d.body["amount"])
	require.Eventually(t, func() bool { return s.outboxDone(t, id) }, 10*time.Second, 5*time.Millisecond)
	st, err := s.resurs.Payment(paymentID)
	require.NoError(t, err)
	assert.NotContains(t, st.Status, "DEBITABLE", "the debit was finalized through the outbox")

	over := s.send(t, "POST", "/v1/payments/"+id+"/debits", rows("25.01"), map[string]string{"Idempotency-Key": s.key()})
	require.Equal(t, http.StatusBadGateway, over.status, over.raw)
	assert.Contains(t, over.problem.Detail, "at most 25.00")
	assert.Equal(t, 1, countCalls(calls, "additionalDebitOfPayment"), "posd refused it itself")

	an := s.send(t, "POST", "/v1/payments/"+id+"/annul", map[string]any{}, map[string]string{"Idempotency-Key": s.key()})
	require.Equal(t, http.StatusBadGateway, an.status, an.raw)
	assert.Contains(t, an.problem.Detail, "refund it instead")

	rf := s.send(t, "POST", "/v1/payments/"+id+"/refunds", map[string]any{"amount": "725.00"}, map[string]string{"Idempotency-Key": s.key()})
	require.Equal(t, http.StatusCreated, rf.status, rf.raw)
	p := s.send(t, "GET", "/v1/payments/"+id, nil, nil)
	assert.Equal(t, "100.00", p.body["debited"], p.raw)
	assert.Equal(t, "725.00", p.body["refunded"], p.raw)
	assert.Equal(t, []string{"payment 625.00 Resurs Bank Faktura", "payment 100.00 Resurs Bank additional debit",
		"refund 725.00 Resurs Bank refund"}, s.journalTexts(t, id))
	s.requirePeriodMatches(t, 3, "0.00")
}
