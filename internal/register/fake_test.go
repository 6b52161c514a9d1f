package register

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/scanner"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/store"
	"github.com/posd/posd/internal/store/seqrreg"
)

// call is one request the fake SEQR received.
type call struct {
	op      string
	ref     string
	version int
	at      time.Time
}

// fakeSEQR is a hand-written SEQR at the edge we do not own. Each hook may
// be nil (success). Latency is simulated with time.Sleep, which is instant
// and deterministic under testing/synctest.
type fakeSEQR struct {
	mu          sync.Mutex
	calls       []call
	inFlight    int
	maxInFlight int
	invoices    int

	latency     time.Duration
	sendInvoice func(inv seqr.Invoice) (seqr.SendInvoiceResult, error)
	status      func(n int, ref string, version int) (seqr.PaymentStatus, error) // n counts status calls from 1
	cancel      func(n int, ref string) error
	submit      func(n int, ers string) error
	refund      func(ers string, inv seqr.Invoice) (string, error)
	mark        func() (string, error)
	report      func(n int, reportID string) (seqr.Report, error)
	nop         func(ctx context.Context) error
	register    func(reseller seqr.Principal, password string) (string, error)
}

var _ seqr.Operations = (*fakeSEQR)(nil)

func (f *fakeSEQR) log(op, ref string, version int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{op: op, ref: ref, version: version, at: time.Now()})
	n := 0
	for _, c := range f.calls {
		if c.op == op {
			n++
		}
	}
	return n
}

func (f *fakeSEQR) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.op == op {
			n++
		}
	}
	return n
}

func (f *fakeSEQR) callsOf(op string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.op == op {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeSEQR) RegisterTerminal(ctx context.Context, reseller seqr.Principal, ext, password, name string) (string, error) {
	f.log("registerTerminal", "", 0)
	f.mu.Lock()
	hook := f.register
	f.mu.Unlock()
	if hook != nil {
		return hook(reseller, password)
	}
	return "87e791f9e24148a6892c52aa85bb0331", nil
}

func (f *fakeSEQR) UnregisterTerminal(ctx context.Context, p seqr.Principal) error {
	f.log("unregisterTerminal", "", 0)
	return nil
}

func (f *fakeSEQR) AssignSeqrID(ctx context.Context, p seqr.Principal, id string) error {
	f.log("assignSeqrId", id, 0)
	return nil
}

func (f *fakeSEQR) SendInvoice(ctx context.Context, p seqr.Principal, inv seqr.Invoice, tokens []seqr.CustomerToken) (seqr.SendInvoiceResult, error) {
	f.log("sendInvoice", "", 0)
	f.mu.Lock()
	hook := f.sendInvoice
	f.mu.Unlock()
	if hook != nil {
		return hook(inv)
	}
	f.mu.Lock()
	f.invoices++
	ref := fmt.Sprintf("13972227016%02d", f.invoices)
	f.mu.Unlock()
	return seqr.SendInvoiceResult{InvoiceReference: ref}, nil
}

func (f *fakeSEQR) GetPaymentStatus(ctx context.Context, p seqr.Principal, ref string, version int) (seqr.PaymentStatus, error) {
	n := f.log("getPaymentStatus", ref, version)
	f.mu.Lock()
	f.inFlight++
	if f.inFlight > f.maxInFlight {
		f.maxInFlight = f.inFlight
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if f.latency > 0 {
		select {
		case <-time.After(f.latency):
		case <-ctx.Done():
			return seqr.PaymentStatus{}, ctx.Err()
		}
	}
	f.mu.Lock()
	hook := f.status
	f.mu.Unlock()
	if hook != nil {
		return hook(n, ref, version)
	}
	return seqr.PaymentStatus{Status: seqr.StatusIssued, Version: 1}, nil
}

func (f *fakeSEQR) CancelInvoice(ctx context.Context, p seqr.Principal, ref string) error {
	n := f.log("cancelInvoice", ref, 0)
	f.mu.Lock()
	hook := f.cancel
	f.mu.Unlock()
	if hook != nil {
		return hook(n, ref)
	}
	return nil
}

func (f *fakeSEQR) SubmitPaymentReceipt(ctx context.Context, p seqr.Principal, ers string, doc seqr.ReceiptDocument) error {
	n := f.log("submitPaymentReceipt", ers, 0)
	f.mu.Lock()
	hook := f.submit
	f.mu.Unlock()
	if hook != nil {
		return hook(n, ers)
	}
	return nil
}

func (f *fakeSEQR) RefundPayment(ctx context.Context, p seqr.Principal, ers string, inv seqr.Invoice) (string, error) {
	n := f.log("refundPayment", ers, 0)
	f.mu.Lock()
	hook := f.refund
	f.mu.Unlock()
	if hook != nil {
		return hook(ers, inv)
	}
	return fmt.Sprintf("20151030110000000010327%02d", n), nil
}

func (f *fakeSEQR) MarkTransactionPeriod(ctx context.Context, p seqr.Principal, params []seqr.Param) (string, error) {
	n := f.log("markTransactionPeriod", "", 0)
	f.mu.Lock()
	hook := f.mark
	f.mu.Unlock()
	if hook != nil {
		return hook()
	}
	return fmt.Sprintf("20151204085342120010052%02d", n), nil
}

func (f *fakeSEQR) ExecuteReport(ctx context.Context, p seqr.Principal, id, lang string, params []seqr.Param) (seqr.Report, error) {
	n := f.log("executeReport", id, 0)
	f.mu.Lock()
	hook := f.report
	f.mu.Unlock()
	if hook != nil {
		return hook(n, id)
	}
	return seqr.Report{}, &seqr.ResultError{Op: "executeReport", Code: seqr.ResultReportNotReady}
}

func (f *fakeSEQR) BenchmarkingNop(ctx context.Context) error {
	f.log("benchmarkingNop", "", 0)
	f.mu.Lock()
	hook := f.nop
	f.mu.Unlock()
	if hook != nil {
		return hook(ctx)
	}
	return nil
}

func resultErr(op string, code int) error { return &seqr.ResultError{Op: op, Code: code} }

var errTransport = errors.New("read tcp 127.0.0.1:1234: connection reset by peer")

// harness runs a Register on real SQLite and a real receipt file.
type harness struct {
	t       testing.TB
	r       *Register
	db      *store.DB
	journal *receipt.Journal
	fake    *fakeSEQR
	stop    context.CancelFunc
	done    chan error
	dir     string
}

type harnessOpt struct {
	cfg    Config
	policy payment.Policy // SEQR's timings (zero fields: its defaults)
	// provider, when set, replaces SEQR: tests of the register's own rules
	// (recovery) run against paymenttest.Fake.
	provider   payment.Provider
	noTerminal bool
	noSeqrID   bool
	dir        string // reuse a state directory (restart)
	logger     *zap.Logger
	journal    Journal // wraps the real journal when set by wrapJournal
	wrap       func(j *receipt.Journal) Journal
	noRun      bool
	printer    PrinterStatus // the print worker as the register sees it
	scanner    ScannerStatus // the scanner supervisor as the register sees it (nil: no scanner)
}

func newHarness(t testing.TB, fake *fakeSEQR, o harnessOpt) *harness {
	t.Helper()
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dir+"/posd.db", store.Options{})
	require.NoError(t, err)
	j, _, err := receipt.OpenJournal(dir+"/receipts.journal", time.Now)
	require.NoError(t, err)
	if !o.noTerminal {
		if _, err := db.Terminal(ctx); errors.Is(err, store.ErrNotFound) {
			require.NoError(t, db.SaveTerminal(ctx, store.Terminal{TerminalID: "87e791f9e24148a6892c52aa85bb0331",
				Password: "k3Jd8sLq0PzX2mA", Name: "till 2"}, store.Audit{Actor: "test", Event: "register_terminal", Outcome: "success"}))
			if !o.noSeqrID {
				require.NoError(t, db.SetSeqrID(ctx, "ACME0001", store.Audit{Actor: "test", Event: "assign", Outcome: "success"}))
			}
		}
	}
	var journal Journal = j
	if o.wrap != nil {
		journal = o.wrap(j)
	}
	prov := o.provider
	if prov == nil {
		prov = seqrProvider(t, fake, db, o.policy)
	}
	r, err := New(o.cfg, Deps{Store: db, Providers: []payment.Provider{prov}, Journal: journal,
		Logger: o.logger, Printer: o.printer, Scanner: o.scanner})
	require.NoError(t, err)
	h := &harness{t: t, r: r, db: db, journal: j, fake: fake, dir: dir, done: make(chan error, 1)}
	if !o.noRun {
		h.start()
	}
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.done <- h.r.Run(ctx) }()
	select {
	case <-h.r.Ready():
	case err := <-h.done:
		h.t.Fatalf("Run ended before ready: %v", err)
	}
}

