package resurs

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/soap"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden request files")

// soapStub answers every request with the body reply returns for it and
// keeps the requests it got.
type soapStub struct {
	t     *testing.T
	reqs  [][]byte
	auth  []string
	reply func(op string, body []byte) (int, string)
}

func (s *soapStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.reqs = append(s.reqs, b)
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	n, err := soap.Body(b)
	if err != nil {
		s.t.Errorf("stub: request is not SOAP: %v", err)
		w.WriteHeader(400)
		return
	}
	if n.Space != AfterShopNS {
		s.t.Errorf("stub: wrapper namespace %q", n.Space)
	}
	for _, k := range n.Kids {
		if k.Space != "" {
			s.t.Errorf("stub: child %s is qualified (%s)", k.Local, k.Space)
		}
	}
	code, body := s.reply(n.Local, b)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(code)
	io.WriteString(w, body)
}

func newAfterShop(t *testing.T, reply func(op string, body []byte) (int, string)) (*AfterShop, *soapStub) {
	t.Helper()
	stub := &soapStub{t: t, reply: reply}
	srv := httptest.NewServer(stub)
	t.Cleanup(srv.Close)
	c, err := NewAfterShop(AfterShopConfig{URL: srv.URL + "/ecommerce-test/ws/V4/AfterShopFlowService", Username: testUser, Password: testPass})
	require.NoError(t, err)
	return c, stub
}

// envelopeOf wraps a response body the way JAX-WS does, with a server-chosen prefix.
func envelopeOf(prefix, inner string) string {
	return `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>` +
		strings.ReplaceAll(inner, "PFX", prefix) + `</soap:Body></soap:Envelope>`
}

func emptyResponse(op string) string {
	return envelopeOf("ns2", `<ns2:`+op+`Response xmlns:ns2="`+AfterShopNS+`"/>`)
}

func faultResponse(id int, name string, fixable bool, user string) string {
	f := "false"
	if fixable {
		f = "true"
	}
	return `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>` +
		`<faultcode>soap:Server</faultcode><faultstring>technical: posd_test_pw seen</faultstring>` +
		`<detail><ns3:ECommerceError xmlns:ns3="http://ecommerce.resurs.com/v4/msg/exception">` +
		`<errorTypeDescription>` + name + `</errorTypeDescription><errorTypeId>` + itoa(id) + `</errorTypeId>` +
		`<fixableByYou>` + f + `</fixableByYou><userErrorMessage>` + user + `</userErrorMessage>` +
		`</ns3:ECommerceError></detail></soap:Fault></soap:Body></soap:Envelope>`
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".xml")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.Equal(t, string(want), string(got), "request differs from %s", path)
}

