package seqrsim

import (
	"github.com/posd/posd/internal/seqr"

	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/posd/posd/internal/money"
)

// result is the outcome of one SOAP operation: the response bytes and what
// the call log records about it.
type result struct {
	body      []byte
	code      int
	principal string
	ref       string
	detail    map[string]string
}

// call carries one parsed request into an operation.
type call struct {
	op       string
	wrapper  *node
	ctx      *contextIn
	now      time.Time
	legacyV1 bool // /extclientproxy/service: a missing acknowledgmentMode means none
}

func (c *call) principalID() string {
	if c.ctx == nil || c.ctx.Principal == nil {
		return ""
	}
	return c.ctx.Principal.ID
}

// merchantOps are the operations the emulator implements; the other six of
// the WSDL's 19 answer 91 UNSUPPORTED_OPERATION (spec 3.2).
func (s *Sim) operation(op string) (func(*call) result, bool) {
	switch op {
	case "registerTerminal":
		return s.opRegisterTerminal, true
	case "unregisterTerminal":
		return s.opUnregisterTerminal, true
	case "assignSeqrId":
		return s.opAssignSeqrID, true
	case "sendInvoice":
		return s.opSendInvoice, true
	case "updateInvoice":
		return s.opUpdateInvoice, true
	case "getPaymentStatus":
		return s.opGetPaymentStatus, true
	case "cancelInvoice":
		return s.opCancelInvoice, true
	case "commitReservation":
		return s.opCommitReservation, true
	case "submitPaymentReceipt":
		return s.opSubmitPaymentReceipt, true
	case "refundPayment":
		return s.opRefundPayment, true
	case "markTransactionPeriod":
		return s.opMarkTransactionPeriod, true
	case "executeReport":
		return s.opExecuteReport, true
	case "benchmarkingNop":
		return s.opBenchmarkingNop, true
	case "requestTopup", "requestTransfer", "requestPurchase", "requestPrincipalInformation",
		"changePrincipalPassword", "confirmCustomerRegistration":
		return s.opUnsupported, true
	}
	return nil, false
}

// errorResult is the response of op carrying only a non-zero code (plus the
// always-present version of getPaymentStatus).
func errorResult(op string, code int) []byte {
	w := response(op)
	w.base("", code)
	if op == "getPaymentStatus" {
		w.Int("version", 0)
	}
	return w.finish(op)
}

func (c *call) fail(code int) result {
	return result{body: errorResult(c.op, code), code: code, principal: c.principalID()}
}

func (c *call) ok(w *xw) result {
	return result{body: w.finish(c.op), code: seqr.ResultSuccess, principal: c.principalID()}
}

func (c *call) success() result {
	w := response(c.op)
	w.base("", seqr.ResultSuccess)
	return result{body: w.finish(c.op), code: seqr.ResultSuccess, principal: c.principalID()}
}

// ---- authentication: principal (29/37) -> password (20) -> state (33) ----

func (s *Sim) authTerminal(c *contextIn) (*terminal, int) {
	if c == nil || c.Principal == nil || c.Principal.Type != "TERMINALID" {
		return nil, seqr.ResultInvalidInitiatorPrincipalID
	}
	t := s.st.terminals[c.Principal.ID]
	if t == nil {
		return nil, seqr.ResultInvalidInitiatorPrincipalID
	}
	if c.Password != t.password {
		return nil, seqr.ResultAuthenticationFailed
	}
	if !t.active {
		return nil, seqr.ResultInvalidInitiatorPrincipalState
	}
	if len(t.password) < 4 {
		return nil, seqr.ResultAccessDenied
	}
	return t, seqr.ResultSuccess
}

// authReseller authenticates a RESELLERUSER (id + userId, or the combined
// "id/userId" form of the official sample), or a TERMINALID when allowed
// (spec G5: markTransactionPeriod and executeReport).
func (s *Sim) authReseller(c *contextIn, allowTerminal bool) (*reseller, *terminal, int) {
	if c == nil || c.Principal == nil {
		return nil, nil, seqr.ResultInvalidInitiatorPrincipalID
	}
	switch c.Principal.Type {
	case "RESELLERUSER":
		id, user := c.Principal.ID, c.Principal.UserID
		if user == "" {
			if i := strings.LastIndexByte(id, '/'); i >= 0 {
				id, user = id[:i], id[i+1:]
			}
		}
		r := s.st.resellers[id+"/"+user]
		if r == nil {
			return nil, nil, seqr.ResultInitiatorPrincipalNotFound
		}
		if c.Password != r.password {
			return nil, nil, seqr.ResultAuthenticationFailed
		}
		return r, nil, seqr.ResultSuccess
	case "TERMINALID":
		if !allowTerminal {
			return nil, nil, seqr.ResultInvalidInitiatorPrincipalID
		}
		t, code := s.authTerminal(c)
		if code != seqr.ResultSuccess {
			return nil, nil, code
		}
		return t.reseller, t, seqr.ResultSuccess
	}
	return nil, nil, seqr.ResultInvalidInitiatorPrincipalID
}

