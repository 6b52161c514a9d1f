package resurssim

import (
	"fmt"
	"time"
)

type kv struct{ key, value string }

type address struct {
	fullName, firstName, lastName string
	row1, row2                    string
	postalArea, postalCode        string
	country                       string
}

type customer struct {
	governmentID string
	addr         address
	phone, email string
	typ          string // NATURAL or LEGAL
}

// specLine is one line of a payment spec, as stored and echoed.
type specLine struct {
	id, artNo, description, unitMeasure string
	quantity, unitAmount, vatPct        dec
	totalVat, total                     dec
}

type spec struct {
	lines    []specLine
	total    dec
	totalVat *dec
	bonus    *int64
}

type diff struct {
	typ       string // AUTHORIZE, DEBIT, CREDIT, ANNUL
	txID      string
	created   time.Time
	createdBy string
	spec      spec
	orderID   string
	invoiceID string
	docs      []string
}

type payment struct {
	id        string
	method    Method
	customer  customer
	delivery  *address
	meta      []kv
	limit     dec
	diffs     []diff
	booked    time.Time
	modified  time.Time
	finalized time.Time
	frozen    bool
	storeID   string
	// autoFinalize: a POS payment is finalized by Resurs as soon as it is
	// booked and not frozen (spec A.6); a "Betala sen" payment is not.
	autoFinalize bool
	thawAt       time.Time // frozen until then, then thawed (zero: never)
	annulAt      time.Time // frozen until then, then annulled (zero: never)
	session      *session
	docs         []doc
	// announced: its payment-created callback has been queued (once).
	announced bool
}

type doc struct {
	name string
	body []byte
}

// orderLine is a Checkout POS order line as the session keeps it.
type orderLine struct {
	artNo, description, unitMeasure, typ string
	quantity, unitAmount, vatPct         dec
}

type session struct {
	id         string
	ref        string
	lines      []orderLine
	meta       []kv
	prefill    customer
	successURL string
	backURL    string
	callback   string
	shopURL    string
	storeID    string
	created    time.Time
	state      string
	later      bool
	validTo    time.Time
	message    string // why it was rejected, for the cashier
	// pending is the customer's answer while a manual inspection runs.
	pending  *completion
	decideAt time.Time
	payment  *payment
}

// completion is what the cashier and customer entered in the iframe.
type completion struct {
	person Person
	method Method
	mobile string
	email  string
	later  bool
}

func (s *session) total() dec {
	var t dec
	for _, l := range s.lines {
		t += lineTotal(l.quantity, l.unitAmount, l.vatPct)
	}
	return t
}

func lineVat(q, u, v dec) dec   { return div(mul(mul(q, u), v), decInt(100)) }
func lineTotal(q, u, v dec) dec { return mul(q, u) + lineVat(q, u, v) }

// sums of the diffs (spec B.6).
type sums struct{ auth, debit, credit, annul dec }

func (p *payment) sums() sums {
	var s sums
	for _, d := range p.diffs {
		switch d.typ {
		case "AUTHORIZE":
			s.auth += d.spec.total
		case "DEBIT":
			s.debit += d.spec.total
		case "CREDIT":
			s.credit += d.spec.total
		case "ANNUL":
			s.annul += d.spec.total
		}
	}
	return s
}

func (p *payment) has(typ string) bool {
	for _, d := range p.diffs {
		if d.typ == typ {
			return true
		}
	}
	return false
}

// untouched: only the booking's AUTHORIZE so far, so "everything" is its spec.
func (p *payment) untouched() bool { return len(p.diffs) == 1 }

// totalAmount = authorised - annulled - credited (spec B.6).
func (p *payment) totalAmount() dec {
	s := p.sums()
	return s.auth - s.annul - s.credit
}

func (p *payment) debitable() dec {
	s := p.sums()
	return s.auth - s.debit - s.annul
}

func (p *payment) creditable() dec {
	s := p.sums()
	return s.debit - s.credit
}

// statuses derives the status flags in the XSD's enumeration order.
func (p *payment) statuses() []string {
	var out []string
	if p.debitable() > 0 {
		out = append(out, "DEBITABLE")
	}
	if p.creditable() > 0 {
		out = append(out, "CREDITABLE")
	}
	if p.has("DEBIT") {
		out = append(out, "IS_DEBITED")
	}
	if p.has("CREDIT") {
		out = append(out, "IS_CREDITED")
	}
	if p.has("ANNUL") {
		out = append(out, "IS_ANNULLED")
	}
	return out
}

