//go:build !crashpoints

package main

// crashHook is nil in production builds: no crash point does anything.
// Build with -tags crashpoints for the K2 crash tests (crash_on.go).
func crashHook() func(point string) { return nil }
