package payson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/posd/posd/internal/money"
)

// What posd sends: camelCase keys, numbers as exact JSON number text (a
// json.Number is written verbatim, so no float ever touches an amount).

type wireMerchant struct {
	CheckoutURI     string `json:"checkoutUri"`
	ConfirmationURI string `json:"confirmationUri"`
	NotificationURI string `json:"notificationUri"`
	TermsURI        string `json:"termsUri"`
	ValidationURI   string `json:"validationUri,omitempty"`
	Reference       string `json:"reference,omitempty"`
	PartnerID       string `json:"partnerId,omitempty"`
	IntegrationInfo string `json:"integrationInfo,omitempty"`
}

type wireCustomer struct {
	Type           string `json:"type,omitempty"`
	IdentityNumber string `json:"identityNumber,omitempty"`
	FirstName      string `json:"firstName,omitempty"`
	LastName       string `json:"lastName,omitempty"`
	Email          string `json:"email,omitempty"`
	Phone          string `json:"phone,omitempty"`
	Street         string `json:"street,omitempty"`
	PostalCode     string `json:"postalCode,omitempty"`
	City           string `json:"city,omitempty"`
	CountryCode    string `json:"countryCode,omitempty"`
	Reference      string `json:"reference,omitempty"`
}

type wireGui struct {
	ColorScheme   string   `json:"colorScheme,omitempty"`
	Locale        string   `json:"locale,omitempty"`
	RequestPhone  bool     `json:"requestPhone"`
	PhoneOptional bool     `json:"phoneOptional"`
	Countries     []string `json:"countries,omitempty"`
	Verification  string   `json:"verification,omitempty"`
}

type wireItemOut struct {
	ItemID         string       `json:"itemId,omitempty"`
	Name           string       `json:"name"`
	UnitPrice      json.Number  `json:"unitPrice"`
	Quantity       json.Number  `json:"quantity"`
	TaxRate        json.Number  `json:"taxRate"`
	DiscountRate   json.Number  `json:"discountRate,omitempty"`
	Reference      string       `json:"reference,omitempty"`
	EAN            string       `json:"ean,omitempty"`
	URI            string       `json:"uri,omitempty"`
	ImageURI       string       `json:"imageUri,omitempty"`
	Type           string       `json:"type,omitempty"`
	CreditedAmount *json.Number `json:"creditedAmount,omitempty"`
}

type wireOrderOut struct {
	Currency            string        `json:"currency"`
	Items               []wireItemOut `json:"items"`
	TotalCreditedAmount *json.Number  `json:"totalCreditedAmount,omitempty"`
}

type wireCheckoutOut struct {
	ID             string        `json:"id,omitempty"`
	Status         string        `json:"status,omitempty"`
	Description    string        `json:"description,omitempty"`
	ExpirationTime string        `json:"expirationTime,omitempty"`
	Merchant       wireMerchant  `json:"merchant"`
	Customer       *wireCustomer `json:"customer,omitempty"`
	Order          wireOrderOut  `json:"order"`
	Gui            *wireGui      `json:"gui,omitempty"`
}

func amountNum(a money.Amount) json.Number { return json.Number(a.String()) }

func numText(field, s, def string) (json.Number, error) {
	if s == "" {
		s = def
	}
	if _, err := parseDec(s); err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return json.Number(s), nil
}

func itemOut(i int, it Item, withCredit bool) (wireItemOut, error) {
	p := fmt.Sprintf("order.items[%d].", i)
	w := wireItemOut{ItemID: it.ItemID, Name: it.Name, UnitPrice: amountNum(it.UnitPrice),
		Reference: it.Reference, EAN: it.EAN, URI: it.URI, ImageURI: it.ImageURI, Type: it.Type}
	var err error
	if w.Quantity, err = numText(p+"quantity", it.Quantity, ""); err != nil {
		return w, err
	}
	if w.TaxRate, err = numText(p+"taxRate", it.TaxRate, "0"); err != nil {
		return w, err
	}
	if it.DiscountRate != "" {
		if w.DiscountRate, err = numText(p+"discountRate", it.DiscountRate, ""); err != nil {
			return w, err
		}
	}
	if withCredit {
		n := amountNum(it.CreditedAmount)
		w.CreditedAmount = &n
	}
	return w, nil
}

