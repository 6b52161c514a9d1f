package payson_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payson"
	"github.com/posd/posd/internal/payson/paysonsim"
	"github.com/posd/posd/internal/simctl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestItemTotals(t *testing.T) {
	tests := []struct {
		name            string
		it              payson.Item
		incl, excl, tax string
	}{
		{"E.29", payson.Item{UnitPrice: 39900, Quantity: "1", TaxRate: "0.25"}, "399.00", "319.20", "79.80"},
		{"food 12 %", payson.Item{UnitPrice: 3333, Quantity: "3", TaxRate: "0.12"}, "99.99", "89.28", "10.71"},
		{"discount rate", payson.Item{UnitPrice: 10000, Quantity: "2", TaxRate: "0.25", DiscountRate: "0.15"}, "170.00", "136.00", "34.00"},
		{"half a kilo, half-up", payson.Item{UnitPrice: 1999, Quantity: "0.5", TaxRate: "0.06"}, "10.00", "9.43", "0.57"},
		{"no tax", payson.Item{UnitPrice: 500, Quantity: "1"}, "5.00", "5.00", "0.00"},
		{"discount line", payson.Item{UnitPrice: -5000, Quantity: "1", TaxRate: "0.25", Type: payson.ItemDiscount}, "-50.00", "-40.00", "-10.00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := payson.ItemTotals(tc.it)
			require.NoError(t, err)
			assert.Equal(t, tc.incl, got.IncludingTax.String())
			assert.Equal(t, tc.excl, got.ExcludingTax.String())
			assert.Equal(t, tc.tax, got.Tax.String())
		})
	}
	for pct, want := range map[string]string{"25": "0.25", "12": "0.12", "6": "0.06", "12.5": "0.125", "0": "0", "100": "1"} {
		got, err := payson.PercentToFraction(pct)
		require.NoError(t, err)
		assert.Equal(t, want, got, pct)
	}
	for _, bad := range []string{"101", "-1", "2.5e1", "25%", ""} {
		_, err := payson.PercentToFraction(bad)
		assert.Error(t, err, bad)
	}
}

func TestValidateNewLimits(t *testing.T) {
	one := func(cur string, price money.Amount) payson.NewCheckout {
		nc := shirt()
		nc.Currency = cur
		nc.Items[0].UnitPrice = price
		return nc
	}
	for _, tc := range []struct {
		nc   payson.NewCheckout
		prop string // "" = valid
	}{
		{one("SEK", 400), ""},
		{one("SEK", 399), "order.totalPriceIncludingTax"},
		{one("SEK", 1_000_000_00), ""},
		{one("SEK", 1_000_000_01), "order.totalPriceIncludingTax"},
		{one("EUR", 40), ""},
		{one("EUR", 39), "order.totalPriceIncludingTax"},
		{one("EUR", 100_000_01), "order.totalPriceIncludingTax"},
		{one("NOK", 10000), "order.currency"},
	} {
		err := payson.ValidateNew(tc.nc)
		if tc.prop == "" {
			assert.NoError(t, err, "%s %s", tc.nc.Currency, tc.nc.Items[0].UnitPrice)
		} else {
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), tc.prop), err.Error())
		}
	}
	nc := shirt()
	nc.Merchant.TermsURI = ""
	nc.Items[0].Name = strings.Repeat("x", 201)
	nc.Items[0].TaxRate = "25"
	assert.ErrorContains(t, payson.ValidateNew(nc), "merchant.termsUri")
	nc.Merchant = merchant("P-1")
	assert.ErrorContains(t, payson.ValidateNew(nc), "order.items[0].name")
	nc.Items[0].Name = "Shirt"
	assert.ErrorContains(t, payson.ValidateNew(nc), "order.items[0].taxRate")
}

