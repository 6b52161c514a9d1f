package e2e

// K2 (reliability.md C3): posd built with -tags crashpoints kills itself with
// SIGKILL at a named point of the money path (POSD_CRASH_AT). After a
// restart without the crash, the sale must be consistent: one sendInvoice,
// paid (or, crashed before the reference was stored, unknown and reversed
// by SEQR), one journal line per ersReference, at least one
// submitPaymentReceipt, and one printed receipt plus a reprint marked COPY
// only when the crash came in the middle of printing.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // read posd's print queue while posd is dead
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/test/harness"
)

var (
	k2BuildOnce sync.Once
	k2Built     harness.Binaries
	k2BuildErr  error
)

// k2Binaries builds posd with the crash points compiled in (and paysim)
// once per test binary. harness.Build builds without tags: production posd.
func k2Binaries(t *testing.T) harness.Binaries {
	t.Helper()
	k2BuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "posd-k2-bin-")
		if err != nil {
			k2BuildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-tags", "crashpoints", "-o", dir+string(filepath.Separator),
			"github.com/posd/posd/cmd/posd", "github.com/posd/posd/cmd/paysim")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			k2BuildErr = fmt.Errorf("go build -tags crashpoints: %w\n%s", err, out)
			return
		}
		k2Built = harness.Binaries{Posd: filepath.Join(dir, "posd"), Paysim: filepath.Join(dir, "paysim")}
	})
	require.NoError(t, k2BuildErr)
	return k2Built
}

// k2Case is one crash point and what the sale looks like when posd dies there.
type k2Case struct {
	point string
	// beforePaid: posd dies inside POST /v1/payments, before any poll; the
	// customer pays after the restart.
	beforePaid bool
}

func TestCrashPoints(t *testing.T) {
	bin := k2Binaries(t)
	for _, tc := range []k2Case{
		// The invoice was issued but its reference never stored: at the
		// restart posd finds it (SEQR's current invoice of the terminal,
		// matched by clientInvoiceId and amount) and the sale completes
		// instead of being reversed (issue 11 item 7).
		{point: register.CrashStartReply, beforePaid: true},
		{point: register.CrashStartCommitted, beforePaid: true},
		{point: register.CrashPaidSeen},
		{point: register.CrashRefCommitted},
		{point: register.CrashJournalAppended},
		{point: register.CrashPaidCommitted},
		{point: register.CrashTaskBefore},
		{point: register.CrashTaskAfter},
		{point: printer.CrashBeforeWrite},
		{point: printer.CrashAfterConfirm},
	} {
		t.Run(tc.point, func(t *testing.T) {
			t.Parallel()
			k2Run(t, bin, tc)
		})
	}
}

// k2PrintJob is the receipt's print job as posd left it when it died.
type k2PrintJob struct {
	exists   bool
	state    string // pending, printed, dropped
	attempts int
}

func (j k2PrintJob) String() string {
	if !j.exists {
		return "no print job"
	}
	return fmt.Sprintf("print job %s after %d attempt(s)", j.state, j.attempts)
}

// midPrint: the job was started (bytes may have reached the printer) but not
// recorded printed, so the restart must print it again, marked COPY.
func (j k2PrintJob) midPrint() bool { return j.exists && j.state == "pending" && j.attempts > 0 }

