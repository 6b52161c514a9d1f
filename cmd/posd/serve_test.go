package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/posd/posd/internal/config"
	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/seqr/seqrsim"
)

// testConfig is a posd in t.TempDir() on 127.0.0.1:0 against an in-process SEQR emulator.
func testConfig(t *testing.T, overrides map[string]string) (config.Config, *seqrsim.Sim) {
	t.Helper()
	return testConfigHandler(t, overrides, func(h http.Handler) http.Handler { return h })
}

// testConfigHandler is testConfig with a wrapper around the emulator's handler.
func testConfigHandler(t *testing.T, overrides map[string]string, wrap func(http.Handler) http.Handler) (config.Config, *seqrsim.Sim) {
	t.Helper()
	sim := seqrsim.New(seqrsim.Options{})
	ts := httptest.NewServer(wrap(sim.Handler()))
	t.Cleanup(ts.Close)
	o := map[string]string{
		"state_dir":          t.TempDir(),
		"api.listen":         "127.0.0.1:0",
		"providers.seqr.url": ts.URL + seqrsim.PathCashRegister2,
	}
	for k, v := range overrides {
		o[k] = v
	}
	cfg, err := config.Load(config.Source{Overrides: o})
	require.NoError(t, err)
	return cfg, sim
}

// notifySocket listens where posd sends sd_notify datagrams, as systemd does.
func notifySocket(t *testing.T) <-chan string {
	t.Helper()
	// A short path: unix socket names are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "sd")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	msgs := make(chan string, 256)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return msgs
}

func next(t *testing.T, msgs <-chan string, prefix string) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-msgs:
			require.True(t, ok, "notify socket closed before %q", prefix)
			if strings.HasPrefix(m, prefix) {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q from posd within 20 s", prefix)
		}
	}
}

// TestServeTalksToSystemd runs the real daemon against a NOTIFY_SOCKET in a
// temp dir: READY=1 only once recovery is done and the API listens, then
// watchdog pings, then STOPPING=1 on shutdown.
func TestServeTalksToSystemd(t *testing.T) {
	msgs := notifySocket(t)
	t.Setenv("WATCHDOG_USEC", "600000") // ping every 200 ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	cfg, _ := testConfig(t, nil)

	m := NewMain(cfg, zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	// Nothing but READY may come first (no WATCHDOG=1 or STATUS= before it).
	first := next(t, msgs, "")
	require.True(t, strings.HasPrefix(first, "READY=1"), "first message %q", first)
	assert.Contains(t, first, "STATUS=ready")
	// At that moment recovery is over and the listener answers.
	select {
	case <-m.Register().Ready():
	default:
		t.Fatal("READY=1 before the register's recovery finished")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + m.APIAddr() + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	next(t, msgs, "WATCHDOG=1")
	next(t, msgs, "WATCHDOG=1")

	cancel()
	next(t, msgs, "STOPPING=1")
	require.NoError(t, <-done)
}

// TestServeRefusesBadSecretFile: a token file readable by others stops posd
// before anything starts (ssh-style), with exit code 3.
func TestServeRefusesBadSecretFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "api-token"), []byte("tok\n"), 0o644))
	require.NoError(t, os.Chmod(filepath.Join(dir, "api-token"), 0o644))
	var out, errOut bytes.Buffer
	env := map[string]string{"POSD_STATE_DIR": dir, "POSD_PROVIDERS_SEQR_URL": "http://127.0.0.1:1/soap", "POSD_CONFIG": writeTemp(t, "")}
	err := run(t.Context(), []string{"serve"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
	assert.Equal(t, exitConfig, report(err, &errOut))
	assert.Contains(t, errOut.String(), "api.token_file")
	assert.Contains(t, errOut.String(), "chmod 600")
}

// TestServeStopsOnListenError: a component that cannot start stops posd with its reason.
func TestServeStopsOnListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	cfg, _ := testConfig(t, map[string]string{"api.listen": ln.Addr().String()})
	m := NewMain(cfg, zap.NewNop())
	m.Notify = func(string) {}
	err = m.Run(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "address already in use")
}