// ---- invoice validation ----

// checkInvoice applies the business checks of sendInvoice, updateInvoice and
// refundPayment: 49 for missing/garbled amounts or a currency other than the
// account's, 11 for a non-positive amount, 64 for a notification URL that
// is not an http(s) URL. The spec's "e.g. not starting with http://" names
// an example of a bad URL, not the only good scheme: SEQR's own Magento
// plugin requires an https notification URL, so https must pass.
func checkInvoice(inv *invoiceIn, currency string) (money.Amount, int) {
	if inv == nil || inv.Total == nil {
		return 0, seqr.ResultInvalidInvoiceData
	}
	total, ok := inv.Total.minor()
	if !ok || inv.Total.currency() != currency {
		return 0, seqr.ResultInvalidInvoiceData
	}
	for _, r := range inv.Rows {
		for _, a := range []*amountIn{r.Total, r.UnitPrice, r.Discount} {
			if a == nil {
				continue
			}
			if _, ok := a.minor(); !ok || a.currency() != currency {
				return 0, seqr.ResultInvalidInvoiceData
			}
		}
	}
	if total <= 0 {
		return 0, seqr.ResultRejectedAmount
	}
	if u := inv.NotificationURL; u != nil && !httpURL(*u) {
		return 0, seqr.ResultInvalidNotificationURL
	}
	return total, seqr.ResultSuccess
}

// httpURL reports whether s is an absolute http or https URL with a host
// (scheme case-insensitive, as URLs are).
func httpURL(s string) bool {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Scheme, "http") || strings.EqualFold(u.Scheme, "https")
}

// ---- operations ----

func (s *Sim) opBenchmarkingNop(c *call) result { return c.success() }

func (s *Sim) opUnsupported(c *call) result { return c.fail(seqr.ResultUnsupportedOperation) }

func (s *Sim) opRegisterTerminal(c *call) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, _, code := s.authReseller(c.ctx, false)
	if code != seqr.ResultSuccess {
		return c.fail(code)
	}
	t := s.addTerminal(r, s.newTerminalID(), c.wrapper.strv("password"), c.wrapper.strv("externalTerminalId"), c.wrapper.strv("name"))
	w := response(c.op)
	w.base("", seqr.ResultSuccess)
	w.Text("terminalId", t.id)
	res := c.ok(w)
	res.detail = map[string]string{"terminalId": t.id}
	return res
}

func (s *Sim) opUnregisterTerminal(c *call) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, code := s.authTerminal(c.ctx)
	if code != seqr.ResultSuccess {
		return c.fail(code)
	}
	if inv := t.current; inv != nil {
		s.refresh(inv, c.now)
		if open(inv.status) {
			s.cancel(inv)
		}
	}
	t.active = false
	if t.seqrID != "" {
		delete(s.st.seqrIDs, t.seqrID)
		t.seqrID = ""
	}
	return c.success()
}

func validSeqrID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if !(ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z') {
			return false
		}
	}
	return true
}

func (s *Sim) opAssignSeqrID(c *call) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, code := s.authTerminal(c.ctx)
	if code != seqr.ResultSuccess {
		return c.fail(code)
	}
	id := strings.TrimSpace(c.wrapper.strv("seqrId"))
	if !validSeqrID(id) {
		return c.fail(seqr.ResultInvalidSeqrID)
	}
	if other := s.st.seqrIDs[id]; other != nil && other != t {
		return c.fail(seqr.ResultInvalidSeqrID)
	}
	if t.seqrID != "" && t.seqrID != id {
		delete(s.st.seqrIDs, t.seqrID)
	}
	t.seqrID = id
	s.st.seqrIDs[id] = t
	res := c.success()
	res.detail = map[string]string{"seqrId": id}
	return res
}

