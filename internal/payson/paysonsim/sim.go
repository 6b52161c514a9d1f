// Package paysonsim is a Payson Checkout 2.0 emulator that behaves as far as
// shared/specs/resurs-payson.md (D, E.28-E.36, I) knows the real API: the
// same /2.0/ paths (any letter case, empty segments collapsed), Basic auth
// with the public test agent, case-insensitive JSON keys, enums as strings
// or the .NET integers, 201 with an absolute Location, errors that always
// name a property, the status machine with its history timestamps, expiry,
// payout ten days after shipping and credits through creditedAmount.
//
// It also serves the checkout snippet's page, where the customer fills in
// the form and pays (invoice, card, bank) or is denied, and a control API
// under /sim/payson/ that plays the customer. Time comes from a
// simctl.Clock, so "10 days after shipping" and "notifications retried for
// 24 h" can be tested by advancing the clock.
//
// Time rules are applied lazily whenever a checkout is read and by Run's
// sweep; notifications are POSTed by Run, never while an API call waits.
// The package has its own JSON and decimal code: it must not share the
// client's mistakes.
package paysonsim

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/posd/posd/internal/simctl"
	"go.uber.org/zap"
)

// Service is this emulator's name in the call log and fault rules.
const Service = "payson"

// The published test agent (D.1).
const (
	TestAgentID      = "4"
	TestAPIKey       = "2acab30d-fe50-426f-90d7-8c60a7eb31d4"
	TestAccountEmail = "testagent-checkout2@payson.se"
)

// Defaults of Options.
const (
	DefaultExpiry       = 2 * time.Hour // a checkout's expirationTime when create gives none [I]
	DefaultPayoutDelay  = 10 * 24 * time.Hour
	DefaultRetryFor     = 24 * time.Hour
	DefaultPageSize     = 50 // [I]
	ReadyToShipLifetime = 59 * 24 * time.Hour
	DefaultMaxBody      = 1 << 20
)

// Statuses (D.3), camelCase as Payson writes them.
const (
	stCreated           = "created"
	stFormsFilled       = "formsFilled"
	stReadyToPay        = "readyToPay"
	stProcessingPayment = "processingPayment"
	stReadyToShip       = "readyToShip"
	stShipped           = "shipped"
	stPaidToAccount     = "paidToAccount"
	stCanceled          = "canceled"
	stExpired           = "expired"
	stDenied            = "denied"
)

var statusNames = []string{stCreated, stFormsFilled, stReadyToPay, stProcessingPayment, stReadyToShip,
	stShipped, stPaidToAccount, stCanceled, stExpired, stDenied}

// statusByInt: the .NET SDK's CheckoutStatus integers (D.3).
var statusByInt = map[int64]string{1: stCreated, 2: stFormsFilled, 3: stReadyToPay, 4: stProcessingPayment,
	5: stReadyToShip, 6: stShipped, 7: stPaidToAccount, 8: stCanceled, 10: stExpired, 11: stDenied}

// historyKeys are the statuses that carry a history timestamp.
var historyKeys = []string{stCreated, stReadyToPay, stReadyToShip, stShipped, stPaidToAccount, stCanceled, stExpired, stDenied}

// notified are the statuses Payson sends a notification for (D.4).
var notified = map[string]bool{stReadyToShip: true, stShipped: true, stPaidToAccount: true,
	stCanceled: true, stExpired: true, stDenied: true}

func beforePayment(st string) bool {
	return st == stCreated || st == stFormsFilled || st == stReadyToPay || st == stProcessingPayment
}

// Errors of the Go and control API.
var (
	ErrNotFound    = errors.New("paysonsim: no such checkout")
	ErrNotPayable  = errors.New("paysonsim: checkout cannot be paid in its status")
	ErrBadOutcome  = errors.New("paysonsim: outcome must be paid, denied, formsFilled, readyToPay or processingPayment")
	ErrBadMethod   = errors.New("paysonsim: method must be invoice, card or bank")
	ErrNotExpiring = errors.New("paysonsim: checkout cannot expire in its status")
)

// Options configure a Sim. Zero values take the defaults.
type Options struct {
	Clock        *simctl.Clock     // nil: a clock following time.Now
	Agents       map[string]string // agent id -> API key; nil: only the test agent
	Calls        *simctl.CallLog   // nil: a private log
	Faults       *simctl.Faults    // nil: no fault injection
	Logger       *zap.Logger       // nil: no logging
	NotifyClient *http.Client      // nil: 10 s timeout, no redirects
	Expiry       time.Duration     // default expiration after create (DefaultExpiry)
	PayoutDelay  time.Duration     // shipped -> paidToAccount (DefaultPayoutDelay)
	RetryFor     time.Duration     // notifications retried this long (DefaultRetryFor)
	PageSize     int               // list page size when the request gives none
	MaxBody      int64
}

