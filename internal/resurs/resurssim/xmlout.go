package resurssim

import (
	"strconv"
	"time"

	"github.com/posd/posd/internal/simctl/simxml"
)

// Responses are written by hand in a JAX-WS shape: no XML declaration, the
// wrapper qualified with a server-chosen prefix, children unqualified in
// schema order, absent optionals left out, numbers with five decimals.

const (
	envOpen  = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>`
	envClose = `</soap:Body></soap:Envelope>`
)

// xw is the shared writer with Resurs's field writers; JAX-WS escapes '"'.
type xw struct{ simxml.Writer }

func newXW() *xw { return &xw{simxml.Writer{EscapeQuotes: true}} }

func (w *xw) opt(name, v string) {
	if v != "" {
		w.Text(name, v)
	}
}
func (w *xw) dec(name string, d dec)   { w.Text(name, d.String()) }
func (w *xw) bool(name string, v bool) { w.Text(name, strconv.FormatBool(v)) }

// soapTime writes an xs:dateTime with the zone offset, as
// "2013-07-02T12:51:51.000+02:00".
func (s *Sim) soapTime(t time.Time) string {
	return t.In(s.loc).Format("2006-01-02T15:04:05.000-07:00")
}

// wrap returns the whole envelope around one wrapper element of ns.
func wrap(prefix, ns, name string, body func(w *xw)) []byte {
	w := newXW()
	w.Raw(envOpen)
	w.Raw("<" + prefix + ":" + name + " xmlns:" + prefix + `="` + ns + `"`)
	inner := newXW()
	if body != nil {
		body(inner)
	}
	if inner.Len() == 0 {
		w.Raw("/>")
	} else {
		w.Raw(">")
		w.RawBytes(inner.Bytes())
		w.Raw("</" + prefix + ":" + name + ">")
	}
	w.Raw(envClose)
	return w.Bytes()
}

func faultXML(f *Fault) []byte {
	w := newXW()
	w.Raw(envOpen)
	w.Raw(`<soap:Fault><faultcode>soap:Server</faultcode>`)
	w.Text("faultstring", f.Technical)
	w.Raw(`<detail><ns3:ECommerceError xmlns:ns3="` + nsException + `">`)
	w.Text("errorTypeDescription", errorTypeName(f.ID))
	w.Int("errorTypeId", int64(f.ID))
	w.bool("fixableByYou", f.Fixable)
	msg := f.UserMessage
	if msg == "" {
		msg = "Ett tekniskt fel uppstod."
	}
	w.Text("userErrorMessage", msg)
	w.Raw(`</ns3:ECommerceError></detail></soap:Fault>`)
	w.Raw(envClose)
	return w.Bytes()
}

// plainFault is a SOAP fault without detail, for requests that are not SOAP.
func plainFault(code, msg string) []byte {
	w := newXW()
	w.Raw(envOpen + "<soap:Fault><faultcode>" + code + "</faultcode>")
	w.Text("faultstring", msg)
	w.Raw("</soap:Fault>" + envClose)
	return w.Bytes()
}

func writeAddress(w *xw, name string, a address) {
	w.Open(name)
	w.opt("fullName", a.fullName)
	w.opt("firstName", a.firstName)
	w.opt("lastName", a.lastName)
	w.Text("addressRow1", a.row1)
	w.opt("addressRow2", a.row2)
	w.Text("postalArea", a.postalArea)
	w.Text("postalCode", a.postalCode)
	w.Text("country", a.country)
	w.Close(name)
}

func writeSpec(w *xw, name string, sp spec) {
	w.Open(name)
	for _, l := range sp.lines {
		w.Open("specLines")
		w.Text("id", l.id)
		w.Text("artNo", l.artNo)
		w.Text("description", l.description)
		w.dec("quantity", l.quantity)
		w.Text("unitMeasure", l.unitMeasure)
		w.dec("unitAmountWithoutVat", l.unitAmount)
		w.dec("vatPct", l.vatPct)
		w.dec("totalVatAmount", l.totalVat)
		w.dec("totalAmount", l.total)
		w.Close("specLines")
	}
	w.dec("totalAmount", sp.total)
	if sp.totalVat != nil {
		w.dec("totalVatAmount", *sp.totalVat)
	}
	if sp.bonus != nil {
		w.Int("bonusPoints", *sp.bonus)
	}
	w.Close(name)
}

// writePayment writes an aftershopflow:payment in its XSD order.
func (s *Sim) writePayment(w *xw, name string, p *payment) {
	w.Open(name)
	w.Text("id", p.id)
	w.dec("totalAmount", p.totalAmount())
	for _, m := range p.meta {
		w.Open("metaData")
		w.Text("key", m.key)
		w.Text("value", m.value)
		w.Close("metaData")
	}
	w.dec("limit", p.limit)
	for _, d := range p.diffs {
		w.Open("paymentDiffs")
		w.Text("type", d.typ)
		w.opt("transactionId", d.txID)
		w.Text("created", s.soapTime(d.created))
		w.opt("createdBy", d.createdBy)
		writeSpec(w, "paymentSpec", d.spec)
		w.opt("orderId", d.orderID)
		w.opt("invoiceId", d.invoiceID)
		for _, n := range d.docs {
			w.Text("documentNames", n)
		}
		w.Close("paymentDiffs")
	}
	c := p.customer
	w.Open("customer")
	w.Text("governmentId", c.governmentID)
	writeAddress(w, "address", c.addr)
	w.opt("phone", c.phone)
	w.opt("email", c.email)
	w.Text("type", c.typ)
	w.Close("customer")
	if p.delivery != nil {
		writeAddress(w, "deliveryAddress", *p.delivery)
	}
	w.Text("booked", s.soapTime(p.booked))
	if !p.finalized.IsZero() {
		w.Text("finalized", s.soapTime(p.finalized))
	}
	w.Text("paymentMethodId", p.method.ID)
	w.Text("paymentMethodName", p.method.Name)
	w.bool("fraud", false)
	w.bool("frozen", p.frozen)
	for _, st := range p.statuses() {
		w.Text("status", st)
	}
	w.opt("storeId", p.storeID)
	w.Text("paymentMethodType", p.method.Type)
	w.Int("totalBonusPoints", 0)
	w.Close(name)
}

func (s *Sim) writeBasicPayment(w *xw, p *payment) {
	w.Open("return")
	w.Text("paymentId", p.id)
	w.Text("paymentMethodId", p.method.ID)
	w.Text("paymentMethodName", p.method.Name)
	w.Text("governmentId", p.customer.governmentID)
	w.Text("fullName", p.customer.addr.fullName)
	w.Text("booked", s.soapTime(p.booked))
	w.Text("modified", s.soapTime(p.modified))
	if !p.finalized.IsZero() {
		w.Text("finalized", s.soapTime(p.finalized))
	}
	w.dec("totalAmount", p.totalAmount())
	w.bool("frozen", p.frozen)
	for _, st := range p.statuses() {
		w.Text("status", st)
	}
	w.Int("totalBonusPoints", 0)
	w.Close("return")
}
