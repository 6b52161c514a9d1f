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
		"state_dir":  t.TempDir(),
		"api.listen": "127.0.0.1:0",
		"seqr.url":   ts.URL + seqrsim.PathCashRegister2,
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
	t.Setenv("WATCHDOG_USEC", "400000") // ping every 200 ms
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
	env := map[string]string{"POSD_STATE_DIR": dir, "POSD_SEQR_URL": "http://127.0.0.1:1/soap", "POSD_CONFIG": writeTemp(t, "")}
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
