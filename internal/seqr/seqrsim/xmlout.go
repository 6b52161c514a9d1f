package seqrsim

import (
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/simctl/simxml"
)

// Responses are written by hand, byte for byte in CXF's shape (spec 1.4):
// no XML declaration, no whitespace, soap/ns2 prefixes, children of the
// wrapper unqualified, fields in schema order, null fields omitted.

const (
	envOpen  = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>`
	envClose = `</soap:Body></soap:Envelope>`
)

// xw is the shared writer with SEQR's field writers; CXF leaves '"' as is.
type xw struct{ simxml.Writer }

// opt writes the element only when v is non-nil (null fields are omitted).
func (w *xw) opt(name string, v *string) {
	if v != nil {
		w.Text(name, *v)
	}
}

// response starts <soap:Envelope>…<ns2:OPResponse …><return>.
func response(op string) *xw {
	w := &xw{}
	w.Grow(512)
	w.Raw(envOpen)
	w.Raw(`<ns2:`)
	w.Raw(op)
	w.Raw(`Response xmlns:ns2="` + nsExt + `"><return>`)
	return w
}

// finish closes what response opened and returns the bytes.
func (w *xw) finish(op string) []byte {
	w.Raw(`</return></ns2:`)
	w.Raw(op)
	w.Raw(`Response>`)
	w.Raw(envClose)
	return w.Bytes()
}

// base writes the erswsResponse fields: ersReference (if any), resultCode, resultDescription.
func (w *xw) base(ersRef string, code int) {
	if ersRef != "" {
		w.Text("ersReference", ersRef)
	}
	w.Int("resultCode", int64(code))
	w.Text("resultDescription", seqr.ResultName(code))
}

// fault renders a SOAP 1.1 fault envelope.
func fault(code, msg string) []byte {
	w := &xw{}
	w.Raw(envOpen)
	w.Raw(`<soap:Fault><faultcode>`)
	w.Escape(code)
	w.Raw(`</faultcode><faultstring>`)
	w.Escape(msg)
	w.Raw(`</faultstring></soap:Fault>`)
	w.Raw(envClose)
	return w.Bytes()
}

func (w *xw) amount(name string, a *amountIn) {
	if a == nil {
		return
	}
	w.Open(name)
	w.opt("currency", a.Currency)
	w.opt("value", a.Value)
	w.Close(name)
}

// invoice echoes an invoice in schema order.
func (w *xw) invoice(inv *invoiceIn) {
	if inv == nil {
		return
	}
	w.Open("invoice")
	w.opt("paymentMode", inv.PaymentMode)
	w.opt("acknowledgmentMode", inv.AcknowledgmentMode)
	w.opt("issueDate", inv.IssueDate)
	w.opt("title", inv.Title)
	w.opt("clientInvoiceId", inv.ClientInvoiceID)
	if inv.Rows != nil {
		if len(inv.Rows) == 0 {
			w.Raw("<invoiceRows/>")
		} else {
			w.Open("invoiceRows")
			for i := range inv.Rows {
				r := &inv.Rows[i]
				w.Open("invoiceRow")
				w.opt("itemDescription", r.Description)
				w.amount("itemDiscount", r.Discount)
				w.opt("itemEAN", r.EAN)
				w.opt("itemQuantity", r.Quantity)
				w.opt("itemSKU", r.SKU)
				w.opt("itemTaxRate", r.TaxRate)
				w.amount("itemTotalAmount", r.Total)
				w.opt("itemUnit", r.Unit)
				w.amount("itemUnitPrice", r.UnitPrice)
				w.Close("invoiceRow")
			}
			w.Close("invoiceRows")
		}
	}
	w.amount("totalAmount", inv.Total)
	w.opt("cashierId", inv.CashierID)
	w.opt("footer", inv.Footer)
	w.opt("backURL", inv.BackURL)
	w.opt("notificationUrl", inv.NotificationURL)
	if inv.CommitReservationTimeout != nil {
		w.Int("commitReservationTimeout", *inv.CommitReservationTimeout)
	}
	w.Close("invoice")
}

// tokens writes customerTokens/token* (JAXB writes an empty list as <customerTokens/>).
func (w *xw) tokens(ts []tokenIn) {
	if ts == nil {
		return
	}
	if len(ts) == 0 {
		w.Raw("<customerTokens/>")
		return
	}
	w.Open("customerTokens")
	for _, t := range ts {
		w.Open("token")
		w.opt("description", t.Description)
		w.opt("id", t.ID)
		w.Int("status", int64(t.Status))
		w.opt("value", t.Value)
		w.Close("token")
	}
	w.Close("customerTokens")
}
