// Command faultbench runs reliability.md C2 N5 on the real binaries: posd and
// paysim as processes over loopback, N SEQR payments in a row while paysim
// drops or resets a share of every SEQR call (half of them after running
// the operation, so the request took effect but posd never hears it), with a
// simulated customer. It prints the counts and the invariant check
//
//	PAID-and-not-reversed at the emulator == paid in posd == journal posts
//
// and exits non-zero on any violation.
//
//	go run ./bench/faultbench                          # 1000 payments, ~30 min
//	go run ./bench/faultbench -payments 300 -seed 7    # a failing seed replays the same fault draws for the customer
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/posd/posd/bench/faultbench/faultmix"
	"github.com/posd/posd/test/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg faultmix.Config
	fs := flag.NewFlagSet("faultbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Payments, "payments", 1000, "payments in a row")
	fs.Float64Var(&cfg.FailureRate, "failure-rate", 0.5, "share of SEQR calls dropped or reset (0..1)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the customer's choices (0: from the clock; paysim draws its own faults)")
	fs.Float64Var(&cfg.PayRate, "pay", 0.85, "share of customers who pay at once")
	fs.Float64Var(&cfg.LateRate, "late", 0.05, "share who pay just as the window ends (racing the cancel)")
	fs.Float64Var(&cfg.RejectRate, "reject", 0.05, "share who reject on the phone (the rest walk away)")
	fs.DurationVar(&cfg.DropLatency, "drop-latency", 0, "hold a dropped call this long before closing it")
	fs.DurationVar(&cfg.ReversalWindow, "reversal-window", 20*time.Second, "paysim: an unpolled PAID is reversed after this")
	fs.DurationVar(&cfg.Window, "window", 5*time.Second, "posd: seqr.window (5s..5m)")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", time.Second, "posd: seqr.poll_interval")
	fs.IntVar(&cfg.ProgressEvery, "progress", 50, "print progress every N payments")
	fs.BoolVar(&cfg.KeepState, "keep-state", false, "keep posd's state directory")
	fs.StringVar(&cfg.Bin.Posd, "posd", "", "posd binary (default: go build)")
	fs.StringVar(&cfg.Bin.Paysim, "paysim", "", "paysim binary (default: go build)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.Payments <= 0 || cfg.FailureRate < 0 || cfg.FailureRate > 1 {
		return fmt.Errorf("-payments must be positive and -failure-rate within 0..1")
	}
	if cfg.FailureRate == 0 {
		cfg.FailureRate = 1e-9 // 0 means "default" to faultmix
	}
	if cfg.Bin.Posd == "" || cfg.Bin.Paysim == "" {
		dir, err := os.MkdirTemp("", "faultbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if cfg.Bin, err = harness.Build(ctx, dir); err != nil {
			return err
		}
	}
	cfg.Progress = stdout
	rep, err := faultmix.Run(ctx, cfg)
	if rep != nil {
		rep.Print(stdout)
	}
	if err != nil {
		return err
	}
	if n := len(rep.Violations); n > 0 {
		return fmt.Errorf("%d violations: %w", n, faultmix.ErrViolations)
	}
	return nil
}
