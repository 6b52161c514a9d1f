// Package resurssim is a Resurs Bank emulator written from
// shared/specs/resurs-payson.md (sections A, B, C, E, F, G and I), not from
// posd's Resurs client: Checkout POS (REST) under /pos/ and /checkout/, the
// After Shop SOAP service (with its WSDL and XSDs) and its two siblings
// SimplifiedShopFlowService and ConfigurationService under
// /ecommerce-test/ws/V4/, the Merchant API token and payment-widget routes
// under /api/, the checkout page that the POS iframe shows, the "Betala sen"
// link page, and a control API under /sim/resurs/.
//
// Time is read from an injected clock (plus an offset that
// /sim/resurs/clock/advance moves) and every delayed rule (frozen payments
// thawed or annulled, manual inspection decided, "Betala sen" links expiring)
// is evaluated lazily whenever state is read, so tests with a fake clock are
// deterministic. The only background work is Run's: it calls the sessions'
// paymentCreatedCallbackUrl (callback.go) and applies the delayed rules
// when they fall due, so those callbacks go out while nobody reads.
package resurssim

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/posd/posd/internal/simctl"
	"go.uber.org/zap"
)

// Service is this emulator's name in the call log and in fault rules.
const Service = "resurs"

// The seeded test account (issue 13): the web-service user of Checkout POS
// and the SOAP services, the Merchant API client and the one store.
const (
	TestUser         = "posd_test"
	TestPassword     = "posd_test_pw"
	TestClientID     = "posd_test_client"
	TestClientSecret = "posd_test_secret"
	TestStoreID      = "5b3f0c1e-8d3a-4c7e-9f51-2a6d7e4b9c10"
	// TestStoreNumber is the store's id as Checkout POS and SOAP show it.
	TestStoreNumber = "101"
)

// Defaults of Options.
const (
	DefaultLaterValidity = 24 * time.Hour
	DefaultTokenLifetime = 3599 * time.Second
	DefaultWidgetTTL     = time.Hour
	DefaultMaxBody       = 1 << 20
)

// Session states (spec A.6; INSPECTION, LINK_SENT and REJECTED are the
// emulator's names for what the iframe shows meanwhile).
const (
	SessionCreated    = "CREATED"
	SessionInspection = "INSPECTION" // manual inspection: decided after the person's delay
	SessionLinkSent   = "LINK_SENT"  // "Betala sen": waiting for the customer until validTo
	SessionBooked     = "BOOKED"
	SessionRejected   = "REJECTED"
	SessionReplaced   = "REPLACED"
	SessionExpired    = "EXPIRED"
)

// Errors of the Go and control API.
var (
	ErrNotFound    = errors.New("resurssim: no such session or payment")
	ErrState       = errors.New("resurssim: not allowed in the current state")
	ErrBadRequest  = errors.New("resurssim: bad request")
	ErrUnknownUser = errors.New("resurssim: unknown personal identity number format")
)

// Options configure a Sim. Zero values take the documented defaults.
type Options struct {
	Now func() time.Time // nil: Clock.Now, or time.Now
	// Clock, when set, is the emulator-wide clock (cmd/paysim's
	// /sim/clock/advance): its time is the base of Now and its Advance wakes
	// Run, as the Sim's own Advance does.
	Clock         *simctl.Clock
	Location      *time.Location // zone of SOAP dateTimes (default Europe/Stockholm)
	LaterValidity time.Duration  // default valid-to of a "Betala sen" link (24 h)
	// NetsCard limits order references to 32 characters, as Resurs does
	// when Nets card payments can occur (spec A.2); otherwise 35.
	NetsCard      *bool
	TokenLifetime time.Duration   // Merchant API token lifetime (3599 s)
	WidgetTTL     time.Duration   // widget session lifetime (1 h)
	MaxBody       int64           // request size limit (1 MiB)
	Logger        *zap.Logger     // nil: no logging
	Calls         *simctl.CallLog // nil: a private log
	Faults        *simctl.Faults  // nil: no fault injection
	Rand          io.Reader       // identifiers; nil: crypto/rand
	// ShadowLimitPct raises a booked payment's limit above its authorized
	// amount by this percentage: the "shadow limit" a merchant agrees with
	// Resurs to take additional debits (B.6). 0: limit = the amount booked.
	ShadowLimitPct int
	// CallbackClient calls paymentCreatedCallbackUrl; nil: a client of its
	// own. Redirects are never followed, whatever the client says.
	CallbackClient  *http.Client
	CallbackTimeout time.Duration // per attempt (10 s)
}

