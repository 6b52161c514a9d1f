package seqr

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posd/posd/internal/money"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}

// parsePaymentStatus is the getPaymentStatus response path without HTTP.
func parsePaymentStatus(body []byte) (PaymentStatus, error) {
	ret, _, err := parseResponse(opGetPaymentStatus, body)
	if err != nil {
		return PaymentStatus{}, err
	}
	return paymentStatusOf(ret)
}

func TestParsePaidTV5(t *testing.T) {
	ps, err := parsePaymentStatus([]byte(readTestdata(t, "response_tv5_paid.xml")))
	require.NoError(t, err)
	assert.Equal(t, PaymentStatus{
		Status:       StatusPaid,
		Version:      2,
		ERSReference: "2015102910184861801032678",
		Receipt: &Receipt{
			TerminalID:       "87e791f9e24148a6892c52aa85bb0331",
			PaymentDate:      "2015-10-29T10:18:48.663+01:00",
			ClientInvoiceID:  "R-1001",
			InvoiceReference: "1397222701693",
			PaymentReference: "2015102910184861801032678",
			PayerTerminalID:  "d613c5b8428d17248751bc101",
			ReceiverName:     "My Shop, till 2",
			Total:            money.MustParse("20.00"),
			Currency:         "SEK",
		},
	}, ps)
	assert.True(t, ps.Status.Final())
}

// Other prefixes (S:, ns1:), an XML declaration, a comment, a header,
// indentation, shuffled fields, unknown elements and a 5-decimal amount.
func TestParseOtherPrefixesShuffledUnknown(t *testing.T) {
	ps, err := parsePaymentStatus([]byte(readTestdata(t, "response_paid_shuffled.xml")))
	require.NoError(t, err)
	assert.Equal(t, StatusPaid, ps.Status)
	assert.Equal(t, 7, ps.Version)
	assert.Equal(t, "2015102910184861801032678", ps.ERSReference)
	require.NotNil(t, ps.Receipt)
	assert.Equal(t, "Fisk & Skaldjur", ps.Receipt.ReceiverName)
	assert.Equal(t, money.MustParse("93.31"), ps.Receipt.Total)
	assert.Equal(t, "SEK", ps.Receipt.Currency)
}

func TestParsePrefixVariants(t *testing.T) {
	const inner = `<return><status>ISSUED</status><resultCode>0</resultCode><version>1</version></return>`
	bodies := map[string]string{
		"soap/ns2": envelope(opGetPaymentStatus, `<status>ISSUED</status><resultCode>0</resultCode><version>1</version>`),
		"S/ns1": `<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><ns1:getPaymentStatusResponse xmlns:ns1="` +
			Namespace + `">` + inner + `</ns1:getPaymentStatusResponse></S:Body></S:Envelope>`,
		"soapenv/default ns": `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><getPaymentStatusResponse xmlns="` +
			Namespace + `"><return xmlns="">` + inner[len("<return>"):] + `</getPaymentStatusResponse></soapenv:Body></soapenv:Envelope>`,
		"qualified return": `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><x:getPaymentStatusResponse xmlns:x="` +
			Namespace + `"><x:return><x:resultCode>0</x:resultCode><x:status>ISSUED</x:status><x:version>1</x:version></x:return></x:getPaymentStatusResponse></soap:Body></soap:Envelope>`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			ps, err := parsePaymentStatus([]byte(body))
			require.NoError(t, err)
			assert.Equal(t, PaymentStatus{Status: StatusIssued, Version: 1}, ps)
		})
	}
}

func TestParsePaidERSReferenceFromReceipt(t *testing.T) {
	body := strings.Replace(readTestdata(t, "response_tv5_paid.xml"), "<ersReference>2015102910184861801032678</ersReference>", "", 1)
	ps, err := parsePaymentStatus([]byte(body))
	require.NoError(t, err)
	assert.Equal(t, "2015102910184861801032678", ps.ERSReference)
}

func TestParseLoyaltyTV6(t *testing.T) {
	ps, err := parsePaymentStatus([]byte(readTestdata(t, "response_tv6_loyalty.xml")))
	require.NoError(t, err)
	assert.Equal(t, StatusPendingIssuerAcknowledge, ps.Status)
	assert.Equal(t, 2, ps.Version)
	assert.Equal(t, []CustomerToken{{Description: "Loyalty card", ID: "X_CARD", Status: 0, Value: "2610411111110"}}, ps.Tokens)
	assert.False(t, ps.Status.Final())
}

