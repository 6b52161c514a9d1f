package seqrsim_test

import (
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/internal/simctl"
	"github.com/stretchr/testify/require"
)

// fakeClock is the emulator's injected clock; tests move it by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var cet = time.FixedZone("CET", 3600)

type env struct {
	t      *testing.T
	clock  *fakeClock
	sim    *seqrsim.Sim
	calls  *simctl.CallLog
	faults *simctl.Faults
	srv    *httptest.Server
}

// newEnv starts an emulator behind httptest with the control routes mounted
// as cmd/paysim mounts them. The clock starts at 2015-10-29 10:18:48.663 CET.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, clock: &fakeClock{t: time.Date(2015, 10, 29, 10, 18, 48, 663_000_000, cet)}}
	e.calls = simctl.NewCallLog(0)
	e.faults = simctl.NewFaults(rand.New(rand.NewPCG(1, 2)))
	e.sim = seqrsim.New(seqrsim.Options{
		Now:      e.clock.Now,
		Location: cet,
		Calls:    e.calls,
		Faults:   e.faults,
		Rand:     rand.New(rand.NewPCG(3, 4)),
		MaxBody:  64 << 10,
	})
	mux := http.NewServeMux()
	(&simctl.Control{Calls: e.calls, Faults: e.faults}).Register(mux)
	mux.Handle("/", e.sim.Handler())
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

const envOpen = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ext="http://external.interfaces.ers.seamless.com/"><soapenv:Body>`
const envClose = `</soapenv:Body></soapenv:Envelope>`

func envelope(op, inner string) string {
	return envOpen + "<ext:" + op + ">" + inner + "</ext:" + op + ">" + envClose
}

func ctxXML(typ, id, userID, password string) string {
	s := `<context><channel>WS</channel><clientId>ACME POS 1.0</clientId><clientReference>test-0001</clientReference><clientRequestTimeout>0</clientRequestTimeout><initiatorPrincipalId><id>` + id + `</id><type>` + typ + `</type>`
	if userID != "" {
		s += `<userId>` + userID + `</userId>`
	}
	return s + `</initiatorPrincipalId><password>` + password + `</password></context>`
}

func resellerCtx() string { return ctxXML("RESELLERUSER", "public_test_shop", "9900", "1234") }

func termCtx(id, pw string) string { return ctxXML("TERMINALID", id, "", pw) }

// post sends body to path and returns status and response text.
func (e *env) post(path, body string) (int, string) {
	e.t.Helper()
	resp, err := http.Post(e.srv.URL+path, "text/xml; charset=UTF-8", strings.NewReader(body))
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, string(b)
}

// soap calls op on cashregister-2 and requires HTTP 200.
func (e *env) soap(op, inner string) string {
	e.t.Helper()
	code, body := e.post(seqrsim.PathCashRegister2, envelope(op, inner))
	require.Equal(e.t, http.StatusOK, code, body)
	return body
}

// resultCode extracts <resultCode> from a response.
func resultCode(t *testing.T, body string) string {
	t.Helper()
	return field(t, body, "resultCode")
}

func field(t *testing.T, body, name string) string {
	t.Helper()
	m := regexp.MustCompile(`<` + name + `>([^<]*)</` + name + `>`).FindStringSubmatch(body)
	require.NotNil(t, m, "no <%s> in %s", name, body)
	return m[1]
}

const sendXML = `<invoice><paymentMode>IMMEDIATE_DEBIT</paymentMode><acknowledgmentMode>NO_ACKNOWLEDGMENT</acknowledgmentMode>` +
	`<issueDate>2015-12-25T12:34:56</issueDate><title>My Shop</title><clientInvoiceId>R-1001</clientInvoiceId>` +
	`<invoiceRows><invoiceRow><itemDescription>Ice cream</itemDescription><itemQuantity>2</itemQuantity>` +
	`<itemTaxRate>12</itemTaxRate><itemTotalAmount><currency>SEK</currency><value>20.00</value></itemTotalAmount>` +
	`<itemUnitPrice><currency>SEK</currency><value>10.00</value></itemUnitPrice></invoiceRow></invoiceRows>` +
	`<totalAmount><currency>SEK</currency><value>20.00</value></totalAmount><cashierId>Bob</cashierId></invoice>`

// till registers a terminal, assigns seqrID and returns its id and password.
func (e *env) till(seqrID string) (id, pw string) {
	e.t.Helper()
	pw = "k3Jd8sLq0PzX2mA"
	body := e.soap("registerTerminal", resellerCtx()+`<externalTerminalId>Shop 1/POS 2</externalTerminalId><password>`+pw+`</password><name>My Shop, till 2</name>`)
	require.Equal(e.t, "0", resultCode(e.t, body), body)
	id = field(e.t, body, "terminalId")
	if seqrID != "" {
		body = e.soap("assignSeqrId", termCtx(id, pw)+`<seqrId>`+seqrID+`</seqrId>`)
		require.Equal(e.t, "0", resultCode(e.t, body), body)
	}
	return id, pw
}

// send sends the TV3 invoice and returns its reference.
func (e *env) send(id, pw string) string {
	e.t.Helper()
	body := e.soap("sendInvoice", termCtx(id, pw)+sendXML)
	require.Equal(e.t, "0", resultCode(e.t, body), body)
	return field(e.t, body, "invoiceReference")
}

func (e *env) status(id, pw, ref string) string {
	e.t.Helper()
	return e.soap("getPaymentStatus", termCtx(id, pw)+`<invoiceReference>`+ref+`</invoiceReference><invoiceVersion>0</invoiceVersion>`)
}

func simctlFilter(op, ref string) simctl.Filter {
	return simctl.Filter{Service: seqrsim.Service, Operation: op, Reference: ref}
}
