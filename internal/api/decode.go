package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/register"
)

// Limits of a payment request. The body limit (64 KiB) caps the rest.
const (
	maxRows        = 200
	maxAmount      = money.Amount(100_000_000_00) // 100 million: far above any till sale, far below overflow
	maxText        = 200
	maxIDText      = 64
	maxIdemKeyLen  = 255
	maxScanSeconds = 300
)

// decodeJSON reads exactly one JSON object into v, refusing unknown fields
// and naming the field in every error it can.
func decodeJSON(r *http.Request, v any) error {
	if err := checkContentType(r); err != nil {
		return err
	}
	return decodeJSONBytes(r.Body, v)
}

// checkContentType accepts application/json (or +json), no Content-Type,
// and application/x-www-form-urlencoded, which is what `curl -d` sends: the
// body is parsed as JSON whatever the label, and no HTML form can carry the
// bearer token or pass the Origin check anyway. Anything else (text/plain,
// multipart) is refused rather than guessed at.
func checkContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "application/x-www-form-urlencoded") {
		return nil
	}
	return &httpError{status: http.StatusUnsupportedMediaType, slug: "unsupported-media-type", title: "Unsupported media type",
		detail: "the body must be application/json, not " + ct}
}

func decodeJSONBytes(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return &requestError{Message: "unexpected data after the JSON object"}
	}
	return nil
}

const emptyBody = "the body is empty; a JSON object is required"

// jsonError turns encoding/json's errors into ones that name the field.
func jsonError(err error) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return &requestError{Message: emptyBody}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &requestError{Message: "malformed JSON: the body ends too early"}
	case errors.As(err, &se):
		return &requestError{Message: fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())}
	case errors.As(err, &te):
		if te.Field == "" {
			return &requestError{Message: "must be a JSON object, not " + te.Value}
		}
		return &requestError{Field: te.Field, Message: "must be " + jsonKind(te.Type.Kind().String()) + ", not " + te.Value}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return &requestError{Field: name, Message: "unknown field"}
	}
	return &requestError{Message: "malformed JSON: " + err.Error()}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint", "uint64", "uint32", "float64", "float32":
		return "a number"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "another type"
}

// wireAmount keeps an amount's raw JSON so the conversion can say which
// field held a JSON number instead of a decimal string.
type wireAmount struct{ raw []byte }

func (a *wireAmount) UnmarshalJSON(b []byte) error {
	a.raw = append(a.raw[:0], b...)
	return nil
}

func (a wireAmount) present() bool { return len(a.raw) > 0 && !bytes.Equal(a.raw, []byte("null")) }

