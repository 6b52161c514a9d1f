package e2e

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apiclient"
	"github.com/posd/posd/test/harness"
)

// TestResursAnnulKilledInFlight (issue 13, reliability K*): a "Betala sen"
// payment is paid, its finalize waits in the outbox (Resurs does not
// answer), the cashier annuls it, Resurs annuls and posd is killed before
// the answer arrives. After the restart the annulment is unknown and never
// sent again; posd reads the payment back, finds the annulment by posd's
// id of it and records it done with its own post. The queued finalize ends
// with nothing to capture (one ANNUL, no DEBIT at Resurs), the same key
// answers the annulment, and the day close matches.
func TestResursAnnulKilledInFlight(t *testing.T) {
	t.Parallel()
	r := newProvRig(t, binaries(t))
	p := r.create("resurs_later", "99.50")
	require.Equal(t, "polling", p.State, "error %q", p.Error)
	session := r.resursSession(p.ProviderRef)
	r.faults(harness.FaultRule{Service: harness.Resurs, Operation: "finalizePayment", Mode: "drop"},
		// Runs the annulment, then holds the answer past the kill.
		harness.FaultRule{Service: harness.Resurs, Operation: "annulPayment", Mode: "drop", Process: true, LatencyMs: 60_000, Count: 1})
	paymentID := r.resursComplete(session, true)
	r.waitState(p.ID, "paid", 2*laterInterval+5*time.Second)
	require.NoError(t, harness.WaitFor(r.ctx, 15*time.Second, func() (bool, error) {
		return len(r.calls(harness.Resurs, "finalizePayment")) > 0, nil
	}), "posd tried to finalize")

	const key = "annul-killed-1"
	var annulled struct {
		ID          string `json:"id"`
		Kind        string `json:"kind"`
		Amount      string `json:"amount"`
		ProviderRef string `json:"providerRef"`
	}
	annul := func() error {
		ctx, cancel := context.WithTimeout(r.ctx, 20*time.Second)
		defer cancel()
		return r.api.Do(ctx, "POST", "/v1/payments/"+p.ID+"/annul", map[string]any{"cashierId": "anna", "reason": "ångrat"},
			map[string]string{"Idempotency-Key": key}, &annulled)
	}
	sent := make(chan error, 1)
	go func() { sent <- annul() }()
	require.NoError(t, harness.WaitFor(r.ctx, 15*time.Second, func() (bool, error) {
		return hasStatus(r.resursPayment(paymentID).Status, "IS_ANNULLED"), nil
	}), "Resurs annulled")
	r.kill()
	require.Error(t, <-sent, "the connection died with posd")

	r.faults()
	r.start()
	require.NoError(t, harness.WaitFor(r.ctx, 30*time.Second, func() (bool, error) {
		var d struct {
			Annulled    string `json:"annulled"`
			Adjustments []struct {
				State string `json:"state"`
			} `json:"adjustments"`
		}
		err := r.api.Do(r.ctx, "GET", "/v1/payments/"+p.ID, nil, nil, &d)
		return err == nil && d.Annulled == "99.50" && len(d.Adjustments) == 1 && d.Adjustments[0].State == "done", err
	}), "posd found the annulment made at Resurs and recorded it")
	require.NoError(t, annul(), "the same key answers the annulment")
	assert.Equal(t, "annul", annulled.Kind)
	assert.Equal(t, paymentID+"/posd-"+annulled.ID, annulled.ProviderRef)
	err := r.api.Do(r.ctx, "POST", "/v1/payments/"+p.ID+"/refunds", map[string]any{"amount": "1.00"},
		map[string]string{"Idempotency-Key": "refund-after-1"}, nil)
	pr, ok := apiclient.ProblemOf(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "refund-exceeds", pr.Slug(), "nothing is left: %s", pr.Detail)

	// The queued finalize reads the payment back, annulled by posd, and ends.
	require.NoError(t, harness.WaitFor(r.ctx, 30*time.Second, func() (bool, error) {
		items, err := r.outbox(p.ID)
		return err == nil && items == 0, err
	}), "the queued finalize ended")
	assert.Len(t, r.calls(harness.Resurs, "annulPayment"), 1, "never annulled twice")
	diffs := r.resursDiffs(p.ProviderRef)
	assert.Equal(t, 1, diffs["ANNUL"])
	assert.Zero(t, diffs["DEBIT"], "nothing captured")

	var rep struct {
		Match bool `json:"match"`
	}
	require.NoError(t, r.api.Do(r.ctx, "POST", "/v1/periods/close?provider=resurs", nil, nil, &rep))
	assert.True(t, rep.Match, "the day close matches")
	posts, err := r.api.Journal(r.ctx, 0)
	require.NoError(t, err)
	var texts []string
	for _, post := range posts {
		texts = append(texts, post.Kind+" "+post.Amount+" "+post.Text)
	}
	assert.Equal(t, []string{"payment 99.50 Resurs Bank Faktura", "refund 99.50 Resurs Bank annulment"}, texts)
	k2VerifyJournal(t, r.bin, r.stateDir)
}

// outbox counts payment id's outbox tasks not done, read from posd's
// database beside the running posd (read-only; WAL lets a reader in).
func (r *provRig) outbox(id string) (int, error) {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(r.stateDir, "posd.db")+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRow("SELECT COUNT(*) FROM outbox WHERE payment_id = ? AND done_at IS NULL", id).Scan(&n)
	return n, err
}

func hasStatus(status []string, s string) bool {
	for _, v := range status {
		if v == s {
			return true
		}
	}
	return false
}