func TestParseUnknownStatusKept(t *testing.T) {
	ps, err := parsePaymentStatus([]byte(envelope(opGetPaymentStatus, success+`<status>PARTIALLY_PAID</status><version>3</version>`)))
	require.NoError(t, err)
	assert.Equal(t, Status("PARTIALLY_PAID"), ps.Status)
	assert.False(t, ps.Status.Final())
}

func TestParseReportContentString(t *testing.T) {
	const doc = `<TransactionDetails><Meta><ResellerId>public_test_shop</ResellerId></Meta><Row><SalesAmount>93.31000</SalesAmount></Row></TransactionDetails>`
	escaped := strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(doc)
	for name, cs := range map[string]string{
		"cdata":       "<![CDATA[" + doc + "]]>",
		"escaped":     escaped,
		"mixed":       escaped[:20] + "<![CDATA[" + doc[len(strings.NewReplacer("&lt;", "<", "&gt;", ">").Replace(escaped[:20])):] + "]]>",
		"lt entities": strings.ReplaceAll(doc, "<", "&#60;"),
	} {
		t.Run(name, func(t *testing.T) {
			body := envelope(opExecuteReport, success+`<report><title>t</title><mimeType>text/html</mimeType><contentString>`+cs+`</contentString></report>`)
			ret, _, err := parseResponse(opExecuteReport, []byte(body))
			require.NoError(t, err)
			rep, err := reportOf(ret)
			require.NoError(t, err)
			assert.Equal(t, doc, rep.ContentString)
			assert.Equal(t, doc, string(rep.XML()))
		})
	}
}

func TestParseReportFiveDecimals(t *testing.T) {
	ret, _, err := parseResponse(opExecuteReport, []byte(readTestdata(t, "response_report_cdata.xml")))
	require.NoError(t, err)
	rep, err := reportOf(ret)
	require.NoError(t, err)
	assert.Equal(t, "STD_RECON_003_2015120408534212001005262.xml", rep.Title)
	assert.Equal(t, "text/html", rep.MimeType)
	assert.Equal(t, `<TransactionDetails><Meta><ResellerId>public_test_shop</ResellerId></Meta></TransactionDetails>`, string(rep.Content))

	recon, err := ParseReconReport(rep.XML())
	require.NoError(t, err)
	assert.Equal(t, "TransactionDetails", recon.Root)
	assert.Equal(t, "2015120408534212001005262", recon.Meta["TransactionPeriodId"])
	require.Len(t, recon.Rows, 2)
	a, err := recon.Amount(0, "SalesAmount")
	require.NoError(t, err)
	assert.Equal(t, money.Amount(9331), a)
	a, err = recon.Amount(1, "SalesAmount")
	require.NoError(t, err)
	assert.Equal(t, money.Amount(-500), a)
	_, err = recon.Amount(0, "Missing")
	assert.ErrorContains(t, err, "Missing")
	_, err = recon.Amount(5, "SalesAmount")
	assert.Error(t, err)

	bad, err := ParseReconReport([]byte(`<R><Row><SalesAmount>93.31500</SalesAmount></Row></R>`))
	require.NoError(t, err)
	_, err = bad.Amount(0, "SalesAmount")
	assert.ErrorIs(t, err, money.ErrPrecision)
	_, err = ParseReconReport([]byte(`<R><Row>`))
	assert.Error(t, err)
}

