package seqrsim

import (
	"github.com/posd/posd/internal/seqr"

	"strconv"
	"unicode/utf8"
)

// Responses are written by hand, byte for byte in CXF's shape (spec 1.4):
// no XML declaration, no whitespace, soap/ns2 prefixes, children of the
// wrapper unqualified, fields in schema order, null fields omitted.

const (
	envOpen  = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>`
	envClose = `</soap:Body></soap:Envelope>`
)

type xw struct{ b []byte }

func (w *xw) raw(s string) { w.b = append(w.b, s...) }

func (w *xw) open(name string) {
	w.b = append(w.b, '<')
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

func (w *xw) close(name string) {
	w.b = append(w.b, '<', '/')
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

// text writes <name>escaped</name>; JAXB writes "" as an open/close pair.
func (w *xw) text(name, v string) {
	w.open(name)
	w.escape(v)
	w.close(name)
}

// opt writes the element only when v is non-nil (null fields are omitted).
func (w *xw) opt(name string, v *string) {
	if v != nil {
		w.text(name, *v)
	}
}

func (w *xw) int(name string, v int64) {
	w.open(name)
	w.b = strconv.AppendInt(w.b, v, 10)
	w.close(name)
}

// escape writes character data: &, < and > escaped (as JAXB does), carriage
// returns kept by reference, and characters XML 1.0 cannot carry replaced.
func (w *xw) escape(s string) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '&':
			w.raw("&amp;")
		case r == '<':
			w.raw("&lt;")
		case r == '>':
			w.raw("&gt;")
		case r == '\r':
			w.raw("&#xD;")
		case r == utf8.RuneError && size == 1, !xmlChar(r):
			w.b = utf8.AppendRune(w.b, '\uFFFD')
		default:
			w.b = append(w.b, s[i:i+size]...)
		}
		i += size
	}
}

func xmlChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD ||
		(r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) ||
		(r >= 0x10000 && r <= 0x10FFFF)
}

// response starts <soap:Envelope>…<ns2:OPResponse …><return>.
func response(op string) *xw {
	w := &xw{b: make([]byte, 0, 512)}
	w.raw(envOpen)
	w.raw(`<ns2:`)
	w.raw(op)
	w.raw(`Response xmlns:ns2="` + nsExt + `"><return>`)
	return w
}

// finish closes what response opened and returns the bytes.
func (w *xw) finish(op string) []byte {
	w.raw(`</return></ns2:`)
	w.raw(op)
	w.raw(`Response>`)
	w.raw(envClose)
	return w.b
}

// base writes the erswsResponse fields: ersReference (if any), resultCode, resultDescription.
func (w *xw) base(ersRef string, code int) {
	if ersRef != "" {
		w.text("ersReference", ersRef)
	}
	w.int("resultCode", int64(code))
	w.text("resultDescription", seqr.ResultName(code))
}

// fault renders a SOAP 1.1 fault envelope.
func fault(code, msg string) []byte {
	w := &xw{}
	w.raw(envOpen)
	w.raw(`<soap:Fault><faultcode>`)
	w.escape(code)
	w.raw(`</faultcode><faultstring>`)
	w.escape(msg)
	w.raw(`</faultstring></soap:Fault>`)
	w.raw(envClose)
	return w.b
}

func (w *xw) amount(name string, a *amountIn) {
	if a == nil {
		return
	}
	w.open(name)
	w.opt("currency", a.Currency)
	w.opt("value", a.Value)
	w.close(name)
}

// invoice echoes an invoice in schema order.
func (w *xw) invoice(inv *invoiceIn) {
	if inv == nil {
		return
	}
	w.open("invoice")
	w.opt("paymentMode", inv.PaymentMode)
	w.opt("acknowledgmentMode", inv.AcknowledgmentMode)
	w.opt("issueDate", inv.IssueDate)
	w.opt("title", inv.Title)
	w.opt("clientInvoiceId", inv.ClientInvoiceID)
	if inv.Rows != nil {
		if len(inv.Rows) == 0 {
			w.raw("<invoiceRows/>")
		} else {
			w.open("invoiceRows")
			for i := range inv.Rows {
				r := &inv.Rows[i]
				w.open("invoiceRow")
				w.opt("itemDescription", r.Description)
				w.amount("itemDiscount", r.Discount)
				w.opt("itemEAN", r.EAN)
				w.opt("itemQuantity", r.Quantity)
				w.opt("itemSKU", r.SKU)
				w.opt("itemTaxRate", r.TaxRate)
				w.amount("itemTotalAmount", r.Total)
				w.opt("itemUnit", r.Unit)
				w.amount("itemUnitPrice", r.UnitPrice)
				w.close("invoiceRow")
			}
			w.close("invoiceRows")
		}
	}
	w.amount("totalAmount", inv.Total)
	w.opt("cashierId", inv.CashierID)
	w.opt("footer", inv.Footer)
	w.opt("backURL", inv.BackURL)
	w.opt("notificationUrl", inv.NotificationURL)
	if inv.CommitReservationTimeout != nil {
		w.int("commitReservationTimeout", *inv.CommitReservationTimeout)
	}
	w.close("invoice")
}

// tokens writes customerTokens/token* (JAXB writes an empty list as <customerTokens/>).
func (w *xw) tokens(ts []tokenIn) {
	if ts == nil {
		return
	}
	if len(ts) == 0 {
		w.raw("<customerTokens/>")
		return
	}
	w.open("customerTokens")
	for _, t := range ts {
		w.open("token")
		w.opt("description", t.Description)
		w.opt("id", t.ID)
		w.int("status", int64(t.Status))
		w.opt("value", t.Value)
		w.close("token")
	}
	w.close("customerTokens")
}