// Sim is the emulator. Safe for concurrent use.
type Sim struct {
	now      func() time.Time
	loc      *time.Location
	later    time.Duration
	netsCard bool
	tokenTTL time.Duration
	widgetTT time.Duration
	maxBody  int64
	log      *zap.Logger
	calls    *simctl.CallLog
	faults   *simctl.Faults
	rnd      io.Reader
	shadow   int // Options.ShadowLimitPct

	ext       *simctl.Clock // nil: none
	cbClient  *http.Client
	cbTimeout time.Duration
	// attempted, when set (tests), is told about every callback attempt
	// after it was recorded.
	attempted func(CallbackAttempt)
	wake      chan struct{} // a callback was queued or finished

	mu      sync.Mutex
	offset  time.Duration
	changed chan struct{} // closed and replaced by Advance
	cbQueue []*callback
	st      state
}

type state struct {
	sessions   map[string]*session // by paymentSessionId
	byRef      map[string]*session // latest session per orderReference
	payments   map[string]*payment // by payment id (= orderReference)
	order      []*payment          // booking order
	invoiceIDs map[string]bool     // invoice and credit note numbers in use
	invoiceSeq int64               // ConfigurationService invoice sequence
	tokens     map[string]time.Time
	widgets    map[string]time.Time
	docSeq     int
}

// New returns an emulator with the seeded test account. It starts nothing.
func New(o Options) *Sim {
	s := &Sim{
		now:       o.Now,
		loc:       o.Location,
		later:     o.LaterValidity,
		netsCard:  o.NetsCard == nil || *o.NetsCard,
		tokenTTL:  o.TokenLifetime,
		widgetTT:  o.WidgetTTL,
		maxBody:   o.MaxBody,
		log:       o.Logger,
		calls:     o.Calls,
		faults:    o.Faults,
		rnd:       o.Rand,
		shadow:    max(o.ShadowLimitPct, 0),
		ext:       o.Clock,
		cbTimeout: o.CallbackTimeout,
		wake:      make(chan struct{}, 1),
		changed:   make(chan struct{}),
	}
	if s.cbTimeout <= 0 {
		s.cbTimeout = DefaultCallbackTimeout
	}
	cl := o.CallbackClient
	if cl == nil {
		cl = &http.Client{Timeout: s.cbTimeout, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	s.cbClient = callbackClient(cl)
	if s.now == nil && o.Clock != nil {
		s.now = o.Clock.Now
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.loc == nil {
		loc, err := time.LoadLocation("Europe/Stockholm")
		if err != nil {
			loc = time.FixedZone("CET", 3600)
		}
		s.loc = loc
	}
	if s.later <= 0 {
		s.later = DefaultLaterValidity
	}
	if s.tokenTTL <= 0 {
		s.tokenTTL = DefaultTokenLifetime
	}
	if s.widgetTT <= 0 {
		s.widgetTT = DefaultWidgetTTL
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBody
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.calls == nil {
		s.calls = simctl.NewCallLog(0)
	}
	if s.rnd == nil {
		s.rnd = rand.Reader
	}
	s.st = state{
		sessions:   map[string]*session{},
		byRef:      map[string]*session{},
		payments:   map[string]*payment{},
		invoiceIDs: map[string]bool{},
		invoiceSeq: 1,
		tokens:     map[string]time.Time{},
		widgets:    map[string]time.Time{},
	}
	return s
}

// Now is the emulator's clock: the injected clock plus the advanced offset.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clock()
}

func (s *Sim) clock() time.Time { return s.now().Add(s.offset) }

// Advance moves the emulator's clock forward by d (d > 0), so that delays of
// the test data (5 s, 10 min, 24 h) pass at once, and wakes Run so that
// rules and callback retries now due are carried out.
func (s *Sim) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	s.mu.Lock()
	s.offset += d
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// uuid returns a random version-4 UUID.
func (s *Sim) uuid() string {
	var b [16]byte
	if _, err := io.ReadFull(s.rnd, b[:]); err != nil {
		panic(fmt.Sprintf("resurssim: read random: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// token returns n random characters of [A-Za-z0-9].
func (s *Sim) token(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rnd, b); err != nil {
		panic(fmt.Sprintf("resurssim: read random: %v", err))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
