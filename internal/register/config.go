package register

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/scanner"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/store"
)

// Config tunes the register. Zero fields take the defaults of DefaultConfig.
type Config struct {
	PollInterval    time.Duration // getPaymentStatus cadence (SEQR: 1 s)
	Window          time.Duration // one poll window (SEQR: 30 s)
	DecisionLimit   time.Duration // how long the cashier may leave a payment awaiting a decision before posd cancels it
	ProbeInterval   time.Duration // background reachability probe (benchmarkingNop) and storage check
	OfflineTimeout  time.Duration // a payment request is refused as offline within this
	CallTimeout     time.Duration // one SEQR call (sendInvoice, getPaymentStatus, cancel ...)
	PollTimeout     time.Duration // one getPaymentStatus call; ticks meanwhile are skipped
	ReportRetry     time.Duration // executeReport retry on REPORT_NOT_READY (and the wait after mark)
	ReportTimeout   time.Duration // give up waiting for a report after this
	OutboxRetryMin  time.Duration // first retry of a failed outbox call; doubles per attempt
	OutboxRetryMax  time.Duration // cap of the outbox backoff
	OutboxInterval  time.Duration // how often the outbox is scanned for due items
	RecordRetry     time.Duration // retry of a failed recording step (journal full, SQLite error)
	AutoCancelRetry time.Duration // between posd's own cancel attempts after DecisionLimit

	Currency      string   // the only currency accepted ("SEK")
	Title         string   // invoice title when the request has none
	ReceiptHeader []string // printed receipt header lines (store name, address, org number)
	ReceiptFooter []string
	Version       string // shown in Status
	MaxRows       int    // rows per payment request
}

