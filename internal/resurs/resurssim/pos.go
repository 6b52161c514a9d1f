package resurssim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"
)

// jdec is a decimal in a JSON body: a number, a numeric string or null.
type jdec struct {
	v   dec
	set bool
}

func (j *jdec) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*j = jdec{}
		return nil
	}
	s := string(b)
	if len(b) >= 2 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	d, err := parseDec(s)
	if err != nil {
		return fmt.Errorf("decimal %s: %w", b, err)
	}
	*j = jdec{v: d, set: true}
	return nil
}

// posBody is the Checkout POS create/replace body (spec A.3). Unknown
// fields are ignored, as the real service ignores them.
type posBody struct {
	OrderLines []struct {
		ArtNo                string `json:"artNo"`
		Description          string `json:"description"`
		Quantity             jdec   `json:"quantity"`
		UnitMeasure          string `json:"unitMeasure"`
		UnitAmountWithoutVat jdec   `json:"unitAmountWithoutVat"`
		VatPct               jdec   `json:"vatPct"`
		Type                 string `json:"type"`
	} `json:"orderLines"`
	MetaData []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"metaData"`
	Customer *struct {
		GovernmentID string `json:"governmentId"`
		Mobile       string `json:"mobile"`
		Email        string `json:"email"`
	} `json:"customer"`
	SuccessURL  string `json:"successUrl"`
	BackURL     string `json:"backUrl"`
	CallbackURL string `json:"paymentCreatedCallbackUrl"`
	ShopURL     string `json:"shopUrl"`
	StoreID     any    `json:"storeId"` // a string, sometimes a number or null
}

// parsePOSBody reads and validates a create/replace body; the error text is
// the "message" of the 400 answer.
func parsePOSBody(b []byte) (*posBody, []orderLine, error) {
	var body posBody
	if err := json.Unmarshal(b, &body); err != nil {
		return nil, nil, fmt.Errorf("Malformed JSON: %v", err)
	}
	if len(body.OrderLines) == 0 {
		return nil, nil, errors.New("orderLines must not be empty")
	}
	if len(body.OrderLines) > 1000 {
		return nil, nil, errors.New("too many orderLines")
	}
	lines := make([]orderLine, 0, len(body.OrderLines))
	for i, l := range body.OrderLines {
		switch {
		case !l.Quantity.set:
			return nil, nil, fmt.Errorf("orderLines[%d].quantity is required", i)
		case !l.UnitAmountWithoutVat.set:
			return nil, nil, fmt.Errorf("orderLines[%d].unitAmountWithoutVat is required", i)
		case !l.VatPct.set:
			return nil, nil, fmt.Errorf("orderLines[%d].vatPct is required", i)
		case l.VatPct.v < 0 || l.VatPct.v > decInt(100):
			return nil, nil, fmt.Errorf("orderLines[%d].vatPct must be between 0 and 100", i)
		case l.Description == "" && l.ArtNo == "":
			return nil, nil, fmt.Errorf("orderLines[%d] needs artNo or description", i)
		case absDec(l.Quantity.v) > decInt(10_000_000) || absDec(l.UnitAmountWithoutVat.v) > decInt(1_000_000_000):
			return nil, nil, fmt.Errorf("orderLines[%d] amount out of range", i)
		}
		um := l.UnitMeasure
		if um == "" {
			um = "st"
		}
		typ := l.Type
		if typ == "" {
			typ = "ORDER_LINE"
		}
		lines = append(lines, orderLine{artNo: l.ArtNo, description: l.Description, unitMeasure: um, typ: typ,
			quantity: l.Quantity.v, unitAmount: l.UnitAmountWithoutVat.v, vatPct: l.VatPct.v})
	}
	return &body, lines, nil
}

func validRef(ref string, max int) bool {
	if ref == "" || len(ref) > max {
		return false
	}
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// writeMessage answers JSON without Go's HTML escaping, so the iframe html
// reads as Resurs writes it.
func writeMessage(w http.ResponseWriter, status int, body any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

type msg struct {
	Message string `json:"message"`
}

// posOp names a Checkout POS request for the call log and fault rules.
func posOp(r *http.Request) string {
	switch {
	case strings.HasSuffix(r.URL.Path, "/updatePaymentReference"):
		return "updatePaymentReference"
	case r.Method == http.MethodPost:
		return "createPayment"
	case r.Method == http.MethodPut:
		return "updatePayment"
	}
	return "getPayment"
}

func (s *Sim) posCreate(w http.ResponseWriter, r *http.Request, b []byte, rec *recorder) {
	ref := r.PathValue("ref")
	rec.ref = ref
	max := 35
	if s.netsCard {
		max = 32
	}
	if !validRef(ref, max) {
		writeMessage(w, http.StatusBadRequest, msg{fmt.Sprintf("Invalid orderReference: allowed characters a-z A-Z 0-9 -, at most %d", max)})
		return
	}
	body, lines, err := parsePOSBody(b)
	if err != nil {
		writeMessage(w, http.StatusBadRequest, msg{err.Error()})
		return
	}
	s.mu.Lock()
	now := s.clock()
	s.tick(now)
	if old, ok := s.st.byRef[ref]; ok {
		switch old.state {
		case SessionCreated, SessionExpired, SessionRejected, SessionReplaced:
			// A re-POST before booking replaces the session (spec A.2).
			if old.state == SessionCreated {
				old.state = SessionReplaced
			}
			delete(s.st.sessions, old.id)
		default:
			s.mu.Unlock()
			writeMessage(w, http.StatusBadRequest, msg{"OrderReference already exists"})
			return
		}
	}
	if _, ok := s.st.payments[ref]; ok {
		s.mu.Unlock()
		writeMessage(w, http.StatusBadRequest, msg{"OrderReference already exists"})
		return
	}
	ss := &session{id: s.uuid(), ref: ref, lines: lines, created: now, state: SessionCreated,
		successURL: body.SuccessURL, backURL: body.BackURL, callback: body.CallbackURL, shopURL: body.ShopURL}
	switch v := body.StoreID.(type) {
	case string:
		ss.storeID = v
	case float64:
		ss.storeID = fmt.Sprint(int64(v))
	}
	for _, m := range body.MetaData {
		ss.meta = setMeta(ss.meta, m.Key, m.Value)
	}
	if c := body.Customer; c != nil {
		ss.prefill = customer{governmentID: c.GovernmentID, phone: c.Mobile, email: c.Email}
	}
	s.st.sessions[ss.id] = ss
	s.st.byRef[ref] = ss
	s.mu.Unlock()
	rec.detail["paymentSessionId"] = ss.id
	base := baseURL(r)
	src := base + checkoutPath(ss.id)
	frame := `<iframe id="rco-checkout-app-frame" src="` + html.EscapeString(src) +
		`" style="width:100%;min-height:640px;border:0" allow="payment"></iframe><script src="` +
		html.EscapeString(base+"/web/dist/js/oc-shop.js") + `"></script>`
	writeMessage(w, http.StatusOK, struct {
		PaymentSessionID string `json:"paymentSessionId"`
		HTML             string `json:"html"`
	}{ss.id, frame})
}

