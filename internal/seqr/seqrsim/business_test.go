package seqrsim_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAuthOrder(t *testing.T) {
	e := newEnv(t)
	id, pw := e.till("TILL1")
	goneID, gonePW := e.till("")
	require.Equal(t, "0", resultCode(t, e.soap("unregisterTerminal", termCtx(goneID, gonePW))))
	shortID := ""
	{
		body := e.soap("registerTerminal", resellerCtx()+`<password>abc</password>`)
		shortID = field(t, body, "terminalId")
	}
	tests := []struct {
		name, op, ctx, want string
	}{
		{"no context", "sendInvoice", "", "29"},
		{"unknown terminal", "sendInvoice", termCtx("nope", pw), "29"},
		{"unknown terminal, wrong password too", "getPaymentStatus", termCtx("nope", "bad"), "29"},
		{"reseller on a till operation", "sendInvoice", resellerCtx(), "29"},
		{"wrong terminal password", "sendInvoice", termCtx(id, "bad"), "20"},
		{"unregistered terminal, wrong password", "sendInvoice", termCtx(goneID, "bad"), "20"},
		{"unregistered terminal", "sendInvoice", termCtx(goneID, gonePW), "33"},
		{"password shorter than 4", "getPaymentStatus", termCtx(shortID, "abc"), "21"},
		{"unknown reseller", "registerTerminal", ctxXML("RESELLERUSER", "nobody", "9900", "1234"), "37"},
		{"unknown reseller user", "registerTerminal", ctxXML("RESELLERUSER", "public_test_shop", "1", "1234"), "37"},
		{"wrong reseller password", "registerTerminal", ctxXML("RESELLERUSER", "public_test_shop", "9900", "x"), "20"},
		{"terminal on registerTerminal", "registerTerminal", termCtx(id, pw), "29"},
		{"terminal may mark a period", "markTransactionPeriod", termCtx(id, pw), "0"},
		{"seeded test terminal", "getPaymentStatus", termCtx(seqrsim.TestTerminalID, seqrsim.TestTerminalPassword), "54"},
		{"seeded sample terminal", "getPaymentStatus", termCtx("8609bf533abf4a20816e8bfe76639521", "N2YFUhKaB1ZSuVF"), "54"},
		{"unknown principal type", "getPaymentStatus", ctxXML("SUBSCRIBERMSISDN", id, "", pw), "29"},
		{"nop needs no credentials", "benchmarkingNop", "", "0"},
		{"non-merchant operation", "requestPurchase", "", "91"},
		{"business check after auth", "sendInvoice", termCtx(id, pw), "49"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, resultCode(t, e.soap(tc.op, tc.ctx)))
		})
	}
}

func TestInvoiceChecks(t *testing.T) {
	e := newEnv(t)
	id, pw := e.till("TILL1")
	ctx := termCtx(id, pw)
	tests := []struct{ name, invoice, want string }{
		{"TV3", sendXML, "0"},
		{"wrong currency XXX", strings.ReplaceAll(sendXML, "SEK", "XXX"), "49"},
		{"EUR is not the account currency", strings.ReplaceAll(sendXML, "SEK", "EUR"), "49"},
		{"row in another currency", strings.Replace(sendXML, "SEK", "NOK", 1), "49"},
		{"no invoice", "", "49"},
		{"no total", `<invoice><title>x</title></invoice>`, "49"},
		{"garbled total", `<invoice><totalAmount><currency>SEK</currency><value>lots</value></totalAmount></invoice>`, "49"},
		{"sub-öre total", `<invoice><totalAmount><currency>SEK</currency><value>1.005</value></totalAmount></invoice>`, "49"},
		{"zero total", `<invoice><totalAmount><currency>SEK</currency><value>0.00</value></totalAmount></invoice>`, "11"},
		{"ftp notification URL", strings.Replace(sendXML, "<cashierId>", "<notificationUrl>ftp://x</notificationUrl><cashierId>", 1), "64"},
		{"http notification URL", strings.Replace(sendXML, "<cashierId>", "<notificationUrl>http://shop.example/n</notificationUrl><cashierId>", 1), "0"},
		{"https notification URL (SEQR's Magento plugin requires one)", strings.Replace(sendXML, "<cashierId>", "<notificationUrl>https://shop.example/seqr/notify?order=17&amp;k=v</notificationUrl><cashierId>", 1), "0"},
		{"HTTPS in capitals", strings.Replace(sendXML, "<cashierId>", "<notificationUrl>HTTPS://SHOP.EXAMPLE/N</notificationUrl><cashierId>", 1), "0"},
		{"https without a host", strings.Replace(sendXML, "<cashierId>", "<notificationUrl>https://</notificationUrl><cashierId>", 1), "64"},
		{"mailto notification URL", strings.Replace(sendXML, "<cashierId>", "<notificationUrl>mailto:shop@example.com</notificationUrl><cashierId>", 1), "64"},
		{"relative notification URL", strings.Replace(sendXML, "<cashierId>", "<notificationUrl>/seqr/notify</notificationUrl><cashierId>", 1), "64"},
		{"empty notification URL", strings.Replace(sendXML, "<cashierId>", "<notificationUrl></notificationUrl><cashierId>", 1), "64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, resultCode(t, e.soap("sendInvoice", ctx+tc.invoice)))
		})
	}
}

