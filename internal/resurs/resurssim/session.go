package resurssim

import (
	"fmt"
	"time"
)

// SessionInfo is the control API's view of a checkout session.
type SessionInfo struct {
	PaymentSessionID string    `json:"paymentSessionId"`
	OrderReference   string    `json:"orderReference"`
	State            string    `json:"state"`
	TotalAmount      string    `json:"totalAmount"`
	Later            bool      `json:"later"`
	ValidTo          *string   `json:"validTo,omitempty"`
	Message          string    `json:"message,omitempty"`
	DecideAt         *string   `json:"decideAt,omitempty"`
	PaymentID        string    `json:"paymentId,omitempty"`
	Payment          *PayState `json:"payment,omitempty"`
	CheckoutURL      string    `json:"checkoutPath"`
}

// PayState is the control API's view of a payment.
type PayState struct {
	ID          string   `json:"id"`
	TotalAmount string   `json:"totalAmount"`
	Status      []string `json:"status"`
	Frozen      bool     `json:"frozen"`
	Finalized   bool     `json:"finalized"`
	Method      string   `json:"paymentMethodId"`
}

func (s *Sim) sessionInfo(ss *session) SessionInfo {
	in := SessionInfo{
		PaymentSessionID: ss.id, OrderReference: ss.ref, State: ss.state,
		TotalAmount: ss.total().String(), Later: ss.later, Message: ss.message,
		CheckoutURL: checkoutPath(ss.id),
	}
	if !ss.validTo.IsZero() {
		v := ss.validTo.UTC().Format(time.RFC3339)
		in.ValidTo = &v
	}
	if ss.state == SessionInspection {
		v := ss.decideAt.UTC().Format(time.RFC3339)
		in.DecideAt = &v
	}
	if ss.payment != nil {
		in.PaymentID = ss.payment.id
		ps := payState(ss.payment)
		in.Payment = &ps
	}
	return in
}

func payState(p *payment) PayState {
	return PayState{ID: p.id, TotalAmount: p.totalAmount().String(), Status: p.statuses(),
		Frozen: p.frozen, Finalized: !p.finalized.IsZero(), Method: p.method.ID}
}

// Session returns the state of a checkout session.
func (s *Sim) Session(id string) (SessionInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, _, err := s.sessionNow(id)
	if err != nil {
		return SessionInfo{}, err
	}
	return s.sessionInfo(ss), nil
}

// Complete is the cashier and the customer in the iframe: identity number,
// method, contact data and the e-signature. With later the cashier chose
// "Betala sen" and the customer then paid through the link at once.
type Complete struct {
	GovernmentID string `json:"governmentId"`
	Method       string `json:"method"`
	Mobile       string `json:"mobile,omitempty"`
	Email        string `json:"email,omitempty"`
	Later        bool   `json:"later,omitempty"`
}

// CompleteSession plays the checkout for session id.
func (s *Sim) CompleteSession(id string, c Complete) (SessionInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, now, err := s.sessionNow(id)
	if err != nil {
		return SessionInfo{}, err
	}
	if ss.state != SessionCreated && !(ss.state == SessionLinkSent && ss.later) {
		return SessionInfo{}, fmt.Errorf("session %s is %s: %w", id, ss.state, ErrState)
	}
	comp, err := s.completion(c)
	if err != nil {
		return SessionInfo{}, err
	}
	if c.Later {
		ss.later = true
		if ss.validTo.IsZero() {
			ss.validTo = now.Add(s.later)
		}
	}
	s.decide(ss, comp, now)
	return s.sessionInfo(ss), nil
}

func (s *Sim) completion(c Complete) (completion, error) {
	per, ok := lookupPerson(c.GovernmentID)
	if !ok {
		return completion{}, fmt.Errorf("governmentId %q: %w", c.GovernmentID, ErrUnknownUser)
	}
	m, ok := methodByKey(c.Method)
	if !ok {
		return completion{}, fmt.Errorf("method %q (invoice, part_payment, card): %w", c.Method, ErrBadRequest)
	}
	mobile := c.Mobile
	if mobile == "" {
		mobile = "0701112233"
	}
	return completion{person: per, method: m, mobile: mobile, email: c.Email, later: c.Later}, nil
}

