package resurssim

import (
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The checkout behind the POS iframe: plain server-rendered HTML with no
// external assets. Step 1: the cashier enters the customer's personal
// identity number, mobile and e-mail and picks a method (or "Betala sen"
// with a valid-to); step 2: the customer e-signs (a simulated BankID).

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Resurs Bank – kassa (emulator)</title>
<style>body{font-family:sans-serif;margin:1.5em;max-width:34em}label{display:block;margin:.6em 0 .2em}
input,select{font-size:1em;padding:.3em;width:100%;box-sizing:border-box}button{font-size:1em;padding:.5em 1.2em;margin-top:1em}
table{border-collapse:collapse;width:100%;margin:.5em 0}td,th{padding:.2em .4em;text-align:left}.n{text-align:right;white-space:nowrap}
.err{color:#a00}.ok{color:#070}.box{border:1px solid #ccc;padding:1em;border-radius:6px}small{color:#555}</style></head>
<body><h1>Resurs Bank</h1>
{{if .Error}}<p class="err" id="error">{{.Error}}</p>{{end}}
{{if eq .Step "form"}}
<p>Att betala: <strong id="amount">{{.Amount}}</strong> <small>(order {{.Ref}})</small></p>
{{template "lines" .}}
<form method="post" action="/web/checkout/{{.ID}}/sign" class="box">
<label for="governmentId">Kundens personnummer</label><input id="governmentId" name="governmentId" value="{{.GovID}}" placeholder="ÅÅÅÅMMDDNNNN" required>
<label for="mobile">Mobilnummer</label><input id="mobile" name="mobile" value="{{.Mobile}}">
<label for="email">E-post</label><input id="email" name="email" value="{{.Email}}">
<label for="method">Betalsätt</label><select id="method" name="method">
{{range .Methods}}<option value="{{.Key}}">{{.Name}}</option>{{end}}</select>
<label><input type="checkbox" name="later" value="1" id="later" style="width:auto"> Betala sen (kunden får en länk)</label>
<label for="validHours">Länken gäller (timmar)</label><input id="validHours" name="validHours" value="24">
<button type="submit" id="next">Fortsätt</button></form>
<details><summary>Testpersoner</summary><ul>{{range .People}}<li><code>{{.GovernmentID}}</code></li>{{end}}</ul></details>
{{else if eq .Step "sign"}}
<div class="box"><h2>BankID</h2><p>Kunden {{.GovID}} signerar köpet på <span id="amount">{{.Amount}}</span>.</p>
<form method="post" action="/web/checkout/{{.ID}}/complete">
<input type="hidden" name="governmentId" value="{{.GovID}}"><input type="hidden" name="mobile" value="{{.Mobile}}">
<input type="hidden" name="email" value="{{.Email}}"><input type="hidden" name="method" value="{{.Method}}">
<button type="submit" id="sign">Signera med BankID</button></form></div>
{{else if eq .Step "link"}}
<div class="box"><h2>Länk skickad</h2><p>Kunden har fått en betallänk. Den gäller till <strong id="validTo">{{.ValidTo}}</strong>.</p>
<p><small>Kundens länk: <a id="link" href="/web/later/{{.ID}}">/web/later/{{.ID}}</a></small></p></div>
{{else if eq .Step "later"}}
<div class="box"><h2>Betala ditt köp</h2><p>Belopp: <strong id="amount">{{.Amount}}</strong>, order {{.Ref}}. Länken gäller till <strong id="validTo">{{.ValidTo}}</strong>.</p>
{{template "lines" .}}
<form method="post" action="/web/checkout/{{.ID}}/sign"><input type="hidden" name="later" value="1">
<label for="governmentId">Personnummer</label><input id="governmentId" name="governmentId" value="{{.GovID}}" required>
<input type="hidden" name="mobile" value="{{.Mobile}}"><input type="hidden" name="email" value="{{.Email}}">
<label for="method">Betalsätt</label><select id="method" name="method">{{range .Methods}}<option value="{{.Key}}">{{.Name}}</option>{{end}}</select>
<button type="submit" id="next">Fortsätt</button></form></div>
{{else}}
<div class="box" id="result" data-state="{{.State}}"><h2>{{.Title}}</h2><p>{{.Message}}</p></div>
{{end}}
</body></html>
{{define "lines"}}{{if .Lines}}<table id="lines"><tr><th>Vara</th><th>Antal</th><th>Belopp</th></tr>
{{range .Lines}}<tr><td>{{.Text}}</td><td class="n">{{.Quantity}}</td><td class="n">{{.Amount}}</td></tr>
{{end}}</table>{{end}}{{end}}`))

type pageData struct {
	Step, Error, ID, Ref, Amount, GovID, Mobile, Email, Method, ValidTo, State, Title, Message string
	Lines                                                                                      []pageLine
	Methods                                                                                    []Method
	People                                                                                     []Person
}

// pageLine is one order line as the checkout shows it: amounts incl. VAT.
type pageLine struct{ Text, Quantity, Amount string }

func (s *Sim) registerPage(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathCheckoutPage, s.pageForm)
	mux.HandleFunc("POST /web/checkout/{id}/sign", s.pageSign)
	mux.HandleFunc("POST /web/checkout/{id}/complete", s.pageComplete)
	mux.HandleFunc("GET /web/later/{id}", s.pageLater)
	mux.HandleFunc("GET /web/dist/js/oc-shop.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write([]byte("// Resurs emulator: the checkout needs no shop-side script.\n"))
	})
}

func (s *Sim) render(w http.ResponseWriter, status int, d pageData) {
	d.Methods, d.People = methods, testPeople
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors *")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

// sessionData returns what the pages show about session id.
func (s *Sim) sessionData(id string) (pageData, SessionInfo, bool) {
	in, err := s.Session(id)
	if err != nil {
		return pageData{Step: "result", State: "UNKNOWN", Title: "Okänd session", Message: "Sessionen finns inte eller har ersatts."}, in, false
	}
	d := pageData{ID: id, Ref: in.OrderReference, State: in.State}
	s.mu.Lock()
	if ss := s.st.sessions[id]; ss != nil {
		d.Amount = kronor(ss.total())
		for _, l := range ss.lines {
			text := l.description
			if text == "" {
				text = l.artNo
			}
			d.Lines = append(d.Lines, pageLine{Text: text, Quantity: quantity(l.quantity) + " " + l.unitMeasure,
				Amount: kronor(lineTotal(l.quantity, l.unitAmount, l.vatPct))})
		}
	}
	s.mu.Unlock()
	if in.ValidTo != nil {
		if t, err := time.Parse(time.RFC3339, *in.ValidTo); err == nil {
			d.ValidTo = t.In(s.loc).Format("2006-01-02 15:04")
		}
	}
	return d, in, true
}

func (s *Sim) resultData(d pageData, in SessionInfo) pageData {
	d.Step, d.State = "result", in.State
	switch in.State {
	case SessionBooked:
		d.Title, d.Message = "Köpet är genomfört", "Betalningen "+in.PaymentID+" är godkänd."
		if in.Payment != nil && in.Payment.Frozen {
			d.Title, d.Message = "Köpet granskas", "Betalningen "+in.PaymentID+" är under kontroll hos Resurs Bank."
		}
	case SessionInspection:
		d.Title, d.Message = "Ansökan granskas", "Resurs Bank granskar köpet manuellt."
	case SessionLinkSent:
		d.Step = "link"
	case SessionRejected:
		d.Title, d.Message = "Köpet nekades", in.Message
	case SessionExpired:
		d.Title, d.Message = "Sessionen har gått ut", in.Message
	default:
		d.Title, d.Message = "Sessionen är avslutad", in.State
	}
	return d
}

func (s *Sim) pageForm(w http.ResponseWriter, r *http.Request) {
	id := r.URL.RawQuery
	d, in, ok := s.sessionData(id)
	if !ok {
		s.render(w, http.StatusNotFound, d)
		return
	}
	if in.State != SessionCreated {
		s.render(w, http.StatusOK, s.resultData(d, in))
		return
	}
	s.mu.Lock()
	if ss := s.st.sessions[id]; ss != nil {
		d.GovID, d.Mobile, d.Email = ss.prefill.governmentID, ss.prefill.phone, ss.prefill.email
	}
	s.mu.Unlock()
	d.Step = "form"
	s.render(w, http.StatusOK, d)
}

// pageSign validates step 1: "Betala sen" sends the link, otherwise the
// BankID step is shown.
func (s *Sim) pageSign(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, in, ok := s.sessionData(id)
	if !ok {
		s.render(w, http.StatusNotFound, d)
		return
	}
	if err := r.ParseForm(); err != nil {
		d.Step, d.Error = "form", "Formuläret kunde inte läsas."
		s.render(w, http.StatusBadRequest, d)
		return
	}
	d.GovID, d.Mobile, d.Email, d.Method = r.PostFormValue("governmentId"), r.PostFormValue("mobile"), r.PostFormValue("email"), r.PostFormValue("method")
	back := "form"
	if in.State == SessionLinkSent {
		back = "later"
	}
	if _, err := s.completion(Complete{GovernmentID: d.GovID, Method: d.Method}); err != nil {
		d.Step, d.Error = back, "Kontrollera personnummer och betalsätt."
		s.render(w, http.StatusBadRequest, d)
		return
	}
	if r.PostFormValue("later") != "" && in.State == SessionCreated {
		hours, err := strconv.ParseFloat(r.PostFormValue("validHours"), 64)
		if err != nil || hours <= 0 || hours > 24*30 {
			d.Step, d.Error = "form", "Ange giltighetstid i timmar (högst 720)."
			s.render(w, http.StatusBadRequest, d)
			return
		}
		s.mu.Lock()
		if ss := s.st.sessions[id]; ss != nil {
			ss.prefill = customer{governmentID: d.GovID, phone: d.Mobile, email: d.Email}
		}
		s.mu.Unlock()
		in, err = s.SendLater(id, s.Now().Add(time.Duration(hours*float64(time.Hour))))
		if err != nil {
			s.render(w, http.StatusConflict, s.resultData(d, in))
			return
		}
		d, _, _ = s.sessionData(id)
		s.render(w, http.StatusOK, s.resultData(d, in))
		return
	}
	d.Step = "sign"
	s.render(w, http.StatusOK, d)
}

func (s *Sim) pageComplete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, in, ok := s.sessionData(id)
	if !ok {
		s.render(w, http.StatusNotFound, d)
		return
	}
	c := Complete{GovernmentID: r.PostFormValue("governmentId"), Method: r.PostFormValue("method"),
		Mobile: r.PostFormValue("mobile"), Email: r.PostFormValue("email"), Later: in.State == SessionLinkSent}
	in, err := s.CompleteSession(id, c)
	if err != nil {
		status := http.StatusConflict
		if errors.Is(err, ErrUnknownUser) || errors.Is(err, ErrBadRequest) {
			status = http.StatusBadRequest
		}
		in, _ = s.Session(id)
		d.Error = "Köpet kunde inte slutföras."
		s.render(w, status, s.resultData(d, in))
		return
	}
	s.render(w, http.StatusOK, s.resultData(d, in))
}

// pageLater is the customer's "Betala sen" link.
func (s *Sim) pageLater(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, in, ok := s.sessionData(id)
	if !ok {
		s.render(w, http.StatusNotFound, d)
		return
	}
	if in.State != SessionLinkSent {
		s.render(w, http.StatusOK, s.resultData(d, in))
		return
	}
	s.mu.Lock()
	if ss := s.st.sessions[id]; ss != nil {
		d.GovID, d.Mobile, d.Email = ss.prefill.governmentID, ss.prefill.phone, ss.prefill.email
	}
	s.mu.Unlock()
	d.Step = "later"
	s.render(w, http.StatusOK, d)
}

// nbsp is the no-break space of Swedish amounts: "1 234,50 kr" must never
// wrap inside the number or before "kr".
const nbsp = "\u00a0"

// kronor shows an amount as a Swedish cashier reads it: rounded half away
// from zero to whole öre, a decimal comma, thousands grouped by no-break
// spaces and " kr" ("1 234,50 kr"). Integer arithmetic only.
func kronor(d dec) string {
	v := int64(d)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	const perOre = decScale / 100
	ore := v / perOre
	if 2*(v%perOre) >= perOre {
		ore++
	}
	return sign + groupThousands(strconv.FormatInt(ore/100, 10)) + "," + strconv.FormatInt(ore%100+100, 10)[1:] + nbsp + "kr"
}

// groupThousands puts a no-break space between groups of three digits.
func groupThousands(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	head := len(digits) % 3
	if head > 0 {
		b.WriteString(digits[:head])
	}
	for i := head; i < len(digits); i += 3 {
		if b.Len() > 0 {
			b.WriteString(nbsp)
		}
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}

// quantity shows a quantity without trailing zeros, with a decimal comma
// ("2", "0,5").
func quantity(d dec) string {
	v := int64(d)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	out := groupThousands(strconv.FormatInt(v/decScale, 10))
	if frac := strings.TrimRight(strconv.FormatInt(v%decScale+decScale, 10)[1:], "0"); frac != "" {
		out += "," + frac
	}
	return sign + out
}