func (s *Sim) opSendInvoice(c *call) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, code := s.authTerminal(c.ctx)
	if code != seqr.ResultSuccess {
		return c.fail(code)
	}
	data := readInvoice(c.wrapper.child("invoice"))
	total, code := checkInvoice(data, t.reseller.currency)
	if code != seqr.ResultSuccess {
		return c.fail(code)
	}
	// A cash-register terminal has one live transaction: a new invoice
	// cancels the previous open one (spec 5.1, TV14).
	if prev := t.current; prev != nil {
		s.refresh(prev, c.now)
		if open(prev.status) {
			s.cancel(prev)
		}
	}
	inv := &invoice{
		ref:         s.newInvoiceRef(c.now),
		term:        t,
		data:        data,
		total:       total,
		currency:    t.reseller.currency,
		status:      StatusIssued,
		version:     1,
		created:     c.now,
		newEndpoint: !c.legacyV1,
		tokens:      readTokens(c.wrapper.children("tokens")),
	}
	switch m := data.AcknowledgmentMode; {
	case m == nil:
		// On cashregister-2 a missing mode leaves the phone waiting for the
		// till (spec 1.1 / FAQ); the v1 service did not ask.
		inv.ackRequired = !c.legacyV1
	case *m == "REQUIRE_ACKNOWLEDGMENT":
		inv.ackRequired = true
	}
	s.st.invoices[inv.ref] = inv
	t.current = inv
	w := response(c.op)
	w.base("", seqr.ResultSuccess)
	w.Text("invoiceQRCode", "HTTP://SEQR.SE/R"+inv.ref)
	w.Text("invoiceReference", inv.ref)
	res := c.ok(w)
	res.ref = inv.ref
	return res
}

// ownInvoice finds ref for terminal t: unknown or another till's is 54.
func (s *Sim) ownInvoice(t *terminal, ref string, now time.Time) (*invoice, int) {
	inv := s.invoiceAt(strings.TrimSpace(ref), now)
	if inv == nil || inv.term != t {
		return nil, seqr.ResultInvalidInvoiceReference
	}
	return inv, seqr.ResultSuccess
}

func (s *Sim) opUpdateInvoice(c *call) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := c.wrapper.strv("invoiceReference")
	t, code := s.authTerminal(c.ctx)
	if code != seqr.ResultSuccess {
		return c.withRef(c.fail(code), ref)
	}
	inv, code := s.ownInvoice(t, ref, c.now)
	if code != seqr.ResultSuccess {
		return c.withRef(c.fail(code), ref)
	}
	switch {
	case inv.status == StatusCanceled:
		return c.withRef(c.fail(seqr.ResultInvoiceAlreadyCanceled), ref)
	case inv.status != StatusIssued && inv.status != StatusPendingAck:
		// The loyalty diagram shows SYSTEM_ERROR for an update after payment.
		return c.withRef(c.fail(seqr.ResultSystemError), ref)
	case inv.status == StatusIssued && inv.scanned:
		return c.withRef(c.fail(seqr.ResultPaymentInProgress), ref)
	}
	data := readInvoice(c.wrapper.child("invoice"))
	total, code := checkInvoice(data, t.reseller.currency)
	if code != seqr.ResultSuccess {
		return c.withRef(c.fail(code), ref)
	}
	inv.data = data
	inv.total = total
	if tk := readTokens(c.wrapper.children("tokens")); tk != nil {
		inv.tokens = tk
	}
	if inv.status == StatusPendingAck {
		inv.status = StatusIssued
		inv.acked = true
	}
	inv.version++
	return c.withRef(c.success(), inv.ref)
}

func (c *call) withRef(r result, ref string) result {
	r.ref = strings.TrimSpace(ref)
	return r
}

