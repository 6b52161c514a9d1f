package seqr

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
)

// refundPayment answered 0 without an ersReference: the refund may have
// been made, but there is no reference to record or post. That is an error
// with an unknown outcome: not "not sent" (it arrived) and not a result code.
func TestRefundPaymentSuccessWithoutReference(t *testing.T) {
	for name, ret := range map[string]string{
		"missing": success,
		"empty":   `<ersReference></ersReference>` + success,
		"blank":   `<ersReference>  </ersReference>` + success,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeServer(t, func(op string) (int, string) { return http.StatusOK, envelope(op, ret) })
			c := newTestClient(t, testConfig(f.URL))
			ref, err := c.RefundPayment(context.Background(), testTerminal, "2015102910184861801032678",
				Invoice{Title: "Refund", Total: money.MustParse("5.00"), Currency: "SEK"})
			require.Error(t, err)
			assert.Empty(t, ref)
			assert.NotErrorIs(t, err, ErrNotSent, "the request arrived")
			_, isCode := Code(err)
			assert.False(t, isCode, "SEQR answered 0; no result code to branch on")
			assert.Contains(t, err.Error(), "ersReference")
		})
	}
}
