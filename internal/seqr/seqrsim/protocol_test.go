package seqrsim_test

import (
	"encoding/xml"
	"net/http"
	"strings"
	"testing"

	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func faultBody(code, msg string) string {
	return respOpen + `<soap:Fault><faultcode>` + code + `</faultcode><faultstring>` + msg + `</faultstring></soap:Fault>` + respEnd
}

// TestFaultsTV13 sends bad input and checks the SOAP 1.1 fault (HTTP 500)
// the spec names, or the resultCode where the real server does not fault.
func TestFaultsTV13(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		status    int
		faultcode string // "" for no fault
		msg       string // exact faultstring when set
		result    string // resultCode when no fault
	}{
		{name: "unknown operation", body: envelope("fooBar", ""), status: 500, faultcode: "soap:Client",
			msg: "Message part {http://external.interfaces.ers.seamless.com/}fooBar was not recognized. (Does it exist in service WSDL?)"},
		{name: "wrapper in another namespace", body: envOpen + `<x:sendInvoice xmlns:x="http://example.com/">` + termCtx("a", "b") + `</x:sendInvoice>` + envClose,
			status: 500, faultcode: "soap:Client", msg: "Message part {http://example.com/}sendInvoice was not recognized. (Does it exist in service WSDL?)"},
		{name: "wrapper in no namespace", body: envOpen + `<sendInvoice/>` + envClose, status: 500, faultcode: "soap:Client",
			msg: "Message part {}sendInvoice was not recognized. (Does it exist in service WSDL?)"},
		{name: "SOAP 1.2 envelope", body: `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><ext:benchmarkingNop xmlns:ext="http://external.interfaces.ers.seamless.com/"/></env:Body></env:Envelope>`,
			status: 500, faultcode: "soap:VersionMismatch", msg: "Invalid SOAP version"},
		{name: "malformed XML", body: envOpen + `<ext:getPaymentStatus><context>` + envClose, status: 500, faultcode: "soap:Client"},
		{name: "not XML", body: `hello`, status: 500, faultcode: "soap:Client"},
		{name: "empty body", body: ``, status: 500, faultcode: "soap:Client"},
		{name: "DOCTYPE", body: `<!DOCTYPE x [<!ENTITY a "aaaa">]>` + envelope("benchmarkingNop", ""), status: 500, faultcode: "soap:Client"},
		{name: "no Body", body: `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/></soapenv:Envelope>`, status: 500, faultcode: "soap:Client"},
		{name: "empty Body", body: envOpen + envClose, status: 500, faultcode: "soap:Client"},
		{name: "not an envelope", body: `<foo/>`, status: 500, faultcode: "soap:Client"},
		{name: "two roots", body: envelope("benchmarkingNop", "") + `<x/>`, status: 500, faultcode: "soap:Client"},
		{name: "latin-1 declared", body: `<?xml version="1.0" encoding="ISO-8859-1"?>` + envelope("benchmarkingNop", ""), status: 500, faultcode: "soap:Client"},
		{name: "oversize body", body: envelope("benchmarkingNop", "<x>"+strings.Repeat("a", 70<<10)+"</x>"), status: 500, faultcode: "soap:Client",
			msg: "Request body larger than 65536 bytes"},
		{name: "default namespace wrapper is processed with empty parameters",
			body:   envOpen + `<sendInvoice xmlns="http://external.interfaces.ers.seamless.com/">` + termCtx(seqrsim.TestTerminalID, seqrsim.TestTerminalPassword) + sendXML + `</sendInvoice>` + envClose,
			status: 200, result: "29"},
		{name: "header is ignored", body: `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ext="http://external.interfaces.ers.seamless.com/"><soapenv:Header><x:y xmlns:x="urn:x" soapenv:mustUnderstand="0"/></soapenv:Header><soapenv:Body><ext:benchmarkingNop/></soapenv:Body></soapenv:Envelope>`,
			status: 200, result: "0"},
		{name: "other prefixes and XML declaration", body: `<?xml version="1.0" encoding="UTF-8"?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><q:benchmarkingNop xmlns:q="http://external.interfaces.ers.seamless.com/"></q:benchmarkingNop></S:Body></S:Envelope>`,
			status: 200, result: "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			status, body := e.post(seqrsim.PathCashRegister2, tc.body)
			assert.Equal(t, tc.status, status, body)
			if tc.faultcode != "" {
				assert.Equal(t, tc.faultcode, field(t, body, "faultcode"))
				if tc.msg != "" {
					assert.Equal(t, faultBody(tc.faultcode, tc.msg), body)
				}
				assert.NoError(t, xml.Unmarshal([]byte(body), new(struct{})), "fault must be well-formed")
			} else {
				assert.Equal(t, tc.result, resultCode(t, body))
			}
			calls := e.calls.Calls(simctlFilter("", ""))
			require.Len(t, calls, 1, "every SOAP call is logged, faults too")
			if tc.faultcode != "" {
				assert.Nil(t, calls[0].ResultCode)
				assert.NotEmpty(t, calls[0].Fault)
			}
		})
	}
}