// close stops Run and closes the files; the state directory stays.
func (h *harness) close() {
	if h.stop != nil {
		h.stop()
		require.NoError(h.t, <-h.done)
		h.stop = nil
	}
	require.NoError(h.t, h.journal.Close())
	require.NoError(h.t, h.db.Close())
}

func sale(amount string) PaymentRequest {
	return PaymentRequest{
		Method: "seqr", SaleID: "S-1", CashierID: "bob", Title: "My Shop",
		Amount: money.MustParse(amount), Currency: "SEK", ReceiptTotal: money.MustParse(amount),
		Rows: []Row{{Description: "Ice cream", Quantity: "1", UnitPrice: money.MustParse(amount), TotalAmount: money.MustParse(amount), TaxRate: "12"}},
	}
}

// waitState reads events until the payment reaches state (or its stream ends).
func waitState(t testing.TB, ch <-chan Event, want State) Event {
	t.Helper()
	for ev := range ch {
		if ev.Type == "state" && ev.State == want {
			return ev
		}
		if ev.Type == "state" && ev.State.Final() {
			t.Fatalf("payment ended %s (%s), want %s", ev.State, ev.Payment.Error, want)
		}
	}
	t.Fatalf("event stream ended before state %s", want)
	return Event{}
}

func paidStatus(ers string) seqr.PaymentStatus {
	return seqr.PaymentStatus{Status: seqr.StatusPaid, Version: 2, ERSReference: ers}
}

// seqrProvider is SEQR behind the contract, as cmd/posd wires it: the real
// adapter over client (the fake, or a real client against seqrsim) with the
// registration kept in db's terminal table.
func seqrProvider(t testing.TB, client seqr.Operations, db *store.DB, policy payment.Policy) *seqr.Adapter {
	t.Helper()
	a, err := seqr.NewAdapter(client, seqrreg.Store{DB: db}, seqr.AdapterConfig{Policy: policy}, time.Now)
	require.NoError(t, err)
	return a
}

// allPosts reads every post of the receipt file.
func allPosts(t testing.TB, j *receipt.Journal) []receipt.Post {
	t.Helper()
	posts, err := j.Posts(0, 1<<30)
	require.NoError(t, err)
	return posts
}

// aScanner is a connected scanner as Status sees it.
type aScanner struct{}

func (aScanner) Status() scanner.Status {
	return scanner.Status{Device: "/dev/pts/test", Connected: true}
}
