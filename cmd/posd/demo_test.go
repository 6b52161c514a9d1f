package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/payson/paysonsim"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/store"
)

// syncBuffer is a bytes.Buffer that many goroutines may write (loggers).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func canary(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 8)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return prefix + hex.EncodeToString(b)
}

// TestDemoOnce runs `posd demo --once` in-process with a canary reseller
// password, at debug log level, and then checks that the sale was paid,
// journaled and printed, and that no secret (reseller password, terminal
// password, API token) appears in any output or file posd wrote.
func TestDemoOnce(t *testing.T) {
	pw := canary(t, "canaryRsl")
	var out, errOut syncBuffer
	c := &cli{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}
	var info demoInfo
	err := demo(t.Context(), c, demoOptions{
		once: true, payAfter: 300 * time.Millisecond, keep: true, logLevel: "debug",
		reseller: &[3]string{"canary_shop", "7700", pw},
		ready:    func(i demoInfo) { info = i },
	})
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	require.NotEmpty(t, info.StateDir)
	t.Cleanup(func() { os.RemoveAll(info.StateDir) })

	stdout := out.String()
	assert.Contains(t, stdout, "registered the till")
	assert.Contains(t, stdout, "SEQR id POSDDEMO01 assigned")
	assert.Contains(t, stdout, "paid: 122.00 SEK")
	assert.Contains(t, stdout, "SEQR payment")
	require.NotEmpty(t, info.Payment.ERSReference)
	assert.Contains(t, stdout, info.Payment.ERSReference)
	assert.Contains(t, info.Receipt, "122.00")

	// After SEQR: Resurs Checkout POS, "Betala sen" (its slip printed at
	// the start, paid after the Payson sale: the till was free) and Payson.
	require.Len(t, info.Sales, 3)
	pos, payson, later := info.Sales[0], info.Sales[1], info.Sales[2]
	for _, s := range info.Sales {
		require.NotEmpty(t, s.Payment.TransactionRef, s.Name)
		assert.Contains(t, s.Receipt, s.Payment.TransactionRef, s.Name)
		assert.Contains(t, s.Receipt, s.Payment.Amount.String(), s.Name)
		assert.Contains(t, stdout, s.Payment.TransactionRef, s.Name)
	}
	assert.Equal(t, "resurs", pos.Payment.Method)
	assert.Contains(t, pos.Receipt, "Resurs Bank Faktura")
	assert.Contains(t, stdout, "checkout: "+info.SimURL+"/web/dist/omni-checkout.html?")
	assert.Equal(t, "payson", payson.Payment.Method)
	assert.Contains(t, payson.Receipt, "Payson Kort")
	assert.Contains(t, payson.Receipt, "[QR: "+payson.Payment.TransactionRef+"]", "receipt.reference_code qr")
	assert.Contains(t, stdout, "posd shipped checkout "+payson.Payment.ProviderRef)
	assert.Contains(t, stdout, "█", "the Payson checkout's QR code")
	assert.Equal(t, "resurs_later", later.Payment.Method)
	assert.Contains(t, later.Slip, "Referens: "+later.Payment.ProviderRef)
	assert.Contains(t, later.Slip, "Giltig till: ")
	assert.NotContains(t, later.Receipt, "Not a receipt")
	assert.Contains(t, stdout, "posd finalized Resurs payment "+later.Payment.TransactionRef)
	assert.Less(t, strings.Index(stdout, "7. Payson sale"), strings.Index(stdout, "8. the Betala sen customer pays"),
		"the Payson sale ran while Betala sen was open")

	// Each sale recorded exactly once in the receipt file, which verifies.
	n, err := receipt.Verify(filepath.Join(info.StateDir, "receipts.journal"))
	require.NoError(t, err)
	assert.Equal(t, 6, n, "four sales, the additional debit and the refund of its line")
	assert.Contains(t, stdout, "additional debit 299.00 SEK, reference "+pos.Payment.TransactionRef+"/posd-")
	assert.Contains(t, stdout, "refund 299.00 SEK of the line \"Sittdyna\"")

	// The secrets: the canary reseller password, the generated terminal
	// password (from the database) and the API token.
	db, err := store.Open(t.Context(), filepath.Join(info.StateDir, "posd.db"), store.Options{})
	require.NoError(t, err)
	term, err := db.Terminal(t.Context())
	require.NoError(t, err)
	require.NoError(t, db.Close())
	secrets := map[string]string{"reseller password": pw, "terminal password": term.Password, "API token": info.Token,
		"Resurs password": resurssim.TestPassword, "Resurs client secret": resurssim.TestClientSecret, "Payson API key": paysonsim.TestAPIKey}
	for name, s := range secrets {
		require.GreaterOrEqual(t, len(s), 8, "%s too short to be a useful canary", name)
	}

	outputs := map[string]string{"stdout": stdout, "stderr": errOut.String()}
	// Every file posd wrote except the two that are meant to hold secrets.
	require.NoError(t, filepath.WalkDir(info.StateDir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		base := d.Name()
		if d.IsDir() || base == "api-token" || strings.HasPrefix(base, "posd.db") {
			return nil
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		outputs[p] = string(b)
		return nil
	}))
	require.Contains(t, outputs, filepath.Join(info.StateDir, "receipts.journal"))
	assert.Greater(t, len(errOut.String()), 1000, "debug logs expected on stderr")
	for where, text := range outputs {
		for name, s := range secrets {
			assert.NotContains(t, text, s, "%s appears in %s", name, where)
		}
	}
}