func TestAssignSeqrIDTV2(t *testing.T) {
	e := newEnv(t)
	a, apw := e.till("ACME0001")
	b, bpw := e.till("")
	assign := func(id, pw, seqrID string) string {
		return resultCode(t, e.soap("assignSeqrId", termCtx(id, pw)+`<seqrId>`+seqrID+`</seqrId>`))
	}
	assert.Equal(t, "53", assign(b, bpw, "ACME0001"), "already on another till")
	assert.Equal(t, "0", assign(a, apw, "ACME0001"), "same till again")
	assert.Equal(t, "53", assign(b, bpw, "ACME-1"), "not alphanumeric")
	assert.Equal(t, "53", assign(b, bpw, ""), "empty")
	assert.Equal(t, "0", assign(a, apw, "ACME0002"), "a till may change its id")
	assert.Equal(t, "0", assign(b, bpw, "ACME0001"), "the old id is free again")
	require.Equal(t, "0", resultCode(t, e.soap("unregisterTerminal", termCtx(b, bpw))))
	c, cpw := e.till("")
	assert.Equal(t, "0", assign(c, cpw, "ACME0001"), "unregistering frees the id")
}

func TestAcknowledgmentAndLoyaltyTV6(t *testing.T) {
	e := newEnv(t)
	id, pw := e.till("TILL1")
	ctx := termCtx(id, pw)
	opt := strings.Replace(sendXML, "NO_ACKNOWLEDGMENT", "OPTIONAL_ACKNOWLEDGMENT", 1)

	// OPTIONAL without a loyalty card: nothing to acknowledge.
	ref := field(t, e.soap("sendInvoice", ctx+opt), "invoiceReference")
	_, err := e.sim.Scan("TILL1")
	require.NoError(t, err)
	_, err = e.sim.Pay("TILL1", seqrsim.OutcomePaid)
	require.NoError(t, err)
	assert.Equal(t, "PAID", field(t, e.status(id, pw, ref), "status"))

	// OPTIONAL with a card: the till must acknowledge.
	ref = field(t, e.soap("sendInvoice", ctx+opt), "invoiceReference")
	w, err := e.sim.ScanWithCard("TILL1", "2610411111110")
	require.NoError(t, err)
	assert.Equal(t, "PENDING_ISSUER_ACKNOWLEDGE", w.Status)
	body := e.status(id, pw, ref)
	assert.Contains(t, body, `<status>PENDING_ISSUER_ACKNOWLEDGE</status><customerTokens><token><description>Loyalty card</description><id>X_CARD</id><status>0</status><value>2610411111110</value></token></customerTokens><version>2</version></return>`)
	_, err = e.sim.Pay("TILL1", seqrsim.OutcomePaid)
	require.ErrorIs(t, err, seqrsim.ErrAwaitingAck)
	assert.Equal(t, "0", resultCode(t, e.soap("cancelInvoice", ctx+`<invoiceReference>`+ref+`</invoiceReference>`)), "pending acknowledgment can be canceled")

	// REQUIRE: acknowledge with updateInvoice (token status 1), then pay.
	req := strings.Replace(sendXML, "NO_ACKNOWLEDGMENT", "REQUIRE_ACKNOWLEDGMENT", 1)
	ref = field(t, e.soap("sendInvoice", ctx+req), "invoiceReference")
	_, err = e.sim.ScanWithCard("TILL1", "2610411111110")
	require.NoError(t, err)
	upd := ctx + `<invoiceReference>` + ref + `</invoiceReference>` + strings.Replace(req, "20.00</value></totalAmount><cashierId>", "18.00</value></totalAmount><cashierId>", 1) +
		`<tokens><description>Loyalty card</description><id>X_CARD</id><status>1</status><value>2610411111110</value></tokens>`
	assert.Equal(t, "0", resultCode(t, e.soap("updateInvoice", upd)))
	body = e.status(id, pw, ref)
	assert.Equal(t, "ISSUED", field(t, body, "status"))
	assert.Equal(t, "3", field(t, body, "version"))
	info, err := e.sim.Pay("TILL1", seqrsim.OutcomePaid)
	require.NoError(t, err)
	assert.Equal(t, "18.00", info.Amount.String())
	assert.Equal(t, 4, info.Version)
	assert.Equal(t, "90", resultCode(t, e.soap("updateInvoice", upd)), "update after payment")
	assert.Equal(t, "54", resultCode(t, e.soap("updateInvoice", ctx+`<invoiceReference>1</invoiceReference>`+req)))
}

