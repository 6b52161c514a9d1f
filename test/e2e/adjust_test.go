package e2e

import (
	"context"
	"net/http"
	"strings"
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
// the answer arrives. After the restart the annulment is unknown: never
// sent again, and no other refund or annulment of the payment is taken;
// the queued finalize ends with nothing to capture (one ANNUL, no DEBIT at
// Resurs). The day close finds the annulment in Resurs's report by its
// reference and records it, with its own post.
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
	annul := func() error {
		ctx, cancel := context.WithTimeout(r.ctx, 20*time.Second)
		defer cancel()
		return r.api.Do(ctx, "POST", "/v1/payments/"+p.ID+"/annul", map[string]any{"cashierId": "anna", "reason": "ångrat"},
			map[string]string{"Idempotency-Key": key}, nil)
	}
	sent := make(chan error, 1)
	go func() { sent <- annul() }()
	require.NoError(t, harness.WaitFor(r.ctx, 15*time.Second, func() (bool, error) {
		return hasStatus(r.resursPayment(paymentID).Status, "IS_ANNULLED"), nil
	}), "Resurs annulled")
	r.kill()
	<-sent // the connection died with posd

	r.faults()
	r.start()
	err := annul()
	pr, ok := apiclient.ProblemOf(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, http.StatusConflict, pr.Status)
	assert.Equal(t, "outcome-unknown", pr.Slug(), pr.Detail)
	err = r.api.Do(r.ctx, "POST", "/v1/payments/"+p.ID+"/refunds", map[string]any{"amount": "1.00"},
		map[string]string{"Idempotency-Key": "refund-after-1"}, nil)
	pr, ok = apiclient.ProblemOf(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "invalid-state", pr.Slug(), pr.Detail)
	assert.Contains(t, pr.Detail, "annulment")

	// The queued finalize reads the payment back, annulled by posd, and ends.
	restarted := time.Now()
	require.NoError(t, harness.WaitFor(r.ctx, 30*time.Second, func() (bool, error) {
		for _, c := range r.resursChecks(paymentID, restarted) {
			if strings.Contains(c.Path, "AfterShop") && c.Answered(harness.SOAPOK) {
				return true, nil
			}
		}
		return false, nil
	}), "the queued finalize read the payment back")
	assert.Len(t, r.calls(harness.Resurs, "annulPayment"), 1, "never annulled twice")
	diffs := r.resursDiffs(p.ProviderRef)
	assert.Equal(t, 1, diffs["ANNUL"])
	assert.Zero(t, diffs["DEBIT"], "nothing captured")

	var rep struct {
		SettledRefunds []string `json:"settledRefunds"`
	}
	require.NoError(t, r.api.Do(r.ctx, "POST", "/v1/periods/close?provider=resurs", nil, nil, &rep))
	require.Len(t, rep.SettledRefunds, 1, "the day close found the annulment")
	posts, err := r.api.Journal(r.ctx, 0)
	require.NoError(t, err)
	var texts []string
	for _, post := range posts {
		texts = append(texts, post.Kind+" "+post.Amount+" "+post.Text)
	}
	assert.Equal(t, []string{"payment 99.50 Resurs Bank Faktura", "refund 99.50 Resurs Bank annulment"}, texts)
	k2VerifyJournal(t, r.bin, r.stateDir)
}

func hasStatus(status []string, s string) bool {
	for _, v := range status {
		if v == s {
			return true
		}
	}
	return false
}
