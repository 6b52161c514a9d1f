package resurssim_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// p1 books the doc's discount example as a "Betala sen" invoice payment:
// authorised 1100, nothing debited yet.
func p1(t *testing.T) *env {
	e := newEnv(t)
	e.book("P1", discountBody, "198305147715", "invoice", true)
	return e
}

// E.9, E.10, E.24
func TestGetPayment(t *testing.T) {
	e := p1(t)
	st, total, body := e.statuses("P1")
	assert.Equal(t, []string{"DEBITABLE"}, st)
	assert.Equal(t, "1100.00000", total)
	assert.Contains(t, body, "<limit>1100.00000</limit>")
	assert.Contains(t, body, "<totalVatAmount>220.00000</totalVatAmount>")
	assert.Contains(t, body, `<ns3:getPaymentResponse xmlns:ns3="http://ecommerce.resurs.com/v4/msg/aftershopflow"><return><id>P1</id>`)
	assert.NotContains(t, body, "<finalized>")

	r := e.soap("getPayment", "<paymentId>NOPE</paymentId>")
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.Equal(t, "8", faultID(r))
	assert.Contains(t, r.body, "<errorTypeDescription>REFERENCED_DATA_DONT_EXISTS</errorTypeDescription>")
	assert.Contains(t, r.body, "<fixableByYou>true</fixableByYou>")
	assert.Contains(t, r.body, "<faultcode>soap:Server</faultcode>")
	assert.Contains(t, r.body, `<ns3:ECommerceError xmlns:ns3="http://ecommerce.resurs.com/v4/msg/exception">`)
}

// E.11 to E.14: partial finalize, annul the rest, over-credit, credit.
func TestAfterShopSequence(t *testing.T) {
	e := p1(t)
	r := e.soap("finalizePayment", "<paymentId>P1</paymentId><partPaymentSpec><totalAmount>250.00</totalAmount></partPaymentSpec>")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Contains(t, r.body, `<ns2:finalizePaymentResponse xmlns:ns2="http://ecommerce.resurs.com/v4/msg/aftershopflow"/>`)
	st, total, _ := e.statuses("P1")
	assert.Equal(t, []string{"DEBITABLE", "CREDITABLE", "IS_DEBITED"}, st)
	assert.Equal(t, "1100.00000", total)

	r = e.soap("annulPayment", "<paymentId>P1</paymentId>")
	require.Equal(t, http.StatusOK, r.status, r.body)
	st, total, body := e.statuses("P1")
	assert.Equal(t, []string{"CREDITABLE", "IS_DEBITED", "IS_ANNULLED"}, st)
	assert.Equal(t, "250.00000", total)
	assert.Contains(t, body, "<type>ANNUL</type><transactionId>P1</transactionId>")
	assert.Contains(t, body, "<totalAmount>850.00000</totalAmount>")

	r = e.soap("finalizePayment", "<paymentId>P1</paymentId>")
	assert.Equal(t, "20", faultID(r), r.body)

	r = e.soap("creditPayment", "<paymentId>P1</paymentId><partPaymentSpec><totalAmount>300</totalAmount></partPaymentSpec>")
	assert.Equal(t, "23", faultID(r), r.body)
	r = e.soap("creditPayment", "<paymentId>P1</paymentId><partPaymentSpec><totalAmount>250</totalAmount></partPaymentSpec>")
	require.Equal(t, http.StatusOK, r.status, r.body)
	st, total, _ = e.statuses("P1")
	assert.Equal(t, []string{"IS_DEBITED", "IS_CREDITED", "IS_ANNULLED"}, st)
	assert.Equal(t, "0.00000", total)
}