func TestReservation(t *testing.T) {
	e := newEnv(t)
	id, pw := e.till("TILL1")
	ctx := termCtx(id, pw)
	res := strings.Replace(sendXML, "IMMEDIATE_DEBIT", "RESERVATION_REQUIRED", 1)
	ref := field(t, e.soap("sendInvoice", ctx+res), "invoiceReference")
	commit := func(extra string) string {
		return resultCode(t, e.soap("commitReservation", ctx+extra+`<invoiceReference>`+ref+`</invoiceReference>`))
	}
	assert.Equal(t, "96", commit(""), "not reserved yet")
	info, err := e.sim.Pay("TILL1", seqrsim.OutcomePaid)
	require.NoError(t, err)
	assert.Equal(t, "RESERVED", info.Status)
	assert.Equal(t, "RESERVED", field(t, e.status(id, pw, ref), "status"))
	assert.Equal(t, "11", commit(`<amount><currency>SEK</currency><value>25.00</value></amount>`), "more than reserved")
	assert.Equal(t, "49", commit(`<amount><currency>EUR</currency><value>5.00</value></amount>`))
	assert.Equal(t, "0", commit(`<amount><currency>SEK</currency><value>15.00</value></amount>`))
	body := e.status(id, pw, ref)
	assert.Equal(t, "PAID", field(t, body, "status"))
	assert.Equal(t, "3", field(t, body, "version"))
	assert.Equal(t, "96", commit(""), "already paid")
	info, _ = e.sim.Invoice(ref)
	assert.Equal(t, "0.00", info.Refunded.String())
}

func TestRefundAndReceiptsTV9TV10(t *testing.T) {
	e := newEnv(t)
	id, pw := e.till("TILL1")
	ctx := termCtx(id, pw)
	ref := e.send(id, pw)
	_, err := e.sim.Pay(ref, seqrsim.OutcomePaid)
	require.NoError(t, err)
	ers := field(t, e.status(id, pw, ref), "ersReference")

	receipt := func(ers string) string {
		return resultCode(t, e.soap("submitPaymentReceipt", ctx+`<ersReference>`+ers+`</ersReference><receiptDocument><mimeType>text/html</mimeType><receiptData>PGI+VGFjayE8L2I+</receiptData><receiptType>PAYMENT_RECEIPT</receiptType></receiptDocument>`))
	}
	assert.Equal(t, "0", receipt(ers))
	assert.Equal(t, "23", receipt("1234"))

	refund := func(ers, value string) string {
		return e.soap("refundPayment", ctx+`<ersReference>`+ers+`</ersReference><invoice><title>Refund</title><cashierId>Bob</cashierId><totalAmount><currency>SEK</currency><value>`+value+`</value></totalAmount></invoice>`)
	}
	body := refund(ers, "5.00")
	rers := field(t, body, "ersReference")
	assert.Equal(t, wrapResp("refundPayment", `<ersReference>`+rers+`</ersReference><resultCode>0</resultCode><resultDescription>SUCCESS</resultDescription>`), body)
	assert.NotEqual(t, ers, rers)
	assert.Equal(t, "0", receipt(rers), "a refund's receipt")
	body = refund(ers, "25.00")
	assert.Equal(t, wrapResp("refundPayment", `<resultCode>98</resultCode><resultDescription>Sum of refunds can not be more than original transaction</resultDescription>`), body)
	assert.Equal(t, "98", resultCode(t, refund(ers, "15.01")))
	assert.Equal(t, "0", resultCode(t, refund(ers, "15.00")))
	assert.Equal(t, "23", resultCode(t, refund("2015102910184861801032678", "1.00")))
	info, _ := e.sim.Invoice(ref)
	assert.Equal(t, "20.00", info.Refunded.String())
	assert.Equal(t, 1, info.Receipts, "the refund's receipt is counted on the refund")
}

