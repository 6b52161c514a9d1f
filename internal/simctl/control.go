package simctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// Control serves the provider-independent control routes:
//
//	GET    /sim/calls?service=seqr&op=getPaymentStatus&ref=R   the call log, in order
//	DELETE /sim/calls                                          forget the calls
//	GET    /sim/faults                                         the active rules
//	POST   /sim/faults                                         replace the rules ([rule...] or {"rules":[...]})
//	DELETE /sim/faults                                         remove every rule
//	GET    /sim/clock                                          the emulator clock (when Clock is set)
//	POST   /sim/clock/advance {"by":"240h"}                    move the emulator clock forward
type Control struct {
	Calls  *CallLog
	Faults *Faults
	Clock  *Clock // nil: no clock routes
}

// CallsResponse is the body of GET /sim/calls.
type CallsResponse struct {
	Calls []Call `json:"calls"`
}

// FaultsResponse is the body of GET and POST /sim/faults.
type FaultsResponse struct {
	Rules []Rule `json:"rules"`
}

// Register adds the control routes to mux.
func (c *Control) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /sim/calls", c.getCalls)
	mux.HandleFunc("DELETE /sim/calls", c.deleteCalls)
	mux.HandleFunc("GET /sim/faults", c.getFaults)
	mux.HandleFunc("POST /sim/faults", c.postFaults)
	mux.HandleFunc("DELETE /sim/faults", c.deleteFaults)
	if c.Clock != nil {
		mux.HandleFunc("GET /sim/clock", c.Clock.getClock)
		mux.HandleFunc("POST /sim/clock/advance", c.Clock.advance)
	}
}

// Handler returns a handler serving only the control routes.
func (c *Control) Handler() http.Handler {
	mux := http.NewServeMux()
	c.Register(mux)
	return mux
}

func (c *Control) getCalls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := Filter{Service: q.Get("service"), Operation: q.Get("op"), Reference: q.Get("ref")}
	WriteJSON(w, http.StatusOK, CallsResponse{Calls: c.Calls.Calls(f)})
}

func (c *Control) deleteCalls(w http.ResponseWriter, _ *http.Request) {
	c.Calls.Reset()
	w.WriteHeader(http.StatusNoContent)
}

func (c *Control) getFaults(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, FaultsResponse{Rules: c.Faults.Rules()})
}

func (c *Control) postFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxControlBody))
	if err != nil {
		WriteProblem(w, http.StatusBadRequest, "cannot read body", "body", err.Error())
		return
	}
	var rules []Rule
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		err = strictUnmarshal(trimmed, &rules)
	} else {
		var wrapped struct {
			Rules []Rule `json:"rules"`
		}
		err = strictUnmarshal(trimmed, &wrapped)
		rules = wrapped.Rules
	}
	if err != nil {
		WriteProblem(w, http.StatusBadRequest, "invalid fault rules", "rules", err.Error())
		return
	}
	if err := c.Faults.Set(rules); err != nil {
		var fe *FieldError
		field := "rules"
		if errors.As(err, &fe) {
			field = fe.Field
		}
		WriteProblem(w, http.StatusBadRequest, "invalid fault rule", field, err.Error())
		return
	}
	WriteJSON(w, http.StatusOK, FaultsResponse{Rules: c.Faults.Rules()})
}

func (c *Control) deleteFaults(w http.ResponseWriter, _ *http.Request) {
	c.Faults.Clear()
	w.WriteHeader(http.StatusNoContent)
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after JSON value")
	}
	return nil
}
