package seqr

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/posd/posd/internal/money"
)

// Requests are written by hand into a byte slice rather than with
// encoding/xml: the bytes on the wire are then exactly the ones in the golden
// files, the wrapper prefix / unqualified children rule of spec 1.3 cannot be
// lost to a struct tag, and a request costs a handful of allocations.

const (
	envelopeOpen = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ext="` +
		Namespace + `"><soapenv:Body>`
	envelopeClose = `</soapenv:Body></soapenv:Envelope>`

	// issueDateLayout is xs:dateTime with the offset, so a till whose clock
	// runs in UTC still states the right instant.
	issueDateLayout = "2006-01-02T15:04:05Z07:00"
)

// enc appends XML to b. The first problem with the caller's data is kept in
// err (naming the field) and the request is then not sent.
type enc struct {
	b   []byte
	err error
	row int // 1-based invoice row being written, for error messages; 0 outside rows
}

func (e *enc) fail(field, format string, args ...any) {
	if e.err != nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if e.row > 0 {
		e.err = fmt.Errorf("invoiceRow %d: %s %s", e.row, field, msg)
		return
	}
	e.err = fmt.Errorf("%s %s", field, msg)
}

func (e *enc) raw(s string) { e.b = append(e.b, s...) }

func (e *enc) open(name string) {
	e.b = append(e.b, '<')
	e.b = append(e.b, name...)
	e.b = append(e.b, '>')
}

func (e *enc) close(name string) {
	e.b = append(e.b, '<', '/')
	e.b = append(e.b, name...)
	e.b = append(e.b, '>')
}

// elem writes <name>s</name>, escaping s.
func (e *enc) elem(name, s string) {
	e.open(name)
	e.text(name, s)
	e.close(name)
}

// opt writes <name>s</name> unless s is empty: null fields are omitted.
func (e *enc) opt(name, s string) {
	if s != "" {
		e.elem(name, s)
	}
}

func (e *enc) int(name string, n int64) {
	e.open(name)
	e.b = strconv.AppendInt(e.b, n, 10)
	e.close(name)
}

// decimal writes an optional xs:decimal given as text (quantities, tax rates).
func (e *enc) decimal(name, s string) {
	if s == "" {
		return
	}
	d, err := money.ParseDecimal(s)
	if err != nil {
		e.fail(name, "%q is not a decimal number", s)
		return
	}
	// Written as parsed: same digits and scale as given, minus leading zeros.
	e.elem(name, d.String())
}

// amount writes an amount type: currency then value, the value exactly as
// money.Amount renders it ("20.00").
func (e *enc) amount(name string, a money.Amount, currency string) {
	e.open(name)
	e.elem("currency", currency)
	e.elem("value", a.String())
	e.close(name)
}

// text appends s escaped as XML character data. Characters XML 1.0 cannot
// carry at all (most C0 controls, invalid UTF-8, U+FFFE/U+FFFF) are refused
// rather than silently changed: an invoice must say what the till meant.
func (e *enc) text(field, s string) {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			var esc string
			switch c {
			case '<':
				esc = "&lt;"
			case '>':
				esc = "&gt;"
			case '&':
				esc = "&amp;"
			case '\r':
				esc = "&#xD;" // a literal CR would be normalised away by the parser
			case '\t', '\n':
			default:
				if c < 0x20 {
					e.fail(field, "contains control character %U, which XML cannot carry", rune(c))
					return
				}
			}
			if esc != "" {
				e.b = append(e.b, s[start:i]...)
				e.b = append(e.b, esc...)
				start = i + 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			e.fail(field, "is not valid UTF-8 at byte %d", i)
			return
		}
		if r == 0xFFFE || r == 0xFFFF {
			e.fail(field, "contains %U, which XML cannot carry", r)
			return
		}
		i += size
	}
	e.b = append(e.b, s[start:]...)
}

// begin writes the envelope, the operation wrapper and the context.
func (c *Client) begin(e *enc, op string, p Principal) {
	e.raw(envelopeOpen)
	e.raw("<ext:")
	e.raw(op)
	e.b = append(e.b, '>')
	c.context(e, p)
}

func (e *enc) end(op string) ([]byte, error) {
	e.raw("</ext:")
	e.raw(op)
	e.b = append(e.b, '>')
	e.raw(envelopeClose)
	if e.err != nil {
		return nil, e.err
	}
	return e.b, nil
}

func newEnc() *enc { return &enc{b: make([]byte, 0, 2048)} }