func (s *Sim) opGetPaymentStatus(c *call) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := strings.TrimSpace(c.wrapper.strv("invoiceReference"))
	detail := map[string]string{}
	if v := c.wrapper.long("invoiceVersion"); v != nil {
		detail["invoiceVersion"] = strconv.FormatInt(*v, 10)
	} else {
		detail["invoiceVersion"] = "0"
	}
	t, code := s.authTerminal(c.ctx)
	if code != seqr.ResultSuccess {
		r := c.withRef(c.fail(code), ref)
		r.detail = detail
		return r
	}
	var inv *invoice
	if ref == "" {
		// The reference is optional for physical shops: the till's current invoice.
		if inv = t.current; inv != nil {
			s.refresh(inv, c.now)
		} else {
			code = seqr.ResultInvalidInvoiceReference
		}
	} else {
		inv, code = s.ownInvoice(t, ref, c.now)
	}
	if code != seqr.ResultSuccess {
		r := c.withRef(c.fail(code), ref)
		r.detail = detail
		return r
	}
	inv.polls++
	inv.lastPollAt = c.now
	if inv.status == StatusPaid {
		inv.confirmed = true
	}
	w := response(c.op)
	ers := ""
	if inv.status == StatusPaid {
		ers = inv.ersRef
	}
	w.base(ers, seqr.ResultSuccess)
	w.Text("status", inv.status)
	if inv.status == StatusPaid {
		s.writeReceipt(w, inv)
	}
	w.tokens(inv.tokens)
	w.Int("version", int64(inv.version))
	detail["status"] = inv.status
	detail["version"] = strconv.Itoa(inv.version)
	return result{body: w.finish(c.op), code: seqr.ResultSuccess, principal: c.principalID(), ref: inv.ref, detail: detail}
}

func (s *Sim) writeReceipt(w *xw, inv *invoice) {
	w.Open("receipt")
	w.Text("terminalId", inv.term.id)
	w.Text("paymentDate", inv.paidAt.In(s.loc).Format("2006-01-02T15:04:05.000-07:00"))
	w.opt("clientInvoiceId", inv.data.ClientInvoiceID)
	w.Text("invoiceReference", inv.ref)
	w.Text("paymentReference", inv.ersRef)
	w.Text("payerTerminalId", payerTerminalID)
	w.Text("receiverName", inv.term.name)
	w.invoice(inv.data)
	w.Close("receipt")
}

func (s *Sim) opCancelInvoice(c *call) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := c.wrapper.strv("invoiceReference")
	t, code := s.authTerminal(c.ctx)
	if code != seqr.ResultSuccess {
		return c.withRef(c.fail(code), ref)
	}
	inv, code := s.ownInvoice(t, ref, c.now)
	if code != seqr.ResultSuccess {
		return c.withRef(c.fail(code), ref)
	}
	switch inv.status {
	case StatusPaid:
		return c.withRef(c.fail(seqr.ResultCannotCancelPaidInvoice), ref)
	case StatusCanceled, StatusFailed, StatusExpired:
		return c.withRef(c.fail(seqr.ResultInvoiceAlreadyCanceled), ref)
	case StatusIssued:
		if inv.scanned {
			// The customer is confirming on the phone (spec G6).
			return c.withRef(c.fail(seqr.ResultCannotCancelInvoiceInProgress), ref)
		}
	}
	s.cancel(inv)
	return c.withRef(c.success(), inv.ref)
}

func (s *Sim) opCommitReservation(c *call) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := c.wrapper.strv("invoiceReference")
	t, code := s.authTerminal(c.ctx)
	if code != seqr.ResultSuccess {
		return c.withRef(c.fail(code), ref)
	}
	inv, code := s.ownInvoice(t, ref, c.now)
	if code != seqr.ResultSuccess {
		return c.withRef(c.fail(code), ref)
	}
	if inv.status != StatusReserved {
		return c.withRef(c.fail(seqr.ResultInvoiceStateNotReserved), ref)
	}
	amount := inv.total
	if a := c.wrapper.amount("amount"); a != nil {
		v, ok := a.minor()
		if !ok || a.currency() != inv.currency {
			return c.withRef(c.fail(seqr.ResultInvalidInvoiceData), ref)
		}
		if v <= 0 || v > inv.total {
			return c.withRef(c.fail(seqr.ResultRejectedAmount), ref)
		}
		amount = v
	}
	s.markPaid(inv, amount, c.now)
	return c.withRef(c.success(), inv.ref)
}

func (s *Sim) opSubmitPaymentReceipt(c *call) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, code := s.authTerminal(c.ctx)
	if code != seqr.ResultSuccess {
		return c.fail(code)
	}
	ers := strings.TrimSpace(c.wrapper.strv("ersReference"))
	if inv := s.st.payments[ers]; inv != nil && inv.term.reseller == t.reseller {
		inv.receipts++
		return c.withRef(c.success(), inv.ref)
	}
	if rf := s.st.refunds[ers]; rf != nil && rf.term.reseller == t.reseller {
		rf.receipts++
		return c.withRef(c.success(), rf.inv.ref)
	}
	return c.fail(seqr.ResultInvalidERSReference)
}