func customerOut(c *Customer) *wireCustomer {
	if c == nil {
		return nil
	}
	return &wireCustomer{Type: c.Type, IdentityNumber: c.IdentityNumber, FirstName: c.FirstName,
		LastName: c.LastName, Email: c.Email, Phone: c.Phone, Street: c.Street,
		PostalCode: c.PostalCode, City: c.City, CountryCode: c.CountryCode, Reference: c.Reference}
}

func guiOut(g *Gui) *wireGui {
	if g == nil {
		return nil
	}
	return &wireGui{ColorScheme: g.ColorScheme, Locale: g.Locale, RequestPhone: g.RequestPhone,
		PhoneOptional: g.PhoneOptional, Countries: g.Countries, Verification: g.Verification}
}

func merchantOut(m Merchant) wireMerchant {
	return wireMerchant(m)
}

// encodeCreate renders the body of POST /Checkouts.
func encodeCreate(nc NewCheckout) ([]byte, error) {
	w := wireCheckoutOut{Description: nc.Description, Merchant: merchantOut(nc.Merchant),
		Customer: customerOut(nc.Customer), Gui: guiOut(nc.Gui),
		Order: wireOrderOut{Currency: nc.Currency}}
	if !nc.ExpirationTime.IsZero() {
		w.ExpirationTime = nc.ExpirationTime.UTC().Format(time.RFC3339)
	}
	for i, it := range nc.Items {
		wi, err := itemOut(i, it, false)
		if err != nil {
			return nil, err
		}
		w.Order.Items = append(w.Order.Items, wi)
	}
	return json.Marshal(w)
}

// encodeUpdate renders the whole checkout for PUT /Checkouts/{id}: every
// item keeps its itemId, and credited amounts go back as they stand.
func encodeUpdate(c Checkout) ([]byte, error) {
	cust, gui := c.Customer, c.Gui
	w := wireCheckoutOut{ID: c.ID, Status: string(c.Status), Description: c.Description,
		Merchant: merchantOut(c.Merchant), Customer: customerOut(&cust), Gui: guiOut(&gui),
		Order: wireOrderOut{Currency: c.Order.Currency}}
	if !c.ExpirationTime.IsZero() {
		w.ExpirationTime = c.ExpirationTime.UTC().Format(time.RFC3339)
	}
	for i, it := range c.Order.Items {
		if it.ItemID == "" {
			return nil, fmt.Errorf("order.items[%d].itemId: missing (an update must keep every itemId)", i)
		}
		wi, err := itemOut(i, it, true)
		if err != nil {
			return nil, err
		}
		w.Order.Items = append(w.Order.Items, wi)
	}
	tc := amountNum(c.Order.TotalCreditedAmount)
	w.Order.TotalCreditedAmount = &tc
	return json.Marshal(w)
}

// What posd reads: tolerant of the shapes Payson and its emulators use.
// Numbers may be JSON numbers or strings, enums strings in any case or the
// .NET integers, and any member may be null or missing.

// jsonText is a JSON scalar read as its text: a string's contents, a
// number's literal, "" for null, "true"/"false".
type jsonText string

func (t *jsonText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*t = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = jsonText(s)
	case b[0] == '{' || b[0] == '[':
		// PHP renders an empty object as []; anything else here is not a scalar.
		if string(b) == "[]" || string(b) == "{}" {
			*t = ""
			return nil
		}
		return fmt.Errorf("want a scalar, got %.20s", b)
	default:
		*t = jsonText(b)
	}
	return nil
}

// lenientObj decodes an object member that PHP may render as [] when empty.
type lenientObj[T any] struct{ V T }

func (o *lenientObj[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" || (len(b) > 0 && b[0] == '[') {
		return nil
	}
	return json.Unmarshal(b, &o.V)
}

type wireItemIn struct {
	ItemID                 jsonText `json:"itemId"`
	Name                   jsonText `json:"name"`
	UnitPrice              jsonText `json:"unitPrice"`
	Quantity               jsonText `json:"quantity"`
	TaxRate                jsonText `json:"taxRate"`
	DiscountRate           jsonText `json:"discountRate"`
	Reference              jsonText `json:"reference"`
	EAN                    jsonText `json:"ean"`
	URI                    jsonText `json:"uri"`
	ImageURI               jsonText `json:"imageUri"`
	Type                   jsonText `json:"type"`
	CreditedAmount         jsonText `json:"creditedAmount"`
	TotalPriceExcludingTax jsonText `json:"totalPriceExcludingTax"`
	TotalPriceIncludingTax jsonText `json:"totalPriceIncludingTax"`
	TotalTaxAmount         jsonText `json:"totalTaxAmount"`
}