func k2Run(t *testing.T, bin harness.Binaries, tc k2Case) {
	ctx := context.Background()
	const seqrID = "K2TILL"
	stateDir := t.TempDir()
	printDir := t.TempDir()
	printerEnv := "POSD_PRINTER_DEVICE=virtual:" + printDir

	simProc, base, err := harness.StartPaysim(bin, "--reversal-window", "3s")
	require.NoError(t, err)
	t.Cleanup(func() {
		simProc.Kill()
		if t.Failed() {
			t.Logf("paysim output:\n%s", simProc.Out.String())
		}
	})
	sim := harness.NewSim(base)
	seqrURL := base + seqrsim.PathCashRegister2

	var procs []*harness.Proc
	t.Cleanup(func() {
		for i, p := range procs {
			p.Kill()
			if t.Failed() {
				t.Logf("posd run %d output:\n%s", i+1, p.Out.String())
			}
		}
	})
	posd, _, err := harness.StartPosd(bin, stateDir, seqrURL, "POSD_CRASH_AT="+tc.point, printerEnv)
	require.NoError(t, err)
	procs = append(procs, posd)
	api, err := harness.NewAPI(stateDir)
	require.NoError(t, err)
	require.NoError(t, harness.Setup(ctx, api, seqrID))

	// The sale. Crashing inside the request breaks the connection.
	var pay harness.PaymentDetail
	err = api.Do(ctx, "POST", "/v1/payments", harness.Sale("k2-"+tc.point, "42.00"),
		map[string]string{"Idempotency-Key": "k2-" + tc.point}, &pay)
	if tc.beforePaid {
		require.Error(t, err, "posd answered the payment request although it should have died at %s", tc.point)
	} else {
		require.NoError(t, err)
		require.Equal(t, "polling", pay.State, "error %q", pay.Error)
	}

	// The customer scans the till: SEQR shows the invoice sent.
	var waiting struct {
		InvoiceReference string `json:"invoiceReference"`
	}
	require.NoError(t, sim.Do(ctx, "POST", "/sim/seqr/scan", map[string]string{"seqrId": seqrID}, &waiting))
	ref := waiting.InvoiceReference
	require.NotEmpty(t, ref)
	if !tc.beforePaid {
		require.Equal(t, pay.InvoiceReference, ref)
		_, err := sim.Pay(ctx, ref, "paid")
		require.NoError(t, err)
	}

	// posd must die at the point, by its own SIGKILL.
	select {
	case <-posd.Exited():
	case <-time.After(20 * time.Second):
		t.Fatalf("posd did not die at crash point %s within 20 s", tc.point)
	}
	ws, ok := posd.Cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "posd exited with %s, want killed by SIGKILL", posd.Cmd.ProcessState)
	require.Contains(t, posd.Out.String(), `"register ready"`, "posd died before it was ready")

	job := k2ReadPrintJob(t, filepath.Join(stateDir, "posd.db"))
	before := k2Receipts(t, printDir)
	t.Logf("posd killed at %s; %s; %d receipt(s) printed before the crash", tc.point, job, len(before))

	// Restart without the crash point.
	posd, startup, err := harness.StartPosd(bin, stateDir, seqrURL, printerEnv)
	require.NoError(t, err)
	procs = append(procs, posd)
	t.Logf("restarted: READY after %s", startup.Round(time.Millisecond))
	api, err = harness.NewAPI(stateDir)
	require.NoError(t, err)

	list, err := api.Payments(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1, "one payment")
	id := list[0].ID
	if tc.beforePaid {
		// The customer pays once posd runs again (the reversal window is 3 s).
		_, err := sim.Pay(ctx, ref, "paid")
		require.NoError(t, err)
	}

	sent, err := sim.CallLog(ctx, "sendInvoice", "")
	require.NoError(t, err)

	var p harness.PaymentDetail
	require.NoError(t, harness.WaitFor(ctx, 15*time.Second, func() (bool, error) {
		p = harness.PaymentDetail{}
		err := api.Do(ctx, "GET", "/v1/payments/"+id, nil, nil, &p)
		return p.State == "paid", err
	}), "the payment recorded paid after the restart; it is %s (error %q)", p.State, p.Error)
	ers := p.ERSReference
	require.NotEmpty(t, ers)
	assert.Equal(t, ref, p.InvoiceReference)

	inv, err := sim.Invoice(ctx, ref)
	require.NoError(t, err)
	assert.Equal(t, "PAID", inv.Status)
	assert.False(t, inv.Reversed, "SEQR reversed the payment")
	assert.Equal(t, ers, inv.ERSReference)
	assert.Len(t, sent, 1, "exactly one sendInvoice")

	// At least one submitPaymentReceipt per PAID (the outbox resends after a crash).
	require.NoError(t, harness.WaitFor(ctx, 15*time.Second, func() (bool, error) {
		inv, err := sim.Invoice(ctx, ref)
		return inv.Receipts >= 1, err
	}), "submitPaymentReceipt accepted by SEQR")
	submits, err := sim.CallLog(ctx, "submitPaymentReceipt", "")
	require.NoError(t, err)
	assert.NotEmpty(t, submits)

	// One journal line per ersReference.
	posts, err := api.Journal(ctx, 0)
	require.NoError(t, err)
	require.Len(t, posts, 1, "one transaction post")
	assert.Equal(t, ers, posts[0].Reference)
	assert.Equal(t, id, posts[0].PaymentID)
	assert.Equal(t, 1, countLines(t, filepath.Join(stateDir, "receipts.journal"), ers))
	k2VerifyJournal(t, bin, stateDir)

	// One printed receipt, and a COPY only for a crash mid-print.
	k2WaitPrintQueue(t, api)
	all := k2Receipts(t, printDir)
	after := all[len(before):]
	var originals, copies int
	for _, r := range all {
		assert.Contains(t, r.text, ers, "%s is the receipt of this sale", r.name)
		if r.copy {
			copies++
		} else {
			originals++
		}
	}
	t.Logf("receipts: %d before the crash, %d after; %d original, %d COPY", len(before), len(after), originals, copies)
	assert.LessOrEqual(t, originals, 1, "never two original receipts")
	switch {
	case job.midPrint():
		// Started, not recorded printed: printed again, marked COPY.
		require.Len(t, after, 1, "one reprint after the restart")
		assert.True(t, after[0].copy, "the reprint after a crash mid-print is marked COPY")
		assert.LessOrEqual(t, len(before), 1)
	case job.exists && job.state == "printed":
		assert.Len(t, before, 1)
		assert.Empty(t, after, "nothing printed again")
	default:
		assert.Empty(t, before)
		require.Len(t, after, 1, "one receipt after the restart")
		assert.False(t, after[0].copy, "the first print of a receipt is not a copy")
	}
	switch tc.point {
	case printer.CrashBeforeWrite:
		assert.Equal(t, k2PrintJob{exists: true, state: "pending"}, job, "nothing sent to the printer yet")
	case printer.CrashAfterConfirm:
		assert.True(t, job.midPrint(), "the confirmed job was not recorded printed: %s", job)
		assert.Len(t, before, 1, "the printer printed the receipt before the crash")
	case register.CrashPaidSeen, register.CrashRefCommitted, register.CrashJournalAppended:
		assert.False(t, job.exists, "no print job before the paid commit")
	}
}

