package printer_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/printer/escposdecode"
	"github.com/posd/posd/internal/printer/printertest"
	"github.com/posd/posd/internal/receipt"
)

// memQueue is an in-memory JobQueue that reports every call on channels.
type memQueue struct {
	mu      sync.Mutex
	jobs    []*qjob
	nextID  int64
	nexts   chan struct{}
	printed chan int64
	dropped chan string
	failed  chan string
}

type qjob struct {
	printer.Job
	done bool
}

func newMemQueue() *memQueue {
	return &memQueue{nexts: make(chan struct{}, 10000), printed: make(chan int64, 100), dropped: make(chan string, 100), failed: make(chan string, 100)}
}

func (q *memQueue) add(kind string, payload []byte, created time.Time) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.nextID++
	q.jobs = append(q.jobs, &qjob{Job: printer.Job{ID: q.nextID, Kind: kind, Payload: payload, CreatedAt: created}})
	return q.nextID
}

func (q *memQueue) find(id int64) *qjob {
	for _, j := range q.jobs {
		if j.ID == id {
			return j
		}
	}
	return nil
}

func (q *memQueue) NextJob(ctx context.Context) (printer.Job, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	select {
	case q.nexts <- struct{}{}:
	default:
	}
	for _, j := range q.jobs {
		if !j.done {
			return j.Job, true, nil
		}
	}
	return printer.Job{}, false, nil
}

func (q *memQueue) JobStarted(ctx context.Context, id int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.find(id).Attempts++
	return nil
}

func (q *memQueue) JobPrinted(ctx context.Context, id int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.find(id).done = true
	q.printed <- id
	return nil
}

func (q *memQueue) JobFailed(ctx context.Context, id int64, reason string) error {
	q.failed <- reason
	return nil
}

func (q *memQueue) JobDropped(ctx context.Context, id int64, reason string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.find(id).done = true
	q.dropped <- reason
	return nil
}

func (q *memQueue) PendingJobs(ctx context.Context) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, j := range q.jobs {
		if !j.done {
			n++
		}
	}
	return n, nil
}

// waitNexts waits until the worker has looked at the queue n more times.
func (q *memQueue) waitNexts(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-q.nexts:
		case <-time.After(10 * time.Second):
			t.Fatal("worker stopped polling the queue")
		}
	}
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

func none[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %s: %+v", what, v)
	default:
	}
}

func sampleDoc(t *testing.T) receipt.Document {
	return receipt.Document{
		Header:   []string{"Kaffebaren AB", "Storgatan 1", "Org.nr 556677-8899"},
		Rows:     []receipt.Row{{Description: "Kaffe", Quantity: "1", UnitPrice: money.MustParse("25.00"), Total: money.MustParse("25.00"), TaxRate: "12"}},
		Total:    money.MustParse("25.00"),
		Currency: "SEK",
		Payments: []receipt.Payment{{Method: "SEQR payment", Amount: money.MustParse("25.00"), Reference: "8201234567890123"}},
		Time:     time.Date(2026, 11, 21, 17, 35, 0, 0, time.UTC),
		SaleID:   "S-1",
		Barcode:  "8201234567890123",
	}
}

func payload(t *testing.T, d receipt.Document) []byte {
	b, err := json.Marshal(d)
	require.NoError(t, err)
	return b
}

type harness struct {
	q      *memQueue
	w      *printer.Worker
	status chan printer.Status
	cancel context.CancelFunc
	done   chan error
}

func startWorker(t *testing.T, cfg printer.WorkerConfig, opts ...printer.WorkerOption) *harness {
	t.Helper()
	h := &harness{q: newMemQueue(), status: make(chan printer.Status, 10000), done: make(chan error, 1)}
	cfg.PollInterval = 20 * time.Millisecond
	if cfg.ReplyTimeout == 0 {
		cfg.ReplyTimeout = 3 * time.Second
	}
	cfg.ReconnectMin = 5 * time.Millisecond
	cfg.ReconnectMax = 40 * time.Millisecond
	prev := cfg.OnStatus
	cfg.OnStatus = func(s printer.Status) {
		if prev != nil {
			prev(s)
		}
		select {
		case h.status <- s:
		default:
		}
	}
	w, err := printer.NewWorker(cfg, h.q, opts...)
	require.NoError(t, err)
	h.w = w
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- w.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	<-h.done
}

