// Package simctl holds the provider-independent pieces of posd's payment
// emulators (SEQR, Resurs, Payson): the log of every call an emulator
// received, fault injection (latency, dropped or reset connections, HTTP 500,
// forced result codes) and the problem+json answers of the /sim control API.
// Each emulator decides what a "call" and an "operation" are; simctl only
// records, matches and serves them.
package simctl

import (
	"encoding/json"
	"net/http"
)

// Problem is an RFC 9457 problem detail. Field names the request field at
// fault, so a harness author sees at once what to fix.
type Problem struct {
	Type   string `json:"type,omitempty"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Field  string `json:"field,omitempty"`
}

// WriteProblem answers with an application/problem+json body.
func WriteProblem(w http.ResponseWriter, status int, title, field, detail string) {
	p := Problem{Type: "about:blank", Title: title, Status: status, Detail: detail, Field: field}
	b, err := json.Marshal(p)
	if err != nil {
		// A struct of strings and an int always marshals; keep a body anyway.
		b = []byte(`{"title":"internal error","status":500}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteProblem(w, http.StatusInternalServerError, "cannot encode response", "", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// MaxControlBody bounds the JSON bodies the control API reads.
const MaxControlBody = 64 << 10

// DecodeJSON reads a control-API JSON body into v. On failure it has already
// answered with a 400 problem and returns false.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxControlBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		WriteProblem(w, http.StatusBadRequest, "invalid JSON body", "body", err.Error())
		return false
	}
	return true
}
