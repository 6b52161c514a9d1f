// Command gen writes the upgrade fixture, test/upgrade/testdata/v1-state:
// the state directory of a posd built from the code it is run with, after
// real sales driven through posd's local API and paysim's control API.
//
//	go run ./test/upgrade/gen [-out test/upgrade/testdata/v1-state]
//
// It builds posd and paysim, runs posd twice (the second start also exercises
// recovery), and leaves one payment of each kind: paid (one partly refunded),
// canceled by the cashier, rejected by the customer, failed, unknown without
// and with an invoice reference, and one still polling when posd is stopped
// with SIGTERM (during a SEQR outage, so that the polls settle neither it
// nor the unknown one); the first period is closed. It then checkpoints the WAL,
// checks that the database alone holds what the API showed, and copies
// posd.db, receipts.journal and api-token with EXPECTED.json to -out.
//
// Run it only to cut a new baseline: the fixture is what an older posd left
// behind, and the upgrade test must pass on it unchanged.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	out := fs.String("out", "test/upgrade/testdata/v1-state", "fixture directory to (re)write")
	keep := fs.Bool("keep", false, "keep the work directory (binaries, state, printer output) for inspection")
	if err := fs.Parse(args); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "posd-upgrade-gen-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	if *keep {
		fmt.Fprintln(stdout, "work directory:", work)
	} else {
		defer os.RemoveAll(work)
	}
	g, err := newGen(ctx, work, stdout)
	if err != nil {
		return err
	}
	defer g.close()
	exp, err := g.generate()
	if err != nil {
		return err
	}
	return g.writeFixture(exp, *out)
}
