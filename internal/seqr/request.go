package seqr

import (
	"fmt"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/soap"
)

// Requests are written with soap.Writer (by hand into a byte slice rather
// than with encoding/xml): the bytes on the wire are then exactly the ones in
// the golden files, the wrapper prefix / unqualified children rule of spec
// 1.3 cannot be lost to a struct tag, and a request costs a handful of
// allocations.

// issueDateLayout is xs:dateTime with the offset, so a till whose clock
// runs in UTC still states the right instant.
const issueDateLayout = "2006-01-02T15:04:05Z07:00"

// requestEnvelope is SEQR's request envelope: soapenv, with ext for the
// operation wrapper (spec 1.3).
func requestEnvelope() soap.Envelope {
	return soap.Envelope{Prefix: "soapenv", Namespaces: []soap.Namespace{{Prefix: "ext", URI: Namespace}}}
}

// writeDecimal writes an optional xs:decimal given as text (quantities, tax rates).
func writeDecimal(w *soap.Writer, name, s string) {
	if s == "" {
		return
	}
	d, err := money.ParseDecimal(s)
	if err != nil {
		w.Fail(name, "%q is not a decimal number", s)
		return
	}
	// Written as parsed: same digits and scale as given, minus leading zeros.
	w.Elem(name, d.String())
}

// writeAmount writes an amount type: currency then value, the value exactly as
// money.Amount renders it ("20.00").
func writeAmount(w *soap.Writer, name string, a money.Amount, currency string) {
	w.Start(name)
	w.Elem("currency", currency)
	w.Elem("value", a.String())
	w.End(name)
}

// begin writes the operation wrapper and the context into the Body.
func (c *Client) begin(w *soap.Writer, op string, p Principal) {
	w.Raw("<ext:")
	w.Raw(op)
	w.Raw(">")
	c.context(w, p)
}

// end closes the operation wrapper and the envelope.
func end(w *soap.Writer, op string) ([]byte, error) {
	w.Raw("</ext:")
	w.Raw(op)
	w.Raw(">")
	return w.Finish()
}

// required records a problem when a required field is empty. It is checked
// before anything is written, so that it is the problem reported first.
func required(w *soap.Writer, field, v string) {
	if v == "" {
		w.Fail(field, "is empty")
	}
}

// context writes the clientContext of spec 2.1 in schema order. The fixed part
// (channel .. clientRequestTimeout) was escaped once by New.
func (c *Client) context(w *soap.Writer, p Principal) {
	if p.ID == "" {
		w.Fail("initiatorPrincipalId.id", "is empty")
	}
	if p.Type == "" {
		w.Fail("initiatorPrincipalId.type", "is empty")
	}
	if p.Password == "" {
		w.Fail("context.password", "is empty")
	}
	w.Raw(c.contextHead)
	w.Start("initiatorPrincipalId")
	w.Opt("id", p.ID)
	w.Opt("type", string(p.Type))
	w.Opt("userId", p.UserID)
	w.End("initiatorPrincipalId")
	w.Elem("password", p.Password)
	w.End("context")
}

// contextHead renders <context> up to and including clientRequestTimeout.
func contextHead(cfg Config) (string, error) {
	w := soap.NewFragment()
	w.Start("context")
	w.Opt("channel", cfg.Channel)
	w.Opt("clientComment", cfg.ClientComment)
	w.Opt("clientId", cfg.ClientID)
	w.Opt("clientReference", cfg.ClientReference)
	w.Int("clientRequestTimeout", 0) // spec 2.1: always 0, "no client-forced timeout"
	b, err := w.Finish()
	return string(b), err
}