// k2ReadPrintJob reads the receipt's print job from posd's database while
// posd is dead (read-only; the crash left the WAL and its index behind).
func k2ReadPrintJob(t *testing.T, dbPath string) k2PrintJob {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	var j k2PrintJob
	err = db.QueryRow(`SELECT state, attempts FROM print_jobs WHERE kind = 'receipt' ORDER BY id LIMIT 1`).Scan(&j.state, &j.attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return k2PrintJob{}
	}
	require.NoError(t, err)
	j.exists = true
	return j
}

type k2Receipt struct {
	name string
	text string
	copy bool
}

var k2JobFile = regexp.MustCompile(`^job-(\d+)\.txt$`)

// k2Receipts lists the virtual printer's jobs in print order.
func k2Receipts(t *testing.T, dir string) []k2Receipt {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	type numbered struct {
		n int
		r k2Receipt
	}
	var jobs []numbered
	for _, e := range entries {
		m := k2JobFile.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		var n int
		_, err := fmt.Sscan(m[1], &n)
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		text := string(b)
		jobs = append(jobs, numbered{n, k2Receipt{name: e.Name(), text: text, copy: k2IsCopy(text)}})
	}
	slices.SortFunc(jobs, func(a, b numbered) int { return a.n - b.n })
	out := make([]k2Receipt, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, j.r)
	}
	return out
}

// k2IsCopy: the COPY mark is printed double width, which the text
// rendering spreads out ("K O P I A / C O P Y").
func k2IsCopy(text string) bool {
	return strings.Contains(strings.ReplaceAll(text, " ", ""), "KOPIA/COPY")
}

// k2WaitPrintQueue waits until the print worker has nothing left to print.
func k2WaitPrintQueue(t *testing.T, api *harness.API) {
	t.Helper()
	ctx := context.Background()
	var st struct {
		Printer *struct {
			Online bool `json:"online"`
			Queued int  `json:"queued"`
		} `json:"printer"`
	}
	require.NoError(t, harness.WaitFor(ctx, 15*time.Second, func() (bool, error) {
		err := api.Do(ctx, "GET", "/v1/status", nil, nil, &st)
		return err == nil && st.Printer != nil && st.Printer.Online && st.Printer.Queued == 0, err
	}), "the print queue to drain")
}

func k2VerifyJournal(t *testing.T, bin harness.Binaries, stateDir string) {
	t.Helper()
	out, err := exec.Command(bin.Posd, "journal", "verify", "--file", filepath.Join(stateDir, "receipts.journal")).CombinedOutput()
	require.NoError(t, err, "posd journal verify: %s", out)
}
