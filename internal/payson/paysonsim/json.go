package paysonsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// apiError is one {property, message} of an error answer.
type apiError struct {
	Property string `json:"property"`
	Message  string `json:"message"`
}

// errorBody is every 4xx/5xx answer: errors always has at least one entry
// (PaysonPayments-PHP warns on an empty list, I.13).
type errorBody struct {
	Message string     `json:"message"`
	Errors  []apiError `json:"errors"`
}

// obj is a JSON object with its keys lower-cased: Payson's keys are
// case-insensitive (the PHP SDK lower-cases them, .NET PascalCases them).
type obj map[string]any

// parseBody reads a request body into an obj. Numbers stay exact text.
func parseBody(b []byte) (obj, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	m, ok := lower(v).(obj)
	if !ok {
		return nil, errors.New("the body is not a JSON object")
	}
	return m, nil
}

func lower(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(obj, len(x))
		for k, e := range x {
			out[strings.ToLower(k)] = lower(e)
		}
		return out
	case []any:
		for i := range x {
			x[i] = lower(x[i])
		}
		return x
	}
	return v
}

// parser collects every problem of a request with its property path.
type parser struct{ errs []apiError }

func (p *parser) add(prop, format string, a ...any) {
	p.errs = append(p.errs, apiError{Property: prop, Message: fmt.Sprintf(format, a...)})
}

// object returns the member key as an object; null, absent and the PHP SDK's
// [] for an empty object are all "absent".
func (p *parser) object(m obj, key, prop string) (obj, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, false
	}
	switch x := v.(type) {
	case obj:
		return x, true
	case []any:
		if len(x) == 0 {
			return nil, false
		}
	}
	p.add(prop, "must be an object")
	return nil, false
}

// str returns a string member; null and absent are "absent".
func (p *parser) str(m obj, key, prop string) (string, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	}
	p.add(prop, "must be a string")
	return "", false
}

// num returns an exact decimal member given as a JSON number or a string.
func (p *parser) num(m obj, key, prop string) (*big.Rat, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, false
	}
	var text string
	switch x := v.(type) {
	case json.Number:
		text = x.String()
	case string:
		text = strings.TrimSpace(x)
	default:
		p.add(prop, "must be a number")
		return nil, false
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok || len(text) > 40 {
		p.add(prop, "%q is not a number", text)
		return nil, false
	}
	return r, true
}

func (p *parser) boolean(m obj, key, prop string) (bool, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return false, false
	}
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		if b, err := strconv.ParseBool(x); err == nil {
			return b, true
		}
	case json.Number:
		if x.String() == "0" || x.String() == "1" {
			return x.String() == "1", true
		}
	}
	p.add(prop, "must be a boolean")
	return false, false
}

// enum reads a string in any letter case or a .NET integer.
func (p *parser) enum(m obj, key, prop string, names []string, ints map[int64]string) (string, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		if x == "" {
			return "", false
		}
		for _, n := range names {
			if strings.EqualFold(n, x) {
				return n, true
			}
		}
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			if s, ok := ints[n]; ok {
				return s, true
			}
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			if s, ok := ints[n]; ok {
				return s, true
			}
		}
	}
	p.add(prop, "%v is not one of %s", v, strings.Join(names, ", "))
	return "", false
}

var (
	currencies     = []string{"SEK", "EUR"}
	currencyInts   = map[int64]string{1: "SEK", 2: "EUR"}
	itemTypes      = []string{"physical", "service", "fee", "discount"}
	itemTypeInts   = map[int64]string{0: "physical", 1: "service", 2: "fee", 3: "discount"}
	customerTypes  = []string{"person", "business"}
	customerInts   = map[int64]string{0: "person", 1: "business"}
	colorSchemes   = []string{"white", "blue", "gray", "grayTextLogos", "blueTextLogos", "whiteTextLogos", "whiteNoFooter", "grayNoFooter", "blueNoFooter"}
	colorInts      = map[int64]string{0: "white", 1: "blue", 2: "gray", 3: "grayTextLogos", 4: "blueTextLogos", 5: "whiteTextLogos", 6: "whiteNoFooter", 7: "grayNoFooter", 8: "blueNoFooter"}
	purchaseLimits = map[string][2]*big.Rat{
		"SEK": {big.NewRat(4, 1), big.NewRat(1_000_000, 1)},
		"EUR": {big.NewRat(40, 100), big.NewRat(100_000, 1)},
	}
)