func (s *Sim) opRefundPayment(c *call) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, code := s.authTerminal(c.ctx)
	if code != seqr.ResultSuccess {
		return c.fail(code)
	}
	ers := strings.TrimSpace(c.wrapper.strv("ersReference"))
	inv := s.st.payments[ers]
	if inv == nil || inv.term.reseller != t.reseller {
		return c.fail(seqr.ResultInvalidERSReference)
	}
	s.refresh(inv, c.now)
	if inv.status != StatusPaid {
		// A reversed payment no longer exists as a transaction.
		return c.withRef(c.fail(seqr.ResultInvalidERSReference), inv.ref)
	}
	data := readInvoice(c.wrapper.child("invoice"))
	amount, code := checkInvoice(data, t.reseller.currency)
	if code != seqr.ResultSuccess {
		return c.withRef(c.fail(code), inv.ref)
	}
	if inv.refunded+amount > inv.paid {
		return c.withRef(c.fail(seqr.ResultRefundExceedsOriginal), inv.ref)
	}
	rf := &refund{ersRef: s.newERSRef(c.now), inv: inv, term: t, amount: amount, at: c.now, cashier: data.cashier()}
	inv.refunded += amount
	s.st.refunds[rf.ersRef] = rf
	s.st.refundList = append(s.st.refundList, rf)
	w := response(c.op)
	w.base(rf.ersRef, seqr.ResultSuccess)
	res := c.ok(w)
	res.ref = inv.ref
	res.detail = map[string]string{"refundErsReference": rf.ersRef}
	return res
}

func (s *Sim) opMarkTransactionPeriod(c *call) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, _, code := s.authReseller(c.ctx, true)
	if code != seqr.ResultSuccess {
		return c.fail(code)
	}
	params := readParams(c.wrapper.child("parameters"))
	var term *terminal
	scope := ""
	if id, ok := params["TERMINALID"]; ok {
		term = s.st.terminals[id]
		if term == nil || term.reseller != r {
			return c.fail(seqr.ResultInvalidInitiatorPrincipalID)
		}
		scope = term.id
	}
	p := &period{
		id:       s.newERSRef(c.now),
		reseller: r,
		term:     term,
		start:    s.st.periodEnd[r.id+"/"+scope],
		end:      c.now,
		readyAt:  c.now.Add(s.delay),
	}
	s.st.periodEnd[r.id+"/"+scope] = c.now
	s.st.periods[p.id] = p
	w := response(c.op)
	w.base("", seqr.ResultSuccess)
	w.Text("transactionPeriodId", p.id)
	res := c.ok(w)
	res.detail = map[string]string{"transactionPeriodId": p.id}
	return res
}

func (s *Sim) opExecuteReport(c *call) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, _, code := s.authReseller(c.ctx, true)
	if code != seqr.ResultSuccess {
		return c.fail(code)
	}
	kind, ok := reportKind(strings.TrimSpace(c.wrapper.strv("reportId")))
	if !ok {
		return c.fail(seqr.ResultUnsupportedOperation)
	}
	params := readParams(c.wrapper.child("parameters"))
	p := s.st.periods[params["transactionPeriodId"]]
	if p == nil || p.reseller != r {
		return c.fail(seqr.ResultInvalidERSReference)
	}
	termID, hasTerm := params["TERMINALID"]
	var term *terminal
	switch {
	case hasTerm:
		// Per-terminal reports need a per-terminal period for that terminal;
		// otherwise they never become ready (spec 5.6.1).
		if p.term == nil || p.term.id != termID {
			return c.fail(seqr.ResultReportNotReady)
		}
		term = p.term
	case p.term != nil:
		term = p.term
	case kind.perTerminal:
		return c.fail(seqr.ResultReportNotReady)
	}
	if c.now.Before(p.readyAt) {
		return c.fail(seqr.ResultReportNotReady)
	}
	content := s.renderReport(kind, p, term, c.now)
	w := response(c.op)
	w.base("", seqr.ResultSuccess)
	w.Open("report")
	w.Text("title", kind.name+"_"+p.id+".xml")
	w.Text("mimeType", "text/html")
	w.Text("content", b64(content))
	w.Text("contentString", string(content))
	w.Close("report")
	return c.ok(w)
}

func sortTills(ts []TillInfo) {
	slices.SortFunc(ts, func(a, b TillInfo) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.TerminalID, b.TerminalID)
	})
}