// Sim is the emulator. Safe for concurrent use.
type Sim struct {
	clock    *simctl.Clock
	agents   map[string]string
	calls    *simctl.CallLog
	faults   *simctl.Faults
	log      *zap.Logger
	notifier *http.Client
	expiry   time.Duration
	payout   time.Duration
	retryFor time.Duration
	pageSize int
	maxBody  int64
	wake     chan struct{}

	mu        sync.Mutex
	checkouts map[string]*checkout
	order     []*checkout
	purchase  int64
	queue     []*delivery
}

type item struct {
	id                              string
	name                            string
	unitPrice, quantity             *big.Rat
	taxRate, discountRate, credited *big.Rat
	reference, ean, uri, imageURI   string
	typ                             string
}

type merchant struct {
	checkoutURI, confirmationURI, notificationURI, termsURI, validationURI string
	reference, partnerID, integrationInfo                                  string
}

type customer struct {
	typ, identityNumber, firstName, lastName, email, phone string
	street, postalCode, city, countryCode, reference       string
}

type gui struct {
	colorScheme, locale, verification string
	requestPhone, phoneOptional       bool
	countries                         []string
}

type checkout struct {
	id          string
	agent       string
	status      string
	purchaseID  int64
	description string
	expiration  time.Time
	merchant    merchant
	customer    customer
	gui         gui
	currency    string
	items       []*item
	history     map[string]time.Time
	paymentType string
	base        string // the base URL of the create call, for the snippet
}

func (c *checkout) clone() *checkout {
	cp := *c
	cp.items = make([]*item, len(c.items))
	for i, it := range c.items {
		x := *it
		cp.items[i] = &x
	}
	cp.history = make(map[string]time.Time, len(c.history))
	for k, v := range c.history {
		cp.history[k] = v
	}
	cp.gui.countries = append([]string(nil), c.gui.countries...)
	return &cp
}

