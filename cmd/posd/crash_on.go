//go:build crashpoints

package main

import (
	"os"
	"syscall"
)

// crashHook is the crash-test hook of register.Deps and
// printer.WorkerConfig (reliability K2), built only with -tags crashpoints:
// at the point named by POSD_CRASH_AT the process sends itself SIGKILL, so
// nothing after the point runs (no deferred close, no flush), as in a
// power cut of the process. Production builds use crash_off.go.
func crashHook() func(point string) {
	at := os.Getenv("POSD_CRASH_AT")
	if at == "" {
		return nil
	}
	return func(point string) {
		if point != at {
			return
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL cannot be caught: wait here for it to land
	}
}
