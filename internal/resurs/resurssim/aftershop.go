package resurssim

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// call is one parsed SOAP operation.
type call struct {
	op      string
	wrapper *node
	now     time.Time
	ref     string // payment id, for the call log
}

type opFunc func(s *Sim, c *call) ([]byte, *Fault)

// afterShopOps are the 13 operations of the After Shop WSDL (spec I.6) plus
// the token operations that older documents list under After Shop (B.3).
var afterShopOps = map[string]opFunc{
	"finalizePayment":                       (*Sim).opFinalize,
	"annulPayment":                          (*Sim).opAnnul,
	"creditPayment":                         (*Sim).opCredit,
	"additionalDebitOfPayment":              (*Sim).opAdditionalDebit,
	"addMetaData":                           (*Sim).opAddMetaData,
	"getPayment":                            (*Sim).opGetPayment,
	"findPayments":                          (*Sim).opFindPayments,
	"calculateResultSize":                   (*Sim).opCalculateResultSize,
	"getPaymentDocumentNames":               (*Sim).opDocumentNames,
	"getPaymentDocument":                    (*Sim).opDocument,
	"insertBonusPoints":                     (*Sim).opBonusChange,
	"withdrawBonusPoints":                   (*Sim).opBonusChange,
	"getCustomerBonus":                      (*Sim).opGetCustomerBonus,
	"issueCustomerIdentificationToken":      (*Sim).opNotImplemented,
	"invalidateCustomerIdentificationToken": (*Sim).opNotImplemented,
}

func (s *Sim) lookup(c *call) (*payment, *Fault) {
	id, f := c.wrapper.idReq("paymentId")
	if f != nil {
		return nil, f
	}
	c.ref = id
	p, ok := s.st.payments[id]
	if !ok {
		return nil, notFound(id)
	}
	return p, nil
}

func empty(c *call) []byte { return wrap("ns2", nsAfterShop, c.op+"Response", nil) }

func stateFault(p *payment, op string) *Fault {
	return fault(20, true, "Åtgärden är inte tillåten för betalningen i dess nuvarande status.",
		fmt.Sprintf("%s not allowed for payment %s with status %v", op, p.id, p.statuses()))
}

// invoiceFields refuses invoice numbers and dates on methods other than
// INVOICE (spec B.3) and duplicates on INVOICE (B.5): faults 28 and 29.
func (s *Sim) invoiceFields(p *payment, w *node, idField string, dateFields ...string) (string, *Fault) {
	id, f := w.idOpt(idField)
	if f != nil {
		return "", f
	}
	set := id != ""
	for _, d := range dateFields {
		if _, ok := w.str(d); ok {
			set = true
		}
	}
	if p.method.Type != "INVOICE" {
		if set {
			return "", fault(28, true, "Fakturanummer kan bara anges för fakturabetalningar.",
				fmt.Sprintf("%s is only allowed for INVOICE payment methods, payment %s is %s", idField, p.id, p.method.Type))
		}
		return "", nil
	}
	if id != "" && s.st.invoiceIDs[id] {
		return "", fault(29, true, "Fakturanumret används redan.", fmt.Sprintf("invoice number %s already exists", id))
	}
	return id, nil
}

func createdBy(w *node) string {
	if v, ok := w.str("createdBy"); ok && v != "" {
		return v
	}
	return "webservice"
}

