package seqr

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/posd/posd/internal/money"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVectors plays spec 6's test vectors TV1-TV15 from the client's side: the
// request carries the children the vector shows, and the vector's response
// becomes the value or typed error a caller branches on. (Client against the
// emulator is in seqrsim.)
func TestVectors(t *testing.T) {
	const ref = "1397222701693"
	const ers = "2015102910184861801032678"
	ctx := context.Background()
	fault := func(code string) string {
		return `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>` + code +
			`</faultcode><faultstring>x</faultstring></soap:Fault></soap:Body></soap:Envelope>`
	}
	result := func(code int) string {
		return `<resultCode>` + itoa(code) + `</resultCode><resultDescription>` + ResultName(code) + `</resultDescription>`
	}
	tests := []struct {
		name     string
		status   int
		ret      string // <return> content; "" with status 500 means the body is fault
		body     string // a whole response body, instead of ret
		call     func(*Client) (any, error)
		request  string // a fragment the request must contain
		want     any
		wantCode int // expected *ResultError code; 0 means success
		wantDesc string
		fault    string
	}{
		{name: "TV1 registerTerminal", ret: successReturns[opRegisterTerminal],
			call: func(c *Client) (any, error) {
				return c.RegisterTerminal(ctx, testReseller, "Shop 1/POS 2", "k3Jd8sLq0PzX2mA", "My Shop, till 2")
			},
			request: `<externalTerminalId>Shop 1/POS 2</externalTerminalId><password>k3Jd8sLq0PzX2mA</password><name>My Shop, till 2</name></ext:registerTerminal>`,
			want:    "87e791f9e24148a6892c52aa85bb0331"},
		{name: "TV1 wrong reseller password", ret: result(20),
			call: func(c *Client) (any, error) {
				return c.RegisterTerminal(ctx, Principal{Type: PrincipalResellerUser, ID: "public_test_shop", UserID: "9900", Password: "bad"}, "x", "pw12345", "y")
			},
			wantCode: ResultAuthenticationFailed, wantDesc: "AUTHENTICATION_FAILED"},
		{name: "TV2 assignSeqrId", ret: success,
			call:    func(c *Client) (any, error) { return nil, c.AssignSeqrID(ctx, testTerminal, "ACME0001") },
			request: `<type>TERMINALID</type></initiatorPrincipalId><password>k3Jd8sLq0PzX2mA</password></context><seqrId>ACME0001</seqrId></ext:assignSeqrId>`},
		{name: "TV2 seqrId on another till", ret: result(53),
			call:     func(c *Client) (any, error) { return nil, c.AssignSeqrID(ctx, testTerminal, "ACME0001") },
			wantCode: ResultInvalidSeqrID, wantDesc: "INVALID_SEQR_ID"},
		{name: "TV3 sendInvoice", ret: successReturns[opSendInvoice],
			call: func(c *Client) (any, error) {
				return c.SendInvoice(ctx, testTerminal, Invoice{PaymentMode: "IMMEDIATE_DEBIT", AcknowledgmentMode: "NO_ACKNOWLEDGMENT",
					Title: "My Shop", ClientInvoiceID: "R-1001", Total: money.MustParse("20.00"), Currency: "SEK", CashierID: "Bob",
					Rows: []InvoiceRow{{Description: "Ice cream", Quantity: "2", TaxRate: "12", Total: money.MustParse("20.00"), UnitPrice: amountPtr("10.00")}}}, nil)
			},
			request: `<totalAmount><currency>SEK</currency><value>20.00</value></totalAmount><cashierId>Bob</cashierId></invoice></ext:sendInvoice>`,
			want:    SendInvoiceResult{InvoiceReference: ref, InvoiceQRCode: "HTTP://SEQR.SE/R" + ref}},
		{name: "TV3 currency XXX", ret: result(49),
			call: func(c *Client) (any, error) {
				return c.SendInvoice(ctx, testTerminal, Invoice{Title: "x", Total: 100, Currency: "XXX"}, nil)
			},
			request: `<totalAmount><currency>XXX</currency><value>1.00</value></totalAmount>`, wantCode: ResultInvalidInvoiceData, wantDesc: "INVALID_INVOICE_DATA"},
		{name: "TV3 notificationUrl ftp", ret: result(64),
			call: func(c *Client) (any, error) {
				return c.SendInvoice(ctx, testTerminal, Invoice{Title: "x", Total: 100, Currency: "SEK", NotificationURL: "ftp://x"}, nil)
			},
			request: `<notificationUrl>ftp://x</notificationUrl>`, wantCode: ResultInvalidNotificationURL, wantDesc: "INVALID_NOTIFICATION_URL"},
		{name: "TV4 waiting", ret: success + `<status>ISSUED</status><version>1</version>`,
			call:    func(c *Client) (any, error) { return c.GetPaymentStatus(ctx, testTerminal, ref, 0) },
			request: `</context><invoiceReference>1397222701693</invoiceReference><invoiceVersion>0</invoiceVersion></ext:getPaymentStatus>`,
			want:    PaymentStatus{Status: StatusIssued, Version: 1}},
		{name: "TV5 paid", body: readTestdata(t, "response_tv5_paid.xml"),
			call:    func(c *Client) (any, error) { return c.GetPaymentStatus(ctx, testTerminal, ref, 1) },
			request: `<invoiceVersion>1</invoiceVersion>`,
			want: PaymentStatus{Status: StatusPaid, Version: 2, ERSReference: ers, Receipt: &Receipt{
				TerminalID: "87e791f9e24148a6892c52aa85bb0331", PaymentDate: "2015-10-29T10:18:48.663+01:00", ClientInvoiceID: "R-1001",
				InvoiceReference: ref, PaymentReference: ers, PayerTerminalID: "d613c5b8428d17248751bc101", ReceiverName: "My Shop, till 2",
				Total: money.MustParse("20.00"), Currency: "SEK"}}},
		{name: "TV6 loyalty pending", body: readTestdata(t, "response_tv6_loyalty.xml"),
			call: func(c *Client) (any, error) { return c.GetPaymentStatus(ctx, testTerminal, ref, 1) },
			want: PaymentStatus{Status: StatusPendingIssuerAcknowledge, Version: 2,
				Tokens: []CustomerToken{{Description: "Loyalty card", ID: "X_CARD", Status: 0, Value: "2610411111110"}}}},
		{name: "TV7 unknown reference", body: readTestdata(t, "response_tv7_unknown_ref.xml"),
			call:     func(c *Client) (any, error) { return c.GetPaymentStatus(ctx, testTerminal, "999", 0) },
			wantCode: ResultInvalidInvoiceReference, wantDesc: "INVALID_INVOICE_REFERENCE"},
		{name: "TV8 cancelInvoice", ret: success,
			call:    func(c *Client) (any, error) { return nil, c.CancelInvoice(ctx, testTerminal, ref) },
			request: `</context><invoiceReference>1397222701693</invoiceReference></ext:cancelInvoice>`},
		{name: "TV8 cancel again", ret: result(95),
			call:     func(c *Client) (any, error) { return nil, c.CancelInvoice(ctx, testTerminal, ref) },
			wantCode: ResultInvoiceAlreadyCanceled, wantDesc: "INVOICE_ALREADY_CANCELED"},
		{name: "TV8 cancel paid", ret: result(50),
			call:     func(c *Client) (any, error) { return nil, c.CancelInvoice(ctx, testTerminal, ref) },
			wantCode: ResultCannotCancelPaidInvoice, wantDesc: "CANNOT_CANCEL_PAID_INVOICE"},
		{name: "TV8 status after cancel", ret: success + `<status>CANCELED</status><version>2</version>`,
			call: func(c *Client) (any, error) { return c.GetPaymentStatus(ctx, testTerminal, ref, 1) },
			want: PaymentStatus{Status: StatusCanceled, Version: 2}},
		{name: "TV9 submitPaymentReceipt", ret: success,
			call: func(c *Client) (any, error) {
				return nil, c.SubmitPaymentReceipt(ctx, testTerminal, ers, ReceiptDocument{MimeType: "text/html", Data: []byte("<b>Tack!</b>"), Type: "PAYMENT_RECEIPT"})
			},
			request: `<ersReference>2015102910184861801032678</ersReference><receiptDocument><mimeType>text/html</mimeType><receiptData>PGI+VGFjayE8L2I+</receiptData><receiptType>PAYMENT_RECEIPT</receiptType></receiptDocument>`},
		{name: "TV10 refundPayment", ret: successReturns[opRefundPayment],
			call: func(c *Client) (any, error) {
				return c.RefundPayment(ctx, testTerminal, ers, Invoice{Title: "Refund", CashierID: "Bob", Total: money.MustParse("5.00"), Currency: "SEK"})
			},
			// Schema order: the spec's example puts cashierId before totalAmount.
			request: `<ersReference>2015102910184861801032678</ersReference><invoice><title>Refund</title><totalAmount><currency>SEK</currency><value>5.00</value></totalAmount><cashierId>Bob</cashierId></invoice>`,
			want:    "2015103011000000001032700"},
		{name: "TV10 refund exceeds payment", ret: `<resultCode>98</resultCode><resultDescription>Sum of refunds can not be more than original transaction</resultDescription>`,
			call: func(c *Client) (any, error) {
				return c.RefundPayment(ctx, testTerminal, ers, Invoice{Title: "Refund", Total: money.MustParse("25.00"), Currency: "SEK"})
			},
			wantCode: ResultRefundExceedsOriginal, wantDesc: "Sum of refunds can not be more than original transaction"},
		{name: "TV10 unknown reference", ret: result(23),
			call: func(c *Client) (any, error) {
				return c.RefundPayment(ctx, testTerminal, "1", Invoice{Title: "Refund", Total: 500, Currency: "SEK"})
			},
			wantCode: ResultInvalidERSReference, wantDesc: "INVALID_ERS_REFERENCE"},
		{name: "TV11 markTransactionPeriod", ret: successReturns[opMarkTransactionPeriod],
			call: func(c *Client) (any, error) {
				return c.MarkTransactionPeriod(ctx, testReseller, []Param{{"TERMINALID", "87e791f9e24148a6892c52aa85bb0331"}})
			},
			request: `<type>RESELLERUSER</type><userId>9900</userId></initiatorPrincipalId><password>1234</password></context><parameters><parameter><entry><key>TERMINALID</key><value>87e791f9e24148a6892c52aa85bb0331</value></entry></parameter></parameters>`,
			want:    "2015120408534212001005262"},
		{name: "TV12 report not ready", ret: result(2),
			call: func(c *Client) (any, error) {
				return c.ExecuteReport(ctx, testReseller, "Reconciliation/STD_RECON_006.xml", "en",
					[]Param{{"transactionPeriodId", "2015120408534212001005262"}, {"TERMINALID", "87e791f9e24148a6892c52aa85bb0331"}})
			},
			request:  `<reportId>Reconciliation/STD_RECON_006.xml</reportId><language>en</language><parameters><parameter><entry><key>transactionPeriodId</key><value>2015120408534212001005262</value></entry><entry><key>TERMINALID</key><value>87e791f9e24148a6892c52aa85bb0331</value></entry></parameter></parameters>`,
			wantCode: ResultReportNotReady, wantDesc: "REPORT_NOT_READY"},
		{name: "TV12 report ready", ret: successReturns[opExecuteReport],
			call: func(c *Client) (any, error) {
				return c.ExecuteReport(ctx, testReseller, "Reconciliation/STD_RECON_006.xml", "en", nil)
			},
			want: Report{Title: "STD_RECON_006_2015120408534212001005262.xml", MimeType: "text/html", Content: []byte("<a/>"), ContentString: "<a/>"}},
		{name: "TV13 unknown operation", status: http.StatusInternalServerError, body: fault("soap:Client"),
			call: func(c *Client) (any, error) { return nil, c.BenchmarkingNop(ctx) }, request: `<ext:benchmarkingNop/>`, fault: "soap:Client"},
		{name: "TV13 SOAP 1.2 envelope", status: http.StatusInternalServerError, body: fault("soap:VersionMismatch"),
			call: func(c *Client) (any, error) { return c.GetPaymentStatus(ctx, testTerminal, ref, 0) }, fault: "soap:VersionMismatch"},
		{name: "TV14 superseded", ret: success + `<status>CANCELED</status><version>2</version>`,
			call: func(c *Client) (any, error) { return c.GetPaymentStatus(ctx, testTerminal, ref, 1) },
			want: PaymentStatus{Status: StatusCanceled, Version: 2}},
		{name: "TV15 reversed", ret: success + `<status>CANCELED</status><version>3</version>`,
			call: func(c *Client) (any, error) { return c.GetPaymentStatus(ctx, testTerminal, ref, 2) },
			want: PaymentStatus{Status: StatusCanceled, Version: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, func(op string) (int, string) {
				status := tc.status
				if status == 0 {
					status = http.StatusOK
				}
				if tc.body != "" {
					return status, tc.body
				}
				return status, envelope(op, tc.ret)
			})
			c := newTestClient(t, testConfig(srv.URL))
			got, err := tc.call(c)
			if tc.request != "" {
				assert.Contains(t, string(srv.last(t).body), tc.request)
			}
			switch {
			case tc.fault != "":
				var fe *FaultError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, tc.fault, fe.Code)
			case tc.wantCode != 0:
				var re *ResultError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, tc.wantCode, re.Code)
				assert.Equal(t, tc.wantDesc, re.Description)
				assert.False(t, errors.Is(err, ErrNotSent))
			default:
				require.NoError(t, err)
				if tc.want != nil {
					assert.Equal(t, tc.want, got)
				}
			}
		})
	}
}