func TestParseBadResponses(t *testing.T) {
	paidWith := func(old, new string) string {
		return strings.Replace(readTestdata(t, "response_tv5_paid.xml"), old, new, 1)
	}
	tests := []struct {
		name, body, want string
	}{
		{"empty", "", "empty document"},
		{"garbage", "\x00\x01 not xml at all", "malformed XML"},
		{"html", "<html><body>Proxy login</body></html>", "not a SOAP Envelope"},
		{"text before root", "hello <soap:Envelope/>", "text before the root"},
		{"truncated in return", readTestdata(t, "response_tv5_paid.xml")[:400], "malformed XML"},
		{"truncated after body", strings.TrimSuffix(strings.TrimSpace(readTestdata(t, "response_tv5_paid.xml")), "</soap:Envelope>"), "malformed XML"},
		{"mismatched tags", `<soap:Envelope xmlns:soap="x"><soap:Body><a></b></soap:Body></soap:Envelope>`, "malformed XML"},
		{"no body", `<soap:Envelope xmlns:soap="x"><soap:Header/></soap:Envelope>`, "no Body"},
		{"empty body", `<soap:Envelope xmlns:soap="x"><soap:Body> </soap:Body></soap:Envelope>`, "Body is empty"},
		{"wrong operation", envelope(opSendInvoice, success), "unexpected response element <sendInvoiceResponse>"},
		{"no return", `<soap:Envelope xmlns:soap="x"><soap:Body><getPaymentStatusResponse/></soap:Body></soap:Envelope>`, "no <return>"},
		{"no resultCode", envelope(opGetPaymentStatus, `<status>PAID</status>`), "no resultCode"},
		{"bad resultCode", envelope(opGetPaymentStatus, `<resultCode>zero</resultCode>`), `resultCode "zero"`},
		{"bad version", envelope(opGetPaymentStatus, success+`<version>2.5</version>`), `version "2.5"`},
		{"float amount", paidWith("<value>20.00</value></totalAmount><cashierId>", "<value>2e1</value></totalAmount><cashierId>"), "receipt.invoice.totalAmount.value"},
		{"sub-öre amount", paidWith("<value>20.00</value></totalAmount><cashierId>", "<value>20.001</value></totalAmount><cashierId>"), "more than 2 decimals"},
		{"bad token status", envelope(opGetPaymentStatus, success+`<customerTokens><token><status>x</status></token></customerTokens>`), "token 1"},
		{"trailing element", envelope(opGetPaymentStatus, success) + "<again/>", "content after"},
		{"too deep", envelope(opGetPaymentStatus, success+strings.Repeat("<a>", 100)+strings.Repeat("</a>", 100)), "nested deeper"},
		{"undefined entity", envelope(opGetPaymentStatus, success+`<status>&nbsp;</status>`), "malformed XML"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parsePaymentStatus([]byte(tc.body))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseFaults(t *testing.T) {
	tests := []struct {
		name, body, code, msg string
	}{
		{"soap:Client", readTestdata(t, "response_fault_client.xml"), "soap:Client",
			"Message part {http://external.interfaces.ers.seamless.com/}fooBar was not recognized. (Does it exist in service WSDL?)"},
		{"VersionMismatch", `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:VersionMismatch</faultcode><faultstring>Non-matching namespace</faultstring></soap:Fault></soap:Body></soap:Envelope>`,
			"soap:VersionMismatch", "Non-matching namespace"},
		{"S: prefix, server", `<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><S:Fault xmlns:ns4="http://www.w3.org/2003/05/soap-envelope"><faultcode>S:Server</faultcode><faultstring>java.lang.NullPointerException</faultstring><detail/></S:Fault></S:Body></S:Envelope>`,
			"S:Server", "java.lang.NullPointerException"},
		{"SOAP 1.2 shape", `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code><env:Reason><env:Text xml:lang="en">bad</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`,
			"env:Sender", "bad"},
		{"echoed password", `<soap:Envelope xmlns:soap="x"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>Unmarshalling Error: &lt;password&gt;hunter2&lt;/password&gt;</faultstring></soap:Fault></soap:Body></soap:Envelope>`,
			"soap:Client", "Unmarshalling Error: <password>***</password>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parsePaymentStatus([]byte(tc.body))
			var fe *FaultError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, &FaultError{Op: opGetPaymentStatus, Code: tc.code, String: tc.msg}, fe)
			_, isResult := Code(err)
			assert.False(t, isResult)
		})
	}
}

// Faults and HTTP errors through the client.
func TestHTTPStatusHandling(t *testing.T) {
	fault := readTestdata(t, "response_fault_client.xml")
	tests := []struct {
		name      string
		status    int
		body      string
		wantFault bool
		want      string
	}{
		{"500 with fault", http.StatusInternalServerError, fault, true, "soap fault soap:Client"},
		{"200 with fault", http.StatusOK, fault, true, "soap fault soap:Client"},
		{"500 without fault", http.StatusInternalServerError, "<html>Internal Server Error</html>", false, "HTTP 500 Internal Server Error (text/xml) without a SOAP fault"},
		{"500 empty", http.StatusInternalServerError, "", false, "HTTP 500"},
		{"503", http.StatusServiceUnavailable, "down", false, "HTTP 503"},
		{"404", http.StatusNotFound, "<html/>", false, "HTTP 404"},
		{"200 garbage", http.StatusOK, "garbage", false, "bad response (HTTP 200, text/xml)"},
		{"200 truncated", http.StatusOK, envelope(opGetPaymentStatus, success)[:150], false, "malformed XML"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, replyWith(tc.status, tc.body))
			if tc.body == "" {
				srv.respond = func(string) (int, string) { return tc.status, "" }
			}
			c := newTestClient(t, testConfig(srv.URL))
			_, err := c.GetPaymentStatus(context.Background(), testTerminal, "1397222701693", 0)
			require.Error(t, err)
			var fe *FaultError
			assert.Equal(t, tc.wantFault, errors.As(err, &fe))
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "seqr getPaymentStatus: "), err.Error())
			assert.NotErrorIs(t, err, ErrNotSent)
		})
	}
}

