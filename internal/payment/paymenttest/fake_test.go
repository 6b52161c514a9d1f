package paymenttest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/payment"
)

func TestFakeDefaultsFollowSettle(t *testing.T) {
	ctx := context.Background()
	f := &Fake{}
	assert.Equal(t, "fake", f.Name())
	assert.Equal(t, []string{"fake"}, f.Methods())
	s, err := f.Start(ctx, payment.Order{PaymentID: "p1", Method: "fake"})
	require.NoError(t, err)
	assert.Equal(t, "fake-1", s.Ref)
	c, err := f.Check(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Pending, c.Status)

	f.Pay(s.Ref, "tx-1")
	c, err = f.Check(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.Paid, c.Status)
	assert.Equal(t, "tx-1", c.TransactionRef)
	out, err := f.Cancel(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, payment.TooLate, out, "a paid session cannot be canceled")

	s2, err := f.Start(ctx, payment.Order{PaymentID: "p2"})
	require.NoError(t, err)
	out, err = f.Cancel(ctx, s2)
	require.NoError(t, err)
	assert.Equal(t, payment.Cancelled, out)
	c, err = f.Check(ctx, s2)
	require.NoError(t, err)
	assert.Equal(t, payment.Canceled, c.Status, "a cancelled session checks as canceled")

	assert.Equal(t, 2, f.Count(OpStart))
	assert.Equal(t, []string{"p1", "p2"}, []string{f.Calls(OpStart)[0].PaymentID, f.Calls(OpStart)[1].PaymentID})
}

func TestFakeFunctionFieldsOverrideDefaults(t *testing.T) {
	boom := errors.New("boom")
	f := &Fake{ProviderName: "seqr", MethodList: []string{"seqr", "seqr_later"},
		StartFn: func(context.Context, payment.Order) (payment.Session, error) { return payment.Session{}, boom },
		PolicyFn: func(m string) payment.Policy {
			return payment.Policy{Window: time.Minute, LongLived: m == "seqr_later"}
		}}
	_, err := f.Start(context.Background(), payment.Order{})
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, 1, f.Count(OpStart), "a failing call is logged too")
	assert.True(t, f.Policy("seqr_later").LongLived)
	assert.Equal(t, []string{"seqr", "seqr_later"}, f.Methods())
}

func TestFakeWaitCallsWakesOnTheNthCall(t *testing.T) {
	f := &Fake{}
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { _, _ = f.Check(ctx, payment.Session{Ref: "r"}) })
	}
	require.NoError(t, f.WaitCalls(ctx, OpCheck, 3))
	wg.Wait()

	short, cancel := context.WithCancel(ctx)
	cancel()
	err := f.WaitCalls(short, OpCheck, 4)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "got 3")
}

func TestCapabilityWrappersAreFoundByTypeAssertion(t *testing.T) {
	f := &Fake{}
	var p payment.Provider = f
	_, ok := p.(payment.Enroller)
	assert.False(t, ok, "a bare Fake must not enrol")

	p = WithEnroller(f, &Enroller{Log: f})
	e, ok := p.(payment.Enroller)
	require.True(t, ok)
	ctx := context.Background()
	_, err := e.AssignID(ctx, "X")
	assert.ErrorIs(t, err, payment.ErrNotEnrolled)
	_, err = e.Enroll(ctx, payment.EnrollRequest{ExternalTerminalID: "till 2"})
	require.NoError(t, err)
	_, err = e.Enroll(ctx, payment.EnrollRequest{})
	assert.ErrorIs(t, err, payment.ErrAlreadyEnrolled)
	en, err := e.AssignID(ctx, "X")
	require.NoError(t, err)
	assert.Equal(t, "X", en.ID)
	assert.Equal(t, 2, f.Count(OpEnroll))

	p = WithBoth(f, Enrolled(f, "ID1"), &Reconciler{Log: f})
	rc, ok := p.(payment.Reconciler)
	require.True(t, ok)
	ref, err := rc.MarkPeriod(ctx, time.Time{}, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "fake-period-1", ref)
	en, err = p.(payment.Enroller).Enrollment(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ID1", en.ID)
}
