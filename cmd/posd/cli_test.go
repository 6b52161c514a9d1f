package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/receipt"
)

// runCLI runs the real program in-process with env as the whole environment.
func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
	code = report(err, &errOut)
	return code, out.String(), errOut.String()
}

func TestCLI(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"POSD_STATE_DIR": dir, "POSD_PROVIDERS_SEQR_URL": "http://127.0.0.1:1/soap", "POSD_CONFIG": filepath.Join(dir, "none.yaml")}
	noFile := map[string]string{"POSD_STATE_DIR": dir, "POSD_PROVIDERS_SEQR_URL": "http://127.0.0.1:1/soap"}
	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		stdout   string
		stderr   string
		noStderr bool
	}{
		{name: "help", args: []string{"help"}, code: exitOK, stdout: "Exit codes: 0 success", noStderr: true},
		{name: "version", args: []string{"version"}, code: exitOK, stdout: "posd ", noStderr: true},
		{name: "unknown command", args: []string{"frobnicate"}, code: exitUsage, stderr: `posd: unknown command "frobnicate"`},
		{name: "bad flag", args: []string{"version", "--nope"}, code: exitUsage, stderr: "flag provided but not defined"},
		{name: "help of every command", args: []string{"pay", "--help"}, code: exitOK, stdout: "--amount", noStderr: true},
		{name: "group without sub", args: []string{"journal"}, code: exitUsage, stderr: "missing subcommand"},
		{name: "unknown sub", args: []string{"terminal", "explode"}, code: exitUsage, stderr: `unknown subcommand "explode"`},
		{name: "config file missing", env: env, args: []string{"config", "dump"}, code: exitConfig, stderr: "none.yaml"},
		{name: "config dump", env: noFile, args: []string{"config", "dump", "--config", writeTemp(t, "seqr:\n  client_reference: till 9\n")}, code: exitOK, stdout: "client_reference: till 9", noStderr: true},
		{name: "config flag over env", env: noFile, args: []string{"config", "dump", "--config", writeTemp(t, ""), "--seqr.poll-interval", "2s"}, code: exitOK, stdout: "poll_interval: 2s"},
		{name: "config invalid names key", env: noFile, args: []string{"config", "dump", "--config", writeTemp(t, ""), "--set", "scanner.baud=7"}, code: exitConfig, stderr: "posd: config scanner.baud=\"7\": invalid value: allowed: 1200"},
		{name: "secret refused as flag", env: noFile, args: []string{"config", "dump", "--set", "terminal.reseller_password=x"}, code: exitUsage, stderr: "never on the command line"},
		{name: "pay needs amount", env: noFile, args: []string{"pay"}, code: exitUsage, stderr: "--amount is required"},
		{name: "pay bad amount", env: noFile, args: []string{"pay", "--amount", "20.005"}, code: exitUsage, stderr: "at most 2 decimals"},
		{name: "unregister needs --yes", env: noFile, args: []string{"terminal", "unregister"}, code: exitUsage, stderr: "--yes"},
		{name: "status without a token", env: map[string]string{"POSD_STATE_DIR": t.TempDir(), "POSD_PROVIDERS_SEQR_URL": "http://127.0.0.1:1/soap"}, args: []string{"status", "--config", writeTemp(t, "")}, code: exitError, stderr: "read API token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.env, tc.args...)
			assert.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", stdout, stderr)
			assert.Contains(t, stdout, tc.stdout)
			assert.Contains(t, stderr, tc.stderr)
			if tc.noStderr {
				assert.Empty(t, stderr)
			}
			if tc.code != exitOK {
				assert.Equal(t, 1, strings.Count(stderr, "posd: "), "one error line: %q", stderr)
			}
		})
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "posd.yaml")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestMigrate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	env := map[string]string{"POSD_STATE_DIR": dir, "POSD_PROVIDERS_SEQR_URL": "http://127.0.0.1:1/soap"}
	cfgFile := writeTemp(t, "")
	code, stdout, stderr := runCLI(t, env, "migrate", "--config", cfgFile)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "applied migrations 1")
	code, stdout, stderr = runCLI(t, env, "migrate", "--config", cfgFile)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "schema up to date")
}

func TestJournalVerify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "receipts.journal")
	j, _, err := receipt.OpenJournal(path, func() time.Time { return time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC) })
	require.NoError(t, err)
	for i, ref := range []string{"ERS-1", "ERS-2", "ERS-3"} {
		_, err := j.Append(receipt.Post{PaymentID: "p" + ref, Kind: "payment", Text: "SEQR payment", Amount: money.Amount(100 * (i + 1)), Currency: "SEK", Provider: "seqr", Reference: ref})
		require.NoError(t, err)
	}
	require.NoError(t, j.Close())

	code, stdout, stderr := runCLI(t, nil, "journal", "verify", "--file", path)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "ok, 3 posts")

	// Alter one amount on the last post's line: verify names that line.
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	last := len(lines) - 1
	require.Contains(t, lines[last], "3.00")
	lines[last] = strings.Replace(lines[last], "3.00", "9.00", 1)
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))

	code, _, stderr = runCLI(t, nil, "journal", "verify", "--file", path)
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "line "+strconv.Itoa(last+1))
}