func checkoutPath(id string) string { return "/web/dist/omni-checkout.html?" + id }

func setMeta(meta []kv, key, value string) []kv {
	for i := range meta {
		if meta[i].key == key {
			meta[i].value = value
			return meta
		}
	}
	return append(meta, kv{key, value})
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// posGet answers GET /payments/{id}: the booked payment by orderReference
// or by paymentSessionId (spec A.2, G.1). A session without a payment is a
// 404; the body's sessionStatus ([I]) says why: CREATED, INSPECTION and
// LINK_SENT are still open, REJECTED, EXPIRED and REPLACED are final.
func (s *Sim) posGet(w http.ResponseWriter, r *http.Request, rec *recorder) {
	id := r.PathValue("ref")
	rec.ref = id
	s.mu.Lock()
	s.tick(s.clock())
	p, ok := s.st.payments[id]
	var ss *session
	if !ok {
		if ss, ok = s.st.sessions[id]; ok && ss.payment != nil {
			p = ss.payment
		} else if !ok {
			ss = s.st.byRef[id]
		}
	}
	if p != nil {
		b := s.paymentJSON(p)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return
	}
	if ss == nil {
		s.mu.Unlock()
		if isUUID(id) {
			writeMessage(w, http.StatusNotFound, struct {
				ErrorCode       string `json:"errorCode"`
				DetailedMessage string `json:"detailedMessage"`
			}{"PAYMENT_SESSION_NOT_FOUND", "Payment session " + id + " was not found"})
			return
		}
		writeMessage(w, http.StatusNotFound, msg{"The order does not exist"})
		return
	}
	body := struct {
		Message          string `json:"message"`
		PaymentSessionID string `json:"paymentSessionId"`
		SessionStatus    string `json:"sessionStatus"`
		UserMessage      string `json:"userMessage,omitempty"`
		ValidTo          string `json:"validTo,omitempty"`
	}{Message: "The order does not exist", PaymentSessionID: ss.id, SessionStatus: ss.state, UserMessage: ss.message}
	if !ss.validTo.IsZero() {
		body.ValidTo = ss.validTo.UTC().Format(time.RFC3339)
	}
	s.mu.Unlock()
	rec.detail["sessionStatus"] = body.SessionStatus
	writeMessage(w, http.StatusNotFound, body)
}

// posUpdate replaces the order lines of an unbooked session.
func (s *Sim) posUpdate(w http.ResponseWriter, r *http.Request, b []byte, rec *recorder) {
	ref := r.PathValue("ref")
	rec.ref = ref
	body, lines, err := parsePOSBody(b)
	if err != nil {
		writeMessage(w, http.StatusBadRequest, msg{err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick(s.clock())
	ss, ok := s.st.byRef[ref]
	if !ok {
		ss, ok = s.st.sessions[ref]
	}
	if !ok || ss.state == SessionReplaced {
		writeMessage(w, http.StatusNotFound, msg{"The order does not exist"})
		return
	}
	if ss.state != SessionCreated {
		writeMessage(w, http.StatusBadRequest, msg{"The order can not be updated in state " + ss.state})
		return
	}
	ss.lines = lines
	for _, m := range body.MetaData {
		ss.meta = setMeta(ss.meta, m.Key, m.Value)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}"))
}

// posRename is updatePaymentReference (spec A.2, F).
func (s *Sim) posRename(w http.ResponseWriter, r *http.Request, b []byte, rec *recorder) {
	ref := r.PathValue("ref")
	rec.ref = ref
	var body struct {
		PaymentReference string `json:"paymentReference"`
	}
	if err := json.Unmarshal(b, &body); err != nil || body.PaymentReference == "" {
		writeMessage(w, http.StatusBadRequest, msg{"paymentReference is required"})
		return
	}
	max := 35
	if s.netsCard {
		max = 32
	}
	if !validRef(body.PaymentReference, max) {
		writeMessage(w, http.StatusBadRequest, msg{"Invalid paymentReference"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick(s.clock())
	ss, ok := s.st.byRef[ref]
	if !ok {
		ss, ok = s.st.sessions[ref]
	}
	if !ok || ss.ref != ref && ss.id != ref || ss.state != SessionCreated {
		writeMessage(w, http.StatusNotFound, struct {
			ErrorCode       string `json:"errorCode"`
			DetailedMessage string `json:"detailedMessage"`
		}{"PAYMENT_SESSION_NOT_FOUND", "No open payment session for " + ref})
		return
	}
	if _, taken := s.st.byRef[body.PaymentReference]; taken || s.st.payments[body.PaymentReference] != nil {
		writeMessage(w, http.StatusBadRequest, struct {
			ErrorCode   int    `json:"errorCode"`
			Description string `json:"description"`
		}{8, "Payment reference " + body.PaymentReference + " is already in use"})
		return
	}
	delete(s.st.byRef, ss.ref)
	ss.ref = body.PaymentReference
	s.st.byRef[ss.ref] = ss
	w.WriteHeader(http.StatusNoContent)
}