func TestAfterShopRequestsMatchGoldenFiles(t *testing.T) {
	c, stub := newAfterShop(t, func(op string, _ []byte) (int, string) {
		switch op {
		case OpFindPayments:
			return 200, envelopeOf("ns3", `<PFX:findPaymentsResponse xmlns:PFX="`+AfterShopNS+`"/>`)
		case OpCalculateResultSize:
			return 200, envelopeOf("ns3", `<PFX:calculateResultSizeResponse xmlns:PFX="`+AfterShopNS+`"><return>0</return></PFX:calculateResultSizeResponse>`)
		case OpGetPaymentDocumentNames:
			return 200, envelopeOf("ns2", `<PFX:getPaymentDocumentNamesResponse xmlns:PFX="`+AfterShopNS+`"/>`)
		case OpGetPaymentDocument:
			return 200, envelopeOf("ns2", `<PFX:getPaymentDocumentResponse xmlns:PFX="`+AfterShopNS+`"><return><name>d</name><pdfData>JVBERi0=</pdfData></return></PFX:getPaymentDocumentResponse>`)
		case OpGetPayment:
			return 200, envelopeOf("ns2", `<PFX:getPaymentResponse xmlns:PFX="`+AfterShopNS+`"><return><id>P1</id></return></PFX:getPaymentResponse>`)
		}
		return 200, emptyResponse(op)
	})
	ctx := context.Background()
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	spec := &Spec{
		Lines: []SpecLine{{ID: "1", ArtNo: "A-1", Description: "Kaffe & kaka", Quantity: "2", UnitMeasure: "st",
			UnitAmountWithoutVat: "89.28571429", VatPct: "12", TotalVatAmount: "21.43", TotalAmount: "200"}},
		TotalAmount: "200", TotalVatAmount: "21.43",
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"finalize_total_only", func() error {
			return c.FinalizePayment(ctx, FinalizeRequest{PaymentID: "P1", Spec: &Spec{TotalAmount: "250.00"}})
		}},
		{"finalize_full", func() error {
			return c.FinalizePayment(ctx, FinalizeRequest{PaymentID: "P1", PreferredTransactionID: "T-9", Spec: spec, CreatedBy: "posd",
				OrderID: "O1", OrderDate: day, InvoiceID: "1001", InvoiceDate: day, InvoiceDeliveryType: DeliveryNone})
		}},
		{"annul_all", func() error { return c.AnnulPayment(ctx, AnnulRequest{PaymentID: "P1"}) }},
		{"credit_lines", func() error {
			return c.CreditPayment(ctx, CreditRequest{PaymentID: "P1", Spec: spec, CreatedBy: "posd-r1", CreditNoteID: "C1", CreditNoteDate: day})
		}},
		{"additional_debit", func() error {
			return c.AdditionalDebitOfPayment(ctx, AdditionalDebitRequest{PaymentID: "P1", Spec: *spec})
		}},
		{"add_metadata", func() error { return c.AddMetaData(ctx, "P1", "CustomerId", "K<42>") }},
		{"get_payment", func() error { _, err := c.GetPayment(ctx, "P1"); return err }},
		{"find_payments", func() error {
			frozen := false
			_, err := c.FindPayments(ctx, SearchCriteria{GovernmentID: "198305147715", BookedFrom: day, BookedTo: day.Add(24 * time.Hour),
				AmountFrom: "10", Frozen: &frozen, MetaDataKey: "posd", StatusSet: []string{StatusDebitable}, StatusNotSet: []string{StatusDebited}},
				2, 3, &SortOrder{Ascending: false, Columns: []string{SortAmount}})
			return err
		}},
		{"calculate_result_size", func() error {
			_, err := c.CalculateResultSize(ctx, SearchCriteria{StatusSet: []string{StatusDebitable}, StatusNotSet: []string{StatusDebited}})
			return err
		}},
		{"get_document_names", func() error { _, err := c.GetPaymentDocumentNames(ctx, "P1"); return err }},
		{"get_document", func() error { _, err := c.GetPaymentDocument(ctx, "P1", "INVOICE_20261201-101010_1"); return err }},
	}
	for i, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.call())
			require.Len(t, stub.reqs, i+1)
			golden(t, tc.name, stub.reqs[i])
			assert.Equal(t, "Basic "+base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPass)), stub.auth[i])
			assert.NotContains(t, string(stub.reqs[i]), testPass, "the password goes in the header only")
		})
	}
}