func (p *payment) hasStatus(st string) bool {
	for _, x := range p.statuses() {
		if x == st {
			return true
		}
	}
	return false
}

// Fault is a SOAP ECommerceError (spec B.5).
type Fault struct {
	ID           int
	Fixable      bool
	UserMessage  string
	Technical    string
	HTTPStatus   int // 0: 500
	notSOAPFault bool
}

func (f *Fault) Error() string {
	return fmt.Sprintf("resurs fault %d %s: %s", f.ID, errorTypeName(f.ID), f.Technical)
}

var errorTypeNames = map[int]string{
	1: "ILLEGAL_ARGUMENT", 3: "INTERNAL_ERROR", 4: "NOT_ALLOWED", 8: "REFERENCED_DATA_DONT_EXISTS",
	9: "NOT_ALLOWED_IN_ORDER_STATE", 10: "CREDITAPPLICATION_FAILED", 11: "NOT_IMPLEMENTED",
	14: "INVALID_CREDITAPPLICATION_SUBMISSION", 15: "SIGNING_REQUIRED", 17: "AUTHORIZATION_FAILED",
	18: "APPLICATION_VALIDATION_ERROR", 19: "OBJECT_WITH_ID_ALREADY_EXIST", 20: "NOT_ALLOWED_IN_PAYMENT_STATE",
	21: "CUSTOMER_CONFIGURATION_EXCEPTION", 22: "SERVICE_CONFIGURATION_EXCEPTION", 23: "INVALID_CREDITING",
	24: "LIMIT_PER_TIME_EXCEEDED", 25: "NOT_ALLOWED_IN_CURRENT_STATE", 26: "INVALID_FINALIZATION",
	27: "FORM_PARSING", 28: "NOT_ALLOWED_INVOICE_ID", 29: "ALREADY_EXISTS_INVOICE_ID",
	30: "INVALID_IDENTIFICATION", 31: "TO_MANY_TOKENS", 35: "INVALID_AUTHENTICATION", 36: "ANNUL_FAILED",
	37: "CUSTOMER_HAS_NO_VALID_ACCOUNT", 99: "LEGACY_EXCEPTION", 502: "WEAK_PASSWORD", 503: "NOT_AUTHORIZED",
}

func errorTypeName(id int) string {
	if n, ok := errorTypeNames[id]; ok {
		return n
	}
	return "INTERNAL_ERROR"
}

func fault(id int, fixable bool, user, technical string) *Fault {
	return &Fault{ID: id, Fixable: fixable, UserMessage: user, Technical: technical}
}

func notFound(id string) *Fault {
	return fault(8, true, "Betalningen med id "+id+" finns inte.", "Payment "+id+" does not exist")
}

// ---- lazy time rules ----

// tick applies every delayed rule that is due at now. Callers hold s.mu.
func (s *Sim) tick(now time.Time) {
	for _, ss := range s.st.sessions {
		switch ss.state {
		case SessionInspection:
			if !now.Before(ss.decideAt) {
				c := ss.pending
				ss.pending = nil
				if c.person.Outcome == OutcomeInspectReject {
					ss.state = SessionRejected
					ss.message = rejectMessage
				} else {
					s.book(ss, *c, ss.decideAt)
				}
			}
		case SessionLinkSent:
			if !now.Before(ss.validTo) {
				ss.state = SessionExpired
				ss.message = "Länken har gått ut."
			}
		}
	}
	for _, p := range s.st.order {
		switch {
		case !p.frozen:
		case !p.thawAt.IsZero() && !now.Before(p.thawAt):
			s.thaw(p, p.thawAt)
		case !p.annulAt.IsZero() && !now.Before(p.annulAt):
			at := p.annulAt
			p.frozen = false
			p.thawAt, p.annulAt = time.Time{}, time.Time{}
			if rest := p.debitable(); rest > 0 {
				p.diffs = append(p.diffs, diff{typ: "ANNUL", created: at, createdBy: "fraud-control", spec: spec{total: rest}})
				p.modified = at
			}
		}
	}
}

const rejectMessage = "Köpet kunde tyvärr inte genomföras. Välj ett annat betalsätt."