// writeInvoice writes an invoice in schema order (spec 3.1).
func writeInvoice(w *soap.Writer, inv *Invoice) {
	if inv.Currency == "" {
		w.Fail("invoice.currency", "is empty")
	}
	if inv.CommitReservationTimeout < 0 {
		w.Fail("invoice.commitReservationTimeout", "is negative (%d)", inv.CommitReservationTimeout)
	}
	w.Start("invoice")
	w.Opt("paymentMode", inv.PaymentMode)
	w.Opt("acknowledgmentMode", inv.AcknowledgmentMode)
	if !inv.IssueDate.IsZero() {
		w.Time("issueDate", inv.IssueDate, issueDateLayout)
	}
	w.Opt("title", inv.Title)
	w.Opt("clientInvoiceId", inv.ClientInvoiceID)
	if len(inv.Rows) > 0 {
		w.Start("invoiceRows")
		for i := range inv.Rows {
			w.WhereItem("invoiceRow", i+1)
			writeInvoiceRow(w, &inv.Rows[i], inv.Currency)
		}
		w.WhereItem("", 0)
		w.End("invoiceRows")
	}
	writeAmount(w, "totalAmount", inv.Total, inv.Currency)
	w.Opt("cashierId", inv.CashierID)
	w.Opt("footer", inv.Footer)
	w.Opt("backURL", inv.BackURL)
	w.Opt("notificationUrl", inv.NotificationURL)
	if inv.CommitReservationTimeout > 0 {
		w.Int("commitReservationTimeout", inv.CommitReservationTimeout)
	}
	w.End("invoice")
}

func writeInvoiceRow(w *soap.Writer, r *InvoiceRow, currency string) {
	w.Start("invoiceRow")
	w.Opt("itemDescription", r.Description)
	if r.Discount != nil {
		writeAmount(w, "itemDiscount", *r.Discount, currency)
	}
	w.Opt("itemEAN", r.EAN)
	writeDecimal(w, "itemQuantity", r.Quantity)
	w.Opt("itemSKU", r.SKU)
	writeDecimal(w, "itemTaxRate", r.TaxRate)
	writeAmount(w, "itemTotalAmount", r.Total, currency)
	w.Opt("itemUnit", r.Unit)
	if r.UnitPrice != nil {
		writeAmount(w, "itemUnitPrice", *r.UnitPrice, currency)
	}
	w.End("invoiceRow")
}

// writeTokens writes customer tokens as repeated <tokens> elements: the schema has
// no wrapper here (unlike customerTokens in the status response).
func writeTokens(w *soap.Writer, ts []CustomerToken) {
	for i := range ts {
		t := &ts[i]
		w.Start("tokens")
		w.Opt("description", t.Description)
		w.Opt("id", t.ID)
		w.Int("status", int64(t.Status))
		w.Opt("value", t.Value)
		w.End("tokens")
	}
}

// writeParams writes a parameterMap; note the extra <parameter> level (spec 3.1).
func writeParams(w *soap.Writer, ps []Param) {
	if len(ps) == 0 {
		return
	}
	w.Start("parameters")
	w.Start("parameter")
	for i, p := range ps {
		if p.Key == "" {
			w.Fail(fmt.Sprintf("parameters[%d].key", i), "is empty")
		}
		w.Start("entry")
		w.Elem("key", p.Key)
		w.Elem("value", p.Value)
		w.End("entry")
	}
	w.End("parameter")
	w.End("parameters")
}

// The builders below produce one complete request body per operation, children
// in the schema order of spec 3.2.

func (c *Client) buildRegisterTerminal(reseller Principal, externalTerminalID, password, name string) ([]byte, error) {
	w := soap.NewWriter(c.env)
	required(w, "password", password)
	c.begin(w, opRegisterTerminal, reseller)
	w.Opt("externalTerminalId", externalTerminalID)
	w.Elem("password", password)
	w.Opt("name", name)
	return end(w, opRegisterTerminal)
}

func (c *Client) buildUnregisterTerminal(p Principal) ([]byte, error) {
	w := soap.NewWriter(c.env)
	c.begin(w, opUnregisterTerminal, p)
	return end(w, opUnregisterTerminal)
}

func (c *Client) buildAssignSeqrID(p Principal, seqrID string) ([]byte, error) {
	w := soap.NewWriter(c.env)
	required(w, "seqrId", seqrID)
	c.begin(w, opAssignSeqrID, p)
	w.Elem("seqrId", seqrID)
	return end(w, opAssignSeqrID)
}