func (h *harness) waitStatus(t *testing.T, pred func(printer.Status) bool) printer.Status {
	t.Helper()
	for {
		s := recv(t, h.status, "printer status")
		if pred(s) {
			return s
		}
	}
}

func paperOf(t *testing.T, j printer.SimJob) escposdecode.Paper {
	t.Helper()
	cmds, err := escposdecode.Decode(j.Bytes)
	require.NoError(t, err)
	return escposdecode.Render(cmds)
}

func isCopy(p escposdecode.Paper) bool {
	_, ok := p.FindLine(receipt.CopyMark)
	return ok
}

func TestWorkerPrintsOnVirtualPrinter(t *testing.T) {
	dir := t.TempDir()
	h := startWorker(t, printer.WorkerConfig{Device: "virtual:" + dir})
	require.NotNil(t, h.w.Virtual())
	id := h.q.add("receipt", payload(t, sampleDoc(t)), time.Now())
	h.w.Wake()
	assert.Equal(t, id, recv(t, h.q.printed, "printed"))
	bin, err := os.ReadFile(filepath.Join(dir, "job-1.bin"))
	require.NoError(t, err)
	txt, err := os.ReadFile(filepath.Join(dir, "job-1.txt"))
	require.NoError(t, err)
	assert.Contains(t, string(txt), "SEQR payment")
	assert.Contains(t, string(txt), "[Code 128: 8201234567890123]")
	p := paperOf(t, printer.SimJob{Bytes: bin})
	assert.False(t, isCopy(p))
	require.Len(t, p.Cuts(), 1)
	st := h.waitStatus(t, func(s printer.Status) bool { return s.Queued == 0 && s.Online })
	assert.Equal(t, "ok", st.Paper)
	assert.Empty(t, st.LastError)
}

func TestWorkerPaperOutWaitsThenPrintsOnce(t *testing.T) {
	fake := printertest.Start(t)
	fake.SetState(printer.SimState{PaperEnd: true})
	var pollsAtReport int
	h := startWorker(t, printer.WorkerConfig{Device: fake.Device(), OnStatus: func(s printer.Status) {
		if s.Paper == "out" && pollsAtReport == 0 {
			pollsAtReport = fake.Sim().StatusRequests()
		}
	}})
	st := h.waitStatus(t, func(s printer.Status) bool { return s.Paper == "out" })
	assert.Contains(t, st.LastError, "paper out")
	assert.LessOrEqual(t, pollsAtReport, 4, "reported after the first status poll")

	h.q.add("receipt", payload(t, sampleDoc(t)), time.Now())
	h.w.Wake()
	h.q.waitNexts(t, 5) // the worker looked at the job five times and kept it waiting
	none(t, fake.Jobs(), "job while paper is out")
	none(t, h.q.printed, "printed while paper is out")
	h.waitStatus(t, func(s printer.Status) bool { return s.Queued == 1 })

	before := fake.Sim().StatusRequests()
	var pollsAtRefill int
	fake.SetState(printer.SimState{}) // paper replaced
	st = h.waitStatus(t, func(s printer.Status) bool {
		if s.Paper == "ok" {
			pollsAtRefill = fake.Sim().StatusRequests()
			return true
		}
		return false
	})
	assert.LessOrEqual(t, pollsAtRefill-before, 8, "the change shows within one status poll")
	j := recv(t, fake.Jobs(), "printed job")
	assert.True(t, j.Confirmed)
	assert.False(t, isCopy(paperOf(t, j)))
	recv(t, h.q.printed, "printed")
	h.q.waitNexts(t, 5)
	none(t, fake.Jobs(), "second print")
	none(t, h.q.failed, "failure")
}

func TestWorkerCoverOpen(t *testing.T) {
	fake := printertest.Start(t)
	h := startWorker(t, printer.WorkerConfig{Device: fake.Device()})
	h.waitStatus(t, func(s printer.Status) bool { return s.Online && s.Paper == "ok" })
	fake.SetState(printer.SimState{CoverOpen: true})
	st := h.waitStatus(t, func(s printer.Status) bool { return s.CoverOpen })
	assert.Equal(t, "cover open", st.LastError)
	h.q.add("receipt", payload(t, sampleDoc(t)), time.Now())
	h.w.Wake()
	h.q.waitNexts(t, 5)
	none(t, fake.Jobs(), "job while cover is open")
	fake.SetState(printer.SimState{})
	h.waitStatus(t, func(s printer.Status) bool { return !s.CoverOpen })
	j := recv(t, fake.Jobs(), "printed job")
	assert.True(t, j.Confirmed)
	recv(t, h.q.printed, "printed")
	h.q.waitNexts(t, 3)
	none(t, fake.Jobs(), "second print")
}