func TestResponseSizeLimit(t *testing.T) {
	big := envelope(opGetPaymentStatus, success+"<x>"+strings.Repeat("a", maxResponse)+"</x>")
	srv := newFakeServer(t, replyWith(http.StatusOK, big))
	c := newTestClient(t, testConfig(srv.URL))
	_, err := c.GetPaymentStatus(context.Background(), testTerminal, "1", 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "byte limit")
}

func TestResultErrors(t *testing.T) {
	tests := []struct {
		code int
		name string
	}{
		{ResultCannotCancelPaidInvoice, "CANNOT_CANCEL_PAID_INVOICE"},
		{ResultCannotCancelInvoiceInProgress, "CANNOT_CANCEL_INVOICE_IN_PROGRESS"},
		{ResultInvoiceAlreadyCanceled, "INVOICE_ALREADY_CANCELED"},
		{ResultReportNotReady, "REPORT_NOT_READY"},
		{ResultSystemBusy, "SYSTEM_BUSY"},
		{ResultServiceUnavailable, "SERVICE_UNAVAILABLE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, func(op string) (int, string) {
				return http.StatusOK, envelope(op, `<resultCode>`+itoa(tc.code)+`</resultCode><resultDescription>`+tc.name+`</resultDescription>`)
			})
			c := newTestClient(t, testConfig(srv.URL))
			err := c.CancelInvoice(context.Background(), testTerminal, "1397222701693")
			var re *ResultError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, &ResultError{Op: opCancelInvoice, Code: tc.code, Description: tc.name}, re)
			code, ok := Code(err)
			assert.True(t, ok)
			assert.Equal(t, tc.code, code)
			assert.Equal(t, tc.name, re.Name())
			assert.Equal(t, "seqr cancelInvoice: result "+itoa(tc.code)+" "+tc.name, err.Error())
			assert.NotErrorIs(t, err, ErrNotSent)

			// Wrapped by a caller, it is still found.
			code, ok = Code(errors.Join(errors.New("register"), err))
			assert.True(t, ok)
			assert.Equal(t, tc.code, code)
		})
	}
	_, ok := Code(errors.New("other"))
	assert.False(t, ok)
	_, ok = Code(nil)
	assert.False(t, ok)
}