// amount converts; a JSON number is a 400 (wrong type), bad decimal text a 422.
func (a wireAmount) amount(field string) (money.Amount, error) {
	if !a.present() {
		return 0, &register.ValidationError{Field: field, Message: `is required (a decimal string such as "20.00")`}
	}
	if a.raw[0] != '"' {
		return 0, &requestError{Field: field, Message: `must be a decimal string such as "20.00", not the JSON value ` + clip(string(a.raw), 40)}
	}
	var s string
	if err := json.Unmarshal(a.raw, &s); err != nil {
		return 0, &requestError{Field: field, Message: "malformed string"}
	}
	v, err := money.Parse(s)
	if err != nil {
		msg := `is not a decimal amount such as "20.00"`
		if errors.Is(err, money.ErrPrecision) {
			msg = "has more than 2 decimals"
		}
		return 0, &register.ValidationError{Field: field, Message: msg}
	}
	if v > maxAmount || v < -maxAmount {
		return 0, &register.ValidationError{Field: field, Message: "is out of range (at most " + maxAmount.String() + ")"}
	}
	return v, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

type wireRow struct {
	Description string     `json:"description"`
	Quantity    string     `json:"quantity"`
	UnitPrice   wireAmount `json:"unitPrice"`
	TotalAmount wireAmount `json:"totalAmount"`
	TaxRate     string     `json:"taxRate"`
	SKU         string     `json:"sku"`
	EAN         string     `json:"ean"`
}

type wirePaymentRequest struct {
	Method       string            `json:"method"`
	SaleID       string            `json:"saleId"`
	CashierID    string            `json:"cashierId"`
	Title        string            `json:"title"`
	Amount       wireAmount        `json:"amount"`
	Currency     string            `json:"currency"`
	ReceiptTotal wireAmount        `json:"receiptTotal"`
	Rows         []json.RawMessage `json:"rows"` // decoded one by one, so errors say rows[i]
}

// DecodePaymentRequest reads and validates the body of POST /v1/payments.
// Errors are *register.ValidationError (422) or a request error (400), both
// naming the field.
func DecodePaymentRequest(body io.Reader) (register.PaymentRequest, error) {
	var w wirePaymentRequest
	if err := decodeJSONBytes(body, &w); err != nil {
		return register.PaymentRequest{}, err
	}
	return w.request()
}

var currencies = map[string]bool{"SEK": true, "NOK": true, "DKK": true, "EUR": true}

func (w *wirePaymentRequest) request() (register.PaymentRequest, error) {
	bad := func(field, msg string) (register.PaymentRequest, error) {
		return register.PaymentRequest{}, &register.ValidationError{Field: field, Message: msg}
	}
	req := register.PaymentRequest{Method: w.Method, SaleID: w.SaleID, CashierID: w.CashierID, Title: w.Title, Currency: w.Currency}
	if w.Method != "seqr" {
		return bad("method", `must be "seqr"`)
	}
	for _, f := range []struct{ name, v string }{{"saleId", w.SaleID}, {"cashierId", w.CashierID}} {
		if err := checkText(f.name, f.v, maxIDText); err != nil {
			return register.PaymentRequest{}, err
		}
	}
	if err := checkText("title", w.Title, maxText); err != nil {
		return register.PaymentRequest{}, err
	}
	if !currencies[w.Currency] {
		return bad("currency", "must be one of SEK, NOK, DKK, EUR")
	}
	var err error
	if req.Amount, err = w.Amount.amount("amount"); err != nil {
		return register.PaymentRequest{}, err
	}
	if req.Amount <= 0 {
		return bad("amount", "must be more than 0")
	}
	if len(w.Rows) > maxRows {
		return bad("rows", fmt.Sprintf("at most %d rows", maxRows))
	}
	var sum money.Amount
	req.Rows = make([]register.Row, 0, len(w.Rows))
	for i, raw := range w.Rows {
		path := fmt.Sprintf("rows[%d]", i)
		var wr wireRow
		if err := decodeJSONBytes(bytes.NewReader(raw), &wr); err != nil {
			return register.PaymentRequest{}, inField(path, err)
		}
		row, err := wr.row(path)
		if err != nil {
			return register.PaymentRequest{}, err
		}
		sum += row.TotalAmount // bounded: 200 rows of at most maxAmount
		req.Rows = append(req.Rows, row)
	}
	switch {
	case w.ReceiptTotal.present():
		if req.ReceiptTotal, err = w.ReceiptTotal.amount("receiptTotal"); err != nil {
			return register.PaymentRequest{}, err
		}
	case len(w.Rows) == 0:
		// A bare amount (a technician's test payment): the receipt is the amount.
		req.ReceiptTotal = req.Amount
	default:
		return bad("receiptTotal", "is required with rows")
	}
	if req.ReceiptTotal <= 0 {
		return bad("receiptTotal", "must be more than 0")
	}
	if len(w.Rows) > 0 && sum != req.ReceiptTotal {
		return bad("receiptTotal", fmt.Sprintf("is %s but the rows' totalAmount sum to %s", req.ReceiptTotal, sum))
	}
	return req, nil
}

// inField puts a nested decode error under path: "colour" -> "rows[2].colour".
func inField(path string, err error) error {
	var re *requestError
	if !errors.As(err, &re) {
		return err
	}
	f := path
	if re.Field != "" {
		f += "." + re.Field
	}
	return &requestError{Field: f, Message: re.Message}
}

func (wr *wireRow) row(path string) (register.Row, error) {
	bad := func(field, msg string) (register.Row, error) {
		return register.Row{}, &register.ValidationError{Field: path + "." + field, Message: msg}
	}
	if wr.Description == "" {
		return bad("description", "is required")
	}
	if err := checkText(path+".description", wr.Description, maxText); err != nil {
		return register.Row{}, err
	}
	if err := checkText(path+".sku", wr.SKU, maxIDText); err != nil {
		return register.Row{}, err
	}
	if wr.EAN != "" && (len(wr.EAN) < 8 || len(wr.EAN) > 14 || !allDigits(wr.EAN)) {
		return bad("ean", "must be 8 to 14 digits")
	}
	if q, ok := decimal(wr.Quantity, 3); !ok || q <= 0 {
		return bad("quantity", `must be a decimal string above 0 with at most 3 decimals, such as "1" or "0.5"`)
	}
	if r, ok := decimal(wr.TaxRate, 2); !ok || r < 0 || r > 100_00 {
		return bad("taxRate", `must be a percentage from "0" to "100", such as "25"`)
	}
	up, err := wr.UnitPrice.amount(path + ".unitPrice")
	if err != nil {
		return register.Row{}, err
	}
	tot, err := wr.TotalAmount.amount(path + ".totalAmount")
	if err != nil {
		return register.Row{}, err
	}
	return register.Row{Description: wr.Description, Quantity: wr.Quantity, UnitPrice: up, TotalAmount: tot,
		TaxRate: wr.TaxRate, SKU: wr.SKU, EAN: wr.EAN}, nil
}

// decimal parses a non-negative decimal with at most n decimals into an
// integer scaled by 10^n. No signs, exponents or spaces.
func decimal(s string, n int) (int64, bool) {
	ip, fp, dot := strings.Cut(s, ".")
	if ip == "" || len(ip) > 9 || !allDigits(ip) || (dot && (fp == "" || len(fp) > n || !allDigits(fp))) {
		return 0, false
	}
	v, _ := strconv.ParseInt(ip, 10, 64)
	f := int64(0)
	for i := 0; i < n; i++ {
		f *= 10
		if i < len(fp) {
			f += int64(fp[i] - '0')
		}
		v *= 10
	}
	return v + f, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkText refuses invalid UTF-8, control characters and over-long text:
// these strings end on receipts, in SOAP and in logs.
func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return &register.ValidationError{Field: field, Message: "is not valid UTF-8"}
	}
	if n := utf8.RuneCountInString(s); n > max {
		return &register.ValidationError{Field: field, Message: fmt.Sprintf("is %d characters; at most %d", n, max)}
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return &register.ValidationError{Field: field, Message: "contains a control character"}
		}
	}
	return nil
}