func (c *Client) buildSendInvoice(p Principal, inv *Invoice, tokens []CustomerToken) ([]byte, error) {
	w := soap.NewWriter(c.env)
	c.begin(w, opSendInvoice, p)
	writeInvoice(w, inv)
	writeTokens(w, tokens)
	return end(w, opSendInvoice)
}

func (c *Client) buildUpdateInvoice(p Principal, ref string, inv *Invoice, tokens []CustomerToken) ([]byte, error) {
	w := soap.NewWriter(c.env)
	required(w, "invoiceReference", ref)
	c.begin(w, opUpdateInvoice, p)
	w.Elem("invoiceReference", ref)
	writeInvoice(w, inv)
	writeTokens(w, tokens)
	return end(w, opUpdateInvoice)
}

func (c *Client) buildGetPaymentStatus(p Principal, ref string, version int) ([]byte, error) {
	w := soap.NewWriter(c.env)
	required(w, "invoiceReference", ref)
	if version < 0 {
		w.Fail("invoiceVersion", "is negative (%d)", version)
	}
	c.begin(w, opGetPaymentStatus, p)
	w.Elem("invoiceReference", ref)
	w.Int("invoiceVersion", int64(version))
	return end(w, opGetPaymentStatus)
}

func (c *Client) buildCancelInvoice(p Principal, ref string) ([]byte, error) {
	w := soap.NewWriter(c.env)
	required(w, "invoiceReference", ref)
	c.begin(w, opCancelInvoice, p)
	w.Elem("invoiceReference", ref)
	return end(w, opCancelInvoice)
}

func (c *Client) buildCommitReservation(p Principal, ref string, amount *money.Amount, currency string) ([]byte, error) {
	w := soap.NewWriter(c.env)
	required(w, "invoiceReference", ref)
	if amount != nil {
		required(w, "amount.currency", currency)
	}
	c.begin(w, opCommitReservation, p)
	if amount != nil {
		writeAmount(w, "amount", *amount, currency)
	}
	w.Elem("invoiceReference", ref)
	return end(w, opCommitReservation)
}

func (c *Client) buildSubmitPaymentReceipt(p Principal, ersRef string, doc *ReceiptDocument) ([]byte, error) {
	w := soap.NewWriter(c.env)
	required(w, "ersReference", ersRef)
	c.begin(w, opSubmitPaymentReceipt, p)
	w.Elem("ersReference", ersRef)
	w.Start("receiptDocument")
	w.Opt("mimeType", doc.MimeType)
	if len(doc.Data) > 0 {
		w.Base64("receiptData", doc.Data)
	}
	w.Opt("receiptType", doc.Type)
	w.End("receiptDocument")
	return end(w, opSubmitPaymentReceipt)
}

func (c *Client) buildRefundPayment(p Principal, ersRef string, inv *Invoice) ([]byte, error) {
	w := soap.NewWriter(c.env)
	required(w, "ersReference", ersRef)
	c.begin(w, opRefundPayment, p)
	w.Elem("ersReference", ersRef)
	writeInvoice(w, inv)
	return end(w, opRefundPayment)
}

func (c *Client) buildMarkTransactionPeriod(p Principal, params []Param) ([]byte, error) {
	w := soap.NewWriter(c.env)
	c.begin(w, opMarkTransactionPeriod, p)
	writeParams(w, params)
	return end(w, opMarkTransactionPeriod)
}

func (c *Client) buildExecuteReport(p Principal, reportID, language string, params []Param) ([]byte, error) {
	w := soap.NewWriter(c.env)
	required(w, "reportId", reportID)
	c.begin(w, opExecuteReport, p)
	w.Elem("reportId", reportID)
	w.Opt("language", language)
	writeParams(w, params)
	return end(w, opExecuteReport)
}

// buildBenchmarkingNop is the credential-free probe: an empty wrapper, no context.
func (c *Client) buildBenchmarkingNop() []byte {
	w := soap.NewWriter(c.env)
	w.Empty("ext:" + opBenchmarkingNop)
	b, _ := w.Finish() // nothing in it can fail
	return b
}