// E.15: frozen payments cannot be finalized; thaw makes it possible.
func TestFrozen(t *testing.T) {
	e := newEnv(t)
	e.book("FRZ-1", oneLine, "198209123705", "invoice", true)
	r := e.soap("getPayment", "<paymentId>FRZ-1</paymentId>")
	assert.Contains(t, r.body, "<frozen>true</frozen>")
	r = e.soap("finalizePayment", "<paymentId>FRZ-1</paymentId>")
	assert.Equal(t, "25", faultID(r), r.body)
	assert.Equal(t, http.StatusOK, e.control("/sim/resurs/payments/FRZ-1/thaw", "").status)
	r = e.soap("finalizePayment", "<paymentId>FRZ-1</paymentId>")
	assert.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, http.StatusOK, e.control("/sim/resurs/payments/FRZ-1/freeze", "").status)
	r = e.soap("getPayment", "<paymentId>FRZ-1</paymentId>")
	assert.Contains(t, r.body, "<frozen>true</frozen>")
	assert.Equal(t, http.StatusNotFound, e.control("/sim/resurs/payments/NOPE/freeze", "").status)
}

// E.16: rounding tolerance of B.7.
func TestRounding(t *testing.T) {
	line := `<specLines><id>1</id><artNo>a</artNo><description>d</description><quantity>1000</quantity><unitMeasure>st</unitMeasure><unitAmountWithoutVat>12.57</unitAmountWithoutVat><vatPct>25</vatPct><totalVatAmount>3142.00</totalVatAmount><totalAmount>15710.00</totalAmount></specLines>`
	e := newEnv(t)
	e.book("RND-1", `{"orderLines":[{"artNo":"a","description":"d","quantity":1000,"unitAmountWithoutVat":12.57,"vatPct":25}]}`, "198305147715", "invoice", true)
	r := e.soap("finalizePayment", "<paymentId>RND-1</paymentId><partPaymentSpec>"+line+"<totalAmount>15710.06</totalAmount><totalVatAmount>3142.00</totalVatAmount></partPaymentSpec>")
	assert.Equal(t, "1", faultID(r), "a total 0.06 off the lines is refused: %s", r.body)
	r = e.soap("finalizePayment", "<paymentId>RND-1</paymentId><partPaymentSpec>"+line+"<totalAmount>15710.00</totalAmount><totalVatAmount>3142.00</totalVatAmount></partPaymentSpec>")
	assert.Equal(t, http.StatusOK, r.status, r.body)
	bad := strings.Replace(line, "<totalAmount>15710.00</totalAmount>", "<totalAmount>15800.00</totalAmount>", 1)
	e.book("RND-2", `{"orderLines":[{"artNo":"a","description":"d","quantity":1000,"unitAmountWithoutVat":12.57,"vatPct":25}]}`, "198305147715", "invoice", true)
	r = e.soap("finalizePayment", "<paymentId>RND-2</paymentId><partPaymentSpec>"+bad+"<totalAmount>15800.00</totalAmount><totalVatAmount>3142.00</totalVatAmount></partPaymentSpec>")
	assert.Equal(t, "1", faultID(r), "a line whose net price is 0.07 off is refused: %s", r.body)
}

// E.17: invoice numbers.
func TestInvoiceIDs(t *testing.T) {
	e := newEnv(t)
	e.book("CARD-1", oneLine, "198305147715", "card", true)
	r := e.soap("finalizePayment", "<paymentId>CARD-1</paymentId><invoiceId>777</invoiceId>")
	assert.Equal(t, "28", faultID(r), r.body)
	e.book("INV-1", oneLine, "198305147715", "invoice", true)
	e.book("INV-2", oneLine, "198305147715", "invoice", true)
	r = e.soap("finalizePayment", "<paymentId>INV-1</paymentId><invoiceId>777</invoiceId><invoiceDate>2026-03-02</invoiceDate>")
	require.Equal(t, http.StatusOK, r.status, r.body)
	r = e.soap("finalizePayment", "<paymentId>INV-2</paymentId><invoiceId>777</invoiceId>")
	assert.Equal(t, "29", faultID(r), r.body)
}

