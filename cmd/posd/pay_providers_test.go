package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/posd/posd/internal/config"
	"github.com/posd/posd/internal/payson/paysonsim"
	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/resurs/resurssim"
)

// captureWriter keeps what a handler answered, for the test's customer.
type captureWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (c *captureWriter) Write(b []byte) (int, error) {
	c.body.Write(b)
	return c.ResponseWriter.Write(b)
}

// providerPosd runs posd with Resurs and Payson against the demo's
// emulators over loopback. Each checkout the emulators create is reported
// on the returned channels once answered: Resurs's paymentSessionId and
// Payson's checkout id, so the test's customer acts only once it exists.
func providerPosd(t *testing.T) (env map[string]string, sims *demoSims, resursSessions, paysonCheckouts <-chan string) {
	t.Helper()
	sims = newDemoSims(zap.NewNop())
	rs, ps := make(chan string, 4), make(chan string, 4)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &captureWriter{ResponseWriter: w}
		sims.handler.ServeHTTP(cw, r)
		switch {
		case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/pos/payments/"):
			var s struct {
				ID string `json:"paymentSessionId"`
			}
			if json.Unmarshal(cw.body.Bytes(), &s) == nil && s.ID != "" {
				rs <- s.ID
			}
		case r.Method == http.MethodPost && strings.EqualFold(strings.TrimRight(r.URL.Path, "/"), "/2.0/checkouts"):
			if loc := w.Header().Get("Location"); loc != "" {
				ps <- path.Base(loc)
			}
		}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 2)
	go func() { runDone <- sims.run(ctx) }()
	o := demoProviderOverrides(ts.URL)
	o["state_dir"], o["api.listen"] = t.TempDir(), "127.0.0.1:0"
	cfg, err := config.Load(config.Source{Overrides: o})
	require.NoError(t, err)
	m := NewMain(cfg, zap.NewNop())
	m.Notify = func(string) {}
	go func() { runDone <- m.Run(ctx) }()
	select {
	case <-m.Ready():
	case err := <-runDone:
		t.Fatalf("posd stopped: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		<-runDone
		<-runDone
		ts.Close()
	})
	env = map[string]string{"POSD_STATE_DIR": cfg.StateDir, "POSD_API_LISTEN": m.APIAddr(),
		"POSD_PROVIDERS_PAYSON_URL": ts.URL + "/2.0/", "POSD_CONFIG": writeTemp(t, "")}
	return env, sims, rs, ps
}

// `posd pay --method payson` prints the checkout URL and a QR code of it,
// then follows the sale to paid.
func TestPayPayson(t *testing.T) {
	env, sims, _, checkouts := providerPosd(t)
	customer := make(chan error, 1)
	go func() {
		select {
		case id := <-checkouts:
			customer <- sims.payson.Pay(id, paysonsim.PayRequest{Method: "invoice"})
		case <-time.After(time.Minute): // a bound on a broken test, not synchronisation
			customer <- context.DeadlineExceeded
		}
	}()
	code, stdout, stderr := runCLI(t, env, "pay", "--method", "payson", "--amount", "155.00")
	require.Equal(t, exitOK, code, "stdout %s\nstderr %s", stdout, stderr)
	require.NoError(t, <-customer)
	m := regexp.MustCompile(`checkout: (\S+)`).FindStringSubmatch(stdout)
	require.NotNil(t, m, stdout)
	assert.Contains(t, m[1], "/sim/payson/checkout?id=")
	// The QR code drawn below the URL is the URL's own.
	want, err := terminalQR(m[1])
	require.NoError(t, err)
	assert.Contains(t, stdout, want)
	assert.Contains(t, stdout, "by Payson")
	assert.Regexp(t, `paid: 155\.00 SEK by Payson Faktura, reference \d+`, stdout)
}

// `posd pay --method resurs` with the customer's data: the checkout is
// pre-filled, the customer signs, the sale is paid.
func TestPayResurs(t *testing.T) {
	env, sims, sessions, _ := providerPosd(t)
	customer := make(chan error, 1)
	go func() {
		select {
		case id := <-sessions:
			_, err := sims.resurs.CompleteSession(id, resurssim.Complete{GovernmentID: demoGovID, Method: "part_payment"})
			customer <- err
		case <-time.After(time.Minute):
			customer <- context.DeadlineExceeded
		}
	}()
	code, stdout, stderr := runCLI(t, env, "pay", "--method", "resurs", "--amount", "250.00",
		"--government-id", demoGovID, "--mobile", demoMobile, "--email", demoEmail)
	require.Equal(t, exitOK, code, "stdout %s\nstderr %s", stdout, stderr)
	require.NoError(t, <-customer)
	assert.Contains(t, stdout, "checkout: "+strings.TrimSuffix(env["POSD_PROVIDERS_PAYSON_URL"], "/2.0/")+"/web/dist/omni-checkout.html?")
	assert.Regexp(t, `paid: 250\.00 SEK by Resurs Bank Delbetalning, reference DEMO-[0-9a-f]+`, stdout)
}