func (s *Sim) opFinalize(c *call) ([]byte, *Fault) {
	p, f := s.lookup(c)
	if f != nil {
		return nil, f
	}
	w := c.wrapper
	sp, f := readSpec(w.child("partPaymentSpec"))
	if f != nil {
		return nil, f
	}
	if !p.hasStatus("DEBITABLE") {
		return nil, stateFault(p, "finalizePayment")
	}
	if p.frozen {
		return nil, fault(25, true, "Betalningen är frusen och kan inte debiteras ännu.", "payment "+p.id+" is frozen")
	}
	rest := p.debitable()
	if sp == nil {
		sp = &spec{total: rest}
		if p.untouched() {
			*sp = p.diffs[0].spec
		}
	}
	if f := partAmount(p, sp, rest, partRule{code: 26, verb: "finalize", left: "debitable",
		over: "Beloppet är större än det som återstår att debitera.", card: "Kortbetalningar måste debiteras med hela beloppet."}); f != nil {
		return nil, f
	}
	invoiceID, f := s.invoiceFields(p, w, "invoiceId", "invoiceDate", "orderDate")
	if f != nil {
		return nil, f
	}
	orderID, f := w.idOpt("orderId")
	if f != nil {
		return nil, f
	}
	tx, f := w.idOpt("preferredTransactionId")
	if f != nil {
		return nil, f
	}
	if tx == "" {
		tx = p.id
	}
	d := diff{typ: "DEBIT", txID: tx, created: c.now, createdBy: createdBy(w), spec: *sp, orderID: orderID}
	if p.method.Type == "INVOICE" {
		s.invoice(p, &d, invoiceID, c.now)
	}
	p.diffs = append(p.diffs, d)
	p.finalized, p.modified = c.now, c.now
	return empty(c), nil
}

// partRule is how one operation words B.6's amount rules.
type partRule struct {
	code       int    // errorTypeId of a refused amount
	verb, left string // "finalize", "debitable": the faultstring
	over       string // the cashier's text of an amount above what is left
	card       string // the cashier's text when a card payment must be taken whole; "": no card rule
}

// partAmount checks sp, an operation's amount, against rest, what the
// payment has left for it (B.6): positive, at most rest, all of rest for a
// card payment where the rule says so; past rest within the B.7 tolerance
// it is compensated (set to rest).
func partAmount(p *payment, sp *spec, rest dec, r partRule) *Fault {
	switch {
	case sp.total <= 0:
		return argError("partPaymentSpec.totalAmount", "must be positive")
	case sp.total > rest+tolerance:
		return fault(r.code, true, r.over, fmt.Sprintf("%s %s exceeds the %s %s", r.verb, sp.total, r.left, rest))
	case r.card != "" && p.method.cardRules() && absDec(sp.total-rest) > tolerance:
		return fault(r.code, true, r.card, fmt.Sprintf("card payment %s: %s all of %s, not %s", p.id, r.verb, rest, sp.total))
	}
	if sp.total > rest {
		sp.total = rest
	}
	return nil
}

func (s *Sim) opAnnul(c *call) ([]byte, *Fault) {
	p, f := s.lookup(c)
	if f != nil {
		return nil, f
	}
	sp, f := readSpec(c.wrapper.child("partPaymentSpec"))
	if f != nil {
		return nil, f
	}
	if !p.hasStatus("DEBITABLE") {
		return nil, stateFault(p, "annulPayment")
	}
	rest := p.debitable()
	if sp == nil {
		sp = &spec{total: rest}
	}
	if f := partAmount(p, sp, rest, partRule{code: 36, verb: "annul", left: "annullable",
		over: "Beloppet är större än det som kan annulleras.", card: "Kortbetalningar kan inte annulleras delvis."}); f != nil {
		return nil, f
	}
	p.diffs = append(p.diffs, diff{typ: "ANNUL", txID: p.id, created: c.now, createdBy: createdBy(c.wrapper), spec: *sp})
	p.modified = c.now
	return empty(c), nil
}

func (s *Sim) opCredit(c *call) ([]byte, *Fault) {
	p, f := s.lookup(c)
	if f != nil {
		return nil, f
	}
	w := c.wrapper
	sp, f := readSpec(w.child("partPaymentSpec"))
	if f != nil {
		return nil, f
	}
	if !p.hasStatus("CREDITABLE") {
		return nil, stateFault(p, "creditPayment")
	}
	rest := p.creditable()
	if sp == nil {
		sp = &spec{total: rest}
	}
	if f := partAmount(p, sp, rest, partRule{code: 23, verb: "credit", left: "creditable",
		over: "Beloppet är större än det som kan krediteras."}); f != nil {
		return nil, f
	}
	noteID, f := s.invoiceFields(p, w, "creditNoteId", "creditNoteDate")
	if f != nil {
		return nil, f
	}
	tx, f := w.idOpt("preferredTransactionId")
	if f != nil {
		return nil, f
	}
	if tx == "" {
		tx = p.id
	}
	d := diff{typ: "CREDIT", txID: tx, created: c.now, createdBy: createdBy(w), spec: *sp}
	if noteID != "" {
		s.st.invoiceIDs[noteID] = true
		d.invoiceID = noteID
	}
	p.diffs = append(p.diffs, d)
	p.modified = c.now
	return empty(c), nil
}

