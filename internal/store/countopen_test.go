package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// CountOpen counts what can still change: an unknown payment without any
// reference can never be polled and is not open.
func TestCountOpenSkipsUnknownWithoutReference(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	a := Audit{Actor: "c", Event: "seed", Outcome: "success"}
	for _, p := range []struct{ id, state, inv, ers string }{
		{"p1", "created", "", ""},
		{"p2", "polling", "INV-2", ""},
		{"p3", "awaiting_decision", "INV-3", ""},
		{"p4", "unknown", "INV-4", ""}, // polled again at start-up
		{"p5", "unknown", "", ""},      // never polled: SEQR reverses it
		{"p6", "unknown", "", "ERS-6"}, // recording to finish
		{"p7", "paid", "INV-7", "ERS-7"},
	} {
		q := testPayment(p.id, "k-"+p.id)
		q.State, q.SessionRef, q.TransactionRef = p.state, p.inv, p.ers
		_, _, err := db.CreatePayment(ctx, q, a)
		require.NoError(t, err)
	}
	n, err := db.CountOpen(ctx)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	list, err := db.Payments(ctx, "unknown")
	require.NoError(t, err)
	assert.Len(t, list, 3, "still listed")
}

// CountInFlight counts payments that may still become paid or whose PAID
// is being recorded (a period close waits for them).
func TestCountInFlight(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	a := Audit{Actor: "c", Event: "seed", Outcome: "success"}
	for _, p := range []struct{ id, state, inv, ers string }{
		{"p1", "created", "", ""},
		{"p2", "polling", "INV-2", ""},
		{"p3", "awaiting_decision", "INV-3", ""},
		{"p4", "polling", "INV-4", "ERS-4"}, // PAID seen, being recorded
		{"p5", "unknown", "INV-5", "ERS-5"}, // recording to finish
		{"p6", "unknown", "INV-6", ""},
		{"p7", "paid", "INV-7", "ERS-7"},
		{"p8", "canceled", "INV-8", ""},
	} {
		q := testPayment(p.id, "k-"+p.id)
		q.State, q.SessionRef, q.TransactionRef = p.state, p.inv, p.ers
		_, _, err := db.CreatePayment(ctx, q, a)
		require.NoError(t, err)
	}
	n, err := db.CountInFlight(ctx, "seqr")
	require.NoError(t, err)
	assert.Equal(t, 5, n)
}

// A long-lived payment waiting for its customer does not hold up a period
// close; once its transaction reference is committed it does, until paid.
func TestCountInFlightLeavesOutWaitingLongLivedPayments(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	a := Audit{Actor: "c", Event: "seed", Outcome: "success"}
	for _, p := range []struct{ id, method, state, ref string }{
		{"pos", "resurs", "polling", ""}, {"later", "resurs_later", "polling", ""}, {"later-paid-seen", "resurs_later", "polling", "P1"},
	} {
		q := testPayment(p.id, "k-"+p.id)
		q.Provider, q.Method, q.State, q.TransactionRef = "resurs", p.method, p.state, p.ref
		_, _, err := db.CreatePayment(ctx, q, a)
		require.NoError(t, err)
	}
	n, err := db.CountInFlight(ctx, "resurs", "resurs_later")
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the POS payment and the long-lived one whose reference is committed")
	n, err = db.CountInFlight(ctx, "resurs")
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}
