// Command posd is the payment and device daemon of one Swedish cash register,
// and the technician's tool for it: `posd serve` runs the daemon, `posd demo`
// shows a whole SEQR sale against built-in emulators, and the other
// subcommands talk to a running posd through its local API.
//
// Exit codes: 0 success, 1 error, 2 usage error, 3 configuration error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(report(err, os.Stderr))
}