// decide applies the test person's outcome. Callers hold s.mu.
func (s *Sim) decide(ss *session, c completion, now time.Time) {
	ss.later = ss.later || c.later
	switch {
	case c.person.Legal:
		// Checkout POS sells to natural persons only (spec A.3).
		ss.state, ss.message = SessionRejected, "Köp kan endast göras av privatpersoner."
	case c.person.Outcome == OutcomeRejected,
		c.person.NoNewAccount && c.method.Key == "part_payment":
		ss.state, ss.message = SessionRejected, rejectMessage
	case c.person.Outcome == OutcomeInspectApprove, c.person.Outcome == OutcomeInspectReject:
		ss.state = SessionInspection
		ss.pending = &c
		ss.decideAt = now.Add(c.person.Delay)
	default:
		s.book(ss, c, now)
	}
}

// SendLater is the cashier choosing "Betala sen" in the checkout: the
// customer gets a link valid until validTo (zero: the default validity).
func (s *Sim) SendLater(id string, validTo time.Time) (SessionInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, now, err := s.sessionNow(id)
	if err != nil {
		return SessionInfo{}, err
	}
	if ss.state != SessionCreated {
		return SessionInfo{}, fmt.Errorf("session %s is %s: %w", id, ss.state, ErrState)
	}
	if validTo.IsZero() {
		validTo = now.Add(s.later)
	}
	if !validTo.After(now) {
		return SessionInfo{}, fmt.Errorf("validTo %s is not in the future: %w", validTo.Format(time.RFC3339), ErrBadRequest)
	}
	ss.state, ss.later, ss.validTo = SessionLinkSent, true, validTo
	return s.sessionInfo(ss), nil
}

// ExpireSession ends a session that has no payment yet.
func (s *Sim) ExpireSession(id string) (SessionInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, _, err := s.sessionNow(id)
	if err != nil {
		return SessionInfo{}, err
	}
	switch ss.state {
	case SessionCreated, SessionLinkSent, SessionInspection:
		ss.state, ss.message, ss.pending = SessionExpired, "Sessionen har gått ut.", nil
	default:
		return SessionInfo{}, fmt.Errorf("session %s is %s: %w", id, ss.state, ErrState)
	}
	return s.sessionInfo(ss), nil
}

// sessionNow and paymentNow bring the emulator up to now (its delayed
// rules) and look a session or a payment up. Callers hold s.mu.
func (s *Sim) sessionNow(id string) (*session, time.Time, error) {
	now := s.clock()
	s.tick(now)
	ss, ok := s.st.sessions[id]
	if !ok {
		return nil, now, fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	return ss, now, nil
}

func (s *Sim) paymentNow(id string) (*payment, time.Time, error) {
	now := s.clock()
	s.tick(now)
	p, ok := s.st.payments[id]
	if !ok {
		return nil, now, fmt.Errorf("payment %s: %w", id, ErrNotFound)
	}
	return p, now, nil
}

// Freeze marks a payment frozen by the fraud control until Thaw.
func (s *Sim) Freeze(paymentID string) (PayState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, now, err := s.paymentNow(paymentID)
	if err != nil {
		return PayState{}, err
	}
	if p.frozen {
		return payState(p), nil
	}
	p.frozen, p.thawAt, p.annulAt, p.modified = true, time.Time{}, time.Time{}, now
	return payState(p), nil
}

// Thaw ends a freeze; a POS payment is then finalized by Resurs.
func (s *Sim) Thaw(paymentID string) (PayState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, now, err := s.paymentNow(paymentID)
	if err != nil {
		return PayState{}, err
	}
	if p.frozen {
		s.thaw(p, now)
	}
	return payState(p), nil
}

// Payment returns the control view of a payment.
func (s *Sim) Payment(id string) (PayState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, _, err := s.paymentNow(id)
	if err != nil {
		return PayState{}, err
	}
	return payState(p), nil
}
