package paysonsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/posd/posd/internal/simctl"
	"go.uber.org/zap"
)

// Operation names in the call log and fault rules.
const (
	OpAccount  = "getAccount"
	OpCreate   = "createCheckout"
	OpGet      = "getCheckout"
	OpUpdate   = "updateCheckout"
	OpList     = "listCheckouts"
	OpNotify   = "notification"
	opNotFound = "unknown"
)

// segments splits a path into lower-cased, non-empty segments: Payson's
// paths are case-insensitive and the .NET SDK sends "/2.0//checkouts".
func segments(path string) []string {
	var out []string
	for _, s := range strings.Split(path, "/") {
		if s != "" {
			out = append(out, strings.ToLower(s))
		}
	}
	return out
}

// IsAPIPath reports whether path belongs to the Payson API (/2.0/...).
func IsAPIPath(path string) bool {
	segs := segments(path)
	return len(segs) > 0 && segs[0] == "2.0"
}

func opOf(r *http.Request) string {
	segs := segments(r.URL.Path)
	switch {
	case len(segs) == 2 && segs[1] == "accounts" && r.Method == http.MethodGet:
		return OpAccount
	case len(segs) == 2 && segs[1] == "checkouts" && r.Method == http.MethodPost:
		return OpCreate
	case len(segs) == 2 && segs[1] == "checkouts" && r.Method == http.MethodGet:
		return OpList
	case len(segs) == 3 && segs[1] == "checkouts" && r.Method == http.MethodGet:
		return OpGet
	case len(segs) == 3 && segs[1] == "checkouts" && r.Method == http.MethodPut:
		return OpUpdate
	}
	return opNotFound
}

// Wrap serves the Payson API (any path whose first segment is "2.0", before
// ServeMux would redirect its double slashes) and /sim/payson/, and hands
// every other request to next.
func (s *Sim) Wrap(next http.Handler) http.Handler {
	api := s.APIHandler()
	ctl := s.ControlHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case IsAPIPath(r.URL.Path):
			api.ServeHTTP(w, r)
		case strings.HasPrefix(r.URL.Path, "/sim/payson/"):
			ctl.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// Handler serves the API and the control routes alone.
func (s *Sim) Handler() http.Handler { return s.Wrap(http.NotFoundHandler()) }

// APIHandler serves /2.0/ with fault injection.
func (s *Sim) APIHandler() http.Handler {
	return s.faults.Middleware(Service, opOf, s.respondFault, http.HandlerFunc(s.serveAPI))
}

func (s *Sim) respondFault(w http.ResponseWriter, _ *http.Request, a simctl.Action) {
	status := http.StatusInternalServerError
	if a.Mode == simctl.ModeResultCode && a.Code >= 400 && a.Code <= 599 {
		status = a.Code
	}
	writeError(w, status, "injected fault", apiError{Property: "", Message: fmt.Sprintf("injected %s", a.Mode)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"encode","errors":[{"property":"","message":"cannot encode"}]}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, msg string, errs ...apiError) {
	if len(errs) == 0 {
		errs = []apiError{{Property: "", Message: msg}}
	}
	writeJSON(w, status, errorBody{Message: msg, Errors: errs})
}

// baseOf is the request's own base URL, for Location and the snippet.
func baseOf(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

// agentOf checks Basic auth: the agent id and API key exactly (the doc's
// quoted variant, 'id:key', is wrong and gets 401 as at Payson).
func (s *Sim) agentOf(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", false
	}
	id, key, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", false
	}
	want, known := s.agents[id]
	return id, known && want == key
}

// result is what one API call answered, for the call log.
type result struct {
	status int
	ref    string
	st     string
}

func (s *Sim) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	op := opOf(r)
	agent, authed := s.agentOf(r)
	var res result
	defer func() {
		code := res.status
		c := simctl.Call{Time: s.clock.Now(), Service: Service, Operation: op, Path: r.URL.Path,
			PrincipalID: agent, Reference: res.ref, ResultCode: &code, Duration: time.Since(start)}
		if res.st != "" {
			c.Detail = map[string]string{"status": res.st}
		}
		s.calls.Add(c)
		s.log.Debug("payson call", zap.String("op", op), zap.String("path", r.URL.Path), zap.Int("status", code))
	}()
	if !authed {
		w.Header().Set("WWW-Authenticate", `Basic realm="Payson"`)
		res.status = http.StatusUnauthorized
		writeError(w, res.status, "Unauthorized", apiError{Property: "authorization",
			Message: "agent id and API key do not match (Basic base64(agentId:apiKey))"})
		return
	}
	segs := segments(r.URL.Path)
	switch op {
	case OpAccount:
		res = s.account(w, agent)
	case OpCreate:
		res = s.create(w, r, agent)
	case OpGet:
		res = s.get(w, segs[2], agent)
	case OpUpdate:
		res = s.update(w, r, segs[2], agent)
	case OpList:
		res = s.list(w, r, agent)
	default:
		res.status = http.StatusNotFound
		if len(segs) >= 2 && (segs[1] == "checkouts" || segs[1] == "accounts") {
			res.status = http.StatusMethodNotAllowed
		}
		writeError(w, res.status, "No such resource", apiError{Property: "path", Message: r.Method + " " + r.URL.Path + " is not an API resource"})
	}
}

