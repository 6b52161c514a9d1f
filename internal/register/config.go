package register

import (
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/scanner"
	"github.com/posd/posd/internal/store"
)

// Config tunes the register. Zero fields take the defaults of DefaultConfig.
// How each payment is followed (check interval, windows, decision limit,
// call timeouts) is its provider's Policy, not the register's.
type Config struct {
	ProbeInterval   time.Duration // background reachability probe and storage check
	OfflineTimeout  time.Duration // a payment request is refused as offline within this
	ReportRetry     time.Duration // period report retry while not ready (and the wait after mark)
	ReportTimeout   time.Duration // give up waiting for a report after this
	OutboxRetryMin  time.Duration // first retry of a failed outbox task; doubles per attempt
	OutboxRetryMax  time.Duration // cap of the outbox backoff
	OutboxInterval  time.Duration // how often the outbox is scanned for due items
	RecordRetry     time.Duration // retry of a failed recording step (journal full, SQLite error)
	AutoCancelRetry time.Duration // between posd's own cancel attempts after the decision limit
	CallTimeout     time.Duration // enrolment and period calls (payments use their Policy's)
	// ConfirmInterval is how often refunds, annulments and debits left
	// unknown are asked about where the provider can tell (payment.Confirmer);
	// UnknownFailAge is how old one must be before "not made" is believed
	// (no request can still be on its way) and it is recorded failed.
	ConfirmInterval time.Duration
	UnknownFailAge  time.Duration

	Currency      string   // the only currency accepted ("SEK")
	Title         string   // payment title when the request has none
	ReceiptHeader []string // printed receipt header lines (store name, address, org number)
	ReceiptFooter []string
	// ReferenceCode is how receipts and slips print the provider's
	// reference as a code: Code 128 ("", the default) or a QR code.
	ReferenceCode receipt.Symbology
	Version       string // shown in Status
	MaxRows       int    // rows per payment request
}

// DefaultConfig returns the register's defaults.
func DefaultConfig() Config {
	return Config{
		ProbeInterval:   5 * time.Second,
		OfflineTimeout:  2500 * time.Millisecond, // the refusal itself must come within 3 s (P6)
		ReportRetry:     3 * time.Second,
		ReportTimeout:   60 * time.Second,
		OutboxRetryMin:  time.Second,
		OutboxRetryMax:  5 * time.Minute,
		OutboxInterval:  time.Second,
		RecordRetry:     time.Second,
		AutoCancelRetry: 5 * time.Second,
		CallTimeout:     10 * time.Second,
		ConfirmInterval: time.Minute,
		UnknownFailAge:  10 * time.Minute,
		Currency:        "SEK",
		Title:           "Purchase",
		Version:         "dev",
		MaxRows:         500,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setDur(&c.ProbeInterval, d.ProbeInterval)
	setDur(&c.OfflineTimeout, d.OfflineTimeout)
	setDur(&c.ReportRetry, d.ReportRetry)
	setDur(&c.ReportTimeout, d.ReportTimeout)
	setDur(&c.OutboxRetryMin, d.OutboxRetryMin)
	setDur(&c.OutboxRetryMax, d.OutboxRetryMax)
	setDur(&c.OutboxInterval, d.OutboxInterval)
	setDur(&c.RecordRetry, d.RecordRetry)
	setDur(&c.AutoCancelRetry, d.AutoCancelRetry)
	setDur(&c.CallTimeout, d.CallTimeout)
	setDur(&c.ConfirmInterval, d.ConfirmInterval)
	setDur(&c.UnknownFailAge, d.UnknownFailAge)
	if c.Currency == "" {
		c.Currency = d.Currency
	}
	if c.Title == "" {
		c.Title = d.Title
	}
	if c.Version == "" {
		c.Version = d.Version
	}
	if c.MaxRows <= 0 {
		c.MaxRows = d.MaxRows
	}
	return c
}

// policyDefaults fills a provider's zero timings.
func policyDefaults(p payment.Policy) payment.Policy {
	setDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setDur(&p.CheckInterval, time.Second)
	setDur(&p.CheckTimeout, 3*time.Second)
	setDur(&p.CallTimeout, 10*time.Second)
	if p.Window > 0 {
		setDur(&p.DecisionLimit, 5*time.Minute)
	}
	return p
}

// Deps are the register's collaborators. Store, Journal and at least one
// provider are required.
type Deps struct {
	Store     *store.DB
	Providers []payment.Provider // each method served by exactly one
	Journal   Journal
	Logger    *zap.Logger      // nil: no logging
	Now       func() time.Time // nil: time.Now. Tickers use package time (fake it with testing/synctest).
	Scanner   ScannerStatus    // optional, for Status
	Printer   PrinterStatus    // optional, for Status
	Observer  Observer         // optional metrics hooks
	// Crash, if set, is called at the named points of the money path below
	// (reliability K2: cmd/posd built with -tags crashpoints kills itself
	// there). nil: nothing happens; production builds never set it.
	Crash func(point string)
}

// Crash points passed to Deps.Crash, in the order a paid sale meets them.
// (The values are the names POSD_CRASH_AT has always taken.)
const (
	CrashStartReply      = "invoice-reply"     // the provider answered Start; the session not committed
	CrashStartCommitted  = "invoice-committed" // the session committed (polling)
	CrashPaidSeen        = "paid-seen"         // paid checked; transaction reference not committed
	CrashRefCommitted    = "ers-committed"     // transaction reference committed; no journal post yet
	CrashJournalAppended = "journal-appended"  // post appended and fsynced; state paid not committed
	CrashPaidCommitted   = "paid-committed"    // state paid, outbox tasks and print job committed
	CrashTaskBefore      = "submit-before"     // an outbox task (SEQR: submitPaymentReceipt) about to run
	CrashTaskAfter       = "submit-after"      // the task succeeded; outbox item not marked done
)

// crashAt calls Deps.Crash at a named point; without it, nothing.
func (r *Register) crashAt(point string) {
	if r.crash != nil {
		r.crash(point)
	}
}

// Journal is what the register needs of the receipt file (*receipt.Journal).
type Journal interface {
	Append(p receipt.Post) (receipt.Post, error)
	Has(provider, reference string) bool
	Posts(after int64, limit int) ([]receipt.Post, error)
}

// ScannerStatus is the scanner supervisor as Status sees it.
type ScannerStatus interface{ Status() scanner.Status }

// PrinterStatus is the print worker as Status sees it.
type PrinterStatus interface{ Status() printer.Status }

// Observer receives metrics events, labelled by provider. Methods must not block.
type Observer interface {
	PaymentCreated(provider string)
	PaymentFinished(provider string, state State)
	// PollRoundTrip is one Check call: its duration and error.
	PollRoundTrip(provider string, d time.Duration, err error)
	// PollSkipped counts ticks that found the previous call still in flight.
	PollSkipped(provider string)
	JournalAppend(d time.Duration, err error)
	OutboxBacklog(n int)
}

type nopObserver struct{}

func (nopObserver) PaymentCreated(string)                      {}
func (nopObserver) PaymentFinished(string, State)              {}
func (nopObserver) PollRoundTrip(string, time.Duration, error) {}
func (nopObserver) PollSkipped(string)                         {}
func (nopObserver) JournalAppend(time.Duration, error)         {}
func (nopObserver) OutboxBacklog(int)                          {}
