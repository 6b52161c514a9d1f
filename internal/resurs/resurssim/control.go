package resurssim

import (
	"errors"
	"net/http"
	"time"

	"github.com/posd/posd/internal/simctl"
)

// registerControl adds the Resurs control API:
//
//	GET  /sim/resurs/sessions/{id}            a session's state
//	POST /sim/resurs/sessions/{id}/complete   {"governmentId","method"[,"later":true,"mobile","email"]}
//	POST /sim/resurs/sessions/{id}/expire
//	GET  /sim/resurs/payments/{id}
//	POST /sim/resurs/payments/{id}/freeze     and /thaw
//	POST /sim/resurs/clock/advance            {"duration":"10m"}
func (s *Sim) registerControl(mux *http.ServeMux) {
	mux.HandleFunc("GET /sim/resurs/sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		in, err := s.Session(r.PathValue("id"))
		controlAnswer(w, in, err, "id")
	})
	mux.HandleFunc("POST /sim/resurs/sessions/{id}/complete", func(w http.ResponseWriter, r *http.Request) {
		var c Complete
		if !simctl.DecodeJSON(w, r, &c) {
			return
		}
		in, err := s.CompleteSession(r.PathValue("id"), c)
		field := "id"
		switch {
		case errors.Is(err, ErrUnknownUser):
			field = "governmentId"
		case errors.Is(err, ErrBadRequest):
			field = "method"
		}
		controlAnswer(w, in, err, field)
	})
	mux.HandleFunc("POST /sim/resurs/sessions/{id}/expire", func(w http.ResponseWriter, r *http.Request) {
		in, err := s.ExpireSession(r.PathValue("id"))
		controlAnswer(w, in, err, "id")
	})
	mux.HandleFunc("GET /sim/resurs/payments/{id}", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.Payment(r.PathValue("id"))
		controlAnswer(w, p, err, "id")
	})
	mux.HandleFunc("POST /sim/resurs/payments/{id}/freeze", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.Freeze(r.PathValue("id"))
		controlAnswer(w, p, err, "id")
	})
	mux.HandleFunc("POST /sim/resurs/payments/{id}/thaw", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.Thaw(r.PathValue("id"))
		controlAnswer(w, p, err, "id")
	})
	mux.HandleFunc("POST /sim/resurs/clock/advance", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Duration string `json:"duration"`
		}
		if !simctl.DecodeJSON(w, r, &in) {
			return
		}
		d, err := time.ParseDuration(in.Duration)
		if err != nil || d <= 0 {
			simctl.WriteProblem(w, http.StatusBadRequest, "duration must be a positive Go duration such as \"10m\"", "duration", in.Duration)
			return
		}
		s.Advance(d)
		simctl.WriteJSON(w, http.StatusOK, map[string]string{"now": s.Now().UTC().Format(time.RFC3339Nano)})
	})
}

func controlAnswer(w http.ResponseWriter, v any, err error, field string) {
	switch {
	case err == nil:
		simctl.WriteJSON(w, http.StatusOK, v)
	case errors.Is(err, ErrNotFound):
		simctl.WriteProblem(w, http.StatusNotFound, "no such session or payment", field, err.Error())
	case errors.Is(err, ErrUnknownUser), errors.Is(err, ErrBadRequest):
		simctl.WriteProblem(w, http.StatusBadRequest, "invalid request", field, err.Error())
	default:
		simctl.WriteProblem(w, http.StatusConflict, "not allowed in the current state", field, err.Error())
	}
}