func TestWorkerPaperOutMidJobIsHeldNotDuplicated(t *testing.T) {
	fake := printertest.Start(t)
	h := startWorker(t, printer.WorkerConfig{Device: fake.Device()})
	h.waitStatus(t, func(s printer.Status) bool { return s.Online && s.Paper == "ok" })
	// The paper runs out after the pre-job check, inside the job: the
	// printer holds it and answers GS r 1 only after the refill.
	fake.Sim().ChangeAfter(30, printer.SimState{PaperEnd: true})
	h.q.add("receipt", payload(t, sampleDoc(t)), time.Now())
	h.w.Wake()
	h.waitStatus(t, func(s printer.Status) bool { return s.Paper == "out" })
	none(t, h.q.printed, "printed while paper is out")
	none(t, h.q.failed, "failed while the printer holds the job")
	none(t, fake.Jobs(), "job finished before the refill")
	fake.SetState(printer.SimState{})
	recv(t, h.q.printed, "printed")
	h.q.waitNexts(t, 3)
	var jobs []printer.SimJob
	for {
		select {
		case j := <-fake.Jobs():
			jobs = append(jobs, j)
			continue
		default:
		}
		break
	}
	require.Len(t, jobs, 1, "printed exactly once")
	assert.False(t, isCopy(paperOf(t, jobs[0])))
}

func TestWorkerUnplugMidJobReprintsAsCopy(t *testing.T) {
	fake := printertest.Start(t)
	h := startWorker(t, printer.WorkerConfig{Device: fake.Device()})
	h.waitStatus(t, func(s printer.Status) bool { return s.Online && s.Paper == "ok" })
	fake.UnplugAfter(60) // past the prologue, inside the receipt
	h.q.add("receipt", payload(t, sampleDoc(t)), time.Now())
	h.w.Wake()

	first := recv(t, fake.Jobs(), "interrupted job")
	assert.True(t, first.Interrupted)
	assert.Contains(t, recv(t, h.q.failed, "job failure"), "link lost")
	h.waitStatus(t, func(s printer.Status) bool { return !s.Online })

	second := recv(t, fake.Jobs(), "reprint")
	assert.True(t, second.Confirmed)
	assert.True(t, isCopy(paperOf(t, second)), "the reprint is marked COPY")
	recv(t, h.q.printed, "printed")
	h.q.waitNexts(t, 3)
	none(t, fake.Jobs(), "third print")
	assert.GreaterOrEqual(t, fake.Accepted(), 2)
}

func TestWorkerUnpluggedReconnects(t *testing.T) {
	fake := printertest.Start(t)
	h := startWorker(t, printer.WorkerConfig{Device: fake.Device()})
	h.waitStatus(t, func(s printer.Status) bool { return s.Online })
	fake.Unplug()
	h.waitStatus(t, func(s printer.Status) bool { return !s.Online && s.LastError != "" })
	h.q.add("receipt", payload(t, sampleDoc(t)), time.Now())
	h.w.Wake()
	fake.Replug()
	h.waitStatus(t, func(s printer.Status) bool { return s.Online })
	j := recv(t, fake.Jobs(), "printed after replug")
	assert.True(t, j.Confirmed)
	assert.False(t, isCopy(paperOf(t, j)), "never started before: no COPY")
	recv(t, h.q.printed, "printed")
}

func TestWorkerSilentPrinterIsOffline(t *testing.T) {
	fake := printertest.Start(t)
	h := startWorker(t, printer.WorkerConfig{Device: fake.Device(), ReplyTimeout: 100 * time.Millisecond})
	h.waitStatus(t, func(s printer.Status) bool { return s.Online })
	fake.SetState(printer.SimState{Silent: true})
	st := h.waitStatus(t, func(s printer.Status) bool { return !s.Online })
	assert.Contains(t, st.LastError, "does not answer")
	fake.SetState(printer.SimState{})
	h.waitStatus(t, func(s printer.Status) bool { return s.Online })
}

