package seqr

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Test principals: TV1's reseller and terminal (spec 6).
var (
	testReseller = Principal{Type: PrincipalResellerUser, ID: "public_test_shop", UserID: "9900", Password: "1234"}
	testTerminal = Principal{Type: PrincipalTerminal, ID: "87e791f9e24148a6892c52aa85bb0331", Password: "k3Jd8sLq0PzX2mA"}
)

func testConfig(url string) Config {
	return Config{URL: url, ClientID: "ACME POS 1.0", ClientReference: "reg-0001"}
}

func newTestClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	require.NoError(t, err)
	return c
}

// envelope wraps an operation response the way CXF prints it (spec 1.4).
func envelope(op, inner string) string {
	return `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>` +
		`<ns2:` + op + `Response xmlns:ns2="http://external.interfaces.ers.seamless.com/"><return>` +
		inner + `</return></ns2:` + op + `Response></soap:Body></soap:Envelope>`
}

const success = `<resultCode>0</resultCode><resultDescription>SUCCESS</resultDescription>`

// successReturns is a plausible successful <return> per operation.
var successReturns = map[string]string{
	opRegisterTerminal:      success + `<terminalId>87e791f9e24148a6892c52aa85bb0331</terminalId>`,
	opSendInvoice:           success + `<invoiceQRCode>HTTP://SEQR.SE/R1397222701693</invoiceQRCode><invoiceReference>1397222701693</invoiceReference>`,
	opGetPaymentStatus:      success + `<status>ISSUED</status><version>1</version>`,
	opRefundPayment:         `<ersReference>2015103011000000001032700</ersReference>` + success,
	opMarkTransactionPeriod: success + `<transactionPeriodId>2015120408534212001005262</transactionPeriodId>`,
	opExecuteReport:         success + `<report><title>STD_RECON_006_2015120408534212001005262.xml</title><mimeType>text/html</mimeType><content>PGEvPg==</content><contentString>&lt;a/&gt;</contentString></report>`,
}

var opPattern = regexp.MustCompile(`<ext:(\w+)`)

// recorded is one request as the fake server saw it.
type recorded struct {
	op     string
	body   []byte
	header http.Header
}

// fakeServer answers every operation with respond(op) (or a canned success)
// and records what it received.
type fakeServer struct {
	*httptest.Server
	mu      sync.Mutex
	calls   []recorded
	respond func(op string) (status int, body string)
}

func newFakeServer(t testing.TB, respond func(op string) (int, string)) *fakeServer {
	t.Helper()
	f := &fakeServer{respond: respond}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		op := ""
		if m := opPattern.FindSubmatch(body); m != nil {
			op = string(m[1])
		}
		f.mu.Lock()
		f.calls = append(f.calls, recorded{op: op, body: body, header: r.Header.Clone()})
		f.mu.Unlock()
		status, resp := http.StatusOK, ""
		if f.respond != nil {
			status, resp = f.respond(op)
		}
		if resp == "" && status == http.StatusOK {
			inner, ok := successReturns[op]
			if !ok {
				inner = success
			}
			resp = envelope(op, inner)
		}
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, resp)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) last(t testing.TB) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.calls, "the server received no request")
	return f.calls[len(f.calls)-1]
}

func (f *fakeServer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// replyWith answers every call with body and HTTP status.
func replyWith(status int, body string) func(string) (int, string) {
	return func(string) (int, string) { return status, body }
}
