package resurs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/posd/posd/internal/soap"
	"go.uber.org/zap"
)

// AfterShopNS is the namespace of the After Shop request and response
// wrappers; their children are unqualified (B.2).
const AfterShopNS = "http://ecommerce.resurs.com/v4/msg/aftershopflow"

// envelope is how After Shop requests are written: Resurs's documented
// skeleton, prefix "aft" for the wrapper.
var envelope = soap.Envelope{
	Prefix:     "soapenv",
	Namespaces: []soap.Namespace{{Prefix: "aft", URI: AfterShopNS}},
	Header:     true,
}

// AfterShopConfig configures the After Shop SOAP client (spec B).
type AfterShopConfig struct {
	// URL is the service endpoint, e.g.
	// https://test.resurs.com/ecommerce-test/ws/V4/AfterShopFlowService.
	URL      string
	Username string
	Password string
	Transport
}

// AfterShop is the After Shop SOAP client. Safe for concurrent use. Resurs
// has no idempotency: after an error that does not match ErrNotSent, read the
// payment back (GetPayment) and compare its diffs before any retry (spec F).
type AfterShop struct {
	caller *soap.Caller
	log    *zap.Logger
	pw     string
}

// NewAfterShop checks cfg and returns a client. It sends nothing.
func NewAfterShop(cfg AfterShopConfig) (*AfterShop, error) {
	u, err := checkBase("aftershop_url", cfg.URL)
	if err != nil {
		return nil, err
	}
	return &AfterShop{
		caller: &soap.Caller{URL: u, HTTP: cfg.client(), Username: cfg.Username, Password: cfg.Password},
		log:    cfg.logger().With(zap.String("component", "resurs-aftershop")),
		pw:     cfg.Password,
	}, nil
}

// Operation names: the wrapper element of each request (B.3).
const (
	OpFinalizePayment          = "finalizePayment"
	OpAnnulPayment             = "annulPayment"
	OpCreditPayment            = "creditPayment"
	OpAdditionalDebitOfPayment = "additionalDebitOfPayment"
	OpAddMetaData              = "addMetaData"
	OpGetPayment               = "getPayment"
	OpFindPayments             = "findPayments"
	OpCalculateResultSize      = "calculateResultSize"
	OpGetPaymentDocumentNames  = "getPaymentDocumentNames"
	OpGetPaymentDocument       = "getPaymentDocument"
)

// Invoice delivery types of finalize and credit.
const (
	DeliveryNone   = "NONE"
	DeliveryEmail  = "EMAIL"
	DeliveryPostal = "POSTAL"
)

// FinalizeRequest finalizes (debits) all or part of a payment.
type FinalizeRequest struct {
	PaymentID              string
	PreferredTransactionID string // printed in accounting; not for card/Swish
	Spec                   *Spec  // nil: finalize everything remaining
	CreatedBy              string
	OrderID                string
	OrderDate              time.Time // INVOICE methods only; sent as yyyy-MM-dd
	InvoiceID              string    // INVOICE methods only
	InvoiceDate            time.Time // INVOICE methods only
	InvoiceDeliveryType    string    // NONE, EMAIL (Resurs's default), POSTAL
}

// AnnulRequest annuls all or part of what is not yet finalized.
type AnnulRequest struct {
	PaymentID string
	Spec      *Spec // nil: annul everything remaining
	CreatedBy string
}

// CreditRequest credits (refunds) all or part of what was finalized.
type CreditRequest struct {
	PaymentID              string
	PreferredTransactionID string
	Spec                   *Spec // nil: credit everything remaining
	CreatedBy              string
	CreditNoteID           string    // INVOICE methods only
	CreditNoteDate         time.Time // INVOICE methods only
	InvoiceDeliveryType    string
}

// AdditionalDebitRequest adds lines to a payment (up to its limit).
type AdditionalDebitRequest struct {
	PaymentID string
	Spec      Spec // sent as paymentSpec
	CreatedBy string
}

const dateLayout = "2006-01-02"

// FinalizePayment calls finalizePayment. It answers nothing on success.
func (c *AfterShop) FinalizePayment(ctx context.Context, r FinalizeRequest) error {
	w := c.begin(OpFinalizePayment, r.PaymentID)
	w.Opt("preferredTransactionId", r.PreferredTransactionID)
	writeSpec(w, "partPaymentSpec", r.Spec)
	w.Opt("createdBy", r.CreatedBy)
	w.Opt("orderId", r.OrderID)
	optDate(w, "orderDate", r.OrderDate)
	w.Opt("invoiceId", r.InvoiceID)
	optDate(w, "invoiceDate", r.InvoiceDate)
	optDelivery(w, r.InvoiceDeliveryType)
	_, err := c.call(ctx, OpFinalizePayment, w)
	return err
}