func (s *Sim) account(w http.ResponseWriter, agent string) result {
	id, _ := strconv.ParseInt(agent, 10, 64)
	email := TestAccountEmail
	if agent != TestAgentID {
		email = "agent" + agent + "@example.invalid"
	}
	writeJSON(w, http.StatusOK, map[string]any{"accountEmail": email, "status": "Approved", "merchantId": id,
		"enabledForInvoice": true, "enabledForpaymentPlan": true, "enabledForRecurringPayments": false})
	return result{status: http.StatusOK}
}

func (s *Sim) readBody(w http.ResponseWriter, r *http.Request) (obj, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Cannot read the body", apiError{Property: "body", Message: err.Error()})
		return nil, false
	}
	m, err := parseBody(b)
	if err != nil {
		writeError(w, http.StatusBadRequest, "The body is not JSON", apiError{Property: "body", Message: err.Error()})
		return nil, false
	}
	return m, true
}

func (s *Sim) create(w http.ResponseWriter, r *http.Request, agent string) result {
	m, ok := s.readBody(w, r)
	if !ok {
		return result{status: http.StatusBadRequest}
	}
	now := s.clock.Now()
	var p parser
	c := &checkout{id: newUUID(), agent: agent, status: stCreated, history: map[string]time.Time{},
		expiration: now.Add(s.expiry), base: baseOf(r)}
	if v, ok := p.str(m, "id", "id"); ok && !zeroID(v) {
		p.add("id", "must be empty on create; Payson assigns the id")
	}
	if v, ok := p.maxLen(m, "description", "description", 40_000); ok {
		c.description = v
	}
	if v, ok := p.str(m, "expirationtime", "expirationTime"); ok && v != "" {
		t, err := parseTime(v)
		if err != nil {
			p.add("expirationTime", "must be an ISO-8601 date and time")
		} else if !t.After(now) {
			p.add("expirationTime", "must be in the future")
		} else {
			c.expiration = t
		}
	}
	if mo, ok := p.object(m, "merchant", "merchant"); ok {
		p.merchantIn(mo, &c.merchant, true)
	} else {
		p.add("merchant", "is required")
	}
	if co, ok := p.object(m, "customer", "customer"); ok {
		p.customerIn(co, &c.customer)
	}
	if g, ok := p.object(m, "gui", "gui"); ok {
		p.guiIn(g, &c.gui)
	}
	if o, ok := p.object(m, "order", "order"); ok {
		if cur, ok := p.enum(o, "currency", "order.currency", currencies, currencyInts); ok {
			c.currency = cur
		} else if _, given := o["currency"]; !given {
			p.add("order.currency", "is required (SEK or EUR)")
		}
		items, _ := o["items"].([]any)
		if len(items) == 0 {
			p.add("order.items", "at least one item is required")
		}
		for i, e := range items {
			prefix := fmt.Sprintf("order.items[%d].", i)
			im, ok := e.(obj)
			if !ok {
				p.add(strings.TrimSuffix(prefix, "."), "must be an object")
				continue
			}
			if v, ok := p.str(im, "itemid", prefix+"itemId"); ok && !zeroID(v) {
				p.add(prefix+"itemId", "must be empty on create; Payson assigns item ids")
			}
			it := p.itemIn(im, prefix, nil)
			it.id = newUUID()
			c.items = append(c.items, it)
		}
	} else {
		p.add("order", "is required")
	}
	if len(p.errs) == 0 {
		if lim, ok := purchaseLimits[c.currency]; ok {
			if t := c.totals(); t.incl.Cmp(lim[0]) < 0 || t.incl.Cmp(lim[1]) > 0 {
				p.add("order.totalPriceIncludingTax", "%s %s is outside the purchase limits %s..%s",
					dec(t.incl, 2), c.currency, dec(lim[0], 2), dec(lim[1], 2))
			}
		}
	}
	if len(p.errs) > 0 {
		writeError(w, http.StatusBadRequest, "Validation failed, look at the errors", p.errs...)
		return result{status: http.StatusBadRequest}
	}
	s.mu.Lock()
	s.checkouts[c.id] = c
	s.order = append(s.order, c)
	s.setStatus(c, stCreated, now)
	out := c.render()
	s.mu.Unlock()
	w.Header().Set("Location", c.base+"/2.0/Checkouts/"+c.id)
	writeJSON(w, http.StatusCreated, out)
	return result{status: http.StatusCreated, ref: c.id, st: c.status}
}