type wireCheckoutIn struct {
	ID             jsonText `json:"id"`
	Status         jsonText `json:"status"`
	Snippet        jsonText `json:"snippet"`
	PurchaseID     jsonText `json:"purchaseId"`
	Description    jsonText `json:"description"`
	ExpirationTime jsonText `json:"expirationTime"`
	PaymentType    jsonText `json:"paymentType"`
	Merchant       lenientObj[struct {
		CheckoutURI     jsonText `json:"checkoutUri"`
		ConfirmationURI jsonText `json:"confirmationUri"`
		NotificationURI jsonText `json:"notificationUri"`
		TermsURI        jsonText `json:"termsUri"`
		ValidationURI   jsonText `json:"validationUri"`
		Reference       jsonText `json:"reference"`
		PartnerID       jsonText `json:"partnerId"`
		IntegrationInfo jsonText `json:"integrationInfo"`
	}] `json:"merchant"`
	Customer lenientObj[struct {
		Type           jsonText `json:"type"`
		IdentityNumber jsonText `json:"identityNumber"`
		FirstName      jsonText `json:"firstName"`
		LastName       jsonText `json:"lastName"`
		Email          jsonText `json:"email"`
		Phone          jsonText `json:"phone"`
		Street         jsonText `json:"street"`
		PostalCode     jsonText `json:"postalCode"`
		City           jsonText `json:"city"`
		CountryCode    jsonText `json:"countryCode"`
		Reference      jsonText `json:"reference"`
	}] `json:"customer"`
	Order lenientObj[struct {
		Currency               jsonText     `json:"currency"`
		Items                  []wireItemIn `json:"items"`
		TotalPriceExcludingTax jsonText     `json:"totalPriceExcludingTax"`
		TotalPriceIncludingTax jsonText     `json:"totalPriceIncludingTax"`
		TotalTaxAmount         jsonText     `json:"totalTaxAmount"`
		TotalCreditedAmount    jsonText     `json:"totalCreditedAmount"`
		TotalFeeExcludingTax   jsonText     `json:"totalFeeExcludingTax"`
		TotalFeeIncludingTax   jsonText     `json:"totalFeeIncludingTax"`
	}] `json:"order"`
	Gui lenientObj[struct {
		ColorScheme   jsonText   `json:"colorScheme"`
		Locale        jsonText   `json:"locale"`
		RequestPhone  jsonText   `json:"requestPhone"`
		PhoneOptional jsonText   `json:"phoneOptional"`
		Countries     []jsonText `json:"countries"`
		Verification  jsonText   `json:"verification"`
	}] `json:"gui"`
	History lenientObj[map[string]jsonText] `json:"history"`
}

// reader collects the first error while converting fields.
type reader struct{ err error }

func (r *reader) fail(field string, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %w", field, err)
	}
}

func (r *reader) amount(field string, t jsonText) money.Amount {
	if t == "" {
		return 0
	}
	d, err := parseDec(string(t))
	if err != nil {
		r.fail(field, err)
		return 0
	}
	a, err := round2(d)
	if err != nil {
		r.fail(field, err)
		return 0
	}
	if ratOf(a).Cmp(d) != 0 {
		r.fail(field, fmt.Errorf("%s has more than 2 decimals", t))
	}
	return a
}

func (r *reader) dec(field string, t jsonText) string {
	if t == "" {
		return ""
	}
	d, err := parseDec(string(t))
	if err != nil {
		r.fail(field, err)
		return ""
	}
	return decText(d)
}

func (r *reader) time(field string, t jsonText) time.Time {
	if t == "" {
		return time.Time{}
	}
	v, err := time.Parse(time.RFC3339Nano, string(t))
	if err != nil {
		// Payson's .NET stack may omit the zone ("2026-03-01T12:00:00").
		if v2, err2 := time.Parse("2006-01-02T15:04:05.999999999", string(t)); err2 == nil {
			return v2
		}
		r.fail(field, err)
	}
	return v
}

func (r *reader) boolean(field string, t jsonText) bool {
	switch strings.ToLower(string(t)) {
	case "", "false", "0":
		return false
	case "true", "1":
		return true
	}
	r.fail(field, fmt.Errorf("%q is not a boolean", t))
	return false
}

func statusOf(t jsonText) Status {
	if n, err := strconv.Atoi(string(t)); err == nil {
		if s, ok := statusInts[n]; ok {
			return s
		}
	}
	return ParseStatus(string(t))
}