// New returns an emulator. It starts nothing; Run delivers notifications.
func New(o Options) *Sim {
	s := &Sim{clock: o.Clock, agents: o.Agents, calls: o.Calls, faults: o.Faults, log: o.Logger,
		notifier: o.NotifyClient, expiry: o.Expiry, payout: o.PayoutDelay, retryFor: o.RetryFor,
		pageSize: o.PageSize, maxBody: o.MaxBody, wake: make(chan struct{}, 1),
		checkouts: map[string]*checkout{}, purchase: 3_000_000}
	if s.clock == nil {
		s.clock = simctl.NewClock(nil)
	}
	if s.agents == nil {
		s.agents = map[string]string{TestAgentID: TestAPIKey}
	}
	if s.calls == nil {
		s.calls = simctl.NewCallLog(0)
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.notifier == nil {
		s.notifier = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if s.expiry <= 0 {
		s.expiry = DefaultExpiry
	}
	if s.payout <= 0 {
		s.payout = DefaultPayoutDelay
	}
	if s.retryFor <= 0 {
		s.retryFor = DefaultRetryFor
	}
	if s.pageSize <= 0 {
		s.pageSize = DefaultPageSize
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBody
	}
	return s
}

// Clock is the emulator's clock.
func (s *Sim) Clock() *simctl.Clock { return s.clock }

// Calls is the emulator's call log.
func (s *Sim) Calls() *simctl.CallLog { return s.calls }

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// setStatus moves c to st at `at`, stamps its history and queues the
// notification. Callers hold s.mu.
func (s *Sim) setStatus(c *checkout, st string, at time.Time) {
	c.status = st
	for _, k := range historyKeys {
		if k == st {
			if _, ok := c.history[k]; !ok {
				c.history[k] = at
			}
		}
	}
	if notified[st] && c.merchant.notificationURI != "" {
		s.enqueue(c.id, c.merchant.notificationURI, st, at)
	}
}

// applyTime applies the time rules to c as of now: expiry before payment at
// expirationTime, readyToShip after 59 days, paidToAccount after the payout
// delay. Callers hold s.mu.
func (s *Sim) applyTime(c *checkout, now time.Time) {
	switch {
	case beforePayment(c.status) && !c.expiration.IsZero() && !now.Before(c.expiration):
		s.setStatus(c, stExpired, c.expiration)
	case c.status == stReadyToShip && !now.Before(c.history[stReadyToShip].Add(ReadyToShipLifetime)):
		s.setStatus(c, stExpired, c.history[stReadyToShip].Add(ReadyToShipLifetime))
	case c.status == stShipped && !now.Before(c.history[stShipped].Add(s.payout)):
		s.setStatus(c, stPaidToAccount, c.history[stShipped].Add(s.payout))
	}
}

// sweep applies the time rules to every checkout.
func (s *Sim) sweep() {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.order {
		s.applyTime(c, now)
	}
}

func (s *Sim) lookup(id string) (*checkout, error) {
	c, ok := s.checkouts[strings.ToLower(id)]
	if !ok {
		return nil, fmt.Errorf("checkout %s: %w", id, ErrNotFound)
	}
	s.applyTime(c, s.clock.Now())
	return c, nil
}

// lookupFor is lookup for the API: an agent sees only its own checkouts.
func (s *Sim) lookupFor(id, agent string) (*checkout, error) {
	c, err := s.lookup(id)
	if err == nil && c.agent != agent {
		return nil, fmt.Errorf("checkout %s: %w", id, ErrNotFound)
	}
	return c, err
}

// PayRequest is the body of POST /sim/payson/checkouts/{id}/pay.
type PayRequest struct {
	Method  string `json:"method,omitempty"`  // invoice, card (default), bank
	Outcome string `json:"outcome,omitempty"` // paid (default), denied, or a step: formsFilled, readyToPay, processingPayment
}

var stepOrder = map[string]int{stCreated: 0, stFormsFilled: 1, stReadyToPay: 2, stProcessingPayment: 3}

// Pay plays the customer on the snippet's page.
func (s *Sim) Pay(id string, req PayRequest) error {
	method := strings.ToLower(req.Method)
	switch method {
	case "":
		method = "card"
	case "invoice", "card", "bank":
	default:
		return ErrBadMethod
	}
	outcome := req.Outcome
	for _, st := range []string{"paid", stDenied, stFormsFilled, stReadyToPay, stProcessingPayment} {
		if strings.EqualFold(outcome, st) {
			outcome = st
		}
	}
	if outcome == "" {
		outcome = "paid"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.lookup(id)
	if err != nil {
		return err
	}
	if !beforePayment(c.status) {
		return fmt.Errorf("%w (status %s)", ErrNotPayable, c.status)
	}
	now := s.clock.Now()
	fill := func() {
		if c.customer.firstName == "" {
			c.customer = testCustomer(c.customer)
		}
	}
	switch outcome {
	case "paid":
		fill()
		if _, ok := c.history[stReadyToPay]; !ok {
			c.history[stReadyToPay] = now
		}
		s.purchase++
		c.purchaseID = s.purchase
		c.paymentType = method
		s.setStatus(c, stReadyToShip, now)
	case stDenied:
		fill()
		c.paymentType = method
		s.setStatus(c, stDenied, now)
	case stFormsFilled, stReadyToPay, stProcessingPayment:
		if stepOrder[outcome] <= stepOrder[c.status] {
			return fmt.Errorf("%w: already %s", ErrNotPayable, c.status)
		}
		fill()
		if outcome != stFormsFilled {
			if _, ok := c.history[stReadyToPay]; !ok {
				c.history[stReadyToPay] = now
			}
		}
		s.setStatus(c, outcome, now)
	default:
		return ErrBadOutcome
	}
	return nil
}

// CustomerCancel is the customer leaving the checkout before paying.
func (s *Sim) CustomerCancel(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.lookup(id)
	if err != nil {
		return err
	}
	if !beforePayment(c.status) {
		return fmt.Errorf("%w (status %s)", ErrNotPayable, c.status)
	}
	s.setStatus(c, stCanceled, s.clock.Now())
	return nil
}

// Expire makes a checkout expire now (before payment or at readyToShip).
func (s *Sim) Expire(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.lookup(id)
	if err != nil {
		return err
	}
	if !beforePayment(c.status) && c.status != stReadyToShip {
		return fmt.Errorf("%w (status %s)", ErrNotExpiring, c.status)
	}
	s.setStatus(c, stExpired, s.clock.Now())
	return nil
}

// Status returns a checkout's status after the time rules.
func (s *Sim) Status(id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.lookup(id)
	if err != nil {
		return "", err
	}
	return c.status, nil
}

// Count is how many checkouts exist (the "one checkout, not two" tests).
func (s *Sim) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.order)
}

// testCustomer fills in the person of Payson's test flows, keeping what the
// merchant pre-filled.
func testCustomer(c customer) customer {
	def := customer{typ: "person", identityNumber: "4605092222", firstName: "Tess T", lastName: "Persson",
		email: "test@payson.se", phone: "1111111", street: "Testgatan 1", postalCode: "99999",
		city: "Stan", countryCode: "SE"}
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&c.typ, def.typ}, {&c.identityNumber, def.identityNumber}, {&c.firstName, def.firstName},
		{&c.lastName, def.lastName}, {&c.email, def.email}, {&c.phone, def.phone}, {&c.street, def.street},
		{&c.postalCode, def.postalCode}, {&c.city, def.city}, {&c.countryCode, def.countryCode},
	} {
		if *f.dst == "" {
			*f.dst = f.v
		}
	}
	return c
}