// "Betala sen" through `posd pay`: the till is free at once (the payment
// has no window) and the command follows it until the customer pays.
func TestPayResursLater(t *testing.T) {
	env, sims, sessions, _ := providerPosd(t)
	customer := make(chan error, 1)
	go func() {
		select {
		case id := <-sessions:
			_, err := sims.resurs.CompleteSession(id, resurssim.Complete{GovernmentID: demoGovID, Method: "invoice", Later: true})
			customer <- err
		case <-time.After(time.Minute):
			customer <- context.DeadlineExceeded
		}
	}()
	code, stdout, stderr := runCLI(t, env, "pay", "--method", "resurs_later", "--amount", "799.00", "--valid-until", "48h")
	require.Equal(t, exitOK, code, "stdout %s\nstderr %s", stdout, stderr)
	require.NoError(t, <-customer)
	assert.Contains(t, stdout, "Betala sen: the till is free")
	assert.NotContains(t, stdout, "s left", "no window, no countdown")
	assert.Regexp(t, `paid: 799\.00 SEK by Resurs Bank Faktura`, stdout)
}

func TestPayFlags(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		method, gov, until string
		err                string
	}{
		{"swish", "", "", "--method"},
		{"seqr", "198305147715", "", "--government-id"},
		{"payson", "198305147715", "", "--government-id"},
		{"resurs", "", "48h", "--valid-until is for --method resurs_later"},
		{"resurs_later", "", "yesterday", "want an RFC 3339 time"},
		{"resurs_later", "", "-1h", "want an RFC 3339 time"},
		{"resurs_later", "", "2026-12-01T12:00:00Z", "not in the future"},
	} {
		opt := payOptions{method: tc.method}
		err := opt.providerFlags(tc.gov, "", "", tc.until, now)
		require.Error(t, err, "%+v", tc)
		assert.Contains(t, err.Error(), tc.err)
	}
	opt := payOptions{method: "resurs_later"}
	require.NoError(t, opt.providerFlags("198305147715", "0701112233", "", "48h", now))
	assert.Equal(t, now.Add(48*time.Hour), *opt.validUntil)
	assert.Equal(t, "0701112233", opt.customer.Mobile)
	opt = payOptions{method: "resurs_later"}
	require.NoError(t, opt.providerFlags("", "", "", "2026-12-24T18:00:00+01:00", now))
	assert.Equal(t, time.Date(2026, 12, 24, 17, 0, 0, 0, time.UTC), opt.validUntil.UTC())
	assert.Nil(t, opt.customer)
}

// terminalQR draws exactly the encoder's modules: read back from the half
// blocks (light drawn), inside a 4-module quiet zone.
func TestTerminalQR(t *testing.T) {
	for _, data := range []string{"http://127.0.0.1:8080/sim/payson/checkout?id=bb8e4661-f0ef-44aa-89f5-9f809d1865fc", "Åre ☕"} {
		text, err := terminalQR(data)
		require.NoError(t, err)
		eci := 0
		if data[0] >= 0x80 {
			eci = printer.ECIUTF8
		}
		sym, err := printer.EncodeQR([]byte(data), eci)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
		n := sym.Size + 2*qrQuiet
		require.Len(t, lines, (n+1)/2)
		light := make([][]bool, len(lines)*2)
		for i, l := range lines {
			cells := []rune(l)
			require.Len(t, cells, n, "line %d", i)
			light[2*i], light[2*i+1] = make([]bool, n), make([]bool, n)
			for x, c := range cells {
				light[2*i][x] = c == '█' || c == '▀'
				light[2*i+1][x] = c == '█' || c == '▄'
			}
		}
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				mx, my := x-qrQuiet, y-qrQuiet
				wantLight := mx < 0 || my < 0 || mx >= sym.Size || my >= sym.Size || !sym.At(mx, my)
				require.Equal(t, wantLight, light[y][x], "%q module (%d,%d)", data, mx, my)
			}
		}
	}
}