func (s *Sim) opAdditionalDebit(c *call) ([]byte, *Fault) {
	p, f := s.lookup(c)
	if f != nil {
		return nil, f
	}
	sp, f := readSpec(c.wrapper.child("paymentSpec"))
	if f != nil {
		return nil, f
	}
	if sp == nil {
		return nil, argError("paymentSpec", "is required")
	}
	switch {
	case !p.hasStatus("DEBITABLE") && !p.hasStatus("CREDITABLE"):
		return nil, stateFault(p, "additionalDebitOfPayment")
	case p.method.cardRules():
		return nil, fault(4, true, "Tilläggsdebitering är inte möjlig för kortbetalningar.",
			"additionalDebitOfPayment is not allowed for card payment "+p.id)
	case p.frozen:
		return nil, fault(25, true, "Betalningen är frusen.", "payment "+p.id+" is frozen")
	case sp.total <= 0:
		return nil, argError("paymentSpec.totalAmount", "must be positive")
	case sp.total > p.limit-p.totalAmount():
		return nil, fault(17, true, "Beloppet ryms inte inom kundens kreditgräns.",
			fmt.Sprintf("additional debit %s exceeds limit %s - total %s", sp.total, p.limit, p.totalAmount()))
	}
	p.diffs = append(p.diffs, diff{typ: "AUTHORIZE", txID: p.id, created: c.now, createdBy: createdBy(c.wrapper), spec: *sp})
	p.modified = c.now
	return empty(c), nil
}

func (s *Sim) opAddMetaData(c *call) ([]byte, *Fault) {
	p, f := s.lookup(c)
	if f != nil {
		return nil, f
	}
	key, ok := c.wrapper.str("key")
	if !ok || key == "" {
		return nil, argError("key", "is required")
	}
	p.meta = setMeta(p.meta, key, c.wrapper.strv("value"))
	p.modified = c.now
	return empty(c), nil
}

func (s *Sim) opGetPayment(c *call) ([]byte, *Fault) {
	p, f := s.lookup(c)
	if f != nil {
		return nil, f
	}
	// ns3 here and ns2 elsewhere: Resurs's prefixes change between
	// responses (spec B.2), so clients must read by namespace.
	return wrap("ns3", nsAfterShop, "getPaymentResponse", func(w *xw) { s.writePayment(w, "return", p) }), nil
}

// criteria is a parsed searchCriteria.
type criteria struct {
	anyID, methodID, govID, name string
	bookedFrom, bookedTo         *time.Time
	modFrom, modTo               *time.Time
	finFrom, finTo               *time.Time
	amountFrom, amountTo         *dec
	frozen                       *bool
	metaKey                      string
	metaValue                    *string
	set, notSet                  []string
}

func readCriteria(w *node) (*criteria, *Fault) {
	n := w.child("searchCriteria")
	if n == nil {
		return nil, argError("searchCriteria", "is required")
	}
	cr := &criteria{anyID: n.strv("anyId"), methodID: n.strv("paymentMethodId"), govID: n.strv("governmentId"), name: n.strv("customerName")}
	var f *Fault
	for _, x := range []struct {
		name string
		dst  **time.Time
	}{{"bookedFrom", &cr.bookedFrom}, {"bookedTo", &cr.bookedTo}, {"modifiedFrom", &cr.modFrom}, {"modifiedTo", &cr.modTo}, {"finalizedFrom", &cr.finFrom}, {"finalizedTo", &cr.finTo}} {
		if *x.dst, f = n.timeOpt(x.name); f != nil {
			return nil, f
		}
	}
	if cr.amountFrom, f = n.decOpt("amountFrom"); f != nil {
		return nil, f
	}
	if cr.amountTo, f = n.decOpt("amountTo"); f != nil {
		return nil, f
	}
	if cr.frozen, f = n.boolOpt("frozen"); f != nil {
		return nil, f
	}
	if m := n.child("withMetaData"); m != nil {
		cr.metaKey = m.strv("withMetaDataKey")
		if v, ok := m.str("withMetaDataValue"); ok {
			cr.metaValue = &v
		}
	}
	for _, x := range []struct {
		name string
		dst  *[]string
	}{{"statusSet", &cr.set}, {"statusNotSet", &cr.notSet}} {
		kids := n.children(x.name)
		if len(kids) > 100 {
			return nil, argError(x.name, "at most 100")
		}
		for _, k := range kids {
			v := strings.TrimSpace(string(k.text))
			switch v {
			case "DEBITABLE", "CREDITABLE", "IS_DEBITED", "IS_CREDITED", "IS_ANNULLED":
			default:
				return nil, argError(x.name, fmt.Sprintf("%q is not a paymentStatus", v))
			}
			*x.dst = append(*x.dst, v)
		}
	}
	return cr, nil
}

