// Command connbench measures issue 9 item 2 on the real binaries: posd and
// paysim as processes, posd's API on TCP loopback, one SEQR payment open
// (polling every second), then
//
//  1. 20 000 connections that send one GET /healthz without the token and
//     then sit idle (held by worker processes, so the bench stays under
//     the machine's open-file limit), and
//  2. 1 000 event streams of that payment whose clients never read,
//
// while it probes GET /healthz on fresh connections. It reports posd's
// RSS (VmRSS now, VmHWM the peak), /healthz p50/p99, the payment's
// getPaymentStatus interval p50/p99 as the emulator saw it, and how long
// until a stream slot held by a client that stopped reading is free again.
//
//	go run ./bench/connbench                  # builds posd and paysim
//	go run ./bench/connbench -idle 20000 -streams 1000 -workers 2
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/test/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	var err error
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		err = worker(ctx, os.Args[2:], os.Stdout)
	} else {
		err = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "connbench:", err)
		os.Exit(1)
	}
}

type config struct {
	idle, streams, workers int
	slotWait               time.Duration
	bin                    harness.Binaries
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := config{}
	fs := flag.NewFlagSet("connbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.idle, "idle", 20000, "idle connections without the token (held by worker processes)")
	fs.IntVar(&c.streams, "streams", 1000, "event streams whose clients never read")
	fs.IntVar(&c.workers, "workers", 2, "worker processes holding the idle connections (each needs an fd per connection)")
	fs.DurationVar(&c.slotWait, "slot-wait", 5*time.Minute, "how long to wait for a stream slot held by a non-reader to free")
	fs.StringVar(&c.bin.Posd, "posd", "", "posd binary (default: go build)")
	fs.StringVar(&c.bin.Paysim, "paysim", "", "paysim binary (default: go build)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		fmt.Fprintf(stdout, "open-file limit (RLIMIT_NOFILE): soft %d hard %d; raising the hard limit needs CAP_SYS_RESOURCE, so %d idle connections are spread over %d workers\n",
			lim.Cur, lim.Max, c.idle, c.workers)
	}
	if c.bin.Posd == "" || c.bin.Paysim == "" {
		dir, err := os.MkdirTemp("", "connbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if c.bin, err = harness.Build(ctx, dir); err != nil {
			return err
		}
	}
	simProc, base, err := harness.StartPaysim(c.bin)
	if err != nil {
		return err
	}
	defer simProc.Kill()
	sim := harness.NewSim(base)

	stateDir, err := os.MkdirTemp("", "connbench-state-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)
	addr, err := freePort()
	if err != nil {
		return err
	}
	posd, _, err := harness.StartPosd(c.bin, stateDir, base+seqrsim.PathCashRegister2, "POSD_API_LISTEN="+addr)
	if err != nil {
		return err
	}
	defer posd.Stop(5 * time.Second)
	pid := posd.Cmd.Process.Pid
	tok, err := os.ReadFile(filepath.Join(stateDir, "api-token"))
	if err != nil {
		return err
	}
	api := harness.NewAPIAt(addr, strings.TrimSpace(string(tok)))
	if err := harness.Setup(ctx, api, "CONNBENCH"); err != nil {
		return err
	}
	var p harness.Payment
	if err := api.Do(ctx, "POST", "/v1/payments", harness.Sale("connbench-1", "10.00"), map[string]string{"Idempotency-Key": "connbench-1"}, &p); err != nil {
		return fmt.Errorf("create payment: %w", err)
	}
	if err := harness.WaitFor(ctx, 15*time.Second, func() (bool, error) {
		err := api.Do(ctx, "GET", "/v1/payments/"+p.ID, nil, nil, &p)
		return p.InvoiceReference != "", err
	}); err != nil {
		return fmt.Errorf("payment %s never polled: %w", p.ID, err)
	}
	fmt.Fprintf(stdout, "posd pid %d on %s; payment %s open (%s)\n", pid, addr, p.ID, p.InvoiceReference)

	report := func(phase string, lat []time.Duration, failed int) {
		rss, hwm := rssOf(pid)
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		fmt.Fprintf(stdout, "%-44s RSS %5.1f MB peak %5.1f MB, %4d fds | /healthz p50 %s p99 %s max %s (%d probes, %d failed)\n",
			phase, rss, hwm, len(fds), pct(lat, 50), pct(lat, 99), pct(lat, 100), len(lat), failed)
	}
	lat, failed := probe(ctx, addr, 5*time.Second)
	report("baseline", lat, failed)
	lat, failed = probeKeepAlive(ctx, addr, 5*time.Second)
	report("  the same, keep-alive probe", lat, failed)

	// Phase 1: idle connections without the token, held by workers.
	start := time.Now()
	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	probed := make(chan struct{})
	go func() {
		lat, failed = probe(probeCtx, addr, 0)
		close(probed)
	}()
	var workers []*exec.Cmd
	var dialed, dialFailed atomic.Int64
	var wg sync.WaitGroup
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for i := range c.workers {
		n := c.idle / c.workers
		if i == 0 {
			n += c.idle % c.workers
		}
		cmd := exec.CommandContext(ctx, self, "worker", "-addr", addr, "-n", strconv.Itoa(n))
		cmd.Stderr = stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		workers = append(workers, cmd)
		wg.Go(func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var ok, bad int64
				if _, err := fmt.Sscanf(sc.Text(), "dialed %d failed %d", &ok, &bad); err == nil {
					dialed.Add(ok)
					dialFailed.Add(bad)
					return
				}
			}
		})
	}
	defer func() {
		for _, w := range workers {
			_ = w.Process.Signal(syscall.SIGTERM)
			_ = w.Wait()
		}
	}()
	wg.Wait()
	fmt.Fprintf(stdout, "idle flood: %d connections opened (%d dial errors) in %s; workers keep them open\n",
		dialed.Load(), dialFailed.Load(), time.Since(start).Round(time.Millisecond))
	stopProbe()
	<-probed
	report("while the flood was dialed", lat, failed)
	// The last few thousand flood connections still wait in the kernel's
	// accept queue (FIFO: a probe waits behind them) and the last 256 that
	// posd holds idle until the 5 s tokenless idle timeout: measure after.
	lat, failed = probe(ctx, addr, 8*time.Second)
	report("the 8 s after (20 000 still open client-side)", lat, failed)
	lat, failed = probe(ctx, addr, 5*time.Second)
	report("settled, flood still held client-side", lat, failed)
	lat, failed = probeKeepAlive(ctx, addr, 5*time.Second)
	report("  the same, keep-alive probe", lat, failed)

	// Phase 2: streams whose clients never read.
	streamStart := time.Now()
	var nonReaders []net.Conn
	var streamErrs int
	for range c.streams {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			streamErrs++
			continue
		}
		nonReaders = append(nonReaders, conn)
		if _, err := fmt.Fprintf(conn, "GET /v1/payments/%s/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n\r\n", p.ID, api.Token); err != nil {
			streamErrs++
		}
	}
	defer func() {
		for _, c := range nonReaders {
			c.Close()
		}
	}()
	fmt.Fprintf(stdout, "streams: %d non-reading stream requests sent (%d errors) in %s\n", len(nonReaders), streamErrs, time.Since(streamStart).Round(time.Millisecond))
	lat, failed = probe(ctx, addr, 5*time.Second)
	report("1 000 non-reading streams open", lat, failed)
	lat, failed = probeKeepAlive(ctx, addr, 5*time.Second)
	report("  the same, keep-alive probe", lat, failed)

	// How long until a reading client gets a stream again: the slots held
	// by non-readers must be freed by the server.
	slotFree := time.Duration(-1)
	deadline := time.Now().Add(c.slotWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		code, err := streamStatus(ctx, addr, api.Token, p.ID)
		if err == nil && code == http.StatusOK {
			slotFree = time.Since(streamStart)
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	if slotFree < 0 {
		fmt.Fprintf(stdout, "stream slots: still all held by non-readers after %s\n", c.slotWait)
	} else {
		fmt.Fprintf(stdout, "stream slots: a reading client got a stream %s after the non-readers connected\n", slotFree.Round(time.Second))
	}
	lat, failed = probe(ctx, addr, 5*time.Second)
	report("end", lat, failed)

	// The poll cadence of the open payment over the whole run.
	calls, err := sim.CallLog(ctx, "getPaymentStatus", p.InvoiceReference)
	if err != nil {
		return fmt.Errorf("call log: %w", err)
	}
	var gaps []time.Duration
	for i := 1; i < len(calls); i++ {
		gaps = append(gaps, calls[i].Time.Sub(calls[i-1].Time))
	}
	fmt.Fprintf(stdout, "poll cadence over %d polls: p50 %s p99 %s max %s\n", len(calls), pct(gaps, 50), pct(gaps, 99), pct(gaps, 100))
	return nil
}

// probe sends GET /healthz on a fresh connection every 10 ms until ctx ends
// or, when d > 0, for d; it returns each latency and the number of failures.
func probe(ctx context.Context, addr string, d time.Duration) ([]time.Duration, int) {
	return probeWith(ctx, addr, d, &http.Transport{DisableKeepAlives: true})
}

// probeKeepAlive is probe on one kept-alive connection, as a front end
// talks to posd: no connect per request. (With 20 000 connections open
// client-side, connect itself is slow: the kernel searches the few free
// ephemeral ports left.)
func probeKeepAlive(ctx context.Context, addr string, d time.Duration) ([]time.Duration, int) {
	return probeWith(ctx, addr, d, &http.Transport{})
}

func probeWith(ctx context.Context, addr string, d time.Duration, tr *http.Transport) ([]time.Duration, int) {
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	var lat []time.Duration
	failed := 0
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return lat, failed
		case <-t.C:
		}
		start := time.Now()
		resp, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			if ctx.Err() == nil {
				failed++
			}
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			failed++
			continue
		}
		lat = append(lat, time.Since(start))
	}
}

// streamStatus opens a stream as a reading client and returns its status.
func streamStatus(ctx context.Context, addr, token, id string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/v1/payments/"+id+"/events", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// worker holds n connections that each sent GET /healthz without a token,
// until it is told to stop. It never reads: an attacker need not.
func worker(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	addr := fs.String("addr", "", "posd's address")
	n := fs.Int("n", 0, "connections")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conns := make([]net.Conn, 0, *n)
	failed := 0
	for range *n {
		c, err := net.DialTimeout("tcp", *addr, 5*time.Second)
		if err != nil {
			failed++
			if errors.Is(err, syscall.EMFILE) {
				break
			}
			continue
		}
		conns = append(conns, c)
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	}
	fmt.Fprintf(stdout, "dialed %d failed %d\n", len(conns), failed)
	<-ctx.Done()
	for _, c := range conns {
		c.Close()
	}
	return nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// rssOf reads VmRSS and VmHWM (peak) of pid, in MB.
func rssOf(pid int) (rss, hwm float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)].Round(10 * time.Microsecond)
}
