package main

// Speed of posd as a product (issue 4): start to READY with an empty and a
// 100 000-payment database, idle RSS after start and after 1 000 payments.
//
//	CGO_ENABLED=1 go test -run='^$' -bench=. -benchtime=5x ./cmd/posd
//
// BenchmarkReady runs the daemon in-process (ns/op is start to READY);
// BenchmarkProcess runs the built binary as a child process, as systemd
// would, and reports READY time and VmRSS from /proc.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/posd/posd/internal/config"
	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/internal/store"
)

// seedState writes n paid payments (and their receipt-file posts) through
// the store and receipt APIs into dir. It seeds in /dev/shm when it can:
// every write is fsynced and 100 000 of them on a disk take minutes.
func seedState(b *testing.B, n int) string {
	b.Helper()
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "posd-seed-")
	require.NoError(b, err)
	b.Cleanup(func() { os.RemoveAll(dir) })
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "posd.db"), store.Options{})
	require.NoError(b, err)
	j, _, err := receipt.OpenJournal(filepath.Join(dir, "receipts.journal"), time.Now)
	require.NoError(b, err)
	rows := []byte(`[{"description":"Kaffe","quantity":"1","unitPrice":"20.00","totalAmount":"20.00","taxRate":"12"}]`)
	paidAt := time.Now().Add(-24 * time.Hour)
	for i := range n {
		id := fmt.Sprintf("%032x", i+1)
		ers := fmt.Sprintf("2026112100%015d", i+1)
		p := store.Payment{
			ID: id, IdempotencyKey: "seed-" + id, RequestHash: "seed", Provider: "seqr", Method: "seqr", State: string(register.StatePaid),
			Amount: money.MustParse("20.00"), Currency: "SEK", ReceiptTotal: money.MustParse("20.00"), Balancing: "none",
			SaleID: "s" + id[24:], CashierID: "bench", Title: "Bench", RowsJSON: rows,
			SessionRef: fmt.Sprintf("R%015d", i+1), TransactionRef: ers, MethodName: "SEQR", Window: 1, PaidAt: paidAt,
		}
		_, _, err := db.CreatePayment(ctx, p, store.Audit{Actor: "bench", Event: "seed", Outcome: "success", Origin: "bench"})
		require.NoError(b, err)
		_, err = j.Append(receipt.Post{Time: paidAt, PaymentID: id, Kind: "payment", Text: "SEQR payment",
			Amount: p.Amount, Currency: "SEK", Provider: "seqr", Reference: ers})
		require.NoError(b, err)
	}
	require.NoError(b, j.Close())
	require.NoError(b, db.Close())
	return dir
}

// copyState copies a seeded state dir (database and receipt file) into a fresh one.
func copyState(b *testing.B, from string) string {
	b.Helper()
	to := b.TempDir()
	entries, err := os.ReadDir(from)
	require.NoError(b, err)
	for _, e := range entries {
		in, err := os.ReadFile(filepath.Join(from, e.Name()))
		require.NoError(b, err)
		require.NoError(b, os.WriteFile(filepath.Join(to, e.Name()), in, 0o600))
	}
	return to
}

func benchSim(b *testing.B) (*seqrsim.Sim, string) {
	b.Helper()
	sim := seqrsim.New(seqrsim.Options{})
	ts := httptest.NewServer(sim.Handler())
	b.Cleanup(ts.Close)
	return sim, ts.URL + seqrsim.PathCashRegister2
}

// BenchmarkReady: from Main.Run to READY=1 (migrations or schema check,
// quick_check, receipt file load, recovery, listener), in-process.
func BenchmarkReady(b *testing.B) {
	_, seqrURL := benchSim(b)
	for _, n := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("payments=%d", n), func(b *testing.B) {
			seed := ""
			if n > 0 {
				seed = seedState(b, n)
			}
			b.ResetTimer()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				if seed != "" {
					dir = copyState(b, seed)
				}
				cfg, err := config.Load(config.Source{Overrides: map[string]string{
					"state_dir": dir, "api.listen": "127.0.0.1:0", "providers.seqr.url": seqrURL,
				}})
				require.NoError(b, err)
				m := NewMain(cfg, zap.NewNop())
				m.Notify = func(string) {}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				b.StartTimer()
				start := time.Now()
				go func() { done <- m.Run(ctx) }()
				select {
				case <-m.Ready():
				case err := <-done:
					b.Fatalf("posd stopped: %v", err)
				}
				total += time.Since(start)
				b.StopTimer()
				cancel()
				require.NoError(b, <-done)
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-ready")
		})
	}
}

// child is a posd serve process.
type child struct {
	cmd   *exec.Cmd
	addr  string
	ready time.Duration
	token string
}

func buildPosd(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "posd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(b, err, "go build: %s", out)
	fi, err := os.Stat(bin)
	require.NoError(b, err)
	b.ReportMetric(float64(fi.Size())/1e6, "binary-MB")
	return bin
}

func freePort(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	addr := ln.Addr().String()
	require.NoError(b, ln.Close())
	return addr
}