func TestWorkerDropsExpiredJobs(t *testing.T) {
	fake := printertest.Start(t)
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	h := startWorker(t, printer.WorkerConfig{Device: fake.Device(), Now: func() time.Time { return now }})
	h.q.add("receipt", payload(t, sampleDoc(t)), now.Add(-61*time.Minute))
	h.q.add("drawer", nil, now.Add(-13*time.Second))
	fresh := h.q.add("drawer", []byte(`{"pin":5,"pulseMs":50}`), now.Add(-time.Second))
	h.w.Wake()
	assert.Contains(t, recv(t, h.q.dropped, "dropped receipt"), "receipt 1h1m0s old")
	assert.Contains(t, recv(t, h.q.dropped, "dropped drawer kick"), "drawer kick 13s old")
	assert.Equal(t, fresh, recv(t, h.q.printed, "fresh drawer kick"))
	j := recv(t, fake.Jobs(), "drawer job")
	items := paperOf(t, j).Items
	require.Len(t, items, 2)
	assert.Equal(t, escposdecode.Item{Kind: escposdecode.ItemDrawer, Pin: 5, OnMs: 50, OffMs: 50}, items[0])
	none(t, fake.Jobs(), "expired job printed")
}

func TestWorkerLeavesOutBarcodeThatDoesNotFit(t *testing.T) {
	fake := printertest.Start(t)
	h := startWorker(t, printer.WorkerConfig{Device: fake.Device(), Columns: 32})
	d := sampleDoc(t)
	d.Barcode = strings.Repeat("X", 40)
	h.q.add("receipt", payload(t, d), time.Now())
	h.w.Wake()
	recv(t, h.q.printed, "printed")
	p := paperOf(t, recv(t, fake.Jobs(), "job"))
	assert.Empty(t, p.Barcodes())
	_, ok := p.FindLine("SEQR payment")
	assert.True(t, ok)
}

func TestWorkerBadPayloadDropped(t *testing.T) {
	fake := printertest.Start(t)
	h := startWorker(t, printer.WorkerConfig{Device: fake.Device()})
	h.q.add("receipt", []byte(`{"total": 12}`), time.Now())
	h.q.add("teapot", nil, time.Now())
	h.w.Wake()
	assert.Contains(t, recv(t, h.q.dropped, "bad payload"), "bad receipt payload")
	assert.Contains(t, recv(t, h.q.dropped, "unknown kind"), "unknown job kind")
}

func TestWorkerDeviceFileIsWriteOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lp0")
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	h := startWorker(t, printer.WorkerConfig{Device: "file:" + path})
	st := h.waitStatus(t, func(s printer.Status) bool { return s.Online })
	assert.Equal(t, "ok", st.Paper, "the API knows ok, near_end, out only")
	assert.Contains(t, st.LastError, "write-only device, paper and cover unknown")
	h.q.add("receipt", payload(t, sampleDoc(t)), time.Now())
	h.w.Wake()
	recv(t, h.q.printed, "printed")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	cmds, err := escposdecode.Decode(b)
	require.NoError(t, err)
	assert.Equal(t, "GS V", cmds[len(cmds)-1].Op, "no GS r 1 where nothing can be read")
}

func TestWorkerVirtualUnplug(t *testing.T) {
	dir := t.TempDir()
	v, err := printer.NewVirtual(dir, 48)
	require.NoError(t, err)
	h := startWorker(t, printer.WorkerConfig{Device: "virtual:" + dir}, printer.WithOpener(v.Open))
	h.waitStatus(t, func(s printer.Status) bool { return s.Online })
	v.Unplug()
	h.waitStatus(t, func(s printer.Status) bool { return !s.Online })
	h.q.add("receipt", payload(t, sampleDoc(t)), time.Now())
	h.w.Wake()
	v.Replug()
	recv(t, h.q.printed, "printed")
	_, err = os.Stat(filepath.Join(dir, "job-1.txt"))
	require.NoError(t, err)
}

func TestWorkerNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	fake := printertest.Start(t)
	h := startWorker(t, printer.WorkerConfig{Device: fake.Device()})
	for i := 0; i < 5; i++ {
		h.waitStatus(t, func(s printer.Status) bool { return s.Online })
		fake.Unplug()
		h.waitStatus(t, func(s printer.Status) bool { return !s.Online })
		fake.Replug()
	}
	h.q.add("receipt", payload(t, sampleDoc(t)), time.Now())
	h.w.Wake()
	recv(t, h.q.printed, "printed")
	h.stop()     // Run returned: its reader goroutine has ended
	fake.Close() // the fake's goroutines have ended
	// Goroutines that have signalled their end may need a moment to exit:
	// yield (no sleeping) until they have, or give up after a while.
	after := runtime.NumGoroutine()
	for end := time.Now().Add(5 * time.Second); after > before && time.Now().Before(end); {
		runtime.Gosched()
		after = runtime.NumGoroutine()
	}
	if after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before, %d after\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

func TestNewWorkerRejects(t *testing.T) {
	_, err := printer.NewWorker(printer.WorkerConfig{Device: "virtual:" + t.TempDir()}, nil)
	require.Error(t, err)
	_, err = printer.NewWorker(printer.WorkerConfig{}, newMemQueue())
	require.Error(t, err)
	_, err = printer.NewWorker(printer.WorkerConfig{Device: "tcp://127.0.0.1:1", Codepage: "utf8"}, newMemQueue())
	require.Error(t, err)
	_, err = printer.NewWorker(printer.WorkerConfig{Device: "tcp://127.0.0.1:1", DrawerPin: 3}, newMemQueue())
	require.Error(t, err)
}

func TestWorkerSerialOverPTY(t *testing.T) {
	fake := printertest.StartPTY(t)
	h := startWorker(t, printer.WorkerConfig{Device: fake.Device()})
	h.waitStatus(t, func(s printer.Status) bool { return s.Online && s.Paper == "ok" })
	h.q.add("receipt", payload(t, sampleDoc(t)), time.Now())
	h.w.Wake()
	j := recv(t, fake.Jobs(), "job over the serial port")
	assert.True(t, j.Confirmed)
	recv(t, h.q.printed, "printed")

	fake.Unplug()
	h.waitStatus(t, func(s printer.Status) bool { return !s.Online })
	fake.Replug()
	h.waitStatus(t, func(s printer.Status) bool { return s.Online })
	h.q.add("drawer", nil, time.Now())
	h.w.Wake()
	recv(t, h.q.printed, "drawer kick after replug")
	j = recv(t, fake.Jobs(), "drawer job")
	assert.Equal(t, escposdecode.ItemDrawer, paperOf(t, j).Items[0].Kind)
}

func TestWorkerSerialUnplugMidJob(t *testing.T) {
	fake := printertest.StartPTY(t)
	h := startWorker(t, printer.WorkerConfig{Device: fake.Device()})
	h.waitStatus(t, func(s printer.Status) bool { return s.Online && s.Paper == "ok" })
	fake.Sim().FailAfter(100)
	h.q.add("receipt", payload(t, sampleDoc(t)), time.Now())
	h.w.Wake()
	assert.True(t, recv(t, fake.Jobs(), "interrupted job").Interrupted)
	h.waitStatus(t, func(s printer.Status) bool { return !s.Online })
	fake.Replug()
	j := recv(t, fake.Jobs(), "reprint")
	assert.True(t, j.Confirmed)
	assert.True(t, isCopy(paperOf(t, j)))
	recv(t, h.q.printed, "printed")
}

// R3: a printer that hangs never blocks anyone but the worker.
func TestWorkerHungPrinterBlocksNobody(t *testing.T) {
	dialing := make(chan struct{})
	hang := func(ctx context.Context) (printer.Link, error) {
		close(dialing)
		<-ctx.Done() // a dial that never completes
		return printer.Link{}, ctx.Err()
	}
	h := startWorker(t, printer.WorkerConfig{Device: "tcp://192.0.2.1:9100"}, printer.WithOpener(hang))
	<-dialing
	for i := 0; i < 100; i++ {
		h.w.Wake()
		st := h.w.Status()
		assert.False(t, st.Online)
		assert.Equal(t, "tcp://192.0.2.1:9100", st.Device)
	}
	h.q.add("receipt", payload(t, sampleDoc(t)), time.Now()) // enqueuing never waits for the printer
	h.stop()
	none(t, h.q.printed, "printed without a printer")
}