// zeroID reports an absent id: empty or the .NET SDK's all-zero GUID.
func zeroID(s string) bool { return strings.Trim(s, "0-") == "" }

func (p *parser) uri(m obj, key, prop string, required bool) string {
	v, ok := p.str(m, key, prop)
	if !ok || v == "" {
		if required {
			p.add(prop, "is required")
		}
		return ""
	}
	n := utf8.RuneCountInString(v)
	u, err := url.Parse(v)
	if n < 9 || n > 2000 || err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		p.add(prop, "must be an absolute http(s) URI of 9 to 2000 characters")
	}
	return v
}

func (p *parser) maxLen(m obj, key, prop string, max int) (string, bool) {
	v, ok := p.str(m, key, prop)
	if ok && utf8.RuneCountInString(v) > max {
		p.add(prop, "must be at most %d characters", max)
	}
	return v, ok
}

// merchantIn applies the merchant members present in m onto dst.
func (p *parser) merchantIn(m obj, dst *merchant, create bool) {
	for _, f := range []struct {
		key, prop string
		dst       *string
	}{
		{"checkouturi", "merchant.checkoutUri", &dst.checkoutURI},
		{"confirmationuri", "merchant.confirmationUri", &dst.confirmationURI},
		{"notificationuri", "merchant.notificationUri", &dst.notificationURI},
		{"termsuri", "merchant.termsUri", &dst.termsURI},
	} {
		if v := p.uri(m, f.key, f.prop, create); v != "" {
			*f.dst = v
		}
	}
	if v := p.uri(m, "validationuri", "merchant.validationUri", false); v != "" {
		dst.validationURI = v
	}
	for _, f := range []struct {
		key, prop string
		dst       *string
	}{
		{"reference", "merchant.reference", &dst.reference},
		{"partnerid", "merchant.partnerId", &dst.partnerID},
		{"integrationinfo", "merchant.integrationInfo", &dst.integrationInfo},
	} {
		if v, ok := p.maxLen(m, f.key, f.prop, 100); ok {
			*f.dst = v
		}
	}
}

func (p *parser) customerIn(m obj, dst *customer) {
	if v, ok := p.enum(m, "type", "customer.type", customerTypes, customerInts); ok {
		dst.typ = v
	}
	for _, f := range []struct {
		key, prop string
		dst       *string
	}{
		{"identitynumber", "customer.identityNumber", &dst.identityNumber},
		{"firstname", "customer.firstName", &dst.firstName},
		{"lastname", "customer.lastName", &dst.lastName},
		{"email", "customer.email", &dst.email},
		{"phone", "customer.phone", &dst.phone},
		{"street", "customer.street", &dst.street},
		{"postalcode", "customer.postalCode", &dst.postalCode},
		{"city", "customer.city", &dst.city},
		{"countrycode", "customer.countryCode", &dst.countryCode},
		{"reference", "customer.reference", &dst.reference},
	} {
		if v, ok := p.maxLen(m, f.key, f.prop, 200); ok {
			*f.dst = v
		}
	}
}

func (p *parser) guiIn(m obj, dst *gui) {
	if v, ok := p.enum(m, "colorscheme", "gui.colorScheme", colorSchemes, colorInts); ok {
		dst.colorScheme = v
	}
	if v, ok := p.str(m, "locale", "gui.locale"); ok && v != "" {
		dst.locale = strings.ToLower(v)
	}
	if v, ok := p.str(m, "verification", "gui.verification"); ok && v != "" {
		dst.verification = v
	}
	if v, ok := p.boolean(m, "requestphone", "gui.requestPhone"); ok {
		dst.requestPhone = v
	}
	if v, ok := p.boolean(m, "phoneoptional", "gui.phoneOptional"); ok {
		dst.phoneOptional = v
	}
	if v, ok := m["countries"]; ok && v != nil {
		arr, isArr := v.([]any)
		if !isArr {
			p.add("gui.countries", "must be an array of country codes")
			return
		}
		dst.countries = nil
		for i, e := range arr {
			s, ok := e.(string)
			if !ok || len(s) != 2 {
				p.add(fmt.Sprintf("gui.countries[%d]", i), "must be a two-letter country code")
				continue
			}
			dst.countries = append(dst.countries, strings.ToUpper(s))
		}
	}
}

