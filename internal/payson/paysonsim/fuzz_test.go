package paysonsim_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/posd/posd/internal/payson/paysonsim"
)

// FuzzCreate feeds any body to POST /2.0/Checkouts: the emulator answers
// 201 or a 4xx whose errors name at least one property, and never panics.
func FuzzCreate(f *testing.F) {
	f.Add(minimalBody("https://shop.example/notify"))
	f.Add(`{"order":{"currency":1,"items":[{"unitprice":"1e400","quantity":-1}]},"merchant":[]}`)
	f.Add(`{"Order":{"Items":[null,{"Name":{}}]}}`)
	sim := paysonsim.New(paysonsim.Options{})
	h := sim.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/2.0/Checkouts", strings.NewReader(body))
		req.Header.Set("Authorization", testAuth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusCreated:
		case rec.Code == http.StatusBadRequest:
			if !strings.Contains(rec.Body.String(), `"property"`) {
				t.Fatalf("400 without a property: %s", rec.Body)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
