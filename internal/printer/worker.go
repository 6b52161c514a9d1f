package printer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/receipt"
)

// WorkerConfig configures the print worker. Zero values take the defaults
// in brackets.
type WorkerConfig struct {
	Device        string        // printer.device: serial path, /dev/usb/lp0, tcp://host:9100, virtual:<dir>
	Codepage      string        // printer.codepage [cp858]
	Columns       int           // printer.columns [48]
	ReceiptMaxAge time.Duration // receipts older than this are dropped, not printed late [1h]
	DrawerMaxAge  time.Duration // drawer kicks older than this are dropped [12s]
	PollInterval  time.Duration // status poll and queue poll while idle or waiting [500ms]
	ReplyTimeout  time.Duration // a status request unanswered this long means the printer is gone [1s]
	// ConfirmTimeout bounds the wait for a job's GS r 1 reply while the
	// printer says it is ready; while it reports paper out or cover open
	// the wait goes on (the printer holds the job) [60s].
	ConfirmTimeout time.Duration
	ReconnectMin   time.Duration // first reconnect delay, doubled up to ReconnectMax [250ms]
	ReconnectMax   time.Duration // [2s]: a replugged printer is back within about 2 s
	Baud           int           // serial [9600]
	CancelKanji    bool          // send FS . in the prologue (printers with a Chinese default set)
	FullCut        bool          // full instead of partial cut
	CutFeed        byte          // motion units past the cutter before cutting [0]
	DrawerPin      int           // 2 or 5 [2]
	DrawerPulse    time.Duration // drawer kick on-time (and off-time) [100ms]
	Location       *time.Location
	Now            func() time.Time // [time.Now]; used for job expiry
	Logger         *zap.Logger      // [zap.NewNop()]
	// OnStatus, if set, is called from the worker's goroutine on every
	// change of Status (register forwards it to the payment's event
	// stream). It must not block.
	OnStatus func(Status)
	// Crash, if set, is called at CrashBeforeWrite and CrashAfterConfirm
	// (reliability K2: cmd/posd built with -tags crashpoints kills itself
	// there). nil: nothing happens; production builds never set it.
	Crash func(point string)
}

// Crash points passed to WorkerConfig.Crash.
const (
	CrashBeforeWrite  = "print-before" // a job about to be marked started and sent
	CrashAfterConfirm = "print-after"  // the printer confirmed the job; not yet recorded printed
)

// WorkerOption changes how a Worker is built.
type WorkerOption func(*Worker)

// WithOpener replaces the transport chosen from Device (tests, a scripted
// virtual printer, a fake printer).
func WithOpener(o Opener) WorkerOption { return func(w *Worker) { w.open = o } }

// DrawerPayload is the optional JSON payload of a "drawer" job.
type DrawerPayload struct {
	Pin     int `json:"pin,omitempty"`     // 2 or 5
	PulseMs int `json:"pulseMs,omitempty"` // on-time in ms
}

// Worker owns the printer: one goroutine (Run) opens it, polls its status,
// takes jobs from the queue and prints each exactly once when the printer
// can print. Nothing outside it ever waits for the printer: Status, Wake
// and the queue are the only ways in.
type Worker struct {
	cfg   WorkerConfig
	queue JobQueue
	open  Opener
	virt  *Virtual
	log   *zap.Logger
	cp    Codepage
	loc   *time.Location
	wake  chan struct{}

	mu     sync.Mutex
	status Status

	// owned by Run's goroutine
	link    *activeLink
	backoff time.Duration // wait before the next open; ReconnectMin again once a link proved itself
	cond    Condition
	started map[int64]bool
	buf     []byte
}