func (s *Sim) get(w http.ResponseWriter, id, agent string) result {
	s.mu.Lock()
	c, err := s.lookupFor(id, agent)
	var out checkoutOut
	if err == nil {
		out = c.render()
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusNotFound, "Checkout not found", apiError{Property: "id", Message: "no checkout " + id})
		return result{status: http.StatusNotFound, ref: id}
	}
	writeJSON(w, http.StatusOK, out)
	return result{status: http.StatusOK, ref: out.ID, st: out.Status}
}

func (s *Sim) update(w http.ResponseWriter, r *http.Request, id, agent string) result {
	m, ok := s.readBody(w, r)
	if !ok {
		return result{status: http.StatusBadRequest, ref: id}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.lookupFor(id, agent)
	if err != nil {
		writeError(w, http.StatusNotFound, "Checkout not found", apiError{Property: "id", Message: "no checkout " + id})
		return result{status: http.StatusNotFound, ref: id}
	}
	now := s.clock.Now()
	c := cur.clone()
	var p parser
	if v, ok := p.str(m, "id", "id"); ok && !zeroID(v) && !strings.EqualFold(v, c.id) {
		p.add("id", "does not match the checkout in the path")
	}
	if v, ok := p.str(m, "description", "description"); ok {
		c.description = v
	}
	if mo, ok := p.object(m, "merchant", "merchant"); ok {
		p.merchantIn(mo, &c.merchant, false)
	}
	if co, ok := p.object(m, "customer", "customer"); ok {
		p.customerIn(co, &c.customer)
	}
	if g, ok := p.object(m, "gui", "gui"); ok {
		p.guiIn(g, &c.gui)
	}
	if o, ok := p.object(m, "order", "order"); ok {
		s.updateOrder(&p, o, c)
	}
	target, hasTarget := p.enum(m, "status", "status", statusNames, statusByInt)
	if hasTarget && target != c.status {
		switch {
		case target == stShipped && c.status != stReadyToShip:
			p.add("status", "shipped can only be set from readyToShip (the checkout is %s)", c.status)
		case target == stCanceled && !beforePayment(c.status) && c.status != stReadyToShip:
			p.add("status", "canceled can only be set before shipped (the checkout is %s)", c.status)
		case target != stShipped && target != stCanceled:
			p.add("status", "the merchant may set only shipped or canceled, not %s", target)
		}
	}
	if len(p.errs) > 0 {
		writeError(w, http.StatusBadRequest, "Validation failed, look at the errors", p.errs...)
		return result{status: http.StatusBadRequest, ref: cur.id, st: cur.status}
	}
	*cur = *c
	if hasTarget && target != cur.status {
		s.setStatus(cur, target, now)
	}
	writeJSON(w, http.StatusOK, cur.render())
	return result{status: http.StatusOK, ref: cur.id, st: cur.status}
}

// updateOrder applies an update's order: the cart may change only before
// payment, credits only after shipping, and every item must carry its
// itemId (the emulator's deliberate rule for partial clients, I.12).
func (s *Sim) updateOrder(p *parser, o obj, c *checkout) {
	if cur, ok := p.enum(o, "currency", "order.currency", currencies, currencyInts); ok && cur != c.currency {
		p.add("order.currency", "cannot change")
	}
	raw, present := o["items"]
	if !present || raw == nil {
		if t, ok := p.num(o, "totalcreditedamount", "order.totalCreditedAmount"); ok && t.Cmp(c.totals().credited) != 0 {
			p.add("order.totalCreditedAmount", "must equal the sum of the items' creditedAmount")
		}
		return
	}
	arr, ok := raw.([]any)
	if !ok {
		p.add("order.items", "must be an array")
		return
	}
	byID := map[string]*item{}
	for _, it := range c.items {
		byID[strings.ToLower(it.id)] = it
	}
	cartChanged := len(arr) != len(c.items)
	var items []*item
	seen := map[string]bool{}
	for i, e := range arr {
		prefix := fmt.Sprintf("order.items[%d].", i)
		im, ok := e.(obj)
		if !ok {
			p.add(strings.TrimSuffix(prefix, "."), "must be an object")
			continue
		}
		idText, _ := p.str(im, "itemid", prefix+"itemId")
		if zeroID(idText) {
			p.add(prefix+"itemId", "is required on update (GET the checkout and PUT it back with every itemId)")
			continue
		}
		prev, ok := byID[strings.ToLower(idText)]
		if !ok || seen[prev.id] {
			p.add(prefix+"itemId", "no such item in this checkout")
			continue
		}
		seen[prev.id] = true
		before := len(p.errs)
		it := p.itemIn(im, prefix, prev)
		if len(p.errs) > before {
			continue
		}
		if !sameLine(prev, it) {
			cartChanged = true
		}
		if cr, ok := p.num(im, "creditedamount", prefix+"creditedAmount"); ok && cr.Cmp(prev.credited) != 0 {
			incl, _, _ := prev.totals()
			switch {
			case c.status != stShipped && c.status != stPaidToAccount:
				p.add(prefix+"creditedAmount", "can only change after the checkout is shipped (it is %s)", c.status)
			case !twoDecimals(cr):
				p.add(prefix+"creditedAmount", "must have at most 2 decimals")
			case cr.Cmp(prev.credited) < 0:
				p.add(prefix+"creditedAmount", "cannot be lowered (%s already credited)", dec(prev.credited, 2))
			case cr.Cmp(incl) > 0:
				p.add(prefix+"creditedAmount", "%s is more than the item's total %s", dec(cr, 2), dec(incl, 2))
			default:
				it.credited = cr
			}
		}
		items = append(items, it)
	}
	if cartChanged && !beforePayment(c.status) {
		p.add("order.items", "the cart can only change before readyToShip (the checkout is %s)", c.status)
		return
	}
	if cartChanged {
		cp := &checkout{items: items}
		if lim, ok := purchaseLimits[c.currency]; ok && len(items) > 0 {
			if t := cp.totals(); t.incl.Cmp(lim[0]) < 0 || t.incl.Cmp(lim[1]) > 0 {
				p.add("order.totalPriceIncludingTax", "%s %s is outside the purchase limits", dec(t.incl, 2), c.currency)
			}
		}
		if len(items) == 0 {
			p.add("order.items", "at least one item is required")
		}
	}
	if len(p.errs) > 0 {
		return
	}
	c.items = items
	// totalCreditedAmount is derived when left out (I.20); given, it must agree.
	if t, ok := p.num(o, "totalcreditedamount", "order.totalCreditedAmount"); ok && t.Cmp(c.totals().credited) != 0 {
		p.add("order.totalCreditedAmount", "%s does not equal the sum of the items' creditedAmount %s", dec(t, 2), dec(c.totals().credited, 2))
	}
}

func ratEq(a, b *big.Rat) bool { return a.Cmp(b) == 0 }

func sameLine(a, b *item) bool {
	return a.name == b.name && ratEq(a.unitPrice, b.unitPrice) && ratEq(a.quantity, b.quantity) &&
		ratEq(a.taxRate, b.taxRate) && ratEq(a.discountRate, b.discountRate) && a.typ == b.typ
}

type listOut struct {
	PageSize   int           `json:"pageSize"`
	Page       int           `json:"page"`
	TotalPages int           `json:"totalPages"`
	Count      int           `json:"count"`
	TotalCount int           `json:"totalCount"`
	Data       []checkoutOut `json:"data"`
}

func (s *Sim) list(w http.ResponseWriter, r *http.Request, agent string) result {
	q := map[string]string{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			q[strings.ToLower(k)] = v[0]
		}
	}
	var p parser
	status := ""
	if v := q["status"]; v != "" {
		status, _ = p.enum(obj{"status": v}, "status", "status", statusNames, statusByInt)
	}
	page, size := 1, s.pageSize
	for _, f := range []struct {
		key string
		dst *int
	}{{"page", &page}, {"pagesize", &size}} {
		if v := q[f.key]; v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				p.add(f.key, "must be a whole number from 1 to 1000")
				continue
			}
			*f.dst = n
		}
	}
	if len(p.errs) > 0 {
		writeError(w, http.StatusBadRequest, "Invalid list query", p.errs...)
		return result{status: http.StatusBadRequest}
	}
	s.mu.Lock()
	now := s.clock.Now()
	var match []*checkout
	for _, c := range s.order {
		s.applyTime(c, now)
		if c.agent == agent && (status == "" || c.status == status) {
			match = append(match, c)
		}
	}
	sort.SliceStable(match, func(i, j int) bool { return match[i].history[stCreated].Before(match[j].history[stCreated]) })
	out := listOut{PageSize: size, Page: page, TotalCount: len(match), Data: []checkoutOut{}}
	out.TotalPages = (len(match) + size - 1) / size
	for i := (page - 1) * size; i < len(match) && i < page*size; i++ {
		out.Data = append(out.Data, match[i].render())
	}
	s.mu.Unlock()
	out.Count = len(out.Data)
	writeJSON(w, http.StatusOK, out)
	return result{status: http.StatusOK, st: status}
}