var itemTypeInts = map[string]string{"0": ItemPhysical, "1": ItemService, "2": ItemFee, "3": ItemDiscount}
var currencyInts = map[string]string{"1": "SEK", "2": "EUR"}
var customerTypeInts = map[string]string{"0": "person", "1": "business"}

func enumOf(t jsonText, ints map[string]string, lower bool) string {
	if v, ok := ints[string(t)]; ok {
		return v
	}
	if lower {
		return strings.ToLower(string(t))
	}
	return strings.ToUpper(string(t))
}

// decodeCheckout reads one checkout answer.
func decodeCheckout(b []byte) (Checkout, error) {
	var w wireCheckoutIn
	if err := json.Unmarshal(b, &w); err != nil {
		return Checkout{}, fmt.Errorf("decode checkout: %w", err)
	}
	return w.checkout()
}

func (w *wireCheckoutIn) checkout() (Checkout, error) {
	var r reader
	c := Checkout{ID: string(w.ID), Status: statusOf(w.Status), Snippet: string(w.Snippet),
		Description: string(w.Description), PaymentType: strings.ToLower(string(w.PaymentType))}
	if w.PurchaseID != "" {
		n, err := strconv.ParseInt(string(w.PurchaseID), 10, 64)
		if err != nil || n <= 0 {
			r.fail("purchaseId", fmt.Errorf("%q is not a positive integer", w.PurchaseID))
		}
		c.PurchaseID = n
	}
	c.ExpirationTime = r.time("expirationTime", w.ExpirationTime)
	m := w.Merchant.V
	c.Merchant = Merchant{CheckoutURI: string(m.CheckoutURI), ConfirmationURI: string(m.ConfirmationURI),
		NotificationURI: string(m.NotificationURI), TermsURI: string(m.TermsURI),
		ValidationURI: string(m.ValidationURI), Reference: string(m.Reference),
		PartnerID: string(m.PartnerID), IntegrationInfo: string(m.IntegrationInfo)}
	cu := w.Customer.V
	c.Customer = Customer{Type: enumOf(cu.Type, customerTypeInts, true), IdentityNumber: string(cu.IdentityNumber),
		FirstName: string(cu.FirstName), LastName: string(cu.LastName), Email: string(cu.Email),
		Phone: string(cu.Phone), Street: string(cu.Street), PostalCode: string(cu.PostalCode),
		City: string(cu.City), CountryCode: string(cu.CountryCode), Reference: string(cu.Reference)}
	g := w.Gui.V
	c.Gui = Gui{ColorScheme: string(g.ColorScheme), Locale: string(g.Locale),
		RequestPhone:  r.boolean("gui.requestPhone", g.RequestPhone),
		PhoneOptional: r.boolean("gui.phoneOptional", g.PhoneOptional), Verification: string(g.Verification)}
	for _, ct := range g.Countries {
		c.Gui.Countries = append(c.Gui.Countries, string(ct))
	}
	o := w.Order.V
	c.Order = Order{Currency: enumOf(o.Currency, currencyInts, false),
		TotalPriceExcludingTax: r.amount("order.totalPriceExcludingTax", o.TotalPriceExcludingTax),
		TotalPriceIncludingTax: r.amount("order.totalPriceIncludingTax", o.TotalPriceIncludingTax),
		TotalTaxAmount:         r.amount("order.totalTaxAmount", o.TotalTaxAmount),
		TotalCreditedAmount:    r.amount("order.totalCreditedAmount", o.TotalCreditedAmount),
		TotalFeeExcludingTax:   r.amount("order.totalFeeExcludingTax", o.TotalFeeExcludingTax),
		TotalFeeIncludingTax:   r.amount("order.totalFeeIncludingTax", o.TotalFeeIncludingTax)}
	for i, it := range o.Items {
		p := fmt.Sprintf("order.items[%d].", i)
		c.Order.Items = append(c.Order.Items, Item{ItemID: string(it.ItemID), Name: string(it.Name),
			UnitPrice: r.amount(p+"unitPrice", it.UnitPrice), Quantity: r.dec(p+"quantity", it.Quantity),
			TaxRate: r.dec(p+"taxRate", it.TaxRate), DiscountRate: r.dec(p+"discountRate", it.DiscountRate),
			Reference: string(it.Reference), EAN: string(it.EAN), URI: string(it.URI), ImageURI: string(it.ImageURI),
			Type:                   enumOf(it.Type, itemTypeInts, true),
			CreditedAmount:         r.amount(p+"creditedAmount", it.CreditedAmount),
			TotalPriceExcludingTax: r.amount(p+"totalPriceExcludingTax", it.TotalPriceExcludingTax),
			TotalPriceIncludingTax: r.amount(p+"totalPriceIncludingTax", it.TotalPriceIncludingTax),
			TotalTaxAmount:         r.amount(p+"totalTaxAmount", it.TotalTaxAmount)})
	}
	h := make(map[string]jsonText, len(w.History.V))
	for k, v := range w.History.V {
		h[strings.ToLower(k)] = v
	}
	c.History = History{Created: r.time("history.created", h["created"]),
		ReadyToPay:    r.time("history.readyToPay", h["readytopay"]),
		ReadyToShip:   r.time("history.readyToShip", h["readytoship"]),
		Shipped:       r.time("history.shipped", h["shipped"]),
		PaidToAccount: r.time("history.paidToAccount", h["paidtoaccount"]),
		Canceled:      r.time("history.canceled", h["canceled"]),
		Expired:       r.time("history.expired", h["expired"]),
		Denied:        r.time("history.denied", h["denied"])}
	if r.err != nil {
		return Checkout{}, fmt.Errorf("decode checkout: %w", r.err)
	}
	if c.ID == "" {
		return Checkout{}, fmt.Errorf("decode checkout: no id")
	}
	return c, nil
}