// NewWorker builds the worker; it starts nothing. cmd/posd creates one only
// when printer.device is set.
func NewWorker(cfg WorkerConfig, queue JobQueue, opts ...WorkerOption) (*Worker, error) {
	if queue == nil {
		return nil, errors.New("printer worker: nil queue")
	}
	cp, err := ParseCodepage(cfg.Codepage)
	if err != nil {
		return nil, err
	}
	if cfg.Columns <= 0 {
		cfg.Columns = 48
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.ReceiptMaxAge, time.Hour)
	def(&cfg.DrawerMaxAge, 12*time.Second)
	def(&cfg.PollInterval, 500*time.Millisecond)
	def(&cfg.ReplyTimeout, time.Second)
	def(&cfg.ConfirmTimeout, time.Minute)
	def(&cfg.ReconnectMin, 250*time.Millisecond)
	def(&cfg.ReconnectMax, 2*time.Second)
	def(&cfg.DrawerPulse, 100*time.Millisecond)
	if cfg.DrawerPin == 0 {
		cfg.DrawerPin = 2
	}
	if cfg.DrawerPin != 2 && cfg.DrawerPin != 5 {
		return nil, fmt.Errorf("printer drawer pin %d: want 2 or 5", cfg.DrawerPin)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Worker{
		cfg:     cfg,
		queue:   queue,
		log:     cfg.Logger,
		cp:      cp,
		loc:     cfg.Location,
		wake:    make(chan struct{}, 1),
		started: make(map[int64]bool),
		// Paper is one of the API's three values; until the first status
		// reply it is "ok" with Online false and LastError saying why.
		status: Status{Device: cfg.Device, Paper: "ok", LastError: "not connected yet"},
	}
	if w.log == nil {
		w.log = zap.NewNop()
	}
	if w.loc == nil {
		w.loc = receipt.Stockholm()
	}
	for _, o := range opts {
		o(w)
	}
	if w.open == nil {
		o, v, err := NewOpener(cfg.Device, TransportConfig{Baud: cfg.Baud, Columns: cfg.Columns})
		if err != nil {
			return nil, fmt.Errorf("printer worker: %w", err)
		}
		w.open, w.virt = o, v
	}
	return w, nil
}

// Virtual returns the virtual printer when Device is "virtual:<dir>", else nil.
func (w *Worker) Virtual() *Virtual { return w.virt }

// Status returns the printer's state; safe for concurrent use.
func (w *Worker) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// Wake nudges the worker to look at the queue now (call it after enqueuing
// a job). It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *Worker) publish(change func(*Status)) {
	w.mu.Lock()
	old := w.status
	change(&w.status)
	st := w.status
	w.mu.Unlock()
	if st != old && w.cfg.OnStatus != nil {
		w.cfg.OnStatus(st)
	}
}

// errLinkLost wraps a transport failure: the link is dropped and reopened.
type errLinkLost struct{ err error }

func (e errLinkLost) Error() string { return "printer link lost: " + e.err.Error() }
func (e errLinkLost) Unwrap() error { return e.err }

var (
	errSilent         = errors.New("printer does not answer status requests")
	errConfirmTimeout = errors.New("printer did not confirm the job")
)

// activeLink is an open link and, when it can be read, its reader goroutine.
type activeLink struct {
	Link
	rx        chan []byte
	errc      chan error
	done      chan struct{}
	stop      chan struct{}
	stream    StatusStream
	confirmed int

	// stopClose cancels the close that the end of Run's context triggers;
	// closeOnce makes that close and dropLink's one close.
	stopClose func() bool
	closeOnce sync.Once
	closeErr  error
}

// close closes the connection once; safe from any goroutine.
func (l *activeLink) close() error {
	l.closeOnce.Do(func() { l.closeErr = l.Conn.Close() })
	return l.closeErr
}

func (l *activeLink) read() {
	defer close(l.done)
	buf := make([]byte, 256)
	empty := 0
	for {
		n, err := l.Conn.Read(buf)
		if n > 0 {
			empty = 0
			b := append([]byte(nil), buf[:n]...)
			select {
			case l.rx <- b:
			case <-l.stop:
				return
			}
		}
		if err == nil && n == 0 {
			// A read timeout surfaces as (0, nil) on some ports; many in a
			// row means the port is no longer there.
			if empty++; empty > 1000 {
				err = errors.New("port returns no data and no error")
			}
		}
		if err != nil {
			select {
			case l.errc <- err:
			default:
			}
			return
		}
	}
}