// AnnulPayment calls annulPayment.
func (c *AfterShop) AnnulPayment(ctx context.Context, r AnnulRequest) error {
	w := c.begin(OpAnnulPayment, r.PaymentID)
	writeSpec(w, "partPaymentSpec", r.Spec)
	w.Opt("createdBy", r.CreatedBy)
	_, err := c.call(ctx, OpAnnulPayment, w)
	return err
}

// CreditPayment calls creditPayment.
func (c *AfterShop) CreditPayment(ctx context.Context, r CreditRequest) error {
	w := c.begin(OpCreditPayment, r.PaymentID)
	w.Opt("preferredTransactionId", r.PreferredTransactionID)
	writeSpec(w, "partPaymentSpec", r.Spec)
	w.Opt("createdBy", r.CreatedBy)
	w.Opt("creditNoteId", r.CreditNoteID)
	optDate(w, "creditNoteDate", r.CreditNoteDate)
	optDelivery(w, r.InvoiceDeliveryType)
	_, err := c.call(ctx, OpCreditPayment, w)
	return err
}

// AdditionalDebitOfPayment calls additionalDebitOfPayment.
func (c *AfterShop) AdditionalDebitOfPayment(ctx context.Context, r AdditionalDebitRequest) error {
	w := c.begin(OpAdditionalDebitOfPayment, r.PaymentID)
	if len(r.Spec.Lines) == 0 {
		w.Fail("paymentSpec", "has no lines")
	}
	writeSpec(w, "paymentSpec", &r.Spec)
	w.Opt("createdBy", r.CreatedBy)
	_, err := c.call(ctx, OpAdditionalDebitOfPayment, w)
	return err
}

// AddMetaData sets key to value on a payment (a second call overwrites).
func (c *AfterShop) AddMetaData(ctx context.Context, paymentID, key, value string) error {
	w := c.begin(OpAddMetaData, paymentID)
	w.Required("key", key)
	w.Opt("value", value)
	_, err := c.call(ctx, OpAddMetaData, w)
	return err
}

// GetPayment reads a payment. An unknown id is a *Fault matching ErrNotFound.
func (c *AfterShop) GetPayment(ctx context.Context, paymentID string) (Payment, error) {
	w := c.begin(OpGetPayment, paymentID)
	ret, err := c.call(ctx, OpGetPayment, w)
	if err != nil {
		return Payment{}, err
	}
	r := ret.Child("return")
	if r == nil {
		return Payment{}, fmt.Errorf("resurs %s: response has no return", OpGetPayment)
	}
	p, err := paymentOf(r)
	if err != nil {
		return Payment{}, fmt.Errorf("resurs %s: %w", OpGetPayment, err)
	}
	return p, nil
}

// SearchCriteria selects payments for findPayments and calculateResultSize.
// Every field is optional; zero values are left out.
type SearchCriteria struct {
	AnyID                      string
	PaymentMethodID            string
	GovernmentID               string
	CustomerName               string
	BookedFrom, BookedTo       time.Time
	ModifiedFrom, ModifiedTo   time.Time
	FinalizedFrom, FinalizedTo time.Time
	AmountFrom, AmountTo       Decimal
	BonusFrom, BonusTo         Decimal
	Frozen                     *bool
	MetaDataKey                string // withMetaData
	MetaDataValue              string
	StatusSet                  []string
	StatusNotSet               []string
	BonusIsUsed                *bool
}

// Sort columns of findPayments.
const (
	SortPaymentID    = "PAYMENT_ID"
	SortBookedTime   = "BOOKED_TIME"
	SortModifiedTime = "MODIFIED_TIME"
	SortAmount       = "AMOUNT"
)

// SortOrder orders findPayments results.
type SortOrder struct {
	Ascending bool
	Columns   []string
}

// BasicPayment is one findPayments result.
type BasicPayment struct {
	PaymentID         string
	PaymentMethodID   string
	PaymentMethodName string
	GovernmentID      string
	FullName          string
	Booked            Time
	Modified          Time
	Finalized         Time
	TotalAmount       Decimal
	Frozen            bool
	Status            []string
	TotalBonusPoints  Decimal
}