func TestEndpointsAndMethods(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{seqrsim.PathCashRegister2, seqrsim.PathServiceV2, seqrsim.PathServiceV1, seqrsim.PathCashRegister2 + "?wsdl"} {
		status, body := e.post(p, envelope("benchmarkingNop", ""))
		assert.Equal(t, http.StatusOK, status, p)
		assert.Equal(t, "0", resultCode(t, body), p)
	}
	resp, err := http.Get(e.srv.URL + seqrsim.PathServiceV1)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, "GET without ?wsdl is a fault")
	req, _ := http.NewRequest(http.MethodPut, e.srv.URL+seqrsim.PathServiceV1, nil)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// TestLeniency checks spec 1.5: any order, unknown elements, invalid enum
// literals and numbers become null, missing invoiceVersion is 0.
func TestLeniency(t *testing.T) {
	e := newEnv(t)
	id, pw := e.till("TILL1")

	// Context children shuffled, unknown elements everywhere, no
	// clientRequestTimeout, no channel/clientId/clientReference.
	ctx := `<context><password>` + pw + `</password><future>1</future><initiatorPrincipalId><type>TERMINALID</type><extra/><id>` + id + `</id></initiatorPrincipalId></context>`
	inv := `<invoice><cashierId>Bob</cashierId><unknownField><deep>x</deep></unknownField>` +
		`<totalAmount><value>20.00</value><currency>SEK</currency></totalAmount>` +
		`<acknowledgmentMode>ACKNOWLEDGMENT</acknowledgmentMode><paymentMode>IMMEDIATE_DEBIT</paymentMode>` +
		`<commitReservationTimeout>soon</commitReservationTimeout><issueDate>yesterday</issueDate>` +
		`<invoiceRows><invoiceRow><itemTotalAmount><currency>SEK</currency><value>+020.00</value></itemTotalAmount><itemQuantity>two</itemQuantity></invoiceRow></invoiceRows>` +
		`<title>Shop</title></invoice>`
	body := e.soap("sendInvoice", inv+`<bogus/>`+ctx)
	require.Equal(t, "0", resultCode(t, body), body)
	ref := field(t, body, "invoiceReference")

	// Missing invoiceVersion; invoiceReference after it would not matter either.
	body = e.soap("getPaymentStatus", `<invoiceReference>`+ref+`</invoiceReference>`+ctx)
	assert.Equal(t, "ISSUED", field(t, body, "status"))

	// The invalid acknowledgmentMode became null: on cashregister-2 the
	// phone then waits for the till (spec 1.1 / 5.3).
	w, err := e.sim.Scan("TILL1")
	require.NoError(t, err)
	assert.Equal(t, "PENDING_ISSUER_ACKNOWLEDGE", w.Status)
	body = e.soap("updateInvoice", ctx+`<invoiceReference>`+ref+`</invoiceReference>`+strings.Replace(inv, "ACKNOWLEDGMENT<", "NO_ACKNOWLEDGMENT<", 1))
	require.Equal(t, "0", resultCode(t, body), body)
	_, err = e.sim.Pay("TILL1", seqrsim.OutcomePaid)
	require.NoError(t, err)

	// The receipt echoes the invoice in schema order with the nulls omitted
	// and the decimal canonical.
	body = e.soap("getPaymentStatus", ctx+`<invoiceVersion>x</invoiceVersion><invoiceReference>`+ref+`</invoiceReference>`)
	assert.Contains(t, body, `<invoice><paymentMode>IMMEDIATE_DEBIT</paymentMode><acknowledgmentMode>NO_ACKNOWLEDGMENT</acknowledgmentMode><title>Shop</title>`+
		`<invoiceRows><invoiceRow><itemTotalAmount><currency>SEK</currency><value>20.00</value></itemTotalAmount></invoiceRow></invoiceRows>`+
		`<totalAmount><currency>SEK</currency><value>20.00</value></totalAmount><cashierId>Bob</cashierId></invoice>`)
	assert.Equal(t, "PAID", field(t, body, "status"))

	// v1 endpoint: a missing acknowledgmentMode does not ask the till.
	status, body := e.post(seqrsim.PathServiceV1, envelope("sendInvoice", ctx+`<invoice><totalAmount><currency>SEK</currency><value>5</value></totalAmount></invoice>`))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "0", resultCode(t, body), body)
	w, err = e.sim.Scan("TILL1")
	require.NoError(t, err)
	assert.Equal(t, "ISSUED", w.Status)

	// A RESELLERUSER with the combined id/userId form and no userId.
	body = e.soap("registerTerminal", ctxXML("RESELLERUSER", "public_test_shop/9900", "", "1234")+`<password>abcd</password>`)
	assert.Equal(t, "0", resultCode(t, body))

	// Parameter entries directly under <parameters> are dropped (spec 3.1):
	// the period is shop-wide, so a per-terminal report never becomes ready.
	body = e.soap("markTransactionPeriod", resellerCtx()+`<parameters><entry><key>TERMINALID</key><value>`+id+`</value></entry></parameters>`)
	pid := field(t, body, "transactionPeriodId")
	e.clock.Advance(seqrsim.DefaultReportDelay)
	body = e.soap("executeReport", resellerCtx()+`<reportId>Reconciliation/STD_RECON_006.xml</reportId><parameters><parameter><entry><key>transactionPeriodId</key><value>`+pid+`</value></entry><entry><key>TERMINALID</key><value>`+id+`</value></entry></parameter></parameters>`)
	assert.Equal(t, "2", resultCode(t, body))
}
