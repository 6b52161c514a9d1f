package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Resurs emulator is reachable through paysim's mux on its real paths,
// shares the call log, and its start-up lines name every credential.
func TestResursMounted(t *testing.T) {
	em := newEmulators(seqrsim.Options{})
	srv := httptest.NewServer(em.handler)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+resurssim.PathAfterShop+"?wsdl", nil)
	req.SetBasicAuth(resurssim.TestUser, resurssim.TestPassword)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(b), `<soap:address location="`+srv.URL+resurssim.PathAfterShop+`"/>`)

	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/pos/payments/PAYSIM-1", strings.NewReader(`{"orderLines":[{"artNo":"1","description":"x","quantity":1,"unitAmountWithoutVat":100,"vatPct":25}]}`))
	req.SetBasicAuth(resurssim.TestUser, resurssim.TestPassword)
	resp, err = srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	resp, err = http.Get(srv.URL + "/sim/calls?service=resurs")
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(b), `"operation":"createPayment"`)

	var out bytes.Buffer
	printResurs(&out, "http://127.0.0.1:1")
	for _, want := range []string{resurssim.TestUser, resurssim.TestPassword, resurssim.TestClientID, resurssim.TestClientSecret, resurssim.TestStoreID, resurssim.PathAfterShop} {
		assert.Contains(t, out.String(), want)
	}
}