// FindPayments lists payments; pageNumber is 1-based (0: Resurs's default),
// itemsPerPage 0 leaves it to Resurs. Results may be minutes old: use
// GetPayment for fresh state.
func (c *AfterShop) FindPayments(ctx context.Context, sc SearchCriteria, pageNumber, itemsPerPage int, sort *SortOrder) ([]BasicPayment, error) {
	w := c.beginNoID(OpFindPayments)
	writeCriteria(w, sc)
	if pageNumber > 0 {
		w.Int("pageNumber", int64(pageNumber))
	}
	if itemsPerPage > 0 {
		w.Int("itemsPerPage", int64(itemsPerPage))
	}
	if sort != nil {
		if len(sort.Columns) == 0 {
			w.Fail("sortBy.sortColumns", "is empty")
		}
		w.Start("sortBy")
		w.Bool("ascending", sort.Ascending)
		for _, col := range sort.Columns {
			w.Required("sortColumns", col)
		}
		w.End("sortBy")
	}
	ret, err := c.call(ctx, OpFindPayments, w)
	if err != nil {
		return nil, err
	}
	var out []BasicPayment
	for i, r := range ret.Children("return") {
		bp, err := basicPaymentOf(r)
		if err != nil {
			return nil, fmt.Errorf("resurs %s: return %d: %w", OpFindPayments, i+1, err)
		}
		out = append(out, bp)
	}
	return out, nil
}

// CalculateResultSize counts the payments findPayments would list.
func (c *AfterShop) CalculateResultSize(ctx context.Context, sc SearchCriteria) (int, error) {
	w := c.beginNoID(OpCalculateResultSize)
	writeCriteria(w, sc)
	ret, err := c.call(ctx, OpCalculateResultSize, w)
	if err != nil {
		return 0, err
	}
	s := ret.Str("return")
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("resurs %s: return %q is not a count", OpCalculateResultSize, s)
	}
	return n, nil
}

// GetPaymentDocumentNames lists a payment's PDF documents.
func (c *AfterShop) GetPaymentDocumentNames(ctx context.Context, paymentID string) ([]string, error) {
	w := c.begin(OpGetPaymentDocumentNames, paymentID)
	ret, err := c.call(ctx, OpGetPaymentDocumentNames, w)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range ret.Children("return") {
		if s := strings.TrimSpace(r.Text); s != "" {
			names = append(names, s)
		}
	}
	return names, nil
}

// Document is a payment's PDF document.
type Document struct {
	Name string
	PDF  []byte
}

// GetPaymentDocument fetches one PDF document of a payment.
func (c *AfterShop) GetPaymentDocument(ctx context.Context, paymentID, name string) (Document, error) {
	w := c.begin(OpGetPaymentDocument, paymentID)
	w.Required("documentName", name)
	ret, err := c.call(ctx, OpGetPaymentDocument, w)
	if err != nil {
		return Document{}, err
	}
	r := ret.Child("return")
	if r == nil {
		return Document{}, fmt.Errorf("resurs %s: response has no return", OpGetPaymentDocument)
	}
	data := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1 // xs:base64Binary may be wrapped over lines
		}
		return r
	}, r.Str("pdfData"))
	pdf, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return Document{}, fmt.Errorf("resurs %s: pdfData is not base64: %w", OpGetPaymentDocument, err)
	}
	return Document{Name: r.Str("name"), PDF: pdf}, nil
}

func (c *AfterShop) begin(op, paymentID string) *soap.Writer {
	w := soap.NewWriter(envelope)
	w.Start("aft:" + op)
	w.Required("paymentId", paymentID)
	return w
}

func (c *AfterShop) beginNoID(op string) *soap.Writer {
	w := soap.NewWriter(envelope)
	w.Start("aft:" + op)
	return w
}

// call finishes the request, sends it and returns the response wrapper.
func (c *AfterShop) call(ctx context.Context, op string, w *soap.Writer) (*soap.Node, error) {
	w.End("aft:" + op)
	doc, err := w.Finish()
	if err != nil {
		return nil, invalid(op, err)
	}
	start := time.Now()
	resp, err := c.caller.Call(ctx, doc)
	if ce := c.log.Check(zap.DebugLevel, "resurs call"); ce != nil {
		// Requests carry no password (it is in the Authorization header);
		// the password is masked in what the server sends, in case it echoes it.
		fields := []zap.Field{zap.String("op", op), zap.Duration("duration", time.Since(start)), zap.ByteString("request", doc)}
		if resp != nil {
			fields = append(fields, zap.Int("status", resp.Status), zap.Int("responseBytes", len(resp.Raw)))
			if err != nil {
				// Only failed answers are dumped: a payment carries the
				// customer's identity number and address.
				fields = append(fields, zap.ByteString("response", mask(resp.Raw, c.pw)))
			}
		}
		if err != nil {
			fields = append(fields, zap.String("error", string(mask([]byte(err.Error()), c.pw))))
		}
		ce.Write(fields...)
	}
	var sf *soap.Fault
	var he *soap.HTTPError
	switch {
	case errors.As(err, &sf):
		f := faultOf(op, sf)
		f.FaultString = string(mask([]byte(f.FaultString), c.pw))
		return nil, f
	case errors.As(err, &he) && he.Status == 401:
		return nil, fmt.Errorf("resurs %s: %w (HTTP 401)", op, ErrUnauthorized)
	case err != nil:
		return nil, fmt.Errorf("resurs %s: %w", op, err)
	}
	if want := op + "Response"; !resp.Body.Is(AfterShopNS, want) {
		return nil, fmt.Errorf("resurs %s: unexpected response element {%s}%s, want %s", op, resp.Body.Space, resp.Body.Local, want)
	}
	return resp.Body, nil
}