// Run owns the device until ctx ends; it returns nil then. Faults of the
// printer are reported through Status, never returned.
func (w *Worker) Run(ctx context.Context) error {
	defer func() {
		w.dropLink(nil)
		w.publish(func(s *Status) { s.Online = false; s.LastError = "printer worker stopped" })
	}()
	w.backoff = w.cfg.ReconnectMin
	lastLost := ""
	for ctx.Err() == nil {
		if w.link == nil {
			if err := w.connect(ctx); err != nil {
				w.log.Debug("printer connect failed", zap.String("device", w.cfg.Device), zap.Error(err))
				w.refreshQueued(ctx)
				w.publish(func(s *Status) { s.Online = false; s.LastError = err.Error() })
				if !w.pause(ctx) {
					break
				}
				continue
			}
			w.log.Info("printer connected", zap.String("device", w.cfg.Device), zap.String("kind", w.link.Kind))
		}
		if err := w.step(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			// The same fault over and over (a silent printer) is logged once.
			if msg := err.Error(); msg != lastLost {
				w.log.Warn("printer link lost", zap.String("device", w.cfg.Device), zap.Error(err))
				lastLost = msg
			}
			w.dropLink(err)
			// An open that succeeds proves nothing (a listener that accepts
			// and closes, a port that fails every write): the backoff only
			// starts again from ReconnectMin once a link has answered a
			// status request or taken a job (proven).
			if !w.pause(ctx) {
				break
			}
		} else if w.link != nil && w.link.Readable && w.cond.Ready() {
			lastLost = ""
		}
	}
	return nil
}

// step polls the status, then prints or drops the oldest job, or waits.
// An error means the link is lost.
func (w *Worker) step(ctx context.Context) error {
	w.refreshQueued(ctx)
	if w.link.Readable {
		if err := w.pollStatus(ctx); err != nil {
			return err
		}
	}
	job, ok, err := w.queue.NextJob(ctx)
	if err != nil {
		w.log.Warn("printer queue", zap.Error(err))
		return w.idle(ctx)
	}
	if !ok {
		return w.idle(ctx)
	}
	if reason := w.expired(job); reason != "" {
		if err := w.queue.JobDropped(ctx, job.ID, reason); err != nil {
			w.log.Warn("printer drop job", zap.Int64("job", job.ID), zap.Error(err))
			return w.idle(ctx)
		}
		delete(w.started, job.ID)
		w.log.Info("printer job dropped", zap.Int64("job", job.ID), zap.String("payment", job.PaymentID), zap.String("reason", reason))
		return nil
	}
	if w.link.Readable && !w.cond.Ready() {
		return w.idle(ctx) // the job waits; Status says why
	}
	return w.print(ctx, job)
}

func (w *Worker) expired(job Job) string {
	if job.CreatedAt.IsZero() {
		return "" // unknown age: printing late beats losing the receipt
	}
	age := w.cfg.Now().Sub(job.CreatedAt)
	switch job.Kind {
	case "drawer":
		if age > w.cfg.DrawerMaxAge {
			return fmt.Sprintf("drawer kick %s old, limit %s", age.Round(time.Millisecond), w.cfg.DrawerMaxAge)
		}
	default:
		if age > w.cfg.ReceiptMaxAge {
			return fmt.Sprintf("receipt %s old, limit %s", age.Round(time.Second), w.cfg.ReceiptMaxAge)
		}
	}
	return ""
}

func (w *Worker) print(ctx context.Context, job Job) error {
	readable := w.link.Readable
	copyMark := job.Copy || job.Attempts > 0 || w.started[job.ID]
	data, reason := w.encode(job, readable, copyMark)
	if reason != "" {
		if err := w.queue.JobDropped(ctx, job.ID, reason); err != nil {
			w.log.Warn("printer drop job", zap.Int64("job", job.ID), zap.Error(err))
			return w.idle(ctx)
		}
		w.log.Error("printer job cannot be printed", zap.Int64("job", job.ID), zap.String("reason", reason))
		return nil
	}
	w.crashAt(CrashBeforeWrite)
	if err := w.queue.JobStarted(ctx, job.ID); err != nil {
		// Without a durable "started" mark a crash mid-job would reprint
		// without COPY, so nothing is sent.
		w.log.Warn("printer job start not recorded", zap.Int64("job", job.ID), zap.Error(err))
		return w.idle(ctx)
	}
	w.started[job.ID] = true
	if readable {
		w.link.stream.ExpectConfirm()
	}
	if err := w.write(data); err != nil {
		if ctx.Err() == nil { // not a write ended by shutdown closing the link
			w.failJob(ctx, job.ID, err)
		}
		return err
	}
	if readable {
		if err := w.awaitConfirm(ctx); err != nil {
			if ctx.Err() == nil {
				w.failJob(ctx, job.ID, err)
			}
			return err
		}
	}
	w.proven() // sent (and, where readable, confirmed)
	w.crashAt(CrashAfterConfirm)
	if err := w.queue.JobPrinted(ctx, job.ID); err != nil {
		w.log.Error("printer job printed but not recorded", zap.Int64("job", job.ID), zap.Error(err))
		return nil
	}
	delete(w.started, job.ID)
	w.log.Info("printer job printed", zap.Int64("job", job.ID), zap.String("payment", job.PaymentID), zap.Bool("copy", copyMark))
	w.refreshQueued(ctx)
	return nil
}

