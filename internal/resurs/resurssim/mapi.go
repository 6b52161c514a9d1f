package resurssim

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// problem is an RFC 9457 body as the Merchant API answers errors (spec C.3).
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Errors   []struct {
		Pointer string `json:"pointer"`
		Detail  string `json:"detail"`
	} `json:"errors,omitempty"`
}

func writeProblem(w http.ResponseWriter, r *http.Request, status int, title, detail, pointer string) {
	p := problem{Type: "about:blank", Title: title, Status: status, Detail: detail, Instance: r.URL.Path}
	if pointer != "" {
		p.Errors = append(p.Errors, struct {
			Pointer string `json:"pointer"`
			Detail  string `json:"detail"`
		}{pointer, detail})
	}
	b, _ := json.Marshal(p)
	w.Header().Set("Content-Type", problemJSONMediaType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// restMAPI wraps a Merchant API route; bearer routes need a live token. The
// token route itself ignores any Authorization header (spec I.16) and is
// never rate-limited (I.1).
func (s *Sim) restMAPI(op string, bearer bool, fn restFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := func(w http.ResponseWriter, r *http.Request) bool {
			if !bearer {
				return true
			}
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if ok && s.validToken(strings.TrimSpace(tok), op == "paymentMethodTypes") {
				return true
			}
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeProblem(w, r, http.StatusUnauthorized, "Unauthorized", "missing, unknown or expired access token", "")
			return false
		}
		inject := func(w http.ResponseWriter, code int, text string) {
			if code < 400 || code > 599 {
				code = http.StatusInternalServerError
			}
			if text == "" {
				text = "injected by the emulator"
			}
			writeProblem(w, r, code, http.StatusText(code), text, "")
		}
		s.serveREST(w, r, op, auth, inject, fn)
	}
}

func (s *Sim) validToken(tok string, widgetToo bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	if exp, ok := s.st.tokens[tok]; ok && now.Before(exp) {
		return true
	}
	// Whether the types call takes the JWT or the widget token is not
	// documented (spec G.9): accept both.
	if exp, ok := s.st.widgets[tok]; widgetToo && ok && now.Before(exp) {
		return true
	}
	return false
}

// mapiToken is the OAuth2 client-credentials grant, as JSON or form body.
func (s *Sim) mapiToken(w http.ResponseWriter, r *http.Request, body []byte, rec *recorder) {
	var in struct {
		GrantType    string `json:"grant_type"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		Scope        string `json:"scope"`
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	trimmed := strings.TrimSpace(string(body))
	if mt == "application/json" || strings.HasPrefix(trimmed, "{") {
		if err := json.Unmarshal(body, &in); err != nil {
			tokenError(w, http.StatusBadRequest, "invalid_request", "malformed JSON body")
			return
		}
	} else {
		v, err := url.ParseQuery(trimmed)
		if err != nil {
			tokenError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
			return
		}
		in.GrantType, in.ClientID, in.ClientSecret, in.Scope = v.Get("grant_type"), v.Get("client_id"), v.Get("client_secret"), v.Get("scope")
	}
	rec.ref = in.ClientID
	switch {
	case in.GrantType != "client_credentials":
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
		return
	case subtle.ConstantTimeCompare([]byte(in.ClientID), []byte(TestClientID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(in.ClientSecret), []byte(TestClientSecret)) != 1:
		tokenError(w, http.StatusBadRequest, "invalid_client", "Bad client credentials")
		return
	}
	switch in.Scope {
	case "", "mock-merchant-api", "merchant-api", "checkout-plus-api", "test-checkout-plus-api":
	default:
		tokenError(w, http.StatusBadRequest, "invalid_scope", "unknown scope "+in.Scope)
		return
	}
	scope := in.Scope
	if scope == "" {
		scope = "mock-merchant-api"
	}
	s.mu.Lock()
	now := s.clock()
	exp := now.Add(s.tokenTTL)
	tok := s.jwt(scope, now, exp)
	s.st.tokens[tok] = exp
	for t, e := range s.st.tokens {
		if !now.Before(e) {
			delete(s.st.tokens, t)
		}
	}
	s.mu.Unlock()
	writeMessage(w, http.StatusOK, struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		Scope       string `json:"scope"`
	}{tok, "Bearer", int64(s.tokenTTL / time.Second), scope})
}

// jwt returns an unsigned-looking but well-formed JWT; the emulator only
// compares it, clients must treat it as opaque.
func (s *Sim) jwt(scope string, now, exp time.Time) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{"iss": "resurssim", "sub": TestClientID, "scope": scope,
		"iat": now.Unix(), "exp": exp.Unix(), "jti": s.uuid()})
	return head + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString([]byte(s.token(32)))
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeMessage(w, status, struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}{code, desc})
}

func (s *Sim) widgetSession(w http.ResponseWriter, r *http.Request, body []byte, rec *recorder) {
	var in struct {
		StoreID string `json:"storeId"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeProblem(w, r, http.StatusBadRequest, "Bad Request", "malformed JSON body", "/")
		return
	}
	rec.ref = in.StoreID
	if !isUUID(in.StoreID) {
		writeProblem(w, r, http.StatusBadRequest, "Bad Request", "storeId must be a UUID", "/storeId")
		return
	}
	if !strings.EqualFold(in.StoreID, TestStoreID) {
		writeProblem(w, r, http.StatusNotFound, "Not Found", "store "+in.StoreID+" is not one of this client's stores", "/storeId")
		return
	}
	s.mu.Lock()
	now := s.clock()
	tok := "rpmw_" + s.token(40)
	exp := now.Add(s.widgetTT)
	s.st.widgets[tok] = exp
	s.mu.Unlock()
	type data struct {
		Token     string `json:"token"`
		ExpiresAt string `json:"expiresAt"`
	}
	writeMessage(w, http.StatusOK, struct {
		Data data `json:"data"`
	}{data{tok, exp.UTC().Format(time.RFC3339)}})
}

func (s *Sim) widgetTypes(w http.ResponseWriter, r *http.Request, body []byte, rec *recorder) {
	var in struct {
		StoreID         string   `json:"storeId"`
		CustomerType    string   `json:"customerType"`
		PaymentMethodID []string `json:"paymentMethodId"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeProblem(w, r, http.StatusBadRequest, "Bad Request", "malformed JSON body", "/")
		return
	}
	rec.ref = in.StoreID
	switch {
	case !isUUID(in.StoreID):
		writeProblem(w, r, http.StatusBadRequest, "Bad Request", "storeId must be a UUID", "/storeId")
		return
	case in.CustomerType != "B2B" && in.CustomerType != "B2C":
		writeProblem(w, r, http.StatusBadRequest, "Bad Request", fmt.Sprintf("customerType %q must be B2B or B2C", in.CustomerType), "/customerType")
		return
	}
	types := map[string]string{}
	for i, id := range in.PaymentMethodID {
		if !isUUID(id) {
			writeProblem(w, r, http.StatusBadRequest, "Bad Request", "paymentMethodId must hold UUIDs", fmt.Sprintf("/paymentMethodId/%d", i))
			return
		}
		for _, m := range methods {
			if strings.EqualFold(m.UUID, id) && in.CustomerType == "B2C" {
				types[id] = m.WidgetType
			}
		}
	}
	writeMessage(w, http.StatusOK, struct {
		Types map[string]string `json:"types"`
	}{types})
}
