package payson

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/posd/posd/internal/money"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Shapes other Payson stacks answer: .NET integers and PascalCase, amounts
// as strings with 5 decimals, PHP's [] for an empty object, nulls.
func TestDecodeCheckoutShapes(t *testing.T) {
	doc := `{"Id":"a1","Status":5,"PurchaseId":3001,"ExpirationTime":"2026-03-02T12:00:00",
"Merchant":[],"Customer":{"Type":1,"FirstName":null},"Gui":{"RequestPhone":"true","Countries":["SE"]},
"Order":{"Currency":2,"Items":[{"ItemId":"i1","Name":"X","UnitPrice":"399.00000","Quantity":1.0,"TaxRate":0.250,
"DiscountRate":null,"Type":3,"CreditedAmount":"0"}],"TotalPriceIncludingTax":"399.00000","TotalCreditedAmount":0},
"History":{"ReadyToShip":"2026-03-02T10:00:00.0000000Z"},"paymentType":"Card"}`
	co, err := decodeCheckout([]byte(doc))
	require.NoError(t, err)
	assert.Equal(t, StatusReadyToShip, co.Status)
	assert.EqualValues(t, 3001, co.PurchaseID)
	assert.Equal(t, "business", co.Customer.Type)
	assert.True(t, co.Gui.RequestPhone)
	assert.Equal(t, "EUR", co.Order.Currency)
	require.Len(t, co.Order.Items, 1)
	it := co.Order.Items[0]
	assert.Equal(t, money.Amount(39900), it.UnitPrice)
	assert.Equal(t, "1", it.Quantity)
	assert.Equal(t, "0.25", it.TaxRate)
	assert.Equal(t, ItemDiscount, it.Type)
	assert.Equal(t, money.Amount(39900), co.Order.TotalPriceIncludingTax)
	assert.False(t, co.History.ReadyToShip.IsZero())
	assert.False(t, co.ExpirationTime.IsZero())
	assert.Equal(t, "card", co.PaymentType)

	for name, bad := range map[string]string{
		"float amount": `{"id":"a","order":{"totalPriceIncludingTax":399.001}}`,
		"exponent":     `{"id":"a","order":{"totalPriceIncludingTax":3.99e2}}`,
		"purchaseId":   `{"id":"a","purchaseId":"x"}`,
		"no id":        `{"status":"created"}`,
		"not json":     `{"id":`,
	} {
		_, err := decodeCheckout([]byte(bad))
		assert.Error(t, err, name)
	}
	// unknown statuses are kept, not fatal
	co, err = decodeCheckout([]byte(`{"id":"a","status":"somethingNew"}`))
	require.NoError(t, err)
	assert.Equal(t, Status("somethingNew"), co.Status)
}

// An update keeps every itemId and sends amounts as exact numbers.
func TestEncodeUpdate(t *testing.T) {
	co := Checkout{ID: "a1", Status: StatusShipped, Order: Order{Currency: "SEK", TotalCreditedAmount: 10050,
		Items: []Item{{ItemID: "i1", Name: "X", UnitPrice: 39900, Quantity: "1", TaxRate: "0.25", CreditedAmount: 10050}}}}
	b, err := encodeUpdate(co)
	require.NoError(t, err)
	s := string(b)
	assert.Contains(t, s, `"itemId":"i1"`)
	assert.Contains(t, s, `"unitPrice":399.00`)
	assert.Contains(t, s, `"creditedAmount":100.50`)
	assert.Contains(t, s, `"totalCreditedAmount":100.50`)
	assert.Contains(t, s, `"status":"shipped"`)
	co.Order.Items[0].ItemID = ""
	_, err = encodeUpdate(co)
	assert.ErrorContains(t, err, "order.items[0].itemId")
}

func TestDecodeErrorAndList(t *testing.T) {
	msg, errs := decodeError([]byte(`{"message":"Bad","errors":[{"property":"order.currency","message":"NOK"}]}`))
	assert.Equal(t, "Bad", msg)
	assert.Equal(t, []PropertyError{{"order.currency", "NOK"}}, errs)
	msg, errs = decodeError([]byte(`<html>`))
	assert.Empty(t, msg)
	assert.Empty(t, errs)
	l, err := decodeList([]byte(`{"PageSize":2,"Page":1,"TotalPages":1,"Count":1,"TotalCount":1,"Data":[{"id":"x","status":"ReadyToShip"}]}`))
	require.NoError(t, err)
	assert.Equal(t, 1, l.TotalCount)
	assert.Equal(t, StatusReadyToShip, l.Data[0].Status)
}

func FuzzDecodeCheckout(f *testing.F) {
	f.Add([]byte(`{"id":"a","status":5,"order":{"items":[{"unitPrice":"1.5","quantity":2}]}}`))
	f.Add([]byte(`{"id":"a","merchant":[],"history":{"created":"2026-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"Id":"a","PurchaseId":1,"Order":{"Currency":1,"TotalCreditedAmount":"0.00000"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		co, err := decodeCheckout(b)
		if err != nil {
			return
		}
		if co.ID == "" {
			t.Fatal("a decoded checkout always has an id")
		}
		// Whatever was read can be written back when every item has an id.
		for i := range co.Order.Items {
			if co.Order.Items[i].ItemID == "" {
				return
			}
			if co.Order.Items[i].Quantity == "" {
				return
			}
		}
		out, err := encodeUpdate(co)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON written: %s", out)
		}
	})
}

func FuzzDecodeList(f *testing.F) {
	f.Add([]byte(`{"pageSize":2,"page":1,"totalPages":3,"count":1,"totalCount":5,"data":[{"id":"a"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeList(b)
		if err == nil && (l.Count < 0 || l.TotalPages < 0) {
			t.Fatal("negative counts accepted")
		}
		_, _ = decodeAccount(b)
		_, _ = decodeError(b)
	})
}

func FuzzParseDec(f *testing.F) {
	for _, s := range []string{"0", "399.00000", "-5.5", "0.125", "1e3", "+1", ".5", "1."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseDec(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(s, "eE+/ ") {
			t.Fatalf("%q accepted", s)
		}
		// decText is exact: it reads back as the same number.
		back, err := parseDec(decText(r))
		if err != nil || back.Cmp(r) != 0 {
			t.Fatalf("%q -> %q does not round-trip", s, decText(r))
		}
	})
}
