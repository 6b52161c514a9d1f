package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/posd/posd/internal/payson/paysonsim"
	"github.com/posd/posd/internal/simctl"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// addPayson builds the Payson emulator on the emulators' shared clock, call
// log and faults, and puts it in front of h: its /2.0/ paths must reach it
// before ServeMux would redirect the .NET SDK's "/2.0//checkouts".
func addPayson(clock *simctl.Clock, calls *simctl.CallLog, faults *simctl.Faults, log *zap.Logger, h *http.Handler) *paysonsim.Sim {
	sim := paysonsim.New(paysonsim.Options{Clock: clock, Calls: calls, Faults: faults, Logger: log})
	*h = sim.Wrap(*h)
	return sim
}

// paysonLines prints the Payson emulator's start-up lines.
func paysonLines(w io.Writer, base string) {
	fmt.Fprintf(w, "  Payson REST      %s/2.0/  (Accounts, Checkouts; paths and keys in any case)\n", base)
	fmt.Fprintf(w, "  Payson control   %s/sim/payson/checkouts/{id}/{pay,expire}  snippet page %s/sim/payson/checkout?id={id}  clock %s/sim/clock/advance\n", base, base, base)
	fmt.Fprintf(w, "  Payson agent     %s, API key %s\n", paysonsim.TestAgentID, paysonsim.TestAPIKey)
}

// run runs serve beside the emulators' own loops (Payson's notifier,
// Resurs's callbacks, both emulators' delayed rules) until ctx ends or
// serve fails.
func (e *emulators) run(ctx context.Context, serve func(context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return e.payson.Run(gctx) })
	g.Go(func() error { return e.resurs.Run(gctx) })
	g.Go(func() error { return serve(gctx) })
	return g.Wait()
}
