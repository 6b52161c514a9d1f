package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/safetext"
)

// The API checks JSON syntax and the shape of a body (an object, known
// members spelled exactly, each of the right JSON type, required members
// present, amounts as decimal strings). Every limit (lengths, ranges,
// currencies, text rules, sums) is the register's, in one table in
// internal/register/validate.go, so the API and the register cannot
// disagree about what a till accepts. Where a rule needs no state (a
// refund, a terminal registration, a SEQR id) the API calls the register's
// exported check itself, so that a bad value is refused before any work.

// maxScanSeconds bounds how long one scan request may hold a connection;
// it is the HTTP layer's own limit, not a rule of the register.
const maxScanSeconds = 300

// strictJSON is how every request body is read (github.com/go-json-experiment/json,
// the proposed encoding/json/v2): member names match exactly ("AMOUNT" is
// not "amount"), a name given twice is an error rather than "the last one
// wins", strings must be valid UTF-8 with no lone surrogate escapes (never
// silently turned into U+FFFD), and unknown members are refused.
var strictJSON = json.JoinOptions(
	json.RejectUnknownMembers(true),
	json.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
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

const (
	emptyBody      = "the body is empty; a JSON object is required"
	objectRequired = "a JSON object is required"
)

// decodeJSONBytes reads the whole body (the server caps its size) and
// decodes it strictly. A body that is not an object (null, an array, a
// string) is refused before decoding: decoding null into a struct would
// succeed and leave every member at its zero value.
func decodeJSONBytes(body io.Reader, v any) error {
	b, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return &requestError{Message: "the body could not be read: " + err.Error()}
	}
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return &requestError{Message: emptyBody}
	case trimmed[0] != '{':
		return &requestError{Message: objectRequired + ", not " + clip(string(trimmed), 20)}
	}
	if err := json.Unmarshal(b, v, strictJSON); err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonError turns the decoder's errors into ones that name the field as a
