package resurs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/posd/posd/internal/payment"
	"go.uber.org/zap"
)

// POSConfig configures the Checkout POS REST client (spec A).
type POSConfig struct {
	// URL is the POS base, e.g. https://postest.resurs.com/pos (the
	// /checkout prefix of Resurs's PHP library works too).
	URL      string
	Username string // web-service account, also used by After Shop
	Password string
	Transport
}

// POS is the Checkout POS REST client. Safe for concurrent use.
type POS struct {
	base     string
	user, pw string
	http     *http.Client
	log      *zap.Logger
}

// NewPOS checks cfg and returns a client. It sends nothing.
func NewPOS(cfg POSConfig) (*POS, error) {
	base, err := checkBase("pos_url", cfg.URL)
	if err != nil {
		return nil, err
	}
	return &POS{base: base, user: cfg.Username, pw: cfg.Password, http: cfg.client(), log: cfg.logger().With(zap.String("component", "resurs-pos"))}, nil
}

// SessionRequest is the body of POST /payments/{orderReference} (A.3).
type SessionRequest struct {
	OrderLines                []OrderLine    `json:"orderLines"`
	MetaData                  []MetaData     `json:"metaData,omitempty"`
	Customer                  *SessionPerson `json:"customer,omitempty"`
	SuccessURL                string         `json:"successUrl,omitempty"`
	BackURL                   string         `json:"backUrl,omitempty"`
	PaymentCreatedCallbackURL string         `json:"paymentCreatedCallbackUrl,omitempty"`
	ShopURL                   string         `json:"shopUrl,omitempty"`
	StoreID                   string         `json:"storeId,omitempty"`
}

// OrderLine is one line of a POS session. Resurs computes the line total as
// quantity x unitAmountWithoutVat x (1 + vatPct/100).
type OrderLine struct {
	ArtNo                string  `json:"artNo"`
	Description          string  `json:"description"`
	Quantity             Decimal `json:"quantity"`
	UnitMeasure          string  `json:"unitMeasure"`
	UnitAmountWithoutVat Decimal `json:"unitAmountWithoutVat"`
	VatPct               Decimal `json:"vatPct"`
	Type                 string  `json:"type,omitempty"` // ORDER_LINE, DISCOUNT, SHIPPING_FEE
}

// Order line types.
const (
	LineOrder    = "ORDER_LINE"
	LineDiscount = "DISCOUNT"
)

// SessionPerson is the customer pre-fill of a session (the cashier may change it).
type SessionPerson struct {
	GovernmentID string `json:"governmentId,omitempty"`
	Mobile       string `json:"mobile,omitempty"`
	Email        string `json:"email,omitempty"`
}

// SessionResponse is the answer to a session POST.
type SessionResponse struct {
	PaymentSessionID string `json:"paymentSessionId"`
	HTML             string `json:"html"`
	// IframeURL is the src of the iframe in HTML, "" when there is none.
	IframeURL string `json:"-"`
}

// Operation names of the REST client, for errors and logs.
const (
	opCreateSession = "createSession"
	opGetOrder      = "getOrder"
)

// ValidOrderReference checks posd's rule for order references,
// [A-Za-z0-9-]{1,32}: the characters Resurs allows, and the length that also
// works when Nets card payments may occur (A.2).
func ValidOrderReference(ref string) error {
	if ref == "" || len(ref) > 32 {
		return fmt.Errorf("order reference %q must be 1 to 32 characters", ref)
	}
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("order reference %q may hold only A-Z, a-z, 0-9 and '-'", ref)
		}
	}
	return nil
}