func TestReportsTV11TV12(t *testing.T) {
	e := newEnv(t)
	id, pw := e.till("TILL1")
	other, opw := e.till("TILL2")
	for _, tl := range [][2]string{{id, pw}, {id, pw}, {other, opw}} {
		ref := e.send(tl[0], tl[1])
		_, err := e.sim.Pay(ref, seqrsim.OutcomePaid)
		require.NoError(t, err)
		e.status(tl[0], tl[1], ref)
	}
	params := func(kv ...string) string {
		s := `<parameters><parameter>`
		for i := 0; i < len(kv); i += 2 {
			s += `<entry><key>` + kv[i] + `</key><value>` + kv[i+1] + `</value></entry>`
		}
		return s + `</parameter></parameters>`
	}
	e.clock.Advance(time.Second)
	pid := field(t, e.soap("markTransactionPeriod", resellerCtx()+params("TERMINALID", id)), "transactionPeriodId")
	report := func(reportID string, kv ...string) string {
		return e.soap("executeReport", resellerCtx()+`<reportId>`+reportID+`</reportId><language>en</language>`+params(kv...))
	}
	body := report("Reconciliation/STD_RECON_006.xml", "transactionPeriodId", pid, "TERMINALID", id)
	assert.Equal(t, wrapResp("executeReport", `<resultCode>2</resultCode><resultDescription>REPORT_NOT_READY</resultDescription>`), body)
	e.clock.Advance(seqrsim.DefaultReportDelay)
	body = report("Reconciliation/STD_RECON_006.xml", "transactionPeriodId", pid, "TERMINALID", id)
	require.Equal(t, "0", resultCode(t, body), body)
	want := `<TerminalTransactionSummary><Meta><ResellerId>public_test_shop</ResellerId><TerminalId>` + id + `</TerminalId><TransactionPeriodId>` + pid +
		`</TransactionPeriodId><GeneratedAt>2015-10-29 10:18</GeneratedAt></Meta><Row><SalesCount>2</SalesCount><SalesTotal>40.00000</SalesTotal><RefundCount>0</RefundCount><RefundTotal>0.00000</RefundTotal></Row></TerminalTransactionSummary>`
	escaped := strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(want)
	assert.Equal(t, wrapResp("executeReport", `<resultCode>0</resultCode><resultDescription>SUCCESS</resultDescription><report><title>STD_RECON_006_`+pid+
		`.xml</title><mimeType>text/html</mimeType><content>`+base64.StdEncoding.EncodeToString([]byte(want))+`</content><contentString>`+escaped+`</contentString></report>`), body)

	// Other terminal: this period is not its period, never ready.
	assert.Equal(t, "2", resultCode(t, report("Reconciliation/STD_RECON_006.xml", "transactionPeriodId", pid, "TERMINALID", other)))
	assert.Equal(t, "23", resultCode(t, report("Reconciliation/STD_RECON_006.xml", "transactionPeriodId", "1")))
	assert.Equal(t, "91", resultCode(t, report("Reconciliation/Nope.xml", "transactionPeriodId", pid)))

	// Shop-wide period: all three sales, 5-decimal amounts, per terminal rows.
	spid := field(t, e.soap("markTransactionPeriod", resellerCtx()), "transactionPeriodId")
	e.clock.Advance(seqrsim.DefaultReportDelay)
	body = report("Reconciliation/Shop.xml", "transactionPeriodId", spid)
	assert.Contains(t, body, `&lt;SalesCount&gt;3&lt;/SalesCount&gt;&lt;SalesTotal&gt;60.00000&lt;/SalesTotal&gt;`)
	assert.Contains(t, body, `<title>STD_RECON_001_`+spid+`.xml</title>`)
	body = report("Reconciliation/STD_RECON_002.xml", "transactionPeriodId", spid)
	assert.Equal(t, 2, strings.Count(body, "&lt;Row&gt;"))
	body = report("Reconciliation/STD_RECON_003.xml", "transactionPeriodId", spid)
	assert.Equal(t, 3, strings.Count(body, "&lt;ErsReference&gt;"))
	for _, r := range []string{"004", "005", "007"} {
		assert.Contains(t, []string{"0", "2"}, resultCode(t, report("Reconciliation/STD_RECON_"+r+".xml", "transactionPeriodId", spid)), r)
	}
	assert.Equal(t, "2", resultCode(t, report("Reconciliation/STD_RECON_007.xml", "transactionPeriodId", spid)), "per-terminal report on a shop period")
	assert.Equal(t, "0", resultCode(t, report("Reconciliation/STD_RECON_004.xml", "transactionPeriodId", spid)))
}

