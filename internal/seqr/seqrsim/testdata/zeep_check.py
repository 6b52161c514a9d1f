# Third-party check of the emulator's WSDL: python3-zeep (Debian package) loads
# ?wsdl in strict mode and calls all 13 merchant operations on both endpoints,
# and exits 1 when an answer is not the one the spec gives. Run by
# TestWSDLWithZeep (seqrsim), or by hand:
#   go run ./cmd/paysim --listen 127.0.0.1:8479 &
#   /usr/bin/python3 internal/seqr/seqrsim/testdata/zeep_check.py http://127.0.0.1:8479
import sys, base64, datetime
from decimal import Decimal
from zeep import Client, Settings
base = sys.argv[1]
failed = []
for path in ["/soap/merchant/cashregister-2", "/extclientproxy/service/v2"]:
    c = Client(base + path + "?wsdl", settings=Settings(strict=True))
    svc = c.service
    ops = sorted(c.wsdl.bindings[list(c.wsdl.bindings)[0]]._operations.keys())
    print(path, "operations:", len(ops))
    ctx_r = {"channel":"WS","clientId":"zeep","clientReference":"zeep-1","clientRequestTimeout":0,
             "initiatorPrincipalId":{"id":"public_test_shop","type":"RESELLERUSER","userId":"9900"},"password":"1234"}
    r = svc.registerTerminal(context=ctx_r, externalTerminalId="zeep/1", password="zeeppass1", name="Zeep till")
    tid = r.terminalId
    ctx = {"channel":"WS","clientId":"zeep","clientReference":"zeep-1","clientRequestTimeout":0,
           "initiatorPrincipalId":{"id":tid,"type":"TERMINALID"},"password":"zeeppass1"}
    res = {}
    res["assignSeqrId"] = svc.assignSeqrId(context=ctx, seqrId="ZEEP" + path.replace("/","").replace("-","")[:6]).resultCode
    inv = {"paymentMode":"IMMEDIATE_DEBIT","acknowledgmentMode":"NO_ACKNOWLEDGMENT","issueDate":datetime.datetime(2015,12,25,12,34,56),
           "title":"Zeep","clientInvoiceId":"Z-1",
           "invoiceRows":{"invoiceRow":[{"itemDescription":"x","itemQuantity":Decimal("2"),"itemTaxRate":Decimal("25"),
               "itemTotalAmount":{"currency":"SEK","value":Decimal("20.00")}}]},
           "totalAmount":{"currency":"SEK","value":Decimal("20.00")},"cashierId":"Bob"}
    s = svc.sendInvoice(context=ctx, invoice=inv)
    ref = s.invoiceReference
    res["sendInvoice"] = s.resultCode
    st = svc.getPaymentStatus(context=ctx, invoiceReference=ref, invoiceVersion=0)
    res["getPaymentStatus"] = (st.resultCode, st.status, st.version)
    res["updateInvoice"] = svc.updateInvoice(context=ctx, invoiceReference=ref, invoice=inv, tokens=[{"id":"X_CARD","status":1,"value":"1"}]).resultCode
    import urllib.request, json
    req = urllib.request.Request(base+"/sim/seqr/pay", data=json.dumps({"invoiceReference":ref,"outcome":"paid"}).encode(), headers={"Content-Type":"application/json"})
    urllib.request.urlopen(req).read()
    st = svc.getPaymentStatus(context=ctx, invoiceReference=ref, invoiceVersion=1)
    res["getPaymentStatus paid"] = (st.status, st.version, st.receipt.invoice.totalAmount.value, st.ersReference == st.receipt.paymentReference)
    ers = st.ersReference
    res["submitPaymentReceipt"] = svc.submitPaymentReceipt(context=ctx, ersReference=ers, receiptDocument={"mimeType":"text/html","receiptData":b"<b>Tack!</b>","receiptType":"PAYMENT_RECEIPT"}).resultCode
    res["refundPayment"] = svc.refundPayment(context=ctx, ersReference=ers, invoice={"title":"Refund","cashierId":"Bob","totalAmount":{"currency":"SEK","value":Decimal("5.00")}}).resultCode
    s2 = svc.sendInvoice(context=ctx, invoice=inv)
    res["cancelInvoice"] = svc.cancelInvoice(context=ctx, invoiceReference=s2.invoiceReference).resultCode
    res["commitReservation"] = svc.commitReservation(context=ctx, invoiceReference=s2.invoiceReference).resultCode
    m = svc.markTransactionPeriod(context=ctx_r, parameters={"parameter":{"entry":[{"key":"TERMINALID","value":tid}]}})
    res["markTransactionPeriod"] = m.resultCode
    rep = svc.executeReport(context=ctx_r, reportId="Reconciliation/STD_RECON_006.xml", language="en",
        parameters={"parameter":{"entry":[{"key":"transactionPeriodId","value":m.transactionPeriodId},{"key":"TERMINALID","value":tid}]}})
    res["executeReport"] = (rep.resultCode, rep.resultDescription)
    res["benchmarkingNop"] = svc.benchmarkingNop().resultCode
    res["unregisterTerminal"] = svc.unregisterTerminal(context=ctx).resultCode
    want = {"assignSeqrId": 0, "sendInvoice": 0, "getPaymentStatus": (0, "ISSUED", 1), "updateInvoice": 0,
            "getPaymentStatus paid": ("PAID", 3, Decimal("20.00"), True), "submitPaymentReceipt": 0,
            "refundPayment": 0, "cancelInvoice": 0, "commitReservation": 96, "markTransactionPeriod": 0,
            "executeReport": (2, "REPORT_NOT_READY"), "benchmarkingNop": 0, "unregisterTerminal": 0}
    if len(ops) != 13:
        failed.append("%s: %d operations in the WSDL, want the 13 merchant operations" % (path, len(ops)))
    for k, v in res.items():
        print("  ", k, v)
        if want.get(k) != v:
            failed.append("%s %s: got %r, want %r" % (path, k, v, want.get(k)))
for f in failed:
    print("FAIL", f)
sys.exit(1 if failed else 0)