// CreateSession creates, or replaces while nothing is booked, the payment
// session of orderReference (A.2). Re-posting a reference makes the previous
// session obsolete; after a booking Resurs answers 400 "OrderReference
// already exists" (an *APIError). An error that does not match ErrNotSent
// may have created the session.
func (c *POS) CreateSession(ctx context.Context, ref string, req SessionRequest) (SessionResponse, error) {
	if err := ValidOrderReference(ref); err != nil {
		return SessionResponse{}, invalid(opCreateSession, err)
	}
	if err := req.check(); err != nil {
		return SessionResponse{}, invalid(opCreateSession, err)
	}
	r, err := rest(ctx, c.http, c.log, opCreateSession, http.MethodPost, c.base+"/payments/"+url.PathEscape(ref), req, c.auth)
	if err != nil {
		return SessionResponse{}, err
	}
	var out SessionResponse
	// EComPHP decides by the presence of paymentSessionId, not by the
	// status: a 200 without one is no session, and an error shape with one
	// is not trusted either.
	if r.status/100 == 2 {
		if err := json.Unmarshal(r.body, &out); err != nil {
			return SessionResponse{}, fmt.Errorf("resurs %s: bad response (HTTP %d): %w", opCreateSession, r.status, err)
		}
		if out.PaymentSessionID == "" {
			return SessionResponse{}, fmt.Errorf("resurs %s: HTTP %d without a paymentSessionId", opCreateSession, r.status)
		}
		out.IframeURL = iframeSrc(out.HTML)
		return out, nil
	}
	return SessionResponse{}, apiErrorOf(opCreateSession, r)
}

// GetPayment reads the payment booked under orderReference (A.5). Before a
// booking Resurs answers 404: the error matches ErrNotFound.
func (c *POS) GetPayment(ctx context.Context, ref string) (Payment, error) {
	if err := ValidOrderReference(ref); err != nil {
		return Payment{}, invalid(opGetOrder, err)
	}
	r, err := rest(ctx, c.http, c.log, opGetOrder, http.MethodGet, c.base+"/payments/"+url.PathEscape(ref), nil, c.auth)
	if err != nil {
		return Payment{}, err
	}
	if r.status != http.StatusOK {
		return Payment{}, apiErrorOf(opGetOrder, r)
	}
	return decodePaymentJSON(r.body)
}

func decodePaymentJSON(b []byte) (Payment, error) {
	var p Payment
	if len(strings.TrimSpace(string(b))) == 0 {
		return Payment{}, fmt.Errorf("resurs %s: %w", opGetOrder, errEmptyBody)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return Payment{}, fmt.Errorf("resurs %s: bad payment: %w", opGetOrder, err)
	}
	if p.ID == "" {
		return Payment{}, fmt.Errorf("resurs %s: payment without an id", opGetOrder)
	}
	return p, nil
}

func (c *POS) auth(r *http.Request) { r.SetBasicAuth(c.user, c.pw) }

func (r *SessionRequest) check() error {
	if len(r.OrderLines) == 0 {
		return errors.New("orderLines is empty")
	}
	for i, l := range r.OrderLines {
		switch {
		case l.Quantity == "" || l.UnitAmountWithoutVat == "" || l.VatPct == "":
			return fmt.Errorf("orderLines %d: quantity, unitAmountWithoutVat and vatPct are required", i+1)
		case l.VatPct.Sign() < 0 || l.VatPct.Cmp("100") > 0:
			return fmt.Errorf("orderLines %d: vatPct %s is not 0..100", i+1, l.VatPct)
		case l.Description == "" || !utf8.ValidString(l.Description):
			return fmt.Errorf("orderLines %d: description is empty or not UTF-8", i+1)
		}
	}
	for _, m := range r.MetaData {
		switch m.Key {
		case "CustomerId":
			if utf8.RuneCountInString(m.Value) > 20 {
				return errors.New("metaData CustomerId is longer than 20 characters")
			}
		case "invoiceExtRef":
			if utf8.RuneCountInString(m.Value) > 46 {
				return errors.New("metaData invoiceExtRef is longer than 46 characters")
			}
		}
	}
	return nil
}

// iframeSrc returns the src of the first iframe in html.
func iframeSrc(html string) string {
	i := strings.Index(asciiLower(html), "<iframe")
	if i < 0 {
		return ""
	}
	rest := html[i:]
	end := strings.IndexByte(rest, '>')
	if end >= 0 {
		rest = rest[:end]
	}
	low := asciiLower(rest) // same length as rest, so indices carry over
	for j := 0; ; {
		k := strings.Index(low[j:], "src")
		if k < 0 {
			return ""
		}
		k += j
		j = k + 3
		if k > 0 && !isSpace(low[k-1]) {
			continue
		}
		v := strings.TrimLeft(rest[j:], " \t\r\n")
		if !strings.HasPrefix(v, "=") {
			continue
		}
		v = strings.TrimLeft(v[1:], " \t\r\n")
		if v == "" {
			return ""
		}
		q := v[0]
		if q == '"' || q == '\'' {
			if e := strings.IndexByte(v[1:], q); e >= 0 {
				return unescapeAttr(v[1 : 1+e])
			}
			return ""
		}
		if e := strings.IndexAny(v, " \t\r\n>"); e >= 0 {
			v = v[:e]
		}
		return unescapeAttr(v)
	}
}

