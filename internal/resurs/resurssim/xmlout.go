package resurssim

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Responses are written by hand in a JAX-WS shape: no XML declaration, the
// wrapper qualified with a server-chosen prefix, children unqualified in
// schema order, absent optionals left out, numbers with five decimals.

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
func (w *xw) text(name, v string) {
	w.open(name)
	w.escape(v)
	w.close(name)
}
func (w *xw) opt(name, v string) {
	if v != "" {
		w.text(name, v)
	}
}
func (w *xw) dec(name string, d dec) { w.text(name, d.String()) }
func (w *xw) int(name string, v int64) {
	w.open(name)
	w.b = strconv.AppendInt(w.b, v, 10)
	w.close(name)
}
func (w *xw) bool(name string, v bool) { w.text(name, strconv.FormatBool(v)) }

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
		case r == '"':
			w.raw("&quot;")
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
	return r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// soapTime writes an xs:dateTime with the zone offset, as
// "2013-07-02T12:51:51.000+02:00".
func (s *Sim) soapTime(t time.Time) string {
	return t.In(s.loc).Format("2006-01-02T15:04:05.000-07:00")
}

// wrap returns the whole envelope around one wrapper element of ns.
func wrap(prefix, ns, name string, body func(w *xw)) []byte {
	w := &xw{}
	w.raw(envOpen)
	w.raw("<" + prefix + ":" + name + " xmlns:" + prefix + `="` + ns + `"`)
	inner := &xw{}
	if body != nil {
		body(inner)
	}
	if len(inner.b) == 0 {
		w.raw("/>")
	} else {
		w.raw(">")
		w.b = append(w.b, inner.b...)
		w.raw("</" + prefix + ":" + name + ">")
	}
	w.raw(envClose)
	return w.b
}

func faultXML(f *Fault) []byte {
	w := &xw{}
	w.raw(envOpen)
	w.raw(`<soap:Fault><faultcode>soap:Server</faultcode>`)
	w.text("faultstring", f.Technical)
	w.raw(`<detail><ns3:ECommerceError xmlns:ns3="` + nsException + `">`)
	w.text("errorTypeDescription", errorTypeName(f.ID))
	w.int("errorTypeId", int64(f.ID))
	w.bool("fixableByYou", f.Fixable)
	msg := f.UserMessage
	if msg == "" {
		msg = "Ett tekniskt fel uppstod."
	}
	w.text("userErrorMessage", msg)
	w.raw(`</ns3:ECommerceError></detail></soap:Fault>`)
	w.raw(envClose)
	return w.b
}

// plainFault is a SOAP fault without detail, for requests that are not SOAP.
func plainFault(code, msg string) []byte {
	w := &xw{}
	w.raw(envOpen + "<soap:Fault><faultcode>" + code + "</faultcode>")
	w.text("faultstring", msg)
	w.raw("</soap:Fault>" + envClose)
	return w.b
}

func writeAddress(w *xw, name string, a address) {
	w.open(name)
	w.opt("fullName", a.fullName)
	w.opt("firstName", a.firstName)
	w.opt("lastName", a.lastName)
	w.text("addressRow1", a.row1)
	w.opt("addressRow2", a.row2)
	w.text("postalArea", a.postalArea)
	w.text("postalCode", a.postalCode)
	w.text("country", a.country)
	w.close(name)
}

func writeSpec(w *xw, name string, sp spec) {
	w.open(name)
	for _, l := range sp.lines {
		w.open("specLines")
		w.text("id", l.id)
		w.text("artNo", l.artNo)
		w.text("description", l.description)
		w.dec("quantity", l.quantity)
		w.text("unitMeasure", l.unitMeasure)
		w.dec("unitAmountWithoutVat", l.unitAmount)
		w.dec("vatPct", l.vatPct)
		w.dec("totalVatAmount", l.totalVat)
		w.dec("totalAmount", l.total)
		w.close("specLines")
	}
	w.dec("totalAmount", sp.total)
	if sp.totalVat != nil {
		w.dec("totalVatAmount", *sp.totalVat)
	}
	if sp.bonus != nil {
		w.int("bonusPoints", *sp.bonus)
	}
	w.close(name)
}

// writePayment writes an aftershopflow:payment in its XSD order.
func (s *Sim) writePayment(w *xw, name string, p *payment) {
	w.open(name)
	w.text("id", p.id)
	w.dec("totalAmount", p.totalAmount())
	for _, m := range p.meta {
		w.open("metaData")
		w.text("key", m.key)
		w.text("value", m.value)
		w.close("metaData")
	}
	w.dec("limit", p.limit)
	for _, d := range p.diffs {
		w.open("paymentDiffs")
		w.text("type", d.typ)
		w.opt("transactionId", d.txID)
		w.text("created", s.soapTime(d.created))
		w.opt("createdBy", d.createdBy)
		writeSpec(w, "paymentSpec", d.spec)
		w.opt("orderId", d.orderID)
		w.opt("invoiceId", d.invoiceID)
		for _, n := range d.docs {
			w.text("documentNames", n)
		}
		w.close("paymentDiffs")
	}
	c := p.customer
	w.open("customer")
	w.text("governmentId", c.governmentID)
	writeAddress(w, "address", c.addr)
	w.opt("phone", c.phone)
	w.opt("email", c.email)
	w.text("type", c.typ)
	w.close("customer")
	if p.delivery != nil {
		writeAddress(w, "deliveryAddress", *p.delivery)
	}
	w.text("booked", s.soapTime(p.booked))
	if !p.finalized.IsZero() {
		w.text("finalized", s.soapTime(p.finalized))
	}
	w.text("paymentMethodId", p.method.ID)
	w.text("paymentMethodName", p.method.Name)
	w.bool("fraud", false)
	w.bool("frozen", p.frozen)
	for _, st := range p.statuses() {
		w.text("status", st)
	}
	w.opt("storeId", p.storeID)
	w.text("paymentMethodType", p.method.Type)
	w.int("totalBonusPoints", 0)
	w.close(name)
}

func (s *Sim) writeBasicPayment(w *xw, p *payment) {
	w.open("return")
	w.text("paymentId", p.id)
	w.text("paymentMethodId", p.method.ID)
	w.text("paymentMethodName", p.method.Name)
	w.text("governmentId", p.customer.governmentID)
	w.text("fullName", p.customer.addr.fullName)
	w.text("booked", s.soapTime(p.booked))
	w.text("modified", s.soapTime(p.modified))
	if !p.finalized.IsZero() {
		w.text("finalized", s.soapTime(p.finalized))
	}
	w.dec("totalAmount", p.totalAmount())
	w.bool("frozen", p.frozen)
	for _, st := range p.statuses() {
		w.text("status", st)
	}
	w.int("totalBonusPoints", 0)
	w.close("return")
}