var (
	ratZero = new(big.Rat)
	ratOne  = big.NewRat(1, 1)
)

// itemIn reads one item of a create (prev nil) or the new values of an
// existing one (prev given: absent members keep prev's values).
func (p *parser) itemIn(m obj, prefix string, prev *item) *item {
	it := &item{taxRate: new(big.Rat), discountRate: new(big.Rat), credited: new(big.Rat), typ: "physical"}
	if prev != nil {
		x := *prev
		it = &x
	}
	if v, ok := p.maxLen(m, "name", prefix+"name", 200); ok {
		it.name = v
	}
	if it.name == "" {
		p.add(prefix+"name", "is required (1 to 200 characters)")
	}
	if v, ok := p.num(m, "unitprice", prefix+"unitPrice"); ok {
		it.unitPrice = v
	}
	if it.unitPrice == nil {
		p.add(prefix+"unitPrice", "is required")
	} else if !twoDecimals(it.unitPrice) {
		p.add(prefix+"unitPrice", "must have at most 2 decimals")
	}
	if v, ok := p.num(m, "quantity", prefix+"quantity"); ok {
		it.quantity = v
	}
	if it.quantity == nil || it.quantity.Sign() <= 0 {
		p.add(prefix+"quantity", "is required and must be positive")
	}
	if v, ok := p.num(m, "taxrate", prefix+"taxRate"); ok {
		if v.Sign() < 0 || v.Cmp(ratOne) > 0 {
			p.add(prefix+"taxRate", "must be a fraction between 0.00 and 1.00 (0.25 for 25 %%)")
		}
		it.taxRate = v
	}
	if v, ok := p.num(m, "discountrate", prefix+"discountRate"); ok {
		if v.Sign() < 0 || v.Cmp(ratOne) > 0 {
			p.add(prefix+"discountRate", "must be a fraction between 0.00 and 1.00")
		}
		it.discountRate = v
	}
	if v, ok := p.maxLen(m, "reference", prefix+"reference", 100); ok {
		it.reference = v
	}
	if v, ok := p.str(m, "ean", prefix+"ean"); ok && v != "" {
		if len(v) < 8 || len(v) > 18 || strings.Trim(v, "0123456789") != "" {
			p.add(prefix+"ean", "must be 8 to 18 digits")
		}
		it.ean = v
	}
	if v, ok := p.str(m, "uri", prefix+"uri"); ok {
		it.uri = v
	}
	if v, ok := p.str(m, "imageuri", prefix+"imageUri"); ok {
		it.imageURI = v
	}
	if v, ok := p.enum(m, "type", prefix+"type", itemTypes, itemTypeInts); ok {
		it.typ = v
	}
	return it
}

func twoDecimals(r *big.Rat) bool {
	x := new(big.Rat).Mul(r, big.NewRat(100, 1))
	return x.IsInt()
}

