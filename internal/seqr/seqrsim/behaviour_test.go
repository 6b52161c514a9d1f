package seqrsim_test

import (
	"testing"
	"time"

	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReversalWithFakeClock(t *testing.T) {
	tests := []struct {
		name      string
		pollAfter time.Duration // first poll after payment; 0 = never
		wait      time.Duration
		want      string
		reversed  bool
	}{
		{name: "polled in time stays paid", pollAfter: 19 * time.Second, wait: time.Minute, want: "PAID"},
		{name: "polled at the edge stays paid", pollAfter: 20 * time.Second, wait: time.Minute, want: "PAID"},
		{name: "not polled is reversed", wait: 20*time.Second + time.Millisecond, want: "CANCELED", reversed: true},
		{name: "first poll too late sees CANCELED", pollAfter: 21 * time.Second, want: "CANCELED", reversed: true},
		{name: "inside the window nothing happens", wait: 20 * time.Second, want: "PAID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			id, pw := e.till("TILL1")
			ref := e.send(id, pw)
			_, err := e.sim.Pay(ref, seqrsim.OutcomePaid)
			require.NoError(t, err)
			if tc.pollAfter > 0 {
				e.clock.Advance(tc.pollAfter)
				body := e.status(id, pw, ref)
				if tc.reversed {
					assert.Equal(t, "CANCELED", field(t, body, "status"))
					assert.Equal(t, "3", field(t, body, "version"))
					assert.NotContains(t, body, "<ersReference>")
				}
			}
			e.clock.Advance(tc.wait)
			info, ok := e.sim.Invoice(ref)
			require.True(t, ok)
			assert.Equal(t, tc.want, info.Status)
			assert.Equal(t, tc.reversed, info.Reversed)
			want := 0
			if tc.reversed {
				want = 1
			}
			assert.Equal(t, want, e.sim.Reversals())
			assert.Equal(t, tc.want, field(t, e.status(id, pw, ref), "status"))
		})
	}
}

func TestSupersedingTV14(t *testing.T) {
	e := newEnv(t)
	id, pw := e.till("TILL1")
	a := e.send(id, pw)
	b := e.send(id, pw)
	body := e.status(id, pw, a)
	assert.Equal(t, "CANCELED", field(t, body, "status"))
	assert.Equal(t, "2", field(t, body, "version"))
	assert.Equal(t, "ISSUED", field(t, e.status(id, pw, b), "status"))
	// The customer now sees only B on the till.
	w, err := e.sim.Scan("TILL1")
	require.NoError(t, err)
	assert.Equal(t, b, w.InvoiceReference)
}

func TestCancelCodesTV8(t *testing.T) {
	e := newEnv(t)
	id, pw := e.till("TILL1")
	cancel := func(ref string) string {
		return resultCode(t, e.soap("cancelInvoice", termCtx(id, pw)+`<invoiceReference>`+ref+`</invoiceReference>`))
	}
	ref := e.send(id, pw)
	assert.Equal(t, "0", cancel(ref))
	assert.Equal(t, "95", cancel(ref))
	assert.Equal(t, "CANCELED", field(t, e.status(id, pw, ref), "status"))

	ref = e.send(id, pw)
	_, err := e.sim.Scan("TILL1")
	require.NoError(t, err)
	assert.Equal(t, "51", cancel(ref), "customer confirming")
	_, err = e.sim.Pay("TILL1", seqrsim.OutcomePaid)
	require.NoError(t, err)
	assert.Equal(t, "50", cancel(ref))
	assert.Equal(t, "54", cancel("123"))

	other, opw := e.till("TILL2")
	foreign := e.send(other, opw)
	assert.Equal(t, "54", cancel(foreign), "another till's invoice")
}