// E.9, E.24: getPayment of the doc's discount example, numbers with 5 and 20 decimals.
const p1Response = `<ns3:getPaymentResponse xmlns:ns3="` + AfterShopNS + `" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><return>
<id>P1</id><totalAmount>1100.00000</totalAmount><limit>1500.00000</limit>
<metaData><key>CustomerId</key><value>42</value></metaData>
<paymentDiffs><type>AUTHORIZE</type><transactionId>P1</transactionId><created>2013-07-02T12:51:51+02:00</created><createdBy>shop</createdBy>
<paymentSpec>
 <specLines><id>1</id><artNo>A</artNo><description>Vara</description><quantity>4.000000000000000</quantity><unitMeasure>st</unitMeasure><unitAmountWithoutVat>200.00000</unitAmountWithoutVat><vatPct>25.00000</vatPct><totalVatAmount>200.00000</totalVatAmount><totalAmount>1000.00000</totalAmount></specLines>
 <specLines><id>2</id><artNo>B</artNo><description>Frakt</description><quantity>1</quantity><unitMeasure>st</unitMeasure><unitAmountWithoutVat>200</unitAmountWithoutVat><vatPct>25</vatPct><totalVatAmount>50</totalVatAmount><totalAmount>250</totalAmount></specLines>
 <specLines><id>3</id><artNo>D</artNo><description>Rabatt</description><quantity>1.00000</quantity><unitMeasure>st</unitMeasure><unitAmountWithoutVat>-120.00000</unitAmountWithoutVat><vatPct>25.00000</vatPct><totalVatAmount>-30.00000</totalVatAmount><totalAmount>-150.00000</totalAmount></specLines>
 <totalAmount>1100.00000</totalAmount><totalVatAmount>220.00000</totalVatAmount><bonusPoints>0.00000000000000000000</bonusPoints>
</paymentSpec><orderId xsi:nil="true"/></paymentDiffs>
<customer><governmentId>198305147715</governmentId><address><fullName>Vincent Williamsson Alexandersson</fullName><addressRow1>Glassgatan 15</addressRow1><postalArea>Göteborg</postalArea><postalCode>41655</postalCode><country>SE</country></address><phone>0701112233</phone><type>NATURAL</type></customer>
<booked>2013-07-02T12:51:51+02:00</booked><finalized xsi:nil="true"/>
<paymentMethodId>INVOICE</paymentMethodId><paymentMethodName>Faktura</paymentMethodName>
<fraud>false</fraud><frozen>false</frozen><status>DEBITABLE</status><storeId>store-1</storeId>
<paymentMethodType>INVOICE</paymentMethodType><totalBonusPoints>0</totalBonusPoints><aNewElement>ignored</aNewElement>
</return></ns3:getPaymentResponse>`

func TestGetPaymentReadsSOAP(t *testing.T) {
	c, _ := newAfterShop(t, func(op string, _ []byte) (int, string) { return 200, envelopeOf("", p1Response) })
	p, err := c.GetPayment(context.Background(), "P1")
	require.NoError(t, err)
	assert.Equal(t, "P1", p.ID)
	assert.Equal(t, Decimal("1100"), p.TotalAmount)
	assert.Equal(t, Decimal("1500"), p.Limit)
	assert.Equal(t, []string{StatusDebitable}, p.Status)
	assert.True(t, p.Finalized.IsZero(), "xsi:nil finalized reads as absent")
	assert.False(t, p.IsFinalized())
	assert.Equal(t, "42", p.Meta("CustomerId"))
	require.Len(t, p.Diffs, 1)
	d := p.Diffs[0]
	assert.Equal(t, "", d.OrderID)
	require.Len(t, d.Spec.Lines, 3)
	assert.Equal(t, Decimal("4"), d.Spec.Lines[0].Quantity)
	assert.Equal(t, Decimal("-150"), d.Spec.Lines[2].TotalAmount)
	assert.Equal(t, Decimal("220"), d.Spec.TotalVatAmount)
	assert.Equal(t, Decimal("0"), d.Spec.BonusPoints)
	assert.Equal(t, time.Date(2013, 7, 2, 10, 51, 51, 0, time.UTC), d.Created.UTC())
	assert.Equal(t, "Glassgatan 15", p.Customer.Address.AddressRow1)
	assert.Equal(t, "1100", p.Debitable().FloatString(0))
	assert.Equal(t, "0", p.Creditable().FloatString(0))
}