// context writes the clientContext of spec 2.1 in schema order. The fixed part
// (channel .. clientRequestTimeout) was escaped once by New.
func (c *Client) context(e *enc, p Principal) {
	if p.ID == "" {
		e.fail("initiatorPrincipalId.id", "is empty")
	}
	if p.Type == "" {
		e.fail("initiatorPrincipalId.type", "is empty")
	}
	if p.Password == "" {
		e.fail("context.password", "is empty")
	}
	e.b = append(e.b, c.contextHead...)
	e.open("initiatorPrincipalId")
	e.opt("id", p.ID)
	e.opt("type", string(p.Type))
	e.opt("userId", p.UserID)
	e.close("initiatorPrincipalId")
	e.elem("password", p.Password)
	e.close("context")
}

// contextHead renders <context> up to and including clientRequestTimeout.
func contextHead(cfg Config) ([]byte, error) {
	e := &enc{}
	e.open("context")
	e.opt("channel", cfg.Channel)
	e.opt("clientComment", cfg.ClientComment)
	e.opt("clientId", cfg.ClientID)
	e.opt("clientReference", cfg.ClientReference)
	e.int("clientRequestTimeout", 0) // spec 2.1: always 0, "no client-forced timeout"
	return e.b, e.err
}

// invoice writes an invoice in schema order (spec 3.1).
func (e *enc) invoice(inv *Invoice) {
	if inv.Currency == "" {
		e.fail("invoice.currency", "is empty")
	}
	if inv.CommitReservationTimeout < 0 {
		e.fail("invoice.commitReservationTimeout", "is negative (%d)", inv.CommitReservationTimeout)
	}
	e.open("invoice")
	e.opt("paymentMode", inv.PaymentMode)
	e.opt("acknowledgmentMode", inv.AcknowledgmentMode)
	if !inv.IssueDate.IsZero() {
		e.open("issueDate")
		e.b = inv.IssueDate.AppendFormat(e.b, issueDateLayout)
		e.close("issueDate")
	}
	e.opt("title", inv.Title)
	e.opt("clientInvoiceId", inv.ClientInvoiceID)
	if len(inv.Rows) > 0 {
		e.open("invoiceRows")
		for i := range inv.Rows {
			e.row = i + 1
			e.invoiceRow(&inv.Rows[i], inv.Currency)
		}
		e.row = 0
		e.close("invoiceRows")
	}
	e.amount("totalAmount", inv.Total, inv.Currency)
	e.opt("cashierId", inv.CashierID)
	e.opt("footer", inv.Footer)
	e.opt("backURL", inv.BackURL)
	e.opt("notificationUrl", inv.NotificationURL)
	if inv.CommitReservationTimeout > 0 {
		e.int("commitReservationTimeout", inv.CommitReservationTimeout)
	}
	e.close("invoice")
}

func (e *enc) invoiceRow(r *InvoiceRow, currency string) {
	e.open("invoiceRow")
	e.opt("itemDescription", r.Description)
	if r.Discount != nil {
		e.amount("itemDiscount", *r.Discount, currency)
	}
	e.opt("itemEAN", r.EAN)
	e.decimal("itemQuantity", r.Quantity)
	e.opt("itemSKU", r.SKU)
	e.decimal("itemTaxRate", r.TaxRate)
	e.amount("itemTotalAmount", r.Total, currency)
	e.opt("itemUnit", r.Unit)
	if r.UnitPrice != nil {
		e.amount("itemUnitPrice", *r.UnitPrice, currency)
	}
	e.close("invoiceRow")
}

// tokens writes customer tokens as repeated <tokens> elements: the schema has
// no wrapper here (unlike customerTokens in the status response).
func (e *enc) tokens(ts []CustomerToken) {
	for i := range ts {
		t := &ts[i]
		e.open("tokens")
		e.opt("description", t.Description)
		e.opt("id", t.ID)
		e.int("status", int64(t.Status))
		e.opt("value", t.Value)
		e.close("tokens")
	}
}

// params writes a parameterMap; note the extra <parameter> level (spec 3.1).
func (e *enc) params(ps []Param) {
	if len(ps) == 0 {
		return
	}
	e.open("parameters")
	e.open("parameter")
	for i, p := range ps {
		if p.Key == "" {
			e.fail(fmt.Sprintf("parameters[%d].key", i), "is empty")
		}
		e.open("entry")
		e.elem("key", p.Key)
		e.elem("value", p.Value)
		e.close("entry")
	}
	e.close("parameter")
	e.close("parameters")
}

func required(e *enc, field, v string) {
	if v == "" {
		e.fail(field, "is empty")
	}
}

// The builders below produce one complete request body per operation, children
// in the schema order of spec 3.2.

