package resurs

import (
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/soap"
)

// fakeResurs is a small stateful stand-in for Resurs (POS REST + After
// Shop SOAP) written for the adapter's tests; the real emulator is
// resurssim, written apart on purpose.
type fakeResurs struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	sessions   map[string]string      // order reference -> paymentSessionId
	lines      map[string][]OrderLine // order reference -> lines of the live session
	payments   map[string]*Payment
	nextID     int
	calls      []string
	last       map[string]*soap.Node // the last request of each After Shop operation
	drop       string                // an operation performed, then answered by a dropped connection
	hideBooked bool                  // GET answers 404 although booked (a booking racing a cancel)
	now        time.Time
}

func newFakeResurs(t *testing.T) *fakeResurs {
	f := &fakeResurs{t: t, sessions: map[string]string{}, lines: map[string][]OrderLine{}, payments: map[string]*Payment{},
		now: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /pos/payments/{ref}", f.postSession)
	mux.HandleFunc("GET /pos/payments/{ref}", f.getOrder)
	mux.HandleFunc("POST /ws/AfterShopFlowService", f.soap)
	f.srv = httptest.NewServer(f.auth(mux))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeResurs) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != testUser || p != testPass {
			w.Header().Set("WWW-Authenticate", `Basic realm="resurs"`)
			w.WriteHeader(401)
			io.WriteString(w, `{"message":"Bad credentials"}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// setDrop sets the operation to drop ("" none), under the fake's lock: a
// dropped request's handler may still be running when the client sees EOF.
func (f *fakeResurs) setDrop(op string) {
	f.mu.Lock()
	f.drop = op
	f.mu.Unlock()
}

func (f *fakeResurs) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == call {
			n++
		}
	}
	return n
}

// dropped performs nothing more: it closes the connection without an answer.
func dropped(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func (f *fakeResurs) postSession(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	var req SessionRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.OrderLines) == 0 {
		w.WriteHeader(400)
		io.WriteString(w, `{"message":"bad body"}`)
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, "createSession")
	if _, booked := f.payments[ref]; booked {
		f.mu.Unlock()
		w.WriteHeader(400)
		io.WriteString(w, `{"message":"OrderReference already exists"}`)
		return
	}
	f.nextID++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", f.nextID)
	f.sessions[ref], f.lines[ref] = id, req.OrderLines
	drop := f.drop == "createSession"
	f.mu.Unlock()
	if drop {
		dropped(w)
		return
	}
	src := f.srv.URL + "/web/dist/omni-checkout.html?" + id
	json.NewEncoder(w).Encode(map[string]string{"paymentSessionId": id,
		"html": `<iframe id="rco-checkout-app-frame" src="` + src + `"></iframe><script src="` + f.srv.URL + `/web/dist/js/oc-shop.js"></script>`})
}

func (f *fakeResurs) getOrder(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "getOrder")
	p, ok := f.payments[r.PathValue("ref")]
	if !ok || f.hideBooked {
		w.WriteHeader(404)
		io.WriteString(w, `{"message":"The order does not exist"}`)
		return
	}
	json.NewEncoder(w).Encode(p)
}

// book plays the customer: the session's lines become a booked payment.
// later leaves it DEBITABLE for posd to finalize.
func (f *fakeResurs) book(ref string, later, frozen bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	total := new(big.Rat)
	for _, l := range f.lines[ref] {
		v := new(big.Rat).Mul(l.Quantity.Rat(), l.UnitAmountWithoutVat.Rat())
		v.Mul(v, new(big.Rat).Add(big.NewRat(1, 1), new(big.Rat).Quo(l.VatPct.Rat(), big.NewRat(100, 1))))
		total.Add(total, v)
	}
	amt := decimalOfRat(total, 10)
	p := &Payment{ID: ref, Limit: amt, Booked: Time{f.now}, PaymentMethodID: "INVOICE", PaymentMethodName: "Faktura",
		PaymentMethodType: "INVOICE", Frozen: frozen, StoreID: "store-1"}
	p.Diffs = append(p.Diffs, Diff{Type: DiffAuthorize, Created: Time{f.now}, Spec: Spec{TotalAmount: amt}})
	if !later {
		p.Diffs = append(p.Diffs, Diff{Type: DiffDebit, Created: Time{f.now}, Spec: Spec{TotalAmount: amt}})
		p.Finalized = Time{f.now}
	}
	f.payments[ref] = p
	restate(p)
}

func (f *fakeResurs) edit(ref string, fn func(*Payment)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.payments[ref])
	restate(f.payments[ref])
}

func (f *fakeResurs) setFrozen(ref string, frozen bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.payments[ref].Frozen = frozen
}

// restate derives totalAmount and the status flags from the diffs (B.6).
func restate(p *Payment) {
	total := p.Sum(DiffAuthorize)
	total.Sub(total, p.Sum(DiffAnnul))
	total.Sub(total, p.Sum(DiffCredit))
	p.TotalAmount = decimalOfRat(total, 10)
	p.Status = nil
	if p.Debitable().Sign() > 0 {
		p.Status = append(p.Status, StatusDebitable)
	}
	if p.Creditable().Sign() > 0 {
		p.Status = append(p.Status, StatusCreditable)
	}
	for _, s := range []struct{ diff, flag string }{{DiffDebit, StatusDebited}, {DiffCredit, StatusCredited}, {DiffAnnul, StatusAnnulled}} {
		if p.Sum(s.diff).Sign() > 0 {
			p.Status = append(p.Status, s.flag)
		}
	}
}

func (f *fakeResurs) soap(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	n, err := soap.Body(b)
	if err != nil || n.Space != AfterShopNS {
		f.t.Errorf("fake: bad SOAP request: %v", err)
		w.WriteHeader(500)
		return
	}
	op := n.Local
	f.mu.Lock()
	f.calls = append(f.calls, op)
	if f.last == nil {
		f.last = map[string]*soap.Node{}
	}
	f.last[op] = n
	resp, fault := f.apply(op, n)
	drop := f.drop == op
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	switch {
	case drop:
		dropped(w)
	case fault != "":
		w.WriteHeader(500)
		io.WriteString(w, fault)
	default:
		io.WriteString(w, envelopeOf("ns2", `<ns2:`+op+`Response xmlns:ns2="`+AfterShopNS+`">`+resp+`</ns2:`+op+`Response>`))
	}
}

func (f *fakeResurs) apply(op string, n *soap.Node) (resp, fault string) {
	if op == OpFindPayments {
		var out strings.Builder
		for _, p := range f.payments {
			fmt.Fprintf(&out, "<return><paymentId>%s</paymentId><booked>%s</booked><totalAmount>%s</totalAmount><frozen>%t</frozen>", p.ID, p.Booked.Format(time.RFC3339), p.TotalAmount.Places(5), p.Frozen)
			for _, s := range p.Status {
				out.WriteString("<status>" + s + "</status>")
			}
			out.WriteString("</return>")
		}
		return out.String(), ""
	}
	p, ok := f.payments[n.Str("paymentId")]
	if !ok {
		return "", faultResponse(ErrorReferencedDataDontExists, "REFERENCED_DATA_DONT_EXISTS", true, "Betalningen finns inte")
	}
	amountOr := func(all *big.Rat) Decimal {
		if s := n.Child("partPaymentSpec"); s != nil {
			return MustDecimal(s.Str("totalAmount"))
		}
		return decimalOfRat(all, 10)
	}
	switch op {
	case OpGetPayment:
		return "<return>" + paymentXML(p) + "</return>", ""
	case OpFinalizePayment:
		switch {
		case p.Frozen:
			return "", faultResponse(ErrorNotAllowedInCurrentState, "NOT_ALLOWED_IN_CURRENT_STATE", true, "Fryst")
		case p.Debitable().Sign() <= 0:
			return "", faultResponse(ErrorNotAllowedInPaymentState, "NOT_ALLOWED_IN_PAYMENT_STATE", true, "Redan debiterad")
		}
		p.Diffs = append(p.Diffs, Diff{Type: DiffDebit, Created: Time{f.now}, CreatedBy: n.Str("createdBy"), Spec: Spec{TotalAmount: amountOr(p.Debitable())}})
		p.Finalized = Time{f.now}
	case OpAnnulPayment:
		if p.Debitable().Sign() <= 0 || p.Frozen {
			return "", faultResponse(ErrorNotAllowedInPaymentState, "NOT_ALLOWED_IN_PAYMENT_STATE", true, "Kan inte annulleras")
		}
		p.Diffs = append(p.Diffs, Diff{Type: DiffAnnul, Created: Time{f.now}, CreatedBy: n.Str("createdBy"), Spec: Spec{TotalAmount: amountOr(p.Debitable())}})
	case OpCreditPayment:
		amt := amountOr(p.Creditable())
		if amt.Rat().Cmp(p.Creditable()) > 0 {
			return "", faultResponse(ErrorInvalidCrediting, "INVALID_CREDITING", true, "För stort belopp")
		}
		p.Diffs = append(p.Diffs, Diff{Type: DiffCredit, Created: Time{f.now}, CreatedBy: n.Str("createdBy"), Spec: Spec{TotalAmount: amt}})
	case OpAdditionalDebitOfPayment:
		amt := MustDecimal(n.Child("paymentSpec").Str("totalAmount"))
		room := new(big.Rat).Sub(p.Limit.Rat(), p.TotalAmount.Rat())
		if amt.Rat().Cmp(room) > 0 {
			return "", faultResponse(ErrorNotAllowed, "NOT_ALLOWED", true, "Över gränsen")
		}
		p.Diffs = append(p.Diffs, Diff{Type: DiffAuthorize, Created: Time{f.now}, CreatedBy: n.Str("createdBy"), Spec: Spec{TotalAmount: amt}})
	default:
		return "", faultResponse(ErrorNotImplemented, "NOT_IMPLEMENTED", false, "")
	}
	restate(p)
	return "", ""
}

const ErrorNotImplemented = 11

func paymentXML(p *Payment) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<id>%s</id><totalAmount>%s</totalAmount><limit>%s</limit>", p.ID, p.TotalAmount.Places(5), p.Limit.Places(5))
	for _, d := range p.Diffs {
		fmt.Fprintf(&b, "<paymentDiffs><type>%s</type><created>%s</created>", d.Type, d.Created.Format(time.RFC3339))
		if d.CreatedBy != "" {
			fmt.Fprintf(&b, "<createdBy>%s</createdBy>", d.CreatedBy)
		}
		fmt.Fprintf(&b, "<paymentSpec><totalAmount>%s</totalAmount></paymentSpec></paymentDiffs>", d.Spec.TotalAmount.Places(5))
	}
	fmt.Fprintf(&b, "<booked>%s</booked>", p.Booked.Format(time.RFC3339))
	if p.Finalized.IsZero() {
		b.WriteString(`<finalized xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true"/>`)
	} else {
		fmt.Fprintf(&b, "<finalized>%s</finalized>", p.Finalized.Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "<paymentMethodId>%s</paymentMethodId><paymentMethodName>%s</paymentMethodName><fraud>false</fraud><frozen>%t</frozen>",
		p.PaymentMethodID, p.PaymentMethodName, p.Frozen)
	for _, s := range p.Status {
		b.WriteString("<status>" + s + "</status>")
	}
	fmt.Fprintf(&b, "<paymentMethodType>%s</paymentMethodType><totalBonusPoints>0</totalBonusPoints>", p.PaymentMethodType)
	return b.String()
}
