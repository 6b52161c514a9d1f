package paysonsim

import (
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/posd/posd/internal/simctl"
)

// ControlHandler serves the customer's snippet page and the control API:
//
//	GET  /sim/payson/checkout?id={id}          the snippet's page (the customer's phone)
//	POST /sim/payson/checkout                  the page's form: id, action=pay|deny|cancel, method
//	GET  /sim/payson/checkouts/{id}            the checkout as the API renders it (no auth)
//	POST /sim/payson/checkouts/{id}/pay        {"method":"card"} or {"outcome":"denied"}
//	POST /sim/payson/checkouts/{id}/expire     expire now
func (s *Sim) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sim/payson/checkout", s.page)
	mux.HandleFunc("POST /sim/payson/checkout", s.pageSubmit)
	mux.HandleFunc("GET /sim/payson/checkouts/{id}", s.ctlGet)
	mux.HandleFunc("POST /sim/payson/checkouts/{id}/pay", s.ctlPay)
	mux.HandleFunc("POST /sim/payson/checkouts/{id}/expire", s.ctlExpire)
	return mux
}

func ctlError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		simctl.WriteProblem(w, http.StatusNotFound, "no such checkout", "id", err.Error())
	case errors.Is(err, ErrBadMethod):
		simctl.WriteProblem(w, http.StatusBadRequest, "invalid method", "method", err.Error())
	case errors.Is(err, ErrBadOutcome):
		simctl.WriteProblem(w, http.StatusBadRequest, "invalid outcome", "outcome", err.Error())
	default:
		simctl.WriteProblem(w, http.StatusConflict, "not possible in the checkout's status", "status", err.Error())
	}
}

func (s *Sim) ctlGet(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	c, err := s.lookup(r.PathValue("id"))
	var out checkoutOut
	if err == nil {
		out = c.render()
	}
	s.mu.Unlock()
	if err != nil {
		ctlError(w, err)
		return
	}
	simctl.WriteJSON(w, http.StatusOK, out)
}

func (s *Sim) ctlPay(w http.ResponseWriter, r *http.Request) {
	var req PayRequest
	if r.ContentLength != 0 && !simctl.DecodeJSON(w, r, &req) {
		return
	}
	if err := s.Pay(r.PathValue("id"), req); err != nil {
		ctlError(w, err)
		return
	}
	s.ctlGet(w, r)
}

func (s *Sim) ctlExpire(w http.ResponseWriter, r *http.Request) {
	if err := s.Expire(r.PathValue("id")); err != nil {
		ctlError(w, err)
		return
	}
	s.ctlGet(w, r)
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Payson Checkout (emulator)</title>
<style>body{font-family:sans-serif;max-width:28em;margin:1em auto;padding:0 1em}
table{width:100%;border-collapse:collapse}td{padding:.2em 0}.r{text-align:right}
button{font-size:1.1em;margin:.3em 0;padding:.6em;width:100%}</style></head><body>
<h1>Payson</h1>
{{if .Err}}<p role="alert">{{.Err}}</p>{{end}}
{{with .C}}
<table>{{range .Order.Items}}<tr><td>{{.Name}} × {{.Quantity}}</td><td class="r">{{.TotalPriceIncludingTax}}</td></tr>{{end}}
<tr><th>Att betala</th><th class="r" id="total">{{.Order.TotalPriceIncludingTax}} {{.Order.Currency}}</th></tr></table>
<p>Status: <strong id="status">{{.Status}}</strong></p>
{{if $.Open}}
<form method="post" action="/sim/payson/checkout">
<input type="hidden" name="id" value="{{.ID}}">
<p><label>E-post <input name="email" type="email" value="test@payson.se"></label></p>
<p><label>Postnummer <input name="postalCode" value="99999"></label></p>
<button name="method" value="invoice" id="pay-invoice">Betala med faktura</button>
<button name="method" value="card" id="pay-card">Betala med kort</button>
<button name="method" value="bank" id="pay-bank">Betala med bank</button>
<button name="action" value="deny" id="deny">Neka (test)</button>
<button name="action" value="cancel" id="cancel">Avbryt</button>
</form>
{{else if eq .Status "readyToShip" "shipped" "paidToAccount"}}<p id="done">Tack för ditt köp! Köp-id {{.PurchaseID}}.</p>
{{end}}
{{end}}
</body></html>`))

type pageData struct {
	C    *checkoutOut
	Open bool
	Err  string
}

func (s *Sim) renderPage(w http.ResponseWriter, id string, status int, msg string) {
	s.mu.Lock()
	c, err := s.lookup(id)
	var d pageData
	if err == nil {
		out := c.render()
		d.C, d.Open = &out, beforePayment(c.status)
	}
	s.mu.Unlock()
	if err != nil {
		status, d.Err = http.StatusNotFound, "Okänt köp."
	}
	if msg != "" {
		d.Err = msg
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

func (s *Sim) page(w http.ResponseWriter, r *http.Request) {
	s.renderPage(w, r.URL.Query().Get("id"), http.StatusOK, "")
}

func (s *Sim) pageSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, simctl.MaxControlBody)
	if err := r.ParseForm(); err != nil {
		simctl.WriteProblem(w, http.StatusBadRequest, "invalid form", "body", err.Error())
		return
	}
	id := r.PostForm.Get("id")
	var err error
	switch strings.ToLower(r.PostForm.Get("action")) {
	case "deny":
		err = s.Pay(id, PayRequest{Outcome: stDenied, Method: r.PostForm.Get("method")})
	case "cancel":
		err = s.CustomerCancel(id)
	default:
		err = s.Pay(id, PayRequest{Method: r.PostForm.Get("method")})
	}
	if err != nil {
		s.renderPage(w, id, http.StatusConflict, err.Error())
		return
	}
	s.renderPage(w, id, http.StatusOK, "")
}