// E.28-E.36 through the client against the emulator.
func TestClientVectors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(paysonsim.TestAPIKey)

	// E.28
	acc, err := c.Account(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 4, acc.MerchantID)
	assert.Equal(t, "Approved", acc.Status)
	_, err = e.client("wrong").Account(ctx)
	assert.ErrorIs(t, err, payson.ErrUnauthorized)
	assert.NotErrorIs(t, err, payson.ErrNotSent)

	// E.29
	co, err := c.Create(ctx, shirt())
	require.NoError(t, err)
	assert.Equal(t, payson.StatusCreated, co.Status)
	assert.Zero(t, co.PurchaseID)
	assert.Equal(t, money.Amount(39900), co.Order.TotalPriceIncludingTax)
	assert.Equal(t, money.Amount(31920), co.Order.TotalPriceExcludingTax)
	assert.Equal(t, money.Amount(7980), co.Order.TotalTaxAmount)
	require.Len(t, co.Order.Items, 1)
	assert.NotEmpty(t, co.Order.Items[0].ItemID)
	assert.Equal(t, "0.25", co.Order.Items[0].TaxRate)
	assert.Equal(t, "P-1", co.Merchant.Reference)
	assert.False(t, co.History.Created.IsZero())

	// E.31, refused before sending
	bad := shirt()
	bad.Currency = "NOK"
	n := len(e.calls.Calls(simctl.Filter{}))
	_, err = c.Create(ctx, bad)
	assert.ErrorIs(t, err, payson.ErrInvalidRequest)
	assert.ErrorIs(t, err, payson.ErrNotSent)
	assert.Len(t, e.calls.Calls(simctl.Filter{}), n, "nothing sent")

	// E.33: shipped from created -> 400 naming status
	co.Status = payson.StatusShipped
	_, err = c.Update(ctx, co)
	var ae *payson.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 400, ae.Status)
	assert.Equal(t, []string{"status"}, ae.Properties())
	assert.Contains(t, err.Error(), "status: ")

	// E.32
	require.NoError(t, e.sim.Pay(co.ID, paysonsim.PayRequest{Method: "card"}))
	co, err = c.Get(ctx, co.ID)
	require.NoError(t, err)
	assert.Equal(t, payson.StatusReadyToShip, co.Status)
	assert.Positive(t, co.PurchaseID)
	assert.False(t, co.History.ReadyToShip.IsZero())
	assert.Equal(t, "card", co.PaymentType)

	// E.35 part 1: items cannot change while readyToShip
	changed := co
	changed.Order.Items = append([]payson.Item(nil), co.Order.Items...)
	changed.Order.Items[0].UnitPrice = 10000
	_, err = c.Update(ctx, changed)
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, []string{"order.items"}, ae.Properties())

	// E.33: ship
	co.Status = payson.StatusShipped
	co, err = c.Update(ctx, co)
	require.NoError(t, err)
	assert.Equal(t, payson.StatusShipped, co.Status)

	// E.34: cancel from shipped -> 400
	cc := co
	cc.Status = payson.StatusCanceled
	_, err = c.Update(ctx, cc)
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, []string{"status"}, ae.Properties())

	// E.35: credit 100, echoed; above the item total -> 400
	co.Order.Items[0].CreditedAmount = 10000
	co.Order.TotalCreditedAmount = 10000
	co, err = c.Update(ctx, co)
	require.NoError(t, err)
	assert.Equal(t, money.Amount(10000), co.Order.TotalCreditedAmount)
	assert.Equal(t, money.Amount(10000), co.Order.Items[0].CreditedAmount)
	co.Order.Items[0].CreditedAmount = 39901
	co.Order.TotalCreditedAmount = 39901
	_, err = c.Update(ctx, co)
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, []string{"order.items[0].creditedAmount"}, ae.Properties())

	// E.34: cancel from readyToShip
	co2, err := c.Create(ctx, shirt())
	require.NoError(t, err)
	require.NoError(t, e.sim.Pay(co2.ID, paysonsim.PayRequest{}))
	co2, err = c.Get(ctx, co2.ID)
	require.NoError(t, err)
	co2.Status = payson.StatusCanceled
	co2, err = c.Update(ctx, co2)
	require.NoError(t, err)
	assert.Equal(t, payson.StatusCanceled, co2.Status)
	assert.False(t, co2.History.Canceled.IsZero())

	// E.36 and paging (the emulator pages by 3)
	var paid []string
	for i := range 7 {
		nc := shirt()
		nc.Merchant.Reference = "L-" + string(rune('a'+i))
		x, err := c.Create(ctx, nc)
		require.NoError(t, err)
		require.NoError(t, e.sim.Pay(x.ID, paysonsim.PayRequest{}))
		paid = append(paid, x.ID)
	}
	l, err := c.List(ctx, payson.StatusReadyToShip, 1)
	require.NoError(t, err)
	assert.Equal(t, 7, l.TotalCount)
	assert.Equal(t, 3, l.TotalPages)
	all, err := c.ListAll(ctx, payson.StatusReadyToShip, nil)
	require.NoError(t, err)
	var ids []string
	for _, x := range all {
		ids = append(ids, x.ID)
	}
	assert.Equal(t, paid, ids)
	found, err := c.FindByReference(ctx, "L-e")
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.Equal(t, paid[4], found[0].ID)

	_, err = c.Get(ctx, "5b1d7a4e-0000-4000-8000-000000000000")
	assert.ErrorIs(t, err, payson.ErrNotFound)
}

func TestClientNotSentAndMaybeSent(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL + "/2.0/"
	closed.Close()
	c, err := payson.New(payson.Config{URL: url, AgentID: "4", APIKey: paysonsim.TestAPIKey})
	require.NoError(t, err)
	_, err = c.Create(context.Background(), shirt())
	assert.ErrorIs(t, err, payson.ErrNotSent)

	e := newEnv(t)
	require.NoError(t, e.faults.Set([]simctl.Rule{{Service: paysonsim.Service, Operation: paysonsim.OpCreate, Mode: simctl.ModeDrop, Process: true}}))
	_, err = e.client(paysonsim.TestAPIKey).Create(context.Background(), shirt())
	require.Error(t, err)
	assert.NotErrorIs(t, err, payson.ErrNotSent, "the connection was used: it may have arrived")
	assert.Equal(t, 1, e.sim.Count(), "and it did")

	require.NoError(t, e.faults.Set([]simctl.Rule{{Service: paysonsim.Service, Mode: simctl.ModeHTTP500}}))
	_, err = e.client(paysonsim.TestAPIKey).Get(context.Background(), "x")
	var ae *payson.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 500, ae.Status)
	assert.NotErrorIs(t, err, payson.ErrNotSent)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = e.client(paysonsim.TestAPIKey).Account(ctx)
	assert.ErrorIs(t, err, payson.ErrNotSent)
	assert.True(t, errors.Is(err, context.Canceled))
}

func TestNewConfig(t *testing.T) {
	for _, cfg := range []payson.Config{
		{URL: "ftp://x/2.0/", AgentID: "4", APIKey: "k"},
		{URL: "https://test-api.payson.se/2.0/", AgentID: "", APIKey: "k"},
		{URL: "https://test-api.payson.se/2.0/", AgentID: "4:5", APIKey: "k"},
	} {
		_, err := payson.New(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
	c, err := payson.New(payson.Config{URL: "https://test-api.payson.se/2.0", AgentID: "4", APIKey: "k"})
	require.NoError(t, err)
	assert.Equal(t, "https://test-api.payson.se/2.0/", c.BaseURL())
}