// idempotencyKey reads the required Idempotency-Key header: 1 to 255
// printable ASCII characters (a UUID is typical).
func idempotencyKey(r *http.Request) (string, error) {
	vals := r.Header.Values("Idempotency-Key")
	if len(vals) == 0 || vals[0] == "" {
		return "", &requestError{Field: "Idempotency-Key", Message: "header is required (for example a UUID per sale attempt)"}
	}
	if len(vals) > 1 {
		return "", &requestError{Field: "Idempotency-Key", Message: "header given more than once"}
	}
	k := vals[0]
	if len(k) > maxIdemKeyLen {
		return "", &requestError{Field: "Idempotency-Key", Message: fmt.Sprintf("header is %d characters; at most %d", len(k), maxIdemKeyLen)}
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return "", &requestError{Field: "Idempotency-Key", Message: "header must be printable ASCII"}
		}
	}
	return k, nil
}

// decodeRefund reads and validates the body of POST /v1/payments/{id}/refunds.
func decodeRefund(body io.Reader) (register.RefundRequest, error) {
	var w struct {
		Amount    wireAmount `json:"amount"`
		CashierID string     `json:"cashierId"`
		Reason    string     `json:"reason"`
	}
	if err := decodeJSONBytes(body, &w); err != nil {
		return register.RefundRequest{}, err
	}
	amt, err := w.Amount.amount("amount")
	if err != nil {
		return register.RefundRequest{}, err
	}
	if amt <= 0 {
		return register.RefundRequest{}, &register.ValidationError{Field: "amount", Message: "must be more than 0"}
	}
	if err := checkText("cashierId", w.CashierID, maxIDText); err != nil {
		return register.RefundRequest{}, err
	}
	if err := checkText("reason", w.Reason, maxText); err != nil {
		return register.RefundRequest{}, err
	}
	return register.RefundRequest{Amount: amt, CashierID: w.CashierID, Reason: w.Reason}, nil
}

func decodeRegisterTerminal(body io.Reader) (register.RegisterTerminalRequest, error) {
	var req register.RegisterTerminalRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return req, err
	}
	for _, f := range []struct{ name, v string }{
		{"resellerId", req.ResellerID}, {"resellerUserId", req.ResellerUserID}, {"resellerPassword", req.ResellerPassword},
		{"externalTerminalId", req.ExternalTerminalID}, {"name", req.Name},
	} {
		if f.v == "" {
			return req, &register.ValidationError{Field: f.name, Message: "is required"}
		}
		if f.name == "resellerPassword" {
			if len(f.v) > 256 {
				return req, &register.ValidationError{Field: f.name, Message: "is too long"}
			}
			continue // never echo or inspect a password further
		}
		if err := checkText(f.name, f.v, maxText); err != nil {
			return req, err
		}
	}
	return req, nil
}

// validSeqrID: SEQR ids are alphanumeric.
func validSeqrID(id string) error {
	if id == "" {
		return &register.ValidationError{Field: "seqrId", Message: "is required"}
	}
	if len(id) > maxIDText {
		return &register.ValidationError{Field: "seqrId", Message: fmt.Sprintf("at most %d characters", maxIDText)}
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return &register.ValidationError{Field: "seqrId", Message: "must be letters and digits only, got " + strconv.Quote(clip(id, 64))}
		}
	}
	return nil
}
