package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Payson is mounted beside SEQR: the .NET SDK's double slash reaches it
// (no ServeMux redirect), the control routes and the shared clock work.
func TestPaysonMounted(t *testing.T) {
	em := newEmulators(seqrsim.Options{})
	srv := httptest.NewServer(em.handler)
	defer srv.Close()
	do := func(method, path, body string) (int, map[string]any) {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Basic NDoyYWNhYjMwZC1mZTUwLTQyNmYtOTBkNy04YzYwYTdlYjMxZDQ=")
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	status, co := do("POST", "/2.0//checkouts", `{"Merchant":{"CheckoutUri":"https://shop.example/c","ConfirmationUri":"https://shop.example/c",
"NotificationUri":"https://shop.example/n","TermsUri":"https://shop.example/t"},"Order":{"Currency":1,"Items":[{"Name":"X","UnitPrice":10,"Quantity":1,"TaxRate":0.25}]}}`)
	require.Equal(t, 201, status, co)
	id := co["id"].(string)
	status, co = do("POST", "/sim/payson/checkouts/"+id+"/pay", `{"method":"card"}`)
	require.Equal(t, 200, status, co)
	assert.Equal(t, "readyToShip", co["status"])
	status, _ = do("POST", "/sim/clock/advance", `{"by":"1h"}`)
	assert.Equal(t, 200, status)
	status, _ = do("GET", "/sim/calls?service=payson", "")
	assert.Equal(t, 200, status)
	// SEQR still answers on its own paths
	resp, err := srv.Client().Get(srv.URL + seqrsim.PathCashRegister2 + "?wsdl")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
}
