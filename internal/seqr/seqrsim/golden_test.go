package seqrsim_test

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	respOpen = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>`
	respEnd  = `</soap:Body></soap:Envelope>`
)

func wrapResp(op, ret string) string {
	return respOpen + `<ns2:` + op + `Response xmlns:ns2="http://external.interfaces.ers.seamless.com/"><return>` + ret + `</return></ns2:` + op + `Response>` + respEnd
}

// TestGoldenTV1 checks the exact bytes of registerTerminal (spec TV1).
func TestGoldenTV1(t *testing.T) {
	e := newEnv(t)
	code, body := e.post(seqrsim.PathCashRegister2, `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ext="http://external.interfaces.ers.seamless.com/">
 <soapenv:Body><ext:registerTerminal>
  <context><channel>WS</channel><clientId>ACME POS 1.0</clientId><clientReference>reg-0001</clientReference>
   <clientRequestTimeout>0</clientRequestTimeout>
   <initiatorPrincipalId><id>public_test_shop</id><type>RESELLERUSER</type><userId>9900</userId></initiatorPrincipalId>
   <password>1234</password></context>
  <externalTerminalId>Shop 1/POS 2</externalTerminalId><password>k3Jd8sLq0PzX2mA</password><name>My Shop, till 2</name>
 </ext:registerTerminal></soapenv:Body></soapenv:Envelope>`)
	require.Equal(t, http.StatusOK, code)
	id := field(t, body, "terminalId")
	assert.Regexp(t, `^[0-9a-f]{32}$`, id)
	assert.Equal(t, wrapResp("registerTerminal", `<resultCode>0</resultCode><resultDescription>SUCCESS</resultDescription><terminalId>`+id+`</terminalId>`), body)

	// Wrong reseller password: 20, and no terminalId.
	body = e.soap("registerTerminal", ctxXML("RESELLERUSER", "public_test_shop", "9900", "wrong")+`<password>x1234</password>`)
	assert.Equal(t, wrapResp("registerTerminal", `<resultCode>20</resultCode><resultDescription>AUTHENTICATION_FAILED</resultDescription>`), body)
}

// TestGoldenStatus checks TV4 (waiting), TV5 (paid, field order) and TV7 (unknown reference).
func TestGoldenStatus(t *testing.T) {
	e := newEnv(t)
	id, pw := e.till("ACME0001")

	ref := e.send(id, pw)
	assert.Regexp(t, `^20151029\d{9}$`, ref)

	assert.Equal(t, wrapResp("getPaymentStatus", `<resultCode>0</resultCode><resultDescription>SUCCESS</resultDescription><status>ISSUED</status><version>1</version>`),
		e.status(id, pw, ref), "TV4")

	_, err := e.sim.Pay("ACME0001", seqrsim.OutcomePaid)
	require.NoError(t, err)
	body := e.status(id, pw, ref)
	ers := field(t, body, "ersReference")
	assert.Regexp(t, `^2015102910184866318\d{6}$`, ers)
	want := `<ersReference>` + ers + `</ersReference><resultCode>0</resultCode><resultDescription>SUCCESS</resultDescription><status>PAID</status>` +
		`<receipt><terminalId>` + id + `</terminalId><paymentDate>2015-10-29T10:18:48.663+01:00</paymentDate>` +
		`<clientInvoiceId>R-1001</clientInvoiceId><invoiceReference>` + ref + `</invoiceReference>` +
		`<paymentReference>` + ers + `</paymentReference><payerTerminalId>d613c5b8428d17248751bc101</payerTerminalId>` +
		`<receiverName>My Shop, till 2</receiverName>` + sendXML + `</receipt><version>2</version>`
	assert.Equal(t, wrapResp("getPaymentStatus", want), body, "TV5")

	assert.Equal(t, wrapResp("getPaymentStatus", `<resultCode>54</resultCode><resultDescription>INVALID_INVOICE_REFERENCE</resultDescription><version>0</version>`),
		e.status(id, pw, "1397222701693"), "TV7")
}

// TestGoldenOthers pins the remaining response shapes of spec 3.2.
func TestGoldenOthers(t *testing.T) {
	e := newEnv(t)
	id, pw := e.till("ACME0001")
	ref := e.send(id, pw)
	body := e.soap("sendInvoice", termCtx(id, pw)+sendXML)
	ref2 := field(t, body, "invoiceReference")
	assert.Equal(t, wrapResp("sendInvoice", `<resultCode>0</resultCode><resultDescription>SUCCESS</resultDescription><invoiceQRCode>HTTP://SEQR.SE/R`+ref2+`</invoiceQRCode><invoiceReference>`+ref2+`</invoiceReference>`), body, "TV3")
	assert.NotEqual(t, ref, ref2)

	ok := wrapResp("cancelInvoice", `<resultCode>0</resultCode><resultDescription>SUCCESS</resultDescription>`)
	assert.Equal(t, ok, e.soap("cancelInvoice", termCtx(id, pw)+`<invoiceReference>`+ref2+`</invoiceReference>`), "TV8")

	body = e.soap("benchmarkingNop", "")
	assert.Equal(t, wrapResp("benchmarkingNop", `<resultCode>0</resultCode><resultDescription>SUCCESS</resultDescription>`), body)

	body = e.soap("requestTopup", resellerCtx())
	assert.Equal(t, wrapResp("requestTopup", `<resultCode>91</resultCode><resultDescription>UNSUPPORTED_OPERATION</resultDescription>`), body)

	body = e.soap("markTransactionPeriod", resellerCtx()+`<parameters><parameter><entry><key>TERMINALID</key><value>`+id+`</value></entry></parameter></parameters>`)
	pid := field(t, body, "transactionPeriodId")
	assert.Regexp(t, `^\d{25}$`, pid)
	assert.Equal(t, wrapResp("markTransactionPeriod", `<resultCode>0</resultCode><resultDescription>SUCCESS</resultDescription><transactionPeriodId>`+pid+`</transactionPeriodId>`), body, "TV11")
	assert.True(t, regexp.MustCompile(`^\d+$`).MatchString(pid))
}
