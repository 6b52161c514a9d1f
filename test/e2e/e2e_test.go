package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/test/harness"
	"github.com/stretchr/testify/require"
)

var (
	buildOnce sync.Once
	built     harness.Binaries
	buildErr  error
)

// binaries builds posd and paysim once per test binary.
func binaries(t *testing.T) harness.Binaries {
	t.Helper()
	buildOnce.Do(func() {
		var dir string
		dir, buildErr = os.MkdirTemp("", "posd-e2e-bin-")
		if buildErr == nil {
			built, buildErr = harness.Build(context.Background(), dir)
		}
	})
	require.NoError(t, buildErr)
	return built
}

func startPaysim(t *testing.T, bin harness.Binaries) *harness.Sim {
	t.Helper()
	p, base, err := harness.StartPaysim(bin)
	require.NoError(t, err)
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("paysim output:\n%s", p.Out.String())
		}
	})
	return harness.NewSim(base)
}

func startPosd(t *testing.T, bin harness.Binaries, stateDir, seqrURL string) *harness.Proc {
	t.Helper()
	p, _, err := harness.StartPosd(bin, stateDir, seqrURL)
	require.NoError(t, err)
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("posd output (pid %d):\n%s", p.Cmd.Process.Pid, p.Out.String())
		}
	})
	return p
}

// TestKillDuringPolling is issue 3's end-to-end test: kill -9 posd while it
// polls an open invoice, let the customer pay while posd is down, restart it,
// and check that the first poll comes within 2 s of the restart (SEQR
// reverses payments not polled within 20 s), that exactly one sendInvoice was
// sent, that the payment is recorded paid once, and that the receipt file
// holds exactly one post for it.
func TestKillDuringPolling(t *testing.T) {
	ctx := context.Background()
	bin := binaries(t)
	sim := startPaysim(t, bin)
	seqrURL := sim.Base + seqrsim.PathCashRegister2
	stateDir := t.TempDir()

	p := startPosd(t, bin, stateDir, seqrURL)
	api, err := harness.NewAPI(stateDir)
	require.NoError(t, err)
	const seqrID = "E2ETILL1"
	require.NoError(t, harness.Setup(ctx, api, seqrID))

	const runs = 3
	for i := range runs {
		var pay harness.Payment
		require.NoError(t, api.Do(ctx, "POST", "/v1/payments", harness.Sale(fmt.Sprintf("sale-%d", i), "25.00"),
			map[string]string{"Idempotency-Key": fmt.Sprintf("e2e-kill-%d", i)}, &pay))
		require.NoError(t, harness.WaitFor(ctx, 10*time.Second, func() (bool, error) {
			err := api.Do(ctx, "GET", "/v1/payments/"+pay.ID, nil, nil, &pay)
			return pay.InvoiceReference != "", err
		}), "an invoice reference")
		ref := pay.InvoiceReference

		// Let it poll a varying number of times, then kill it mid-window.
		polls := 1 + 2*i
		require.NoError(t, harness.WaitFor(ctx, 15*time.Second, func() (bool, error) {
			c, err := sim.Calls(ctx, "getPaymentStatus", ref)
			return len(c) >= polls, err
		}), "polls before the kill")
		p.Kill()

		// The customer scans the till and pays while posd is down.
		require.NoError(t, sim.Do(ctx, "POST", "/sim/seqr/scan", map[string]string{"seqrId": seqrID}, nil))
		require.NoError(t, sim.Do(ctx, "POST", "/sim/seqr/pay", map[string]string{"invoiceReference": ref, "outcome": "paid"}, nil))

		p = startPosd(t, bin, stateDir, seqrURL)
		api, err = harness.NewAPI(stateDir)
		require.NoError(t, err)

		require.NoError(t, harness.WaitFor(ctx, 15*time.Second, func() (bool, error) {
			err := api.Do(ctx, "GET", "/v1/payments/"+pay.ID, nil, nil, &pay)
			return pay.State == "paid", err
		}), "the payment to be recorded paid")
		require.NotEmpty(t, pay.ERSReference)

		polled, err := sim.Calls(ctx, "getPaymentStatus", ref)
		require.NoError(t, err)
		var first time.Time
		for _, c := range polled {
			if c.Time.After(p.Started) {
				first = c.Time
				break
			}
		}
		require.False(t, first.IsZero(), "no poll after the restart")
		t.Logf("run %d: killed after %d polls; first poll %s after the restart", i+1, polls, first.Sub(p.Started).Round(time.Millisecond))
		require.Less(t, first.Sub(p.Started), 2*time.Second, "first poll after the restart (SEQR reverses unpolled payments after 20 s)")

		sent, err := sim.Calls(ctx, "sendInvoice", "")
		require.NoError(t, err)
		require.Len(t, sent, i+1, "exactly one sendInvoice per payment")

		var inv struct {
			Status   string `json:"status"`
			Reversed bool   `json:"reversed"`
		}
		require.NoError(t, sim.Do(ctx, "GET", "/sim/seqr/invoices/"+ref, nil, &inv))
		require.Equal(t, "PAID", inv.Status)
		require.False(t, inv.Reversed)

		require.Equal(t, 1, countLines(t, filepath.Join(stateDir, "receipts.journal"), pay.ERSReference),
			"one transaction post for %s", pay.ERSReference)
	}

	out, err := exec.Command(bin.Posd, "journal", "verify", "--file", filepath.Join(stateDir, "receipts.journal")).CombinedOutput()
	require.NoError(t, err, "posd journal verify: %s", out)
}

func countLines(t *testing.T, path, needle string) int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), needle) {
			n++
		}
	}
	require.NoError(t, sc.Err())
	return n
}