// thaw unfreezes p; a POS payment is then finalized automatically.
func (s *Sim) thaw(p *payment, at time.Time) {
	p.frozen = false
	p.thawAt, p.annulAt = time.Time{}, time.Time{}
	p.modified = at
	if p.autoFinalize {
		s.debitAll(p, at)
	}
	s.announce(p, at)
}

// debitAll adds a DEBIT diff over everything still authorised.
func (s *Sim) debitAll(p *payment, at time.Time) {
	rest := p.debitable()
	if rest <= 0 {
		return
	}
	auth := p.diffs[0].spec
	sp := spec{total: rest}
	if p.untouched() {
		sp = auth
	}
	d := diff{typ: "DEBIT", txID: p.id, created: at, createdBy: "resurs", spec: sp}
	if p.method.Type == "INVOICE" {
		s.invoice(p, &d, "", at)
	}
	p.diffs = append(p.diffs, d)
	p.finalized = at
	p.modified = at
}

// invoice gives an INVOICE debit its invoice number (from the sequence when
// none was given) and its document.
func (s *Sim) invoice(p *payment, d *diff, invoiceID string, at time.Time) {
	if invoiceID == "" {
		for s.st.invoiceIDs[fmt.Sprint(s.st.invoiceSeq)] {
			s.st.invoiceSeq++
		}
		invoiceID = fmt.Sprint(s.st.invoiceSeq)
		s.st.invoiceSeq++
	}
	s.st.invoiceIDs[invoiceID] = true
	d.invoiceID = invoiceID
	s.st.docSeq++
	name := fmt.Sprintf("INVOICE_%s_%d", at.In(s.loc).Format("20060102-150405"), s.st.docSeq)
	d.docs = append(d.docs, name)
	p.docs = append(p.docs, doc{name: name, body: pdfDocument(name, p, d)})
}

// book creates the payment of a completed session. Callers hold s.mu.
func (s *Sim) book(ss *session, c completion, at time.Time) *payment {
	per := c.person
	cust := customer{
		governmentID: per.GovernmentID,
		addr: address{
			fullName: joinName(per.FirstName, per.LastName), firstName: per.FirstName, lastName: per.LastName,
			row1: per.AddressRow1, postalArea: per.PostalArea, postalCode: per.PostalCode, country: "SE",
		},
		phone: c.mobile, email: c.email, typ: "NATURAL",
	}
	if per.Legal {
		cust.typ = "LEGAL"
	}
	sp := spec{}
	var vat dec
	for i, l := range ss.lines {
		lv := lineVat(l.quantity, l.unitAmount, l.vatPct)
		lt := mul(l.quantity, l.unitAmount) + lv
		sp.lines = append(sp.lines, specLine{
			id: fmt.Sprint(i + 1), artNo: l.artNo, description: l.description, unitMeasure: l.unitMeasure,
			quantity: l.quantity, unitAmount: l.unitAmount, vatPct: l.vatPct, totalVat: lv, total: lt,
		})
		sp.total += lt
		vat += lv
	}
	sp.totalVat = &vat
	p := &payment{
		id: ss.ref, method: c.method, customer: cust, meta: append([]kv(nil), ss.meta...),
		limit: sp.total + sp.total*dec(s.shadow)/100, booked: at, modified: at, storeID: ss.storeID,
		autoFinalize: !c.later, session: ss,
	}
	if p.storeID == "" {
		p.storeID = TestStoreNumber
	}
	p.diffs = []diff{{typ: "AUTHORIZE", txID: ss.ref, created: at, createdBy: "checkout", spec: sp}}
	switch per.Outcome {
	case OutcomeFrozen:
		p.frozen = true
	case OutcomeFrozenThaw:
		p.frozen, p.thawAt = true, at.Add(per.Delay)
	case OutcomeFrozenAnnul:
		p.frozen, p.annulAt = true, at.Add(per.Delay)
	}
	if !p.frozen && p.autoFinalize {
		s.debitAll(p, at)
	}
	ss.state = SessionBooked
	ss.payment = p
	s.st.payments[p.id] = p
	s.st.order = append(s.st.order, p)
	if !p.frozen {
		s.announce(p, at)
	}
	return p
}

func joinName(first, last string) string {
	switch {
	case first == "":
		return last
	case last == "":
		return first
	}
	return first + " " + last
}