// DefaultConfig returns the SEQR-certified timings.
func DefaultConfig() Config {
	return Config{
		PollInterval:    time.Second,
		Window:          30 * time.Second,
		DecisionLimit:   5 * time.Minute,
		ProbeInterval:   5 * time.Second,
		OfflineTimeout:  2500 * time.Millisecond, // the refusal itself must come within 3 s (P6)
		CallTimeout:     10 * time.Second,
		PollTimeout:     3 * time.Second, // a hung poll costs at most this + one tick: under the 5 s gap target (K1)
		ReportRetry:     3 * time.Second,
		ReportTimeout:   60 * time.Second,
		OutboxRetryMin:  time.Second,
		OutboxRetryMax:  5 * time.Minute,
		OutboxInterval:  time.Second,
		RecordRetry:     time.Second,
		AutoCancelRetry: 5 * time.Second,
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
	setDur(&c.PollInterval, d.PollInterval)
	setDur(&c.Window, d.Window)
	setDur(&c.DecisionLimit, d.DecisionLimit)
	setDur(&c.ProbeInterval, d.ProbeInterval)
	setDur(&c.OfflineTimeout, d.OfflineTimeout)
	setDur(&c.CallTimeout, d.CallTimeout)
	setDur(&c.PollTimeout, d.PollTimeout)
	setDur(&c.ReportRetry, d.ReportRetry)
	setDur(&c.ReportTimeout, d.ReportTimeout)
	setDur(&c.OutboxRetryMin, d.OutboxRetryMin)
	setDur(&c.OutboxRetryMax, d.OutboxRetryMax)
	setDur(&c.OutboxInterval, d.OutboxInterval)
	setDur(&c.RecordRetry, d.RecordRetry)
	setDur(&c.AutoCancelRetry, d.AutoCancelRetry)
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

// Deps are the register's collaborators. Store, SEQR and Journal are required.
type Deps struct {
	Store    *store.DB
	SEQR     SEQR
	Journal  Journal
	Logger   *zap.Logger      // nil: no logging
	Now      func() time.Time // nil: time.Now. Tickers use package time (fake it with testing/synctest).
	Scanner  ScannerStatus    // optional, for Status
	Printer  PrinterStatus    // optional, for Status
	Observer Observer         // optional metrics hooks
	// Crash, if set, is called at the named points of the money path below
	// (reliability K2: cmd/posd built with -tags crashpoints kills itself
	// there). nil: nothing happens; production builds never set it.
	Crash func(point string)
}

// Crash points passed to Deps.Crash, in the order a paid sale meets them.
const (
	CrashInvoiceReply     = "invoice-reply"     // sendInvoice answered; invoiceReference not committed
	CrashInvoiceCommitted = "invoice-committed" // invoiceReference committed (polling)
	CrashPaidSeen         = "paid-seen"         // PAID polled; ersReference not committed
	CrashERSCommitted     = "ers-committed"     // ersReference committed; no journal post yet
	CrashJournalAppended  = "journal-appended"  // post appended and fsynced; state paid not committed
	CrashPaidCommitted    = "paid-committed"    // state paid, outbox item and print job committed
	CrashSubmitBefore     = "submit-before"     // submitPaymentReceipt about to be sent
	CrashSubmitAfter      = "submit-after"      // submitPaymentReceipt answered 0; outbox item not marked done
)

// crashAt calls Deps.Crash at a named point; without it, nothing.
func (r *Register) crashAt(point string) {
	if r.crash != nil {
		r.crash(point)
	}
}

// SEQR is what the register needs of the SEQR client (*seqr.Client).
type SEQR interface {
	RegisterTerminal(ctx context.Context, reseller seqr.Principal, externalTerminalID, password, name string) (string, error)
	UnregisterTerminal(ctx context.Context, p seqr.Principal) error
	AssignSeqrID(ctx context.Context, p seqr.Principal, seqrID string) error
	SendInvoice(ctx context.Context, p seqr.Principal, inv seqr.Invoice, tokens []seqr.CustomerToken) (seqr.SendInvoiceResult, error)
	GetPaymentStatus(ctx context.Context, p seqr.Principal, ref string, version int) (seqr.PaymentStatus, error)
	CancelInvoice(ctx context.Context, p seqr.Principal, ref string) error
	SubmitPaymentReceipt(ctx context.Context, p seqr.Principal, ersRef string, doc seqr.ReceiptDocument) error
	RefundPayment(ctx context.Context, p seqr.Principal, ersRef string, inv seqr.Invoice) (string, error)
	MarkTransactionPeriod(ctx context.Context, p seqr.Principal, params []seqr.Param) (string, error)
	ExecuteReport(ctx context.Context, p seqr.Principal, reportID, language string, params []seqr.Param) (seqr.Report, error)
	BenchmarkingNop(ctx context.Context) error
}

// Journal is what the register needs of the receipt file (*receipt.Journal).
type Journal interface {
	Append(p receipt.Post) (receipt.Post, error)
	Has(reference string) bool
	Posts(after int64) []receipt.Post
}

// ScannerStatus is the scanner supervisor as Status sees it.
type ScannerStatus interface{ Status() scanner.Status }

// PrinterStatus is the print worker as Status sees it.
type PrinterStatus interface{ Status() printer.Status }

// Observer receives metrics events. Methods must not block.
type Observer interface {
	PaymentCreated()
	PaymentFinished(state State)
	// PollRoundTrip is one getPaymentStatus call: its duration and error.
	PollRoundTrip(d time.Duration, err error)
	// PollSkipped counts ticks that found the previous call still in flight.
	PollSkipped()
	JournalAppend(d time.Duration, err error)
	OutboxBacklog(n int)
}

type nopObserver struct{}

func (nopObserver) PaymentCreated()                    {}
func (nopObserver) PaymentFinished(State)              {}
func (nopObserver) PollRoundTrip(time.Duration, error) {}
func (nopObserver) PollSkipped()                       {}
func (nopObserver) JournalAppend(time.Duration, error) {}
func (nopObserver) OutboxBacklog(int)                  {}