// asciiLower lowers A-Z only; unlike strings.ToLower it never changes the
// length (invalid UTF-8 stays as it is).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func unescapeAttr(s string) string {
	return strings.NewReplacer("&amp;", "&", "&quot;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// netPlaces is how many decimals a computed net unit amount is sent with.
// Resurs wants unrounded values (B.7); 8 decimals keep the recomputed line
// total within a millionth of an öre per unit, far inside its 0.05 tolerance.
const netPlaces = 8

// Tolerance is Resurs's accepted difference per line and per total (B.7).
var Tolerance = big.NewRat(5, 100)

// LinesOf builds POS order lines from receipt rows (gross amounts incl. VAT):
// the net unit amount is total / (quantity x (1 + vatPct/100)), computed
// exactly and sent with up to 8 decimals. A row without a tax rate (a
// balancing row) is sent at 0 % VAT. Each line is checked against the 0.05
// tolerance, and so is the sum.
func LinesOf(rows []payment.Row) ([]OrderLine, error) {
	lines := make([]OrderLine, 0, len(rows))
	want, got := new(big.Rat), new(big.Rat)
	for i, r := range rows {
		l, total, err := lineOf(i, r)
		if err != nil {
			return nil, err
		}
		want.Add(want, DecimalOfAmount(r.Total).Rat())
		got.Add(got, total)
		lines = append(lines, l)
	}
	if d := new(big.Rat).Sub(want, got); d.Abs(d).Cmp(Tolerance) > 0 {
		return nil, fmt.Errorf("order lines sum to %s, not %s", got.FloatString(5), want.FloatString(2))
	}
	return lines, nil
}

func lineOf(i int, r payment.Row) (OrderLine, *big.Rat, error) {
	qty, err := ParseDecimal(r.Quantity)
	if err != nil || qty.Sign() <= 0 {
		return OrderLine{}, nil, fmt.Errorf("row %d: quantity %q is not a positive decimal", i+1, r.Quantity)
	}
	vat := Decimal("0")
	if r.TaxRate != "" {
		if vat, err = ParseDecimal(r.TaxRate); err != nil || vat.Sign() < 0 || vat.Cmp("100") > 0 {
			return OrderLine{}, nil, fmt.Errorf("row %d: tax rate %q is not a percentage 0..100", i+1, r.TaxRate)
		}
	}
	if strings.TrimSpace(r.Description) == "" {
		return OrderLine{}, nil, fmt.Errorf("row %d: description is empty", i+1)
	}
	factor := new(big.Rat).Add(big.NewRat(1, 1), new(big.Rat).Quo(vat.Rat(), big.NewRat(100, 1)))
	gross := DecimalOfAmount(r.Total).Rat()
	net := new(big.Rat).Quo(gross, new(big.Rat).Mul(qty.Rat(), factor))
	netDec := decimalOfRat(net, netPlaces)
	total := new(big.Rat).Mul(new(big.Rat).Mul(netDec.Rat(), qty.Rat()), factor)
	if d := new(big.Rat).Sub(total, gross); d.Abs(d).Cmp(Tolerance) > 0 {
		return OrderLine{}, nil, fmt.Errorf("row %d: cannot be sent within Resurs's 0.05 tolerance", i+1)
	}
	art := firstNonEmpty(r.SKU, r.EAN, fmt.Sprintf("%d", i+1))
	typ := LineOrder
	if r.Total < 0 {
		typ = LineDiscount
	}
	return OrderLine{
		ArtNo:                art,
		Description:          r.Description,
		Quantity:             qty,
		UnitMeasure:          "st",
		UnitAmountWithoutVat: netDec,
		VatPct:               vat,
		Type:                 typ,
	}, total, nil
}