// E.18: card rules.
func TestCardRules(t *testing.T) {
	e := newEnv(t)
	e.book("CARD-2", oneLine, "198305147715", "card", true)
	r := e.soap("finalizePayment", "<paymentId>CARD-2</paymentId><partPaymentSpec><totalAmount>100</totalAmount></partPaymentSpec>")
	assert.Equal(t, "26", faultID(r), r.body)
	r = e.soap("annulPayment", "<paymentId>CARD-2</paymentId><partPaymentSpec><totalAmount>100</totalAmount></partPaymentSpec>")
	assert.Equal(t, "36", faultID(r), r.body)
	r = e.soap("additionalDebitOfPayment", "<paymentId>CARD-2</paymentId><paymentSpec><totalAmount>1</totalAmount></paymentSpec>")
	assert.Equal(t, "4", faultID(r), r.body)
	r = e.soap("finalizePayment", "<paymentId>CARD-2</paymentId><partPaymentSpec><totalAmount>625</totalAmount></partPaymentSpec>")
	assert.Equal(t, http.StatusOK, r.status, r.body)
}

// E.19: additional debit within limit - totalAmount.
func TestAdditionalDebit(t *testing.T) {
	e := p1(t)
	r := e.soap("annulPayment", "<paymentId>P1</paymentId><partPaymentSpec><totalAmount>100</totalAmount></partPaymentSpec>")
	require.Equal(t, http.StatusOK, r.status, r.body)
	r = e.soap("additionalDebitOfPayment", "<paymentId>P1</paymentId><paymentSpec><totalAmount>100.01</totalAmount></paymentSpec>")
	assert.Equal(t, "17", faultID(r), r.body)
	r = e.soap("additionalDebitOfPayment", "<paymentId>P1</paymentId><paymentSpec><totalAmount>100</totalAmount></paymentSpec><createdBy>kassa 3</createdBy>")
	require.Equal(t, http.StatusOK, r.status, r.body)
	_, total, body := e.statuses("P1")
	assert.Equal(t, "1100.00000", total)
	assert.Equal(t, 2, strings.Count(body, "<type>AUTHORIZE</type>"))
	assert.Contains(t, body, "<createdBy>kassa 3</createdBy>")
}