// waitFor polls cond every 20 ms until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what)
		}
		<-tick.C
	}
}

func jobFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "job-*.bin"))
	require.NoError(t, err)
	return files
}

// TestServePrinterPaperOut runs the real daemon with the virtual printer
// (issue 5): paper out shows on /v1/status within 2 s and on the payment's
// event stream, the receipt waits, and after a refill it prints exactly once.
func TestServePrinterPaperOut(t *testing.T) {
	printDir := t.TempDir()
	cfg, sim := testConfig(t, map[string]string{"printer.device": "virtual:" + printDir})
	m := NewMain(cfg, zaptest.NewLogger(t))
	m.Notify = func(string) {}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatalf("posd stopped before READY: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("posd not READY within 20 s")
	}
	tok, err := config.ReadSecret(filepath.Join(cfg.StateDir, "api-token"))
	require.NoError(t, err)
	ac := newAPIClientToken(m.APIAddr(), tok.Reveal())
	_, err = ac.RegisterTerminal(ctx, register.RegisterTerminalRequest{
		ResellerID: seqrsim.TestResellerID, ResellerUserID: seqrsim.TestResellerUserID, ResellerPassword: seqrsim.TestResellerPassword,
		ExternalTerminalID: "printer-test", Name: "printer test"})
	require.NoError(t, err)
	_, err = ac.AssignSeqrID(ctx, "PRINTTEST1")
	require.NoError(t, err)

	status := func() register.Status {
		st, err := ac.Status(ctx)
		require.NoError(t, err)
		require.NotNil(t, st.Printer, "printer in /v1/status")
		return st
	}
	waitFor(t, 10*time.Second, "printer online", func() bool { return status().Printer.Online })

	m.mu.Lock()
	vp := m.printer.Virtual()
	m.mu.Unlock()
	require.NotNil(t, vp)
	vp.SetState(printer.SimState{PaperEnd: true})
	waitFor(t, 2*time.Second, "/v1/status shows paper out", func() bool { return status().Printer.Paper == "out" })

	p, err := createPayment(ctx, ac, payOptions{amount: money.MustParse("20.00"), title: "Printer test", cashier: "bob", currency: "SEK"})
	require.NoError(t, err)
	events := make(chan register.Event, 64)
	streamDone := make(chan error, 1)
	go func() {
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		defer scancel()
		streamDone <- ac.Events(sctx, p.ID, func(ev register.Event) { events <- ev })
		close(events)
	}()
	first := <-events // subscribed: now the customer may pay
	assert.Equal(t, "state", first.Type)
	waitFor(t, 10*time.Second, "invoice sent", func() bool {
		p, err = ac.Payment(ctx, p.ID)
		require.NoError(t, err)
		return p.InvoiceReference != ""
	})
	_, err = sim.PayInvoice(p.InvoiceReference, seqrsim.OutcomePaid)
	require.NoError(t, err)
	var got []string
	for ev := range events {
		got = append(got, ev.Type+": "+string(ev.State)+": "+ev.Message)
		if ev.Type == "state" && ev.State.Final() {
			break
		}
	}
	require.GreaterOrEqual(t, len(got), 2)
	assert.Equal(t, "printer: paid: printer out of paper: receipt waits", got[len(got)-2], "events: %q", got)
	assert.Equal(t, "state: paid: payment completed", got[len(got)-1], "events: %q", got)

	// The receipt waits: queued, nothing printed.
	assert.Equal(t, 1, status().Printer.Queued)
	assert.Empty(t, jobFiles(t, printDir))

	// In the register a paid payment's stream stays open while its receipt
	// waits, and follows the print worker's status.
	rch, rcancel := m.Register().Subscribe(p.ID)
	defer rcancel()
	var inRegister []string
	read := func() bool {
		select {
		case ev, ok := <-rch:
			if ok {
				inRegister = append(inRegister, ev.Type+": "+ev.Message)
			}
			return ok
		case <-time.After(10 * time.Second):
			t.Fatalf("register stream: no event within 10 s after %q", inRegister)
			return false
		}
	}
	require.True(t, read())
	require.True(t, read())
	assert.Equal(t, []string{"state: ", "printer: printer out of paper: receipt waits"}, inRegister)

	vp.SetState(printer.SimState{})
	for read() {
	}
	assert.Equal(t, []string{"state: ", "printer: printer out of paper: receipt waits",
		"printer: printer ok: printing", "printer: printer ok: receipt printed"}, inRegister)

	// The API's stream, open since before the payment, carried on after the
	// paid event with the printer's news and ended once the receipt printed.
	var after []string
	for ev := range events {
		after = append(after, ev.Type+": "+string(ev.State)+": "+ev.Message)
	}
	require.NoError(t, <-streamDone)
	require.NotEmpty(t, after, "printer events after paid on the API stream")
	assert.Equal(t, "printer: paid: printer ok: receipt printed", after[len(after)-1], "events after paid: %q", after)
	for _, e := range after {
		assert.True(t, strings.HasPrefix(e, "printer: paid: "), "only printer events after the paid state: %q", after)
	}
	waitFor(t, 10*time.Second, "receipt printed after the refill", func() bool {
		st := status()
		return st.Printer.Paper == "ok" && st.Printer.Queued == 0
	})
	files := jobFiles(t, printDir)
	require.Len(t, files, 1, "printed exactly once")
	txt, err := os.ReadFile(strings.TrimSuffix(files[0], ".bin") + ".txt")
	require.NoError(t, err)
	p, err = ac.Payment(ctx, p.ID)
	require.NoError(t, err)
	assert.Contains(t, string(txt), p.ERSReference)
	assert.NotContains(t, string(txt), "COPY")
}