func TestResultName(t *testing.T) {
	// Every code of spec 4.1, merchant and non-merchant.
	want := map[int]string{
		0: "SUCCESS", 1: "PENDING_APPROVAL", 2: "REPORT_NOT_READY", 10: "REJECTED_BUSINESS_LOGIC", 11: "REJECTED_AMOUNT",
		12: "REJECTED_PAYMENT", 13: "REJECTED_TOPUP", 20: "AUTHENTICATION_FAILED", 21: "ACCESS_DENIED", 22: "INVALID_NEW_PASSWORD",
		23: "INVALID_ERS_REFERENCE", 29: "INVALID_INITIATOR_PRINCIPAL_ID", 30: "INVALID_RECEIVER_PRINCIPAL_ID",
		31: "INVALID_SENDER_PRINCIPAL_ID", 32: "INVALID_TOPUP_PRINCIPAL_ID", 33: "INVALID_INITIATOR_PRINCIPAL_STATE",
		34: "INVALID_RECEIVER_PRINCIPAL_STATE", 35: "INVALID_SENDER_PRINCIPAL_STATE", 36: "INVALID_TOPUP_PRINCIPAL_STATE",
		37: "INITIATOR_PRINCIPAL_NOT_FOUND", 38: "RECEIVER_PRINCIPAL_NOT_FOUND", 39: "SENDER_PRINCIPAL_NOT_FOUND",
		40: "TOPUP_PRINCIPAL_NOT_FOUND", 41: "INVALID_PRODUCT", 42: "INVALID_RECEIVER_ACCOUNT_TYPE",
		43: "INVALID_SENDER_ACCOUNT_TYPE", 44: "INVALID_TOPUP_ACCOUNT_TYPE", 45: "RECEIVER_ACCOUNT_NOT_FOUND",
		46: "SENDER_ACCOUNT_NOT_FOUND", 47: "TOPUP_ACCOUNT_NOT_FOUND", 48: "PAYMENT_IN_PROGRESS", 49: "INVALID_INVOICE_DATA",
		50: "CANNOT_CANCEL_PAID_INVOICE", 51: "CANNOT_CANCEL_INVOICE_IN_PROGRESS", 52: "INVALID_CUSTOMER", 53: "INVALID_SEQR_ID",
		54: "INVALID_INVOICE_REFERENCE", 55: "PAYMENT_ALREADY_CANCELLED", 56: "REGISTRATION_NOT_POSSIBLE",
		57: "REGISTRATION_PRINCIPAL_ALREADY_EXISTS", 58: "PAYMENT_EXPIRED", 60: "AUTHORIZATION_EXPIRED",
		61: "AUTHORIZATION_CANCELLED", 62: "AUTHORIZATION_IN_PROGRESS", 63: "INVALID_AUTHORIZATION_REFERENCE",
		64: "INVALID_NOTIFICATION_URL", 90: "SYSTEM_ERROR", 91: "UNSUPPORTED_OPERATION", 92: "LICENSE_REJECTION",
		93: "SYSTEM_BUSY", 94: "SERVICE_UNAVAILABLE", 95: "INVOICE_ALREADY_CANCELED", 96: "INVOICE_STATE_NOT_RESERVED",
		97: "RESELLER_NOT_ALLOWED_TO_DO_REFUND", 98: "Sum of refunds can not be more than original transaction",
		99: "RECEIVER_ACCOUNT_DOES_NOT_ALLOW_REFUNDS",
	}
	for code := -5; code < 200; code++ {
		name, known := want[code]
		if !known {
			name = "UNKNOWN ERSWSResultCode = " + itoa(code)
		}
		assert.Equal(t, name, ResultName(code), "code %d", code)
	}
	// The exported constants carry the names they say.
	for code, name := range map[int]string{
		ResultSuccess: "SUCCESS", ResultReportNotReady: "REPORT_NOT_READY", ResultRejectedAmount: "REJECTED_AMOUNT",
		ResultAuthenticationFailed: "AUTHENTICATION_FAILED", ResultAccessDenied: "ACCESS_DENIED",
		ResultInvalidERSReference: "INVALID_ERS_REFERENCE", ResultInvalidInitiatorPrincipalID: "INVALID_INITIATOR_PRINCIPAL_ID",
		ResultInvalidInitiatorPrincipalState: "INVALID_INITIATOR_PRINCIPAL_STATE", ResultInitiatorPrincipalNotFound: "INITIATOR_PRINCIPAL_NOT_FOUND",
		ResultPaymentInProgress: "PAYMENT_IN_PROGRESS", ResultInvalidInvoiceData: "INVALID_INVOICE_DATA",
		ResultCannotCancelPaidInvoice: "CANNOT_CANCEL_PAID_INVOICE", ResultCannotCancelInvoiceInProgress: "CANNOT_CANCEL_INVOICE_IN_PROGRESS",
		ResultInvalidSeqrID: "INVALID_SEQR_ID", ResultInvalidInvoiceReference: "INVALID_INVOICE_REFERENCE",
		ResultInvalidNotificationURL: "INVALID_NOTIFICATION_URL", ResultSystemError: "SYSTEM_ERROR",
		ResultUnsupportedOperation: "UNSUPPORTED_OPERATION", ResultSystemBusy: "SYSTEM_BUSY", ResultServiceUnavailable: "SERVICE_UNAVAILABLE",
		ResultInvoiceAlreadyCanceled: "INVOICE_ALREADY_CANCELED", ResultInvoiceStateNotReserved: "INVOICE_STATE_NOT_RESERVED",
		ResultResellerNotAllowedToRefund: "RESELLER_NOT_ALLOWED_TO_DO_REFUND", ResultReceiverNoRefunds: "RECEIVER_ACCOUNT_DOES_NOT_ALLOW_REFUNDS",
	} {
		assert.Equal(t, name, ResultName(code))
	}
	assert.Equal(t, 98, ResultRefundExceedsOriginal)
}