// E.10, E.13, E.14, E.15: faults become *Fault with the fields Resurs sends;
// the faultstring is never in the error text, and the password is masked in it.
func TestAfterShopFaults(t *testing.T) {
	for _, tc := range []struct {
		id       int
		name     string
		notFound bool
	}{
		{8, "REFERENCED_DATA_DONT_EXISTS", true},
		{20, "NOT_ALLOWED_IN_PAYMENT_STATE", false},
		{23, "INVALID_CREDITING", false},
		{25, "NOT_ALLOWED_IN_CURRENT_STATE", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newAfterShop(t, func(string, []byte) (int, string) {
				return 500, faultResponse(tc.id, tc.name, true, "Betalningen kan inte hanteras")
			})
			err := c.FinalizePayment(context.Background(), FinalizeRequest{PaymentID: "NOPE"})
			var f *Fault
			require.ErrorAs(t, err, &f)
			assert.Equal(t, tc.id, f.ErrorTypeID)
			assert.Equal(t, tc.name, f.Name)
			assert.True(t, f.FixableByYou)
			assert.Equal(t, "Betalningen kan inte hanteras", f.CashierMessage())
			assert.Equal(t, "technical: *** seen", f.FaultString)
			assert.Equal(t, "soap:Server", f.FaultCode)
			assert.NotContains(t, err.Error(), "technical")
			assert.Equal(t, tc.notFound, errors.Is(err, ErrNotFound))
			assert.False(t, errors.Is(err, ErrNotSent))
			id, ok := FaultID(err)
			assert.True(t, ok)
			assert.Equal(t, tc.id, id)
		})
	}
}