func inRange(t time.Time, from, to *time.Time) bool {
	if from == nil && to == nil {
		return true
	}
	if t.IsZero() {
		return false
	}
	return (from == nil || !t.Before(*from)) && (to == nil || !t.After(*to))
}

func (cr *criteria) match(p *payment) bool {
	if cr.anyID != "" && !p.anyID(cr.anyID) ||
		cr.methodID != "" && p.method.ID != cr.methodID ||
		cr.govID != "" && p.customer.governmentID != cr.govID ||
		cr.name != "" && !strings.Contains(strings.ToLower(p.customer.addr.fullName), strings.ToLower(cr.name)) ||
		!inRange(p.booked, cr.bookedFrom, cr.bookedTo) || !inRange(p.modified, cr.modFrom, cr.modTo) ||
		!inRange(p.finalized, cr.finFrom, cr.finTo) ||
		cr.amountFrom != nil && p.totalAmount() < *cr.amountFrom ||
		cr.amountTo != nil && p.totalAmount() > *cr.amountTo ||
		cr.frozen != nil && p.frozen != *cr.frozen {
		return false
	}
	if cr.metaKey != "" {
		found := false
		for _, m := range p.meta {
			if m.key == cr.metaKey && (cr.metaValue == nil || m.value == *cr.metaValue) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	for _, st := range cr.set {
		if !p.hasStatus(st) {
			return false
		}
	}
	for _, st := range cr.notSet {
		if p.hasStatus(st) {
			return false
		}
	}
	return true
}

// anyID matches the payment id and every transaction, invoice, credit note
// and order number of its diffs (spec B.4).
func (p *payment) anyID(id string) bool {
	if p.id == id {
		return true
	}
	for _, d := range p.diffs {
		if d.txID == id || d.invoiceID == id || d.orderID == id {
			return true
		}
	}
	return false
}

func (s *Sim) search(cr *criteria) []*payment {
	var out []*payment
	for _, p := range s.st.order {
		if cr.match(p) {
			out = append(out, p)
		}
	}
	return out
}

func (s *Sim) opCalculateResultSize(c *call) ([]byte, *Fault) {
	cr, f := readCriteria(c.wrapper)
	if f != nil {
		return nil, f
	}
	n := len(s.search(cr))
	return wrap("ns2", nsAfterShop, "calculateResultSizeResponse", func(w *xw) { w.Int("return", int64(n)) }), nil
}

func (s *Sim) opFindPayments(c *call) ([]byte, *Fault) {
	w := c.wrapper
	cr, f := readCriteria(w)
	if f != nil {
		return nil, f
	}
	page, per := int64(1), int64(0)
	for _, x := range []struct {
		name string
		dst  *int64
	}{{"pageNumber", &page}, {"itemsPerPage", &per}} {
		if v, ok := w.str(x.name); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 1 {
				return nil, argError(x.name, fmt.Sprintf("%q must be a positive integer", v))
			}
			*x.dst = n
		}
	}
	found := s.search(cr)
	if sb := w.child("sortBy"); sb != nil {
		asc, f := sb.boolOpt("ascending")
		if f != nil {
			return nil, f
		}
		if asc == nil {
			return nil, argError("sortBy.ascending", "is required")
		}
		cols := sb.children("sortColumns")
		if len(cols) == 0 {
			return nil, argError("sortBy.sortColumns", "at least one is required")
		}
		var keys []string
		for _, k := range cols {
			v := strings.TrimSpace(string(k.text))
			switch v {
			case "PAYMENT_ID", "CUSTOMER_GOVERNMENT_ID", "CUSTOMER_NAME", "BOOKED_TIME", "MODIFIED_TIME", "FINALIZED_TIME", "AMOUNT", "BONUS_POINTS":
			default:
				return nil, argError("sortBy.sortColumns", fmt.Sprintf("%q is not a sortAlternative", v))
			}
			keys = append(keys, v)
		}
		slices.SortStableFunc(found, func(a, b *payment) int {
			for _, k := range keys {
				var r int
				switch k {
				case "PAYMENT_ID":
					r = cmp.Compare(a.id, b.id)
				case "CUSTOMER_GOVERNMENT_ID":
					r = cmp.Compare(a.customer.governmentID, b.customer.governmentID)
				case "CUSTOMER_NAME":
					r = cmp.Compare(a.customer.addr.fullName, b.customer.addr.fullName)
				case "BOOKED_TIME":
					r = a.booked.Compare(b.booked)
				case "MODIFIED_TIME":
					r = a.modified.Compare(b.modified)
				case "FINALIZED_TIME":
					r = a.finalized.Compare(b.finalized)
				case "AMOUNT":
					r = cmp.Compare(a.totalAmount(), b.totalAmount())
				}
				if !*asc {
					r = -r
				}
				if r != 0 {
					return r
				}
			}
			return 0
		})
	}
	if per > 0 {
		start := (page - 1) * per
		if start >= int64(len(found)) {
			found = nil
		} else {
			found = found[start:min(start+per, int64(len(found)))]
		}
	}
	return wrap("ns2", nsAfterShop, "findPaymentsResponse", func(w *xw) {
		for _, p := range found {
			s.writeBasicPayment(w, p)
		}
	}), nil
}

func (s *Sim) opDocumentNames(c *call) ([]byte, *Fault) {
	p, f := s.lookup(c)
	if f != nil {
		return nil, f
	}
	return wrap("ns2", nsAfterShop, "getPaymentDocumentNamesResponse", func(w *xw) {
		for _, d := range p.docs {
			w.Text("return", d.name)
		}
	}), nil
}

func (s *Sim) opDocument(c *call) ([]byte, *Fault) {
	p, f := s.lookup(c)
	if f != nil {
		return nil, f
	}
	name, ok := c.wrapper.str("documentName")
	if !ok || name == "" {
		return nil, argError("documentName", "is required")
	}
	for _, d := range p.docs {
		if d.name == name {
			return wrap("ns2", nsAfterShop, "getPaymentDocumentResponse", func(w *xw) {
				w.Open("return")
				w.Text("name", d.name)
				w.Text("pdfData", base64Std(d.body))
				w.Close("return")
			}), nil
		}
	}
	return nil, fault(8, true, "Dokumentet finns inte.", "document "+name+" of payment "+p.id+" does not exist")
}

func (s *Sim) opGetCustomerBonus(c *call) ([]byte, *Fault) {
	if _, ok := c.wrapper.str("governmentId"); !ok {
		return nil, argError("governmentId", "is required")
	}
	return wrap("ns2", nsAfterShop, "getCustomerBonusResponse", func(w *xw) {
		w.Open("return")
		w.Int("points", 0)
		w.Close("return")
	}), nil
}

// opBonusChange: the emulated account has no bonus programme.
func (s *Sim) opBonusChange(c *call) ([]byte, *Fault) {
	if _, ok := c.wrapper.str("governmentId"); !ok {
		return nil, argError("governmentId", "is required")
	}
	return nil, fault(11, false, "Bonuspoäng stöds inte för denna butik.", c.op+" is not implemented by the emulator: the store has no bonus programme")
}

func (s *Sim) opNotImplemented(c *call) ([]byte, *Fault) {
	return nil, fault(11, false, "Funktionen stöds inte.", c.op+" is not implemented by the emulator")
}
