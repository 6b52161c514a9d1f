// Command paysim serves posd's payment-provider emulators on one port: the
// SEQR SOAP endpoints, the /sim control API (customer actions, call log,
// fault injection) and the customer page. `paysim load` is the store-wide
// load benchmark: many tills polling one emulator over loopback HTTP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	default:
		fmt.Fprintln(os.Stderr, "paysim:", err)
		os.Exit(1)
	}
}
