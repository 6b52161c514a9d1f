package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/internal/simctl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func noEnv(string) string { return "" }

func TestServeAndShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--log-format", "json", "--reversal-window", "5s"}, noEnv, pw, io.Discard)
		_ = pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	require.True(t, sc.Scan())
	base, ok := strings.CutPrefix(sc.Text(), "paysim listening on ")
	require.True(t, ok, sc.Text())
	drained := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, pr)
		close(drained)
	}()

	resp, err := http.Get(base + seqrsim.PathCashRegister2 + "?wsdl")
	require.NoError(t, err)
	wsdl, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(wsdl), `<soap:address location="`+base+seqrsim.PathCashRegister2+`"/>`)

	nop := loadEnvOpen + `<ext:benchmarkingNop/>` + loadEnvClose
	resp, err = http.Post(base+"/extclientproxy/service/v2?wsdl", "text/xml", strings.NewReader(nop))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), resultOK)

	resp, err = http.Get(base + "/sim/calls?service=seqr&op=benchmarkingNop")
	require.NoError(t, err)
	var calls simctl.CallsResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&calls))
	resp.Body.Close()
	require.Len(t, calls.Calls, 1)
	assert.Equal(t, "/extclientproxy/service/v2", calls.Calls[0].Path)

	resp, err = http.Get(base + "/sim/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))

	cancel()
	require.NoError(t, <-done)
	<-drained
}

func TestLoadSmall(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"load", "--tills", "4", "--duration", "300ms", "--interval", "100ms", "--max-p99", "0"}, noEnv, &out, io.Discard)
	require.NoError(t, err, out.String())
	assert.Contains(t, out.String(), "errors: 0")
	assert.Contains(t, out.String(), "p99=")
	assert.Contains(t, out.String(), "server-side handling (call log): p50=")
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--log-format", "xml"}, "--log-format"},
		{[]string{"--reversal-window", "0s"}, "--reversal-window"},
		{[]string{"--report-delay", "-1s"}, "--report-delay"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"load", "--tills", "0"}, "--tills"},
		{[]string{"load", "--duration", "0s"}, "--duration"},
		{[]string{"load", "--interval", "-1s"}, "--interval"},
		{[]string{"--listen", "256.0.0.1:1"}, "listen"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := run(context.Background(), tc.args, noEnv, io.Discard, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