func (w *Worker) crashAt(point string) {
	if w.cfg.Crash != nil {
		w.cfg.Crash(point)
	}
}

func (w *Worker) failJob(ctx context.Context, id int64, cause error) {
	if err := w.queue.JobFailed(ctx, id, cause.Error()); err != nil {
		w.log.Warn("printer job failure not recorded", zap.Int64("job", id), zap.Error(err))
	}
}

// encode returns the job's bytes, or a reason to drop a job that can never print.
func (w *Worker) encode(job Job, confirm, copyMark bool) ([]byte, string) {
	switch job.Kind {
	case "drawer":
		var p DrawerPayload
		if len(job.Payload) > 0 {
			if err := json.Unmarshal(job.Payload, &p); err != nil {
				return nil, "bad drawer payload: " + err.Error()
			}
		}
		pin, pulse := w.cfg.DrawerPin, w.cfg.DrawerPulse
		if p.Pin != 0 {
			pin = p.Pin
		}
		if p.PulseMs > 0 {
			pulse = time.Duration(p.PulseMs) * time.Millisecond
		}
		e := Encoder{buf: w.buf[:0], cp: w.cp}
		e.Prologue(w.cfg.CancelKanji)
		if err := e.DrawerKick(pin, pulse, pulse); err != nil {
			return nil, err.Error()
		}
		if confirm {
			e.RequestConfirm()
		}
		w.buf = e.buf
		return e.buf, ""
	case "receipt", "":
		var doc receipt.Document
		if err := json.Unmarshal(job.Payload, &doc); err != nil {
			return nil, "bad receipt payload: " + err.Error()
		}
		doc.Copy = doc.Copy || copyMark
		opts := ReceiptOptions{
			Codepage: w.cp, Columns: w.cfg.Columns, Location: w.loc, CancelKanji: w.cfg.CancelKanji,
			FullCut: w.cfg.FullCut, CutFeed: w.cfg.CutFeed, Confirm: confirm,
		}
		// EncodeDocument prints what Layout decides for this paper: a code
		// that cannot print is already a QR code or left out (the reference
		// is printed as text too), the same decision `posd receipt render`
		// shows.
		b, err := EncodeDocument(w.buf[:0], doc, opts)
		if err != nil {
			return nil, err.Error()
		}
		w.buf = b
		return b, ""
	}
	return nil, fmt.Sprintf("unknown job kind %q", job.Kind)
}

func (w *Worker) connect(ctx context.Context) error {
	l, err := w.open(ctx)
	if err != nil {
		return err
	}
	al := &activeLink{Link: l}
	// A write the kernel blocks (usblp with the paper out, a serial port
	// held by flow control) would keep Run from ever seeing ctx end:
	// closing the link is what ends it.
	al.stopClose = context.AfterFunc(ctx, func() { _ = al.close() })
	w.link = al
	w.cond = Condition{}
	if l.Readable {
		al.rx = make(chan []byte, 16)
		al.errc = make(chan error, 1)
		al.done = make(chan struct{})
		al.stop = make(chan struct{})
		go al.read()
		return nil
	}
	w.publish(func(s *Status) {
		// A write-only device cannot report paper or cover: Paper keeps
		// the API's neutral "ok" and LastError says the state is unknown.
		s.Online = true
		s.Paper = "ok"
		s.CoverOpen = false
		s.LastError = "no status: write-only device, paper and cover unknown"
	})
	return nil
}

// dropLink closes the link and waits for its reader to end.
func (w *Worker) dropLink(cause error) {
	l := w.link
	if l == nil {
		return
	}
	w.link = nil
	if l.stop != nil {
		close(l.stop)
	}
	l.stopClose()
	_ = l.close()
	if l.done != nil {
		<-l.done
	}
	if cause != nil {
		w.publish(func(s *Status) { s.Online = false; s.LastError = cause.Error() })
	}
}