// roundCents rounds r to 2 decimals, half away from zero.
func roundCents(r *big.Rat) *big.Rat {
	x := new(big.Rat).Mul(r, big.NewRat(100, 1))
	num := new(big.Int).Abs(x.Num())
	q, m := new(big.Int).QuoRem(num, x.Denom(), new(big.Int))
	if m.Mul(m, big.NewInt(2)).Cmp(x.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if x.Sign() < 0 {
		q.Neg(q)
	}
	return new(big.Rat).SetFrac(q, big.NewInt(100))
}

// totals of one item per D.7.
func (it *item) totals() (incl, excl, tax *big.Rat) {
	incl = new(big.Rat).Mul(it.unitPrice, it.quantity)
	incl.Mul(incl, new(big.Rat).Sub(ratOne, it.discountRate))
	incl = roundCents(incl)
	excl = roundCents(new(big.Rat).Quo(incl, new(big.Rat).Add(ratOne, it.taxRate)))
	tax = new(big.Rat).Sub(incl, excl)
	return incl, excl, tax
}

type orderTotals struct{ incl, excl, tax, credited, feeIncl, feeExcl *big.Rat }

func (c *checkout) totals() orderTotals {
	t := orderTotals{new(big.Rat), new(big.Rat), new(big.Rat), new(big.Rat), new(big.Rat), new(big.Rat)}
	for _, it := range c.items {
		in, ex, tx := it.totals()
		t.incl.Add(t.incl, in)
		t.excl.Add(t.excl, ex)
		t.tax.Add(t.tax, tx)
		t.credited.Add(t.credited, it.credited)
		if it.typ == "fee" {
			t.feeIncl.Add(t.feeIncl, in)
			t.feeExcl.Add(t.feeExcl, ex)
		}
	}
	return t
}

// Rendering: camelCase, every member of merchant, customer and gui present
// (PaysonCheckout-PHP reads them unchecked, I.18); amounts, rates and
// non-nullable fields never null (.NET, I.19).

// dec renders r with at least min decimals and exactly.
func dec(r *big.Rat, min int) json.Number {
	for n := min; n <= 12; n++ {
		s := r.FloatString(n)
		if back, ok := new(big.Rat).SetString(s); ok && back.Cmp(r) == 0 {
			return json.Number(s)
		}
	}
	return json.Number(r.FloatString(12))
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type merchantOut struct {
	CheckoutURI     *string `json:"checkoutUri"`
	ConfirmationURI *string `json:"confirmationUri"`
	NotificationURI *string `json:"notificationUri"`
	TermsURI        *string `json:"termsUri"`
	ValidationURI   *string `json:"validationUri"`
	Reference       *string `json:"reference"`
	PartnerID       *string `json:"partnerId"`
	IntegrationInfo *string `json:"integrationInfo"`
}

type customerOut struct {
	Type           string  `json:"type"`
	IdentityNumber *string `json:"identityNumber"`
	FirstName      *string `json:"firstName"`
	LastName       *string `json:"lastName"`
	Email          *string `json:"email"`
	Phone          *string `json:"phone"`
	Street         *string `json:"street"`
	PostalCode     *string `json:"postalCode"`
	City           *string `json:"city"`
	CountryCode    *string `json:"countryCode"`
	Reference      *string `json:"reference"`
}

type guiOut struct {
	ColorScheme   string   `json:"colorScheme"`
	Locale        string   `json:"locale"`
	RequestPhone  bool     `json:"requestPhone"`
	PhoneOptional bool     `json:"phoneOptional"`
	Countries     []string `json:"countries"`
	Verification  string   `json:"verification"`
}

type itemOut struct {
	ItemID                 string      `json:"itemId"`
	Name                   string      `json:"name"`
	UnitPrice              json.Number `json:"unitPrice"`
	Quantity               json.Number `json:"quantity"`
	TaxRate                json.Number `json:"taxRate"`
	DiscountRate           json.Number `json:"discountRate"`
	Reference              string      `json:"reference"`
	EAN                    *string     `json:"ean"`
	URI                    *string     `json:"uri"`
	ImageURI               *string     `json:"imageUri"`
	Type                   string      `json:"type"`
	CreditedAmount         json.Number `json:"creditedAmount"`
	TotalPriceExcludingTax json.Number `json:"totalPriceExcludingTax"`
	TotalPriceIncludingTax json.Number `json:"totalPriceIncludingTax"`
	TotalTaxAmount         json.Number `json:"totalTaxAmount"`
}

type orderOut struct {
	Currency               string      `json:"currency"`
	Items                  []itemOut   `json:"items"`
	TotalPriceExcludingTax json.Number `json:"totalPriceExcludingTax"`
	TotalPriceIncludingTax json.Number `json:"totalPriceIncludingTax"`
	TotalTaxAmount         json.Number `json:"totalTaxAmount"`
	TotalCreditedAmount    json.Number `json:"totalCreditedAmount"`
	TotalFeeExcludingTax   json.Number `json:"totalFeeExcludingTax"`
	TotalFeeIncludingTax   json.Number `json:"totalFeeIncludingTax"`
}

type checkoutOut struct {
	ID             string            `json:"id"`
	Status         string            `json:"status"`
	Snippet        string            `json:"snippet"`
	PurchaseID     *int64            `json:"purchaseId"`
	Description    *string           `json:"description"`
	ExpirationTime *string           `json:"expirationTime"`
	Merchant       merchantOut       `json:"merchant"`
	Customer       customerOut       `json:"customer"`
	Order          orderOut          `json:"order"`
	Gui            guiOut            `json:"gui"`
	History        map[string]string `json:"history"`
	PaymentType    *string           `json:"paymentType"` // [I] how the customer paid
}

const timeLayout = "2006-01-02T15:04:05.0000000Z07:00" // .NET's round-trip shape

// SnippetURL is the customer's page of a checkout on base.
func SnippetURL(base, id string) string { return base + "/sim/payson/checkout?id=" + id }

func snippet(base, id string) string {
	return `<iframe id="paysonIframe" src="` + SnippetURL(base, id) +
		`" style="width:100%;height:720px;border:0" allowfullscreen></iframe>`
}

func (c *checkout) render() checkoutOut {
	t := c.totals()
	out := checkoutOut{ID: c.id, Status: c.status, Snippet: snippet(c.base, c.id),
		Description: nullable(c.description), PaymentType: nullable(c.paymentType),
		History: map[string]string{}}
	if c.purchaseID != 0 {
		id := c.purchaseID
		out.PurchaseID = &id
	}
	if !c.expiration.IsZero() {
		s := c.expiration.UTC().Format(timeLayout)
		out.ExpirationTime = &s
	}
	m := c.merchant
	out.Merchant = merchantOut{nullable(m.checkoutURI), nullable(m.confirmationURI), nullable(m.notificationURI),
		nullable(m.termsURI), nullable(m.validationURI), nullable(m.reference), nullable(m.partnerID), nullable(m.integrationInfo)}
	cu := c.customer
	typ := cu.typ
	if typ == "" {
		typ = "person"
	}
	out.Customer = customerOut{typ, nullable(cu.identityNumber), nullable(cu.firstName), nullable(cu.lastName),
		nullable(cu.email), nullable(cu.phone), nullable(cu.street), nullable(cu.postalCode), nullable(cu.city),
		nullable(cu.countryCode), nullable(cu.reference)}
	g := c.gui
	out.Gui = guiOut{ColorScheme: g.colorScheme, Locale: g.locale, RequestPhone: g.requestPhone,
		PhoneOptional: g.phoneOptional, Countries: g.countries, Verification: g.verification}
	if out.Gui.ColorScheme == "" {
		out.Gui.ColorScheme = "white"
	}
	if out.Gui.Locale == "" {
		out.Gui.Locale = "sv"
	}
	if out.Gui.Verification == "" {
		out.Gui.Verification = "none"
	}
	if out.Gui.Countries == nil {
		out.Gui.Countries = []string{}
	}
	out.Order = orderOut{Currency: c.currency, Items: []itemOut{},
		TotalPriceExcludingTax: dec(t.excl, 2), TotalPriceIncludingTax: dec(t.incl, 2), TotalTaxAmount: dec(t.tax, 2),
		TotalCreditedAmount: dec(t.credited, 2), TotalFeeExcludingTax: dec(t.feeExcl, 2), TotalFeeIncludingTax: dec(t.feeIncl, 2)}
	for _, it := range c.items {
		in, ex, tx := it.totals()
		ref := it.reference
		if ref == "" {
			ref = it.id[:8] // PHP reads reference unchecked and wants it non-empty (I.18)
		}
		out.Order.Items = append(out.Order.Items, itemOut{ItemID: it.id, Name: it.name,
			UnitPrice: dec(it.unitPrice, 2), Quantity: dec(it.quantity, 2), TaxRate: dec(it.taxRate, 2),
			DiscountRate: dec(it.discountRate, 2), Reference: ref, EAN: nullable(it.ean), URI: nullable(it.uri),
			ImageURI: nullable(it.imageURI), Type: it.typ, CreditedAmount: dec(it.credited, 2),
			TotalPriceExcludingTax: dec(ex, 2), TotalPriceIncludingTax: dec(in, 2), TotalTaxAmount: dec(tx, 2)})
	}
	for _, k := range historyKeys {
		if at, ok := c.history[k]; ok {
			out.History[k] = at.UTC().Format(timeLayout)
		}
	}
	return out
}

// parseTime reads an expirationTime: RFC 3339, or without a zone (UTC).
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02T15:04:05.999999999", s)
}