func (c *Client) buildRegisterTerminal(reseller Principal, externalTerminalID, password, name string) ([]byte, error) {
	e := newEnc()
	required(e, "password", password)
	c.begin(e, opRegisterTerminal, reseller)
	e.opt("externalTerminalId", externalTerminalID)
	e.elem("password", password)
	e.opt("name", name)
	return e.end(opRegisterTerminal)
}

func (c *Client) buildUnregisterTerminal(p Principal) ([]byte, error) {
	e := newEnc()
	c.begin(e, opUnregisterTerminal, p)
	return e.end(opUnregisterTerminal)
}

func (c *Client) buildAssignSeqrID(p Principal, seqrID string) ([]byte, error) {
	e := newEnc()
	required(e, "seqrId", seqrID)
	c.begin(e, opAssignSeqrID, p)
	e.elem("seqrId", seqrID)
	return e.end(opAssignSeqrID)
}

func (c *Client) buildSendInvoice(p Principal, inv *Invoice, tokens []CustomerToken) ([]byte, error) {
	e := newEnc()
	c.begin(e, opSendInvoice, p)
	e.invoice(inv)
	e.tokens(tokens)
	return e.end(opSendInvoice)
}

func (c *Client) buildUpdateInvoice(p Principal, ref string, inv *Invoice, tokens []CustomerToken) ([]byte, error) {
	e := newEnc()
	required(e, "invoiceReference", ref)
	c.begin(e, opUpdateInvoice, p)
	e.elem("invoiceReference", ref)
	e.invoice(inv)
	e.tokens(tokens)
	return e.end(opUpdateInvoice)
}

func (c *Client) buildGetPaymentStatus(p Principal, ref string, version int) ([]byte, error) {
	e := newEnc()
	required(e, "invoiceReference", ref)
	if version < 0 {
		e.fail("invoiceVersion", "is negative (%d)", version)
	}
	c.begin(e, opGetPaymentStatus, p)
	e.elem("invoiceReference", ref)
	e.int("invoiceVersion", int64(version))
	return e.end(opGetPaymentStatus)
}

func (c *Client) buildCancelInvoice(p Principal, ref string) ([]byte, error) {
	e := newEnc()
	required(e, "invoiceReference", ref)
	c.begin(e, opCancelInvoice, p)
	e.elem("invoiceReference", ref)
	return e.end(opCancelInvoice)
}

func (c *Client) buildCommitReservation(p Principal, ref string, amount *money.Amount, currency string) ([]byte, error) {
	e := newEnc()
	required(e, "invoiceReference", ref)
	if amount != nil {
		required(e, "amount.currency", currency)
	}
	c.begin(e, opCommitReservation, p)
	if amount != nil {
		e.amount("amount", *amount, currency)
	}
	e.elem("invoiceReference", ref)
	return e.end(opCommitReservation)
}

func (c *Client) buildSubmitPaymentReceipt(p Principal, ersRef string, doc *ReceiptDocument) ([]byte, error) {
	e := newEnc()
	required(e, "ersReference", ersRef)
	c.begin(e, opSubmitPaymentReceipt, p)
	e.elem("ersReference", ersRef)
	e.open("receiptDocument")
	e.opt("mimeType", doc.MimeType)
	if len(doc.Data) > 0 {
		e.open("receiptData")
		e.b = base64.StdEncoding.AppendEncode(e.b, doc.Data)
		e.close("receiptData")
	}
	e.opt("receiptType", doc.Type)
	e.close("receiptDocument")
	return e.end(opSubmitPaymentReceipt)
}

func (c *Client) buildRefundPayment(p Principal, ersRef string, inv *Invoice) ([]byte, error) {
	e := newEnc()
	required(e, "ersReference", ersRef)
	c.begin(e, opRefundPayment, p)
	e.elem("ersReference", ersRef)
	e.invoice(inv)
	return e.end(opRefundPayment)
}

func (c *Client) buildMarkTransactionPeriod(p Principal, params []Param) ([]byte, error) {
	e := newEnc()
	c.begin(e, opMarkTransactionPeriod, p)
	e.params(params)
	return e.end(opMarkTransactionPeriod)
}

func (c *Client) buildExecuteReport(p Principal, reportID, language string, params []Param) ([]byte, error) {
	e := newEnc()
	required(e, "reportId", reportID)
	c.begin(e, opExecuteReport, p)
	e.elem("reportId", reportID)
	e.opt("language", language)
	e.params(params)
	return e.end(opExecuteReport)
}

// buildBenchmarkingNop is the credential-free probe: an empty wrapper, no context.
func buildBenchmarkingNop() []byte {
	return []byte(envelopeOpen + "<ext:" + opBenchmarkingNop + "/>" + envelopeClose)
}