// TestServeRefusesShortSuppliedToken: a token given through api.token_file
// or the api-token systemd credential must be as long as a generated one
// (16 characters at least); a shorter one stops posd, naming its source.
func TestServeRefusesShortSuppliedToken(t *testing.T) {
	for _, tc := range []struct {
		name, tok  string
		credential bool
		ok         bool
	}{
		{name: "token_file 1 char", tok: "x"},
		{name: "token_file 15 chars", tok: strings.Repeat("a", 15)},
		{name: "credential 1 char", tok: "x", credential: true},
		{name: "token_file 16 chars", tok: strings.Repeat("a", 16), ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, secrets := t.TempDir(), t.TempDir()
			name := "token"
			if tc.credential {
				name = config.CredentialAPIToken
			}
			path := filepath.Join(secrets, name)
			require.NoError(t, os.WriteFile(path, []byte(tc.tok+"\n"), 0o600))
			env := map[string]string{"POSD_STATE_DIR": dir, "POSD_PROVIDERS_SEQR_URL": "http://127.0.0.1:1/soap",
				"POSD_API_LISTEN": "127.0.0.1:0", "POSD_CONFIG": writeTemp(t, "")}
			if tc.credential {
				env["CREDENTIALS_DIRECTORY"] = secrets
			} else {
				env["POSD_API_TOKEN_FILE"] = path
			}
			// The check runs before anything starts: a refused token returns
			// at once. The timeout only bounds a posd that (wrongly) starts.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			if tc.ok {
				cancel() // starts and stops at once; only the token check matters
			}
			defer cancel()
			var out, errOut bytes.Buffer
			err := run(ctx, []string{"serve"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
			code := report(err, &errOut)
			if tc.ok {
				assert.NotContains(t, errOut.String(), "16 characters")
				return
			}
			assert.Equal(t, exitConfig, code, errOut.String())
			assert.Contains(t, errOut.String(), "at least 16 characters")
			assert.Contains(t, errOut.String(), path)
			if tc.credential {
				assert.Contains(t, errOut.String(), "api-token credential")
			} else {
				assert.Contains(t, errOut.String(), "api.token_file")
			}
			assert.NotContains(t, errOut.String(), tc.tok+"\n", "the token itself is never shown")
		})
	}
}