func mask(b []byte, secret string) []byte {
	if secret == "" {
		return b
	}
	return []byte(strings.ReplaceAll(string(b), secret, "***"))
}

func optDate(w *soap.Writer, name string, t time.Time) {
	if !t.IsZero() {
		w.Elem(name, t.Format(dateLayout))
	}
}

func optDelivery(w *soap.Writer, v string) {
	switch v {
	case "":
	case DeliveryNone, DeliveryEmail, DeliveryPostal:
		w.Elem("invoiceDeliveryType", v)
	default:
		w.Fail("invoiceDeliveryType", "%q is not NONE, EMAIL or POSTAL", v)
	}
}

// writeSpec writes a paymentSpec under name, in XSD order: specLines*,
// totalAmount, totalVatAmount (left out without lines, as the XSD wants),
// bonusPoints.
func writeSpec(w *soap.Writer, name string, s *Spec) {
	if s == nil {
		return
	}
	w.Start(name)
	for i, l := range s.Lines {
		w.Where(fmt.Sprintf("%s.specLines %d: ", name, i+1))
		w.Start("specLines")
		w.Required("id", l.ID)
		w.Required("artNo", l.ArtNo)
		w.Required("description", l.Description)
		w.Decimal("quantity", string(l.Quantity))
		w.Required("unitMeasure", l.UnitMeasure)
		w.Decimal("unitAmountWithoutVat", string(l.UnitAmountWithoutVat))
		w.Decimal("vatPct", string(l.VatPct))
		w.Decimal("totalVatAmount", string(l.TotalVatAmount))
		w.Decimal("totalAmount", string(l.TotalAmount))
		w.End("specLines")
	}
	w.Where(name + ": ")
	if s.TotalAmount.Sign() < 0 {
		w.Fail("totalAmount", "is negative")
	}
	w.Decimal("totalAmount", string(s.TotalAmount))
	if len(s.Lines) > 0 && s.TotalVatAmount != "" {
		w.Decimal("totalVatAmount", string(s.TotalVatAmount))
	}
	if s.BonusPoints != "" {
		w.Decimal("bonusPoints", string(s.BonusPoints))
	}
	w.Where("")
	w.End(name)
}

const criteriaTime = "2006-01-02T15:04:05.000Z07:00"

func writeCriteria(w *soap.Writer, sc SearchCriteria) {
	w.Start("searchCriteria")
	w.Opt("anyId", sc.AnyID)
	w.Opt("paymentMethodId", sc.PaymentMethodID)
	w.Opt("governmentId", sc.GovernmentID)
	w.Opt("customerName", sc.CustomerName)
	for _, t := range []struct {
		name string
		t    time.Time
	}{
		{"bookedFrom", sc.BookedFrom}, {"bookedTo", sc.BookedTo},
		{"modifiedFrom", sc.ModifiedFrom}, {"modifiedTo", sc.ModifiedTo},
		{"finalizedFrom", sc.FinalizedFrom}, {"finalizedTo", sc.FinalizedTo},
	} {
		if !t.t.IsZero() {
			w.Elem(t.name, t.t.Format(criteriaTime))
		}
	}
	for _, d := range []struct {
		name string
		d    Decimal
	}{{"amountFrom", sc.AmountFrom}, {"amountTo", sc.AmountTo}, {"bonusFrom", sc.BonusFrom}, {"bonusTo", sc.BonusTo}} {
		if d.d != "" {
			w.Decimal(d.name, string(d.d))
		}
	}
	if sc.Frozen != nil {
		w.Bool("frozen", *sc.Frozen)
	}
	if sc.MetaDataKey != "" {
		w.Start("withMetaData")
		w.Elem("withMetaDataKey", sc.MetaDataKey)
		w.Opt("withMetaDataValue", sc.MetaDataValue)
		w.End("withMetaData")
	}
	if len(sc.StatusNotSet) > 100 {
		w.Fail("statusNotSet", "has %d entries, at most 100 allowed", len(sc.StatusNotSet))
	}
	for _, s := range sc.StatusSet {
		w.Required("statusSet", s)
	}
	for _, s := range sc.StatusNotSet {
		w.Required("statusNotSet", s)
	}
	if sc.BonusIsUsed != nil {
		w.Bool("bonusIsUsed", *sc.BonusIsUsed)
	}
	w.End("searchCriteria")
}
