package main

import (
	"bytes"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/posd/posd/internal/printer/escposdecode"
	"github.com/posd/posd/internal/seqr/seqrsim"
)

// TestCLIAgainstRunningPosd drives a real posd (in-process, 127.0.0.1:0)
// with the technician's commands, as on a register.
func TestCLIAgainstRunningPosd(t *testing.T) {
	invoiceSent := make(chan struct{}, 4)
	// Signal each answered sendInvoice, so the simulated customer pays only
	// once the invoice exists.
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			h.ServeHTTP(w, r)
			if bytes.Contains(body, []byte("sendInvoice>")) {
				invoiceSent <- struct{}{}
			}
		})
	}
	cfg, sim := testConfigHandler(t, map[string]string{"providers.seqr.window": "5s"}, wrap)
	m := NewMain(cfg, zap.NewNop())
	m.Notify = func(string) {}
	done := make(chan error, 1)
	go func() { done <- m.Run(t.Context()) }()
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatalf("posd stopped: %v", err)
	}
	env := map[string]string{
		"POSD_STATE_DIR": cfg.StateDir, "POSD_API_LISTEN": m.APIAddr(), "POSD_PROVIDERS_SEQR_URL": cfg.Providers.Seqr.URL,
		"POSD_CONFIG": writeTemp(t, ""),
	}
	pw := filepath.Join(t.TempDir(), "pw")
	require.NoError(t, os.WriteFile(pw, []byte(seqrsim.TestResellerPassword+"\n"), 0o600))

	steps := []struct {
		args []string
		want string
	}{
		{[]string{"terminal", "show"}, "not registered"},
		{[]string{"terminal", "register", "--reseller-id", seqrsim.TestResellerID, "--reseller-user-id", seqrsim.TestResellerUserID, "--password-file", pw, "--name", "till 1"}, "registered: terminal"},
		{[]string{"terminal", "assign-seqr-id", "TILL42"}, "SEQR id TILL42 assigned"},
		{[]string{"terminal", "show"}, "TILL42"},
		{[]string{"status"}, "SEQR id TILL42"},
		{[]string{"status", "--json"}, `"seqrId": "TILL42"`},
	}
	for _, s := range steps {
		code, stdout, stderr := runCLI(t, env, s.args...)
		require.Equal(t, exitOK, code, "%v: %s", s.args, stderr)
		assert.Contains(t, stdout, s.want, "%v", s.args)
	}

	// A paid test payment: the customer pays as soon as the invoice is sent.
	go func() {
		<-invoiceSent
		if _, err := sim.Scan("TILL42"); err == nil {
			_, _ = sim.Pay("TILL42", seqrsim.OutcomePaid)
		}
	}()
	code, stdout, stderr := runCLI(t, env, "pay", "--amount", "20.00")
	require.Equal(t, exitOK, code, "stdout %s\nstderr %s", stdout, stderr)
	assert.Contains(t, stdout, "paid: 20.00 SEK, ersReference ")
	id := regexp.MustCompile(`payment ([0-9a-f]+):`).FindStringSubmatch(stdout)
	require.NotNil(t, id, stdout)

	ers := regexp.MustCompile(`ersReference ([0-9]+)`).FindStringSubmatch(stdout)
	require.NotNil(t, ers, stdout)
	require.Len(t, ers[1], 25, "a real-sized SEQR reference")

	code, stdout, stderr = runCLI(t, env, "receipt", "render", id[1])
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "SEQR payment")
	assert.Contains(t, stdout, "20.00")

	// Every supported paper, every format: render prints what the printer
	// would, the 25-digit reference as a Code 128 even on 58 mm (32 columns).
	for _, cols := range []string{"32", "42", "48"} {
		cenv := map[string]string{"POSD_PRINTER_COLUMNS": cols}
		for k, v := range env {
			cenv[k] = v
		}
		code, stdout, stderr = runCLI(t, cenv, "receipt", "render", id[1])
		require.Equal(t, exitOK, code, "%s columns: %s", cols, stderr)
		assert.Contains(t, stdout, "[Code 128: "+ers[1]+"]", "%s columns", cols)
		code, stdout, stderr = runCLI(t, cenv, "receipt", "render", id[1], "--format", "escpos")
		require.Equal(t, exitOK, code, "%s columns: %s", cols, stderr)
		cmds, err := escposdecode.Decode([]byte(stdout))
		require.NoError(t, err)
		bcs := escposdecode.Render(cmds).Barcodes()
		require.Len(t, bcs, 1, "%s columns", cols)
		assert.Equal(t, ers[1], bcs[0].Text)
		code, _, stderr = runCLI(t, cenv, "receipt", "render", id[1], "--format", "png", "--out", filepath.Join(t.TempDir(), "r"+cols+".png"))
		require.Equal(t, exitOK, code, "%s columns: %s", cols, stderr)
	}

	// The same receipt as a picture of the paper (package receipt draws it):
	// at least 48 columns of 12 dots wide, and more than 20 text lines tall.
	pngFile := filepath.Join(t.TempDir(), "r.png")
	code, _, stderr = runCLI(t, env, "receipt", "render", id[1], "--format", "png", "--out", pngFile)
	require.Equal(t, exitOK, code, stderr)
	f, err := os.Open(pngFile)
	require.NoError(t, err)
	img, err := png.Decode(f)
	f.Close()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, img.Bounds().Dx(), 576)
	assert.Greater(t, img.Bounds().Dy(), 20*18, "a receipt is more than 20 lines")
	ink := 0
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			if r, _, _, _ := img.At(x, y).RGBA(); r < 0x8000 {
				ink++
			}
		}
	}
	assert.Greater(t, ink, 2000, "the picture has text on it")

	code, stdout, stderr = runCLI(t, env, "journal", "verify")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "ok, 1 posts")

	// The metrics of GET /metrics reflect the payment.
	tok, err := os.ReadFile(filepath.Join(cfg.StateDir, "api-token"))
	require.NoError(t, err)
	body, err := newAPIClientToken(m.APIAddr(), strings.TrimSpace(string(tok))).Metrics(t.Context())
	require.NoError(t, err)
	for _, want := range []string{
		`posd_payments_created_total{provider="seqr"} 1`,
		`posd_payments_finished_total{provider="seqr",state="paid"} 1`,
		`posd_journal_appends_total{result="ok"} 1`,
		`posd_provider_check_seconds_count{provider="seqr"}`,
		"posd_outbox_backlog",
	} {
		assert.Contains(t, string(body), want)
	}

	// End of day: SEQR's report and the local records agree on the one payment.
	code, stdout, stderr = runCLI(t, env, "period", "close")
	require.Equal(t, exitOK, code, "stdout %s\nstderr %s", stdout, stderr)
	assert.Contains(t, stdout, "SEQR:  1 payments, 20.00")
	assert.Contains(t, stdout, "local: 1 payments, 20.00")

	// Nobody pays: the 5 s window runs out and, stdin not being a terminal,
	// pay cancels and exits 1.
	code, stdout, stderr = runCLI(t, env, "pay", "--amount", "5.00")
	<-invoiceSent
	assert.Equal(t, exitError, code)
	assert.Contains(t, stdout, "stdin is not a terminal: cancelling")
	assert.Contains(t, stderr, "canceled")
}