func TestAfterShopTransportOutcomes(t *testing.T) {
	t.Run("401 before SOAP", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Basic realm="resurs"`)
			w.WriteHeader(401)
		}))
		defer srv.Close()
		c, err := NewAfterShop(AfterShopConfig{URL: srv.URL, Username: "x", Password: "y"})
		require.NoError(t, err)
		_, err = c.GetPayment(context.Background(), "P1")
		require.ErrorIs(t, err, ErrUnauthorized)
		assert.False(t, errors.Is(err, ErrNotSent))
	})
	t.Run("wrong response element", func(t *testing.T) {
		c, _ := newAfterShop(t, func(string, []byte) (int, string) { return 200, emptyResponse("annulPayment") })
		err := c.FinalizePayment(context.Background(), FinalizeRequest{PaymentID: "P1"})
		require.Error(t, err)
		assert.False(t, errors.Is(err, ErrNotSent))
	})
	t.Run("wrong wrapper namespace", func(t *testing.T) {
		c, _ := newAfterShop(t, func(string, []byte) (int, string) {
			return 200, envelopeOf("", `<x:finalizePaymentResponse xmlns:x="urn:other"/>`)
		})
		require.Error(t, c.FinalizePayment(context.Background(), FinalizeRequest{PaymentID: "P1"}))
	})
	t.Run("bad arguments are not sent", func(t *testing.T) {
		c, stub := newAfterShop(t, func(string, []byte) (int, string) { return 200, "" })
		for _, err := range []error{
			c.FinalizePayment(context.Background(), FinalizeRequest{}),
			c.FinalizePayment(context.Background(), FinalizeRequest{PaymentID: "P1", Spec: &Spec{TotalAmount: "1e3"}}),
			c.FinalizePayment(context.Background(), FinalizeRequest{PaymentID: "P1", InvoiceDeliveryType: "SMS"}),
			c.CreditPayment(context.Background(), CreditRequest{PaymentID: "P1", Spec: &Spec{TotalAmount: "-5"}}),
			c.AdditionalDebitOfPayment(context.Background(), AdditionalDebitRequest{PaymentID: "P1"}),
			c.AddMetaData(context.Background(), "P1", "", "v"),
		} {
			require.ErrorIs(t, err, ErrInvalidRequest)
			require.ErrorIs(t, err, ErrNotSent)
		}
		assert.Empty(t, stub.reqs)
	})
}

// E.21: findPayments results and calculateResultSize's count.
func TestFindPaymentsAndResultSize(t *testing.T) {
	c, _ := newAfterShop(t, func(op string, _ []byte) (int, string) {
		if op == OpCalculateResultSize {
			return 200, envelopeOf("ns2", `<ns2:calculateResultSizeResponse xmlns:ns2="`+AfterShopNS+`"><return>7</return></ns2:calculateResultSizeResponse>`)
		}
		return 200, envelopeOf("ns3", `<ns3:findPaymentsResponse xmlns:ns3="`+AfterShopNS+`">
<return><paymentId>P2</paymentId><paymentMethodId>INVOICE</paymentMethodId><paymentMethodName>Faktura</paymentMethodName><governmentId>198305147715</governmentId><fullName>V</fullName><booked>2026-12-01T10:00:00+01:00</booked><totalAmount>300.0144</totalAmount><frozen>false</frozen><status>DEBITABLE</status></return>
<return><paymentId>P3</paymentId><booked>2026-12-01T11:00:00+01:00</booked><modified>2026-12-01T12:00:00+01:00</modified><finalized>2026-12-01T12:00:00+01:00</finalized><totalAmount>1250</totalAmount><frozen>true</frozen><status>IS_DEBITED</status><status>CREDITABLE</status><totalBonusPoints>0</totalBonusPoints></return>
</ns3:findPaymentsResponse>`)
	})
	ps, err := c.FindPayments(context.Background(), SearchCriteria{}, 2, 3, &SortOrder{Columns: []string{SortAmount}})
	require.NoError(t, err)
	require.Len(t, ps, 2)
	assert.Equal(t, "P2", ps[0].PaymentID)
	assert.Equal(t, Decimal("300.0144"), ps[0].TotalAmount)
	assert.True(t, ps[0].Finalized.IsZero())
	assert.True(t, ps[1].Frozen)
	assert.Equal(t, []string{StatusDebited, StatusCreditable}, ps[1].Status)
	n, err := c.CalculateResultSize(context.Background(), SearchCriteria{StatusSet: []string{StatusDebitable}})
	require.NoError(t, err)
	assert.Equal(t, 7, n)
}

// E.23: document names and a PDF.
func TestPaymentDocuments(t *testing.T) {
	pdf := base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 test"))
	c, _ := newAfterShop(t, func(op string, _ []byte) (int, string) {
		if op == OpGetPaymentDocumentNames {
			return 200, envelopeOf("ns2", `<ns2:getPaymentDocumentNamesResponse xmlns:ns2="`+AfterShopNS+`"><return>INVOICE_20261201-101010_1</return><return>CREDIT_20261201-111111_2</return></ns2:getPaymentDocumentNamesResponse>`)
		}
		return 200, envelopeOf("ns2", `<ns2:getPaymentDocumentResponse xmlns:ns2="`+AfterShopNS+`"><return><name>INVOICE_20261201-101010_1</name><pdfData>`+pdf[:8]+"\n"+pdf[8:]+`</pdfData></return></ns2:getPaymentDocumentResponse>`)
	})
	names, err := c.GetPaymentDocumentNames(context.Background(), "P1")
	require.NoError(t, err)
	assert.Equal(t, []string{"INVOICE_20261201-101010_1", "CREDIT_20261201-111111_2"}, names)
	doc, err := c.GetPaymentDocument(context.Background(), "P1", names[0])
	require.NoError(t, err)
	assert.Equal(t, "%PDF-1.4 test", string(doc.PDF))
	assert.True(t, strings.HasPrefix(pdf, "JVBERi0"))
}

func FuzzSOAPPayment(f *testing.F) {
	f.Add([]byte(envelopeOf("", p1Response)))
	f.Add([]byte(faultResponse(8, "X", true, "y")))
	f.Fuzz(func(t *testing.T, doc []byte) {
		n, err := soap.Body(doc)
		if err != nil {
			return
		}
		if r := n.Child("return"); r != nil {
			p, err := paymentOf(r)
			if err == nil && p.ID == "" {
				t.Fatal("payment without id accepted")
			}
			_, _ = basicPaymentOf(r)
		}
	})
}