func TestReservationTimeoutAndReject(t *testing.T) {
	e := newEnv(t)
	id, pw := e.till("TILL1")
	ctx := termCtx(id, pw)
	res := strings.Replace(sendXML, "IMMEDIATE_DEBIT", "RESERVATION_DESIRED", 1)
	res = strings.Replace(res, "<cashierId>", "<commitReservationTimeout>60</commitReservationTimeout><cashierId>", 1)
	ref := field(t, e.soap("sendInvoice", ctx+res), "invoiceReference")
	_, err := e.sim.Pay(ref, seqrsim.OutcomePaid)
	require.NoError(t, err)
	e.clock.Advance(61 * time.Second)
	body := e.status(id, pw, ref)
	assert.Equal(t, "CANCELED", field(t, body, "status"), "an uncommitted reservation times out unpaid")
	assert.Equal(t, "3", field(t, body, "version"))
	assert.Equal(t, "96", resultCode(t, e.soap("commitReservation", ctx+`<invoiceReference>`+ref+`</invoiceReference>`)))

	ref = e.send(id, pw)
	info, err := e.sim.Pay("TILL1", seqrsim.OutcomeReject)
	require.NoError(t, err)
	assert.Equal(t, ref, info.InvoiceReference)
	assert.Equal(t, "CANCELED", info.Status)
	assert.Equal(t, "CANCELED", field(t, e.status(id, pw, ref), "status"))
	_, err = e.sim.Pay(ref, seqrsim.OutcomePaid)
	assert.ErrorIs(t, err, seqrsim.ErrNotPayable)
	_, err = e.sim.Pay("TILL1", seqrsim.OutcomePaid)
	assert.ErrorIs(t, err, seqrsim.ErrNoInvoiceWaiting)
	_, err = e.sim.Pay("nothing", seqrsim.OutcomePaid)
	assert.ErrorIs(t, err, seqrsim.ErrNotFound)
	_, err = e.sim.Pay(e.send(id, pw), "maybe")
	assert.ErrorIs(t, err, seqrsim.ErrBadOutcome)
	_, err = e.sim.Scan("nothing")
	assert.ErrorIs(t, err, seqrsim.ErrNoInvoiceWaiting)
}

func TestGoAPIPrincipals(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.sim.AddReseller("shop2", "1", "pw2"))
	assert.ErrorIs(t, e.sim.AddReseller("shop2", "1", "x"), seqrsim.ErrExists)
	require.NoError(t, e.sim.AddTerminal("shop2", "1", "t2", "tillpass", "Shop 2 till", "SHOP2"))
	assert.ErrorIs(t, e.sim.AddTerminal("shop2", "1", "t2", "x", "x", ""), seqrsim.ErrExists)
	assert.ErrorIs(t, e.sim.AddTerminal("shop2", "1", "t3", "x", "x", "SHOP2"), seqrsim.ErrExists)
	assert.ErrorIs(t, e.sim.AddTerminal("nobody", "1", "t4", "x", "x", ""), seqrsim.ErrNotFound)
	ref := e.send("t2", "tillpass")
	w, err := e.sim.Scan("SHOP2")
	require.NoError(t, err)
	assert.Equal(t, ref, w.InvoiceReference)
	assert.Equal(t, "Shop 2 till", w.Till)
	// Another reseller's terminal cannot refund or mark periods of this one.
	_, err = e.sim.Pay(ref, seqrsim.OutcomePaid)
	require.NoError(t, err)
	ers := field(t, e.status("t2", "tillpass", ref), "ersReference")
	assert.Equal(t, "23", resultCode(t, e.soap("refundPayment", termCtx(seqrsim.TestTerminalID, seqrsim.TestTerminalPassword)+`<ersReference>`+ers+`</ersReference><invoice><totalAmount><currency>SEK</currency><value>1.00</value></totalAmount></invoice>`)))
	assert.Equal(t, "29", resultCode(t, e.soap("markTransactionPeriod", resellerCtx()+`<parameters><parameter><entry><key>TERMINALID</key><value>t2</value></entry></parameter></parameters>`)))
	var found bool
	for _, ti := range e.sim.Tills() {
		if ti.TerminalID == seqrsim.TestTerminalID {
			found = true
			assert.Equal(t, seqrsim.TestResellerID, ti.ResellerID)
		}
	}
	assert.True(t, found, "the public test terminal is seeded")
}