func (w *Worker) write(b []byte) error {
	for len(b) > 0 {
		n, err := w.link.Conn.Write(b)
		if err != nil {
			return errLinkLost{err}
		}
		if n == 0 {
			return errLinkLost{errors.New("write accepted nothing")}
		}
		b = b[n:]
	}
	return nil
}

// pollStatus asks DLE EOT 1-4 and updates the condition and Status.
func (w *Worker) pollStatus(ctx context.Context) error {
	l := w.link
	for n := byte(1); n <= 4; n++ {
		l.stream.Expect(n)
	}
	if err := w.write([]byte{0x10, 0x04, 1, 0x10, 0x04, 2, 0x10, 0x04, 3, 0x10, 0x04, 4}); err != nil {
		return err
	}
	ok, err := w.await(ctx, w.cfg.ReplyTimeout, false, func() bool { return l.stream.PendingRealTime() == 0 })
	if err != nil {
		return err
	}
	if !ok {
		return errLinkLost{errSilent}
	}
	w.proven()
	w.publishCond()
	return nil
}

func (w *Worker) publishCond() {
	c := w.cond
	w.publish(func(s *Status) {
		s.Online = true
		s.Paper = c.Paper()
		s.CoverOpen = c.CoverOpen
		s.LastError = c.Problem()
	})
}

// awaitConfirm waits for the GS r 1 reply, polling the status meanwhile.
func (w *Worker) awaitConfirm(ctx context.Context) error {
	l := w.link
	deadline := time.Now().Add(w.cfg.ConfirmTimeout)
	for {
		ok, err := w.await(ctx, w.cfg.PollInterval, false, func() bool { return l.confirmed > 0 })
		if err != nil {
			return err
		}
		if ok {
			l.confirmed--
			return nil
		}
		if err := w.pollStatus(ctx); err != nil {
			return err
		}
		if l.confirmed > 0 {
			l.confirmed--
			return nil
		}
		if !w.cond.Ready() {
			deadline = time.Now().Add(w.cfg.ConfirmTimeout) // the printer holds the job until fixed
			continue
		}
		if time.Now().After(deadline) {
			return errLinkLost{errConfirmTimeout}
		}
	}
}

// idle waits a poll interval (or a Wake), handling what the printer sends.
func (w *Worker) idle(ctx context.Context) error {
	_, err := w.await(ctx, w.cfg.PollInterval, true, func() bool { return false })
	return err
}

// proven notes that the link works: the next reconnect waits ReconnectMin.
func (w *Worker) proven() { w.backoff = w.cfg.ReconnectMin }

// pause waits the backoff before the next open and doubles it up to
// ReconnectMax; false means ctx ended.
func (w *Worker) pause(ctx context.Context) bool {
	d := w.backoff
	w.backoff = min(2*w.backoff, w.cfg.ReconnectMax)
	return w.sleep(ctx, d)
}

func (w *Worker) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// await handles bytes from the printer for up to d, returning true as soon
// as done() holds (or, if wakeable, on Wake).
func (w *Worker) await(ctx context.Context, d time.Duration, wakeable bool, done func() bool) (bool, error) {
	if done() {
		return true, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	l := w.link
	var rx chan []byte
	var errc chan error
	if l != nil && l.Readable {
		rx, errc = l.rx, l.errc
	}
	var wake chan struct{}
	if wakeable {
		wake = w.wake
	}
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-t.C:
			return false, nil
		case <-wake:
			return true, nil
		case err := <-errc:
			return false, errLinkLost{err}
		case b := <-rx:
			w.feed(b)
			if done() {
				return true, nil
			}
		}
	}
}

func (w *Worker) feed(b []byte) {
	l := w.link
	asb := false
	for _, c := range b {
		r, ok := l.stream.Feed(c)
		if !ok {
			continue
		}
		switch r.Kind {
		case ReplyRealTime:
			_ = ApplyRealTime(&w.cond, r.N, r.Bytes[0]) // the stream only returns valid replies
		case ReplyASB:
			if c, err := ParseASB(r.Bytes); err == nil {
				w.cond = c
				asb = true
			}
		case ReplyConfirm:
			l.confirmed++
		}
	}
	if asb {
		w.publishCond()
	}
}

func (w *Worker) refreshQueued(ctx context.Context) {
	n, err := w.queue.PendingJobs(ctx)
	if err != nil {
		return // the count is informative only; the queue error shows elsewhere
	}
	w.publish(func(s *Status) { s.Queued = n })
}