func TestDemoFlags(t *testing.T) {
	code, stdout, _ := runCLI(t, nil, "demo", "--help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "--once")
	code, _, stderr := runCLI(t, nil, "demo", "extra")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "unexpected argument")
	code, _, stderr = runCLI(t, nil, "demo", "--log-level", "loud", "--once")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "--log-level")
}

// TestDemoOnceFailsWithTheReason: a customer who rejects makes --once fail
// with a one-line reason and exit code 1.
func TestDemoOnceFailsWithTheReason(t *testing.T) {
	var out, errOut syncBuffer
	c := &cli{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}
	err := demo(t.Context(), c, demoOptions{once: true, payAfter: 100 * time.Millisecond, logLevel: "error", reject: true})
	require.Error(t, err)
	var msg syncBuffer
	assert.Equal(t, exitError, report(err, &msg))
	assert.Contains(t, msg.String(), "posd: demo: the sale did not complete")
	assert.Contains(t, msg.String(), "canceled")
	assert.Equal(t, 1, strings.Count(msg.String(), "\n"), "one line: %q", msg.String())
}

// TestDemoConfigLongVersion: a VCS-stamped pseudo-version is longer than
// SEQR's 32-character clientReference once "posd demo " is in front; the
// demo's configuration must still load (validate) with a reference that
// names the build.
func TestDemoConfigLongVersion(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ version, want string }{
		{"v0.0.0-20261121194531-b1f3ddc7aa89", "posd demo b1f3ddc7aa89"},
		// what version() prints for such a build: module version, then the revision
		{"v0.0.0-20261121194531-b1f3ddc7aa89 b1f3ddc7aa89", "posd demo b1f3ddc7aa89"},
		{"v0.0.0-20261121194531-b1f3ddc7aa89 b1f3ddc7aa89+dirty", "posd demo b1f3ddc7aa89+dirty"},
		{"v1.4.0-rc.1.0.20261121194531-b1f3ddc7aa89", "posd demo b1f3ddc7aa89"},
		{"v1.2.3", "posd demo v1.2.3"},
		{"devel 0123456789ab", "posd demo devel 0123456789ab"},
		{"devel 0123456789ab+dirty", "posd demo 0123456789ab+dirty"},
		{"v1.2.3-rc.4 0123456789ab+dirty", "posd demo 0123456789ab+dirty"},
		{"v12.345.6789-beta.1+build.2026.11.21.extra", "posd demo v12.345.6789-beta.1+bu"},
		{"", "posd demo"},
	} {
		t.Run(tc.version, func(t *testing.T) {
			cfg, err := demoConfig(dir, "http://127.0.0.1:1", filepath.Join(dir, "printer"), "warn", tc.version)
			require.NoError(t, err, "the demo's configuration must validate")
			assert.Equal(t, tc.want, cfg.Providers.Seqr.ClientReference)
			assert.LessOrEqual(t, len([]rune(cfg.Providers.Seqr.ClientReference)), 32)
		})
	}
}