// startChild starts `posd serve` and waits for READY=1 on its NOTIFY_SOCKET.
func startChild(b *testing.B, bin, stateDir, seqrURL string) *child {
	b.Helper()
	sockDir, err := os.MkdirTemp("", "sd")
	require.NoError(b, err)
	b.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	require.NoError(b, err)
	defer conn.Close()
	cfgFile := filepath.Join(b.TempDir(), "posd.yaml")
	require.NoError(b, os.WriteFile(cfgFile, nil, 0o600))
	addr := freePort(b)
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "NOTIFY_SOCKET=" + sock, "POSD_CONFIG=" + cfgFile,
		"POSD_STATE_DIR=" + stateDir, "POSD_API_LISTEN=" + addr, "POSD_PROVIDERS_SEQR_URL=" + seqrURL,
		"POSD_LOG_FORMAT=json", "POSD_LOG_LEVEL=warn",
		// The fastest allowed poll, so 1 000 sequential payments take minutes, not a quarter hour.
		"POSD_SEQR_POLL_INTERVAL=100ms",
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	require.NoError(b, cmd.Start())
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	require.NoError(b, conn.SetReadDeadline(time.Now().Add(60*time.Second)))
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		require.NoError(b, err, "no READY=1: %s", stderr.String())
		if strings.HasPrefix(string(buf[:n]), "READY=1") {
			break
		}
	}
	c := &child{cmd: cmd, addr: addr, ready: time.Since(start)}
	tok, err := config.ReadSecret(filepath.Join(stateDir, "api-token"))
	require.NoError(b, err)
	c.token = tok.Reveal()
	return c
}

// rssMB is the child's resident set size from /proc/<pid>/status.
func rssMB(b *testing.B, pid int) float64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			require.NoError(b, err)
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// idle lets the process settle (GC, idle loops) before reading its RSS: a
// measurement pause, not synchronisation.
func idle() { <-time.After(2 * time.Second) }

// BenchmarkProcess: the built binary under a fake systemd: READY time (empty
// and 100 000 payments), idle RSS after start and after 1 000 payments
// taken through the local API and paid by the emulated customer.
func BenchmarkProcess(b *testing.B) {
	bin := buildPosd(b)
	sim, seqrURL := benchSim(b)

	// The framework runs each sub-benchmark more than once (b.N = 1, then
	// the -benchtime count); the 1 000 payments are taken in the first run only.
	rss1000 := 0.0
	b.Run("empty", func(b *testing.B) {
		var ready time.Duration
		var rssStart float64
		for i := 0; i < b.N; i++ {
			c := startChild(b, bin, b.TempDir(), seqrURL)
			ready += c.ready
			idle()
			rssStart += rssMB(b, c.cmd.Process.Pid)
			if rss1000 == 0 {
				payMany(b, c, sim, 1000)
				idle()
				rss1000 = rssMB(b, c.cmd.Process.Pid)
			}
			require.NoError(b, c.cmd.Process.Signal(os.Interrupt))
			require.NoError(b, c.cmd.Wait())
		}
		b.ReportMetric(float64(ready.Microseconds())/1000/float64(b.N), "ms-to-ready")
		b.ReportMetric(rssStart/float64(b.N), "rss-idle-MB")
		b.ReportMetric(rss1000, "rss-after-1000-MB")
	})
	b.Run("payments=100000", func(b *testing.B) {
		seed := seedState(b, 100_000)
		var ready time.Duration
		var rss float64
		for i := 0; i < b.N; i++ {
			c := startChild(b, bin, copyState(b, seed), seqrURL)
			ready += c.ready
			idle()
			rss += rssMB(b, c.cmd.Process.Pid)
			require.NoError(b, c.cmd.Process.Signal(os.Interrupt))
			require.NoError(b, c.cmd.Wait())
		}
		b.ReportMetric(float64(ready.Microseconds())/1000/float64(b.N), "ms-to-ready")
		b.ReportMetric(rss/float64(b.N), "rss-idle-MB")
	})
}

// payMany registers the till and takes n payments one after the other (a
// till has one invoice at a time), each paid by the emulated customer as
// soon as its invoice is out.
func payMany(b *testing.B, c *child, sim *seqrsim.Sim, n int) {
	b.Helper()
	ctx := context.Background()
	ac := newAPIClientToken(c.addr, c.token)
	_, err := ac.RegisterTerminal(ctx, register.RegisterTerminalRequest{
		ResellerID: seqrsim.TestResellerID, ResellerUserID: seqrsim.TestResellerUserID, ResellerPassword: seqrsim.TestResellerPassword,
		ExternalTerminalID: "bench", Name: "bench"})
	require.NoError(b, err)
	// Each till needs its own SEQR id in the emulator.
	seqrID := fmt.Sprintf("BENCH%d", time.Now().UnixNano())
	_, err = ac.AssignSeqrID(ctx, seqrID)
	require.NoError(b, err)
	for range n {
		require.NoError(b, payOne(ctx, ac, sim))
	}
}

func payOne(ctx context.Context, ac *apiClient, sim *seqrsim.Sim) error {
	p, err := createPayment(ctx, ac, payOptions{amount: money.MustParse("20.00"), title: "Bench", cashier: "bench", currency: "SEK"})
	if err != nil {
		return err
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	paid := false
	for range 1000 {
		if p.State == register.StatePaid {
			return nil
		}
		if p.InvoiceReference != "" && !paid {
			if _, err := sim.PayInvoice(p.InvoiceReference, seqrsim.OutcomePaid); err != nil {
				return err
			}
			paid = true
		}
		<-tick.C
		if p, err = ac.Payment(ctx, p.ID); err != nil {
			return err
		}
	}
	return fmt.Errorf("payment %s still %s", p.ID, p.State)
}