// decodeList reads GET /Checkouts.
func decodeList(b []byte) (List, error) {
	var w struct {
		PageSize   jsonText         `json:"pageSize"`
		Page       jsonText         `json:"page"`
		TotalPages jsonText         `json:"totalPages"`
		Count      jsonText         `json:"count"`
		TotalCount jsonText         `json:"totalCount"`
		Data       []wireCheckoutIn `json:"data"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return List{}, fmt.Errorf("decode list: %w", err)
	}
	var l List
	var r reader
	for _, f := range []struct {
		name string
		t    jsonText
		dst  *int
	}{{"pageSize", w.PageSize, &l.PageSize}, {"page", w.Page, &l.Page}, {"totalPages", w.TotalPages, &l.TotalPages},
		{"count", w.Count, &l.Count}, {"totalCount", w.TotalCount, &l.TotalCount}} {
		if f.t == "" {
			continue
		}
		n, err := strconv.Atoi(string(f.t))
		if err != nil || n < 0 {
			r.fail(f.name, fmt.Errorf("%q is not a count", f.t))
		}
		*f.dst = n
	}
	if r.err != nil {
		return List{}, fmt.Errorf("decode list: %w", r.err)
	}
	for i := range w.Data {
		c, err := w.Data[i].checkout()
		if err != nil {
			return List{}, fmt.Errorf("decode list: data[%d]: %w", i, err)
		}
		l.Data = append(l.Data, c)
	}
	return l, nil
}

// decodeAccount reads GET /Accounts.
func decodeAccount(b []byte) (Account, error) {
	var w map[string]jsonText
	if err := json.Unmarshal(b, &w); err != nil {
		return Account{}, fmt.Errorf("decode account: %w", err)
	}
	h := make(map[string]jsonText, len(w))
	for k, v := range w {
		h[strings.ToLower(k)] = v
	}
	var r reader
	a := Account{AccountEmail: string(h["accountemail"]), Status: string(h["status"]),
		EnabledForInvoice:           r.boolean("enabledForInvoice", h["enabledforinvoice"]),
		EnabledForPaymentPlan:       r.boolean("enabledForPaymentPlan", h["enabledforpaymentplan"]),
		EnabledForRecurringPayments: r.boolean("enabledForRecurringPayments", h["enabledforrecurringpayments"])}
	if t := h["merchantid"]; t != "" {
		n, err := strconv.ParseInt(string(t), 10, 64)
		if err != nil {
			r.fail("merchantId", err)
		}
		a.MerchantID = n
	}
	if r.err != nil {
		return Account{}, fmt.Errorf("decode account: %w", r.err)
	}
	return a, nil
}

// decodeError reads an error answer's message and errors[]; a body that is
// not that shape gives an empty result (the status still says enough).
func decodeError(b []byte) (string, []PropertyError) {
	var w struct {
		Message jsonText `json:"message"`
		Errors  []struct {
			Property jsonText `json:"property"`
			Message  jsonText `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(b, &w) != nil {
		return "", nil
	}
	var out []PropertyError
	for _, e := range w.Errors {
		out = append(out, PropertyError{Property: string(e.Property), Message: string(e.Message)})
	}
	return string(w.Message), out
}