// path ("rows[2].colour").
func jsonError(err error) error {
	var (
		syn *jsontext.SyntacticError
		sem *json.SemanticError
	)
	switch {
	case errors.As(err, &syn):
		field := fieldPath(syn.JSONPointer)
		switch {
		case errors.Is(syn.Err, jsontext.ErrDuplicateName):
			return &requestError{Field: field, Message: "duplicate key: each member may appear once"}
		case syn.Err != nil && (strings.Contains(syn.Err.Error(), "invalid UTF-8") || strings.Contains(syn.Err.Error(), "surrogate")):
			// The decoder's UTF-8 and surrogate errors are not exported
			// sentinels; their text is the only handle.
			return &requestError{Field: field, Message: "is not valid UTF-8 (or has a lone surrogate escape such as \\ud800)"}
		case errors.Is(syn.Err, io.ErrUnexpectedEOF):
			return &requestError{Message: "malformed JSON: the body ends too early"}
		}
		msg := "malformed JSON"
		if syn.ByteOffset > 0 {
			msg += " after byte " + strconv.FormatInt(syn.ByteOffset, 10)
		}
		if syn.Err != nil {
			msg += ": " + syn.Err.Error()
		}
		return &requestError{Field: field, Message: msg}
	case errors.As(err, &sem):
		field := fieldPath(sem.JSONPointer)
		if errors.Is(sem.Err, json.ErrUnknownName) {
			return &requestError{Field: field, Message: "unknown field"}
		}
		var syn2 *jsontext.SyntacticError
		if errors.As(sem.Err, &syn2) {
			return jsonError(syn2)
		}
		if field == "" {
			return &requestError{Message: objectRequired}
		}
		return &requestError{Field: field, Message: typeMessage(sem)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &requestError{Message: "malformed JSON: the body ends too early"}
	}
	return &requestError{Message: "malformed JSON: " + err.Error()}
}

// typeMessage says what a member must be: "must be a string, not a
// number", or for a value of the right JSON kind that still does not fit
// (a time that is not RFC 3339) just what it must be.
func typeMessage(sem *json.SemanticError) string {
	want := "another type"
	if gt := sem.GoType; gt != nil {
		for gt.Kind() == reflect.Pointer {
			gt = gt.Elem() // an optional member: say what it holds
		}
		if gt == reflect.TypeFor[time.Time]() {
			return `must be an RFC 3339 time such as "2026-12-24T18:00:00+01:00"`
		}
		want = jsonKind(gt.Kind().String())
	}
	if sem.JSONKind == 0 || kindName(sem.JSONKind) == want {
		return "must be " + want
	}
	return "must be " + want + ", not " + kindName(sem.JSONKind)
}

// fieldPath renders a JSON Pointer as the API names fields: /rows/2/colour
// is rows[2].colour. Every member name of the API is a word, so a token of
// digits is an array index.
func fieldPath(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if tok != "" && strings.Trim(tok, "0123456789") == "" {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if safetext.Line(tok, 64) != nil {
			// An unknown member's name is the client's text: quoted, so
			// that a bidi control in it cannot reorder the error message.
			tok = strconv.QuoteToASCII(clip(tok, 64))
		}
		b.WriteString(tok)
	}
	return b.String()
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "true or false"
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "another type"
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
type wireAmount = jsontext.Value

func present(v jsontext.Value) bool { return len(v) > 0 && v.Kind() != 'n' }

// amount converts; a missing amount is a 422 (required), a JSON number a 400
// (wrong type), text that is not a decimal a 422. Its range is the
// register's to judge.
func amount(v jsontext.Value, field string) (money.Amount, error) {
	if !present(v) {
		return 0, &register.ValidationError{Field: field, Message: `is required (a decimal string such as "20.00")`}
	}
	if v.Kind() != '"' {
		return 0, &requestError{Field: field, Message: `must be a decimal string such as "20.00", not the JSON value ` + clip(string(v), 40)}
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return 0, &requestError{Field: field, Message: "malformed string"}
	}
	a, err := money.Parse(s)
	switch {
	case errors.Is(err, money.ErrPrecision):
		return 0, &register.ValidationError{Field: field, Message: "has more than 2 decimals"}
	case errors.Is(err, money.ErrRange):
		return 0, &register.ValidationError{Field: field, Message: fmt.Sprintf("is out of range (at most %s)", register.MaxAmount)}
	case err != nil:
		return 0, &register.ValidationError{Field: field, Message: `is not a decimal amount such as "20.00"`}
	}
	return a, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

type wireRow struct {
	Description *string    `json:"description"`
	Quantity    *string    `json:"quantity"`
	UnitPrice   wireAmount `json:"unitPrice"`
	TotalAmount wireAmount `json:"totalAmount"`
	TaxRate     string     `json:"taxRate"`
	SKU         string     `json:"sku"`
	EAN         string     `json:"ean"`
}

type wirePaymentRequest struct {
	Method       *string           `json:"method"`
	SaleID       string            `json:"saleId"`
	CashierID    string            `json:"cashierId"`
	Title        string            `json:"title"`
	Amount       wireAmount        `json:"amount"`
	Currency     *string           `json:"currency"`
	ReceiptTotal wireAmount        `json:"receiptTotal"`
	Rows         []wireRow         `json:"rows"`
	Customer     *payment.Customer `json:"customer"`
	ValidUntil   *time.Time        `json:"validUntil"`
}

// DecodePaymentRequest reads the body of POST /v1/payments and checks its
// syntax and shape. Errors are *register.ValidationError (422: a required
// member is missing, an amount is not a decimal) or a request error (400:
// malformed JSON, unknown or duplicate member, wrong JSON type), both naming
// the field. Everything else is the register's to validate.
func DecodePaymentRequest(body io.Reader) (register.PaymentRequest, error) {
	var w wirePaymentRequest
	if err := decodeJSONBytes(body, &w); err != nil {
		return register.PaymentRequest{}, err
	}
	return w.request()
}

func required(field string) error {
	return &register.ValidationError{Field: field, Message: "is required"}
}

func (w *wirePaymentRequest) request() (register.PaymentRequest, error) {
	switch {
	case w.Method == nil:
		return register.PaymentRequest{}, required("method")
	case w.Currency == nil:
		return register.PaymentRequest{}, required("currency")
	}
	req := register.PaymentRequest{Method: *w.Method, SaleID: w.SaleID, CashierID: w.CashierID, Title: w.Title,
		Currency: *w.Currency, Customer: w.Customer, ValidUntil: w.ValidUntil}
	var err error
	if req.Amount, err = amount(w.Amount, "amount"); err != nil {
		return register.PaymentRequest{}, err
	}
	if req.ReceiptTotal, err = amount(w.ReceiptTotal, "receiptTotal"); err != nil {
		return register.PaymentRequest{}, err
	}
	if w.Rows == nil {
		return register.PaymentRequest{}, required("rows")
	}
	req.Rows = make([]register.Row, 0, len(w.Rows))
	for i := range w.Rows {
		row, err := w.Rows[i].row(fmt.Sprintf("rows[%d]", i))
		if err != nil {
			return register.PaymentRequest{}, err
		}
		req.Rows = append(req.Rows, row)
	}
	return req, nil
}

func (wr *wireRow) row(path string) (register.Row, error) {
	switch {
	case wr.Description == nil:
		return register.Row{}, required(path + ".description")
	case wr.Quantity == nil:
		return register.Row{}, required(path + ".quantity")
	}
	tot, err := amount(wr.TotalAmount, path+".totalAmount")
	if err != nil {
		return register.Row{}, err
	}
	var up money.Amount
	if present(wr.UnitPrice) {
		if up, err = amount(wr.UnitPrice, path+".unitPrice"); err != nil {
			return register.Row{}, err
		}
	}
	return register.Row{Description: *wr.Description, Quantity: *wr.Quantity, UnitPrice: up, TotalAmount: tot,
		TaxRate: wr.TaxRate, SKU: wr.SKU, EAN: wr.EAN}, nil
}

// idempotencyKey reads the required Idempotency-Key header: present once.
// What it may contain is the register's rule (1 to 255 printable ASCII
// characters without spaces; a UUID is typical).
func idempotencyKey(r *http.Request) (string, error) {
	vals := r.Header.Values("Idempotency-Key")
	if len(vals) == 0 || vals[0] == "" {
		return "", &requestError{Field: "Idempotency-Key", Message: "header is required (for example a UUID per sale attempt)"}
	}
	if len(vals) > 1 {
		return "", &requestError{Field: "Idempotency-Key", Message: "header given more than once"}
	}
	return vals[0], nil
}

// decodeRefund reads the body of POST /v1/payments/{id}/refunds. With
// rows (the lines returned), the amount may be left out: it is their sum.
func decodeRefund(body io.Reader) (register.RefundRequest, error) {
	var w struct {
		Amount    wireAmount `json:"amount"`
		CashierID string     `json:"cashierId"`
		Reason    string     `json:"reason"`
		Rows      []wireRow  `json:"rows"`
	}
	if err := decodeJSONBytes(body, &w); err != nil {
		return register.RefundRequest{}, err
	}
	req := register.RefundRequest{CashierID: w.CashierID, Reason: w.Reason}
	for i := range w.Rows {
		row, err := w.Rows[i].row(fmt.Sprintf("rows[%d]", i))
		if err != nil {
			return register.RefundRequest{}, err
		}
		req.Rows = append(req.Rows, row)
		req.Amount += row.TotalAmount
	}
	if len(w.Rows) == 0 || present(w.Amount) {
		amt, err := amount(w.Amount, "amount")
		if err != nil {
			return register.RefundRequest{}, err
		}
		req.Amount = amt
	}
	return req, register.ValidateRefund(req)
}

// decodeAnnul reads the body of POST /v1/payments/{id}/annul. The amount
// may be left out: all that the payment still takes is annulled.
func decodeAnnul(body io.Reader) (register.AnnulRequest, error) {
	var w struct {
		Amount    wireAmount `json:"amount"`
		CashierID string     `json:"cashierId"`
		Reason    string     `json:"reason"`
	}
	if err := decodeJSONBytes(body, &w); err != nil {
		return register.AnnulRequest{}, err
	}
	req := register.AnnulRequest{CashierID: w.CashierID, Reason: w.Reason}
	if present(w.Amount) {
		amt, err := amount(w.Amount, "amount")
		if err != nil {
			return register.AnnulRequest{}, err
		}
		if amt <= 0 {
			return register.AnnulRequest{}, &register.ValidationError{Field: "amount",
				Message: fmt.Sprintf("must be greater than 0, or left out to annul all that is left, got %s", amt)}
		}
		req.Amount = amt
	}
	return req, register.ValidateAnnul(req)
}

// decodeDebit reads the body of POST /v1/payments/{id}/debits: rows as in
// POST /v1/payments.
func decodeDebit(body io.Reader) (register.DebitRequest, error) {
	var w struct {
		Rows      []wireRow `json:"rows"`
		CashierID string    `json:"cashierId"`
		Reason    string    `json:"reason"`
	}
	if err := decodeJSONBytes(body, &w); err != nil {
		return register.DebitRequest{}, err
	}
	if w.Rows == nil {
		return register.DebitRequest{}, required("rows")
	}
	req := register.DebitRequest{CashierID: w.CashierID, Reason: w.Reason, Rows: make([]register.Row, 0, len(w.Rows))}
	for i := range w.Rows {
		row, err := w.Rows[i].row(fmt.Sprintf("rows[%d]", i))
		if err != nil {
			return register.DebitRequest{}, err
		}
		req.Rows = append(req.Rows, row)
	}
	_, err := register.ValidateDebit(req)
	return req, err
}

// decodeRegisterTerminal reads the body of POST /v1/terminal/register and
// applies the register's own stateless check (which never echoes the
// password).
func decodeRegisterTerminal(body io.Reader) (register.RegisterTerminalRequest, error) {
	var req register.RegisterTerminalRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return req, err
	}
	return req, register.ValidateTerminalRequest(req)
}