// E.20 and I.4: qualified children fault; xmlns="", odd prefixes, default
// namespace wrappers and xsi:nil are accepted.
func TestSOAPShapes(t *testing.T) {
	e := p1(t)
	r := e.soap("getPayment", "<aft:paymentId>P1</aft:paymentId>")
	assert.Equal(t, "1", faultID(r), r.body)
	for name, env := range map[string]string{
		"xmlns empty": `<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><ns1:getPayment xmlns:ns1="http://ecommerce.resurs.com/v4/msg/aftershopflow"><paymentId xmlns="">P1</paymentId></ns1:getPayment></S:Body></S:Envelope>`,
		"default ns":  `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><getPayment xmlns="http://ecommerce.resurs.com/v4/msg/aftershopflow"><paymentId xmlns="">P1</paymentId></getPayment></s:Body></s:Envelope>`,
		"zeep ns0":    `<?xml version='1.0' encoding='utf-8'?><soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body><ns0:getPayment xmlns:ns0="http://ecommerce.resurs.com/v4/msg/aftershopflow"><paymentId>P1</paymentId></ns0:getPayment></soap-env:Body></soap-env:Envelope>`,
	} {
		r := e.do(http.MethodPost, resurssim.PathAfterShop, "text/xml", env, resurssim.TestUser, resurssim.TestPassword)
		assert.Equal(t, http.StatusOK, r.status, "%s: %s", name, r.body)
		assert.Contains(t, r.body, "<id>P1</id>", name)
	}
	nilEnv := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><s:Body><finalizePayment xmlns="http://ecommerce.resurs.com/v4/msg/aftershopflow"><paymentId xmlns="">P1</paymentId><preferredTransactionId i:nil="true" xmlns=""/><partPaymentSpec i:nil="true" xmlns=""/><createdBy i:nil="true" xmlns=""/><orderId i:nil="true" xmlns=""/><orderDate i:nil="true" xmlns=""/><invoiceId i:nil="true" xmlns=""/><invoiceDate i:nil="true" xmlns=""/><invoiceDeliveryType i:nil="true" xmlns=""/></finalizePayment></s:Body></s:Envelope>`
	r = e.do(http.MethodPost, resurssim.PathAfterShop, "text/xml", nilEnv, resurssim.TestUser, resurssim.TestPassword)
	assert.Equal(t, http.StatusOK, r.status, r.body)
	st, _, _ := e.statuses("P1")
	assert.Equal(t, []string{"CREDITABLE", "IS_DEBITED"}, st, "nil partPaymentSpec finalizes everything")
	r = e.do(http.MethodPost, resurssim.PathAfterShop, "text/xml", "<not-soap/>", resurssim.TestUser, resurssim.TestPassword)
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.Contains(t, r.body, "<faultcode>soap:Client</faultcode>")
	r = e.do(http.MethodPost, resurssim.PathAfterShop, "text/xml", strings.Replace(soapOpen, "aftershopflow", "shopflow", 1)+"<aft:getPayment><paymentId>P1</paymentId></aft:getPayment>"+soapClose, resurssim.TestUser, resurssim.TestPassword)
	assert.Contains(t, r.body, "Cannot find dispatch method", "a wrapper in another namespace is not an After Shop operation")
}

// E.21 and I.15: find, page, sort and count.
func TestFindPayments(t *testing.T) {
	e := newEnv(t)
	for i := 1; i <= 5; i++ {
		body := fmt.Sprintf(`{"orderLines":[{"artNo":"1","description":"x","quantity":%d,"unitAmountWithoutVat":100,"vatPct":25}]}`, i)
		e.book(fmt.Sprintf("F-%d", i), body, "198305147715", "invoice", i%2 == 0)
		e.clock.Add(1e9)
	}
	e.book("F-6", oneLine, "197801069241", "invoice", true) // another customer, frozen
	r := e.soap("findPayments", `<searchCriteria><governmentId>198305147715</governmentId></searchCriteria><pageNumber>2</pageNumber><itemsPerPage>3</itemsPerPage><sortBy><ascending>false</ascending><sortColumns>AMOUNT</sortColumns></sortBy>`)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, []string{"F-2", "F-1"}, elems(r.body, "paymentId"), "page 2 of amounts 625 500 375 250 125")
	r = e.soap("findPayments", `<searchCriteria><governmentId>198305147715</governmentId><statusSet>DEBITABLE</statusSet></searchCriteria><pageNumber>1</pageNumber><itemsPerPage>100</itemsPerPage><sortBy><ascending>false</ascending><sortColumns>BOOKED_TIME</sortColumns></sortBy>`)
	assert.Equal(t, []string{"F-4", "F-2"}, elems(r.body, "paymentId"))
	r = e.soap("calculateResultSize", `<searchCriteria><statusSet>DEBITABLE</statusSet><statusNotSet>IS_DEBITED</statusNotSet></searchCriteria>`)
	assert.Contains(t, r.body, "<return>3</return>", r.body)
	r = e.soap("calculateResultSize", `<searchCriteria><frozen>true</frozen></searchCriteria>`)
	assert.Contains(t, r.body, "<return>1</return>", r.body)
	r = e.soap("findPayments", `<searchCriteria><anyId>F-3</anyId></searchCriteria>`)
	assert.Equal(t, []string{"F-3"}, elems(r.body, "paymentId"))
	r = e.soap("findPayments", `<searchCriteria><statusSet>WHATEVER</statusSet></searchCriteria>`)
	assert.Equal(t, "1", faultID(r))
}

// E.22: metadata overwritten, never removed.
func TestAddMetaData(t *testing.T) {
	e := p1(t)
	require.Equal(t, http.StatusOK, e.soap("addMetaData", "<paymentId>P1</paymentId><key>CustomerId</key><value>-</value>").status)
	require.Equal(t, http.StatusOK, e.soap("addMetaData", "<paymentId>P1</paymentId><key>CustomerId</key><value>42</value>").status)
	_, _, body := e.statuses("P1")
	assert.Equal(t, 1, strings.Count(body, "<key>CustomerId</key>"))
	assert.Contains(t, body, "<metaData><key>CustomerId</key><value>42</value></metaData>")
	r := e.soap("calculateResultSize", `<searchCriteria><withMetaData><withMetaDataKey>CustomerId</withMetaDataKey><withMetaDataValue>42</withMetaDataValue></withMetaData></searchCriteria>`)
	assert.Contains(t, r.body, "<return>1</return>")
}

// E.23: invoice documents.
func TestDocuments(t *testing.T) {
	e := p1(t)
	require.Equal(t, http.StatusOK, e.soap("finalizePayment", "<paymentId>P1</paymentId>").status)
	r := e.soap("getPaymentDocumentNames", "<paymentId>P1</paymentId>")
	names := elems(r.body, "return")
	require.Len(t, names, 1, r.body)
	assert.Regexp(t, `^INVOICE_\d{8}-\d{6}_\d+$`, names[0])
	r = e.soap("getPaymentDocument", "<paymentId>P1</paymentId><documentName>"+names[0]+"</documentName>")
	data := elems(r.body, "pdfData")
	require.Len(t, data, 1, r.body)
	assert.True(t, strings.HasPrefix(data[0], "JVBERi0"))
	pdf, err := base64.StdEncoding.DecodeString(data[0])
	require.NoError(t, err)
	assert.Contains(t, string(pdf), "%%EOF")
	assert.Equal(t, "8", faultID(e.soap("getPaymentDocument", "<paymentId>P1</paymentId><documentName>X</documentName>")))
}

// I.5: the sibling services EComPHP calls around after-shop operations.
func TestSiblingServices(t *testing.T) {
	e := p1(t)
	post := func(path, ns, op, inner string) resp {
		body := `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><m:` + op + ` xmlns:m="` + ns + `">` + inner + `</m:` + op + `>` + soapClose
		return e.do(http.MethodPost, path, "text/xml", body, resurssim.TestUser, resurssim.TestPassword)
	}
	r := post(resurssim.PathSimplifiedShop, "http://ecommerce.resurs.com/v4/msg/simplifiedshopflow", "getPaymentMethods", "<language>sv</language>")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, []string{"INVOICE", "PARTPAYMENT", "NETS_CARD"}, elems(r.body, "id"))
	cfg := "http://ecommerce.resurs.com/v4/msg/configuration"
	r = post(resurssim.PathConfiguration, cfg, "peekInvoiceSequence", "")
	assert.Contains(t, r.body, "<nextInvoiceNumber>1</nextInvoiceNumber>")
	r = post(resurssim.PathConfiguration, cfg, "setInvoiceSequence", "<nextInvoiceNumber>5000</nextInvoiceNumber>")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, http.StatusOK, e.soap("finalizePayment", "<paymentId>P1</paymentId>").status)
	_, _, body := e.statuses("P1")
	assert.Contains(t, body, "<invoiceId>5000</invoiceId>")
	r = post(resurssim.PathConfiguration, cfg, "peekInvoiceSequence", "")
	assert.Contains(t, r.body, "<nextInvoiceNumber>5001</nextInvoiceNumber>")
}

// I.2: 401 with a Basic challenge before any SOAP, also on the documents.
func TestSOAPAuth(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{resurssim.PathAfterShop, resurssim.PathAfterShop + "?wsdl", resurssim.PathAfterShop + "?xsd=schemas/types/common.xsd"} {
		r := e.do(http.MethodGet, path, "", "", "", "")
		assert.Equal(t, http.StatusUnauthorized, r.status, path)
		assert.Equal(t, `Basic realm="ecommerce"`, r.header.Get("WWW-Authenticate"), path)
	}
	r := e.do(http.MethodPost, resurssim.PathAfterShop, "text/xml", "garbage", resurssim.TestUser, "nope")
	assert.Equal(t, http.StatusUnauthorized, r.status)
	r = e.do(http.MethodGet, resurssim.PathAfterShop+"?wsdl", "", "", resurssim.TestUser, resurssim.TestPassword)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.body, `<soap:address location="`+e.srv.URL+resurssim.PathAfterShop+`"/>`)
	assert.Contains(t, r.body, `schemaLocation="`+e.srv.URL+resurssim.PathAfterShop+`?xsd=schemas/messages/AfterShopFlowServiceMessages.xsd"`)
}
