//go:build !linux

package receipt

import "os"

// journalLock is a no-op where flock is not wired up; posd runs on Linux.
func journalLock(*os.File) error { return nil }

// journalDropCache is a no-op off Linux.
func journalDropCache(*os.File) {}

// journalFreeBytes is not measured off Linux.
func journalFreeBytes(string) (uint64, error) { return 1 << 62, nil }
