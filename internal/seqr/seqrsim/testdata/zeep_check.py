# Third-party check of the emulator's WSDL: python3-zeep (Debian package) loads
# ?wsdl in strict mode (on cashregister-2 with its wsdl:import of the
# operations), checks where service, port, binding and port type live, calls
# all 13 merchant operations and the six others (answered 91) on both
# endpoints, and exits 1 when an answer is not the one the spec gives. Run by
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
    ext = "{http://external.interfaces.ers.seamless.com/}"
    if path.endswith("cashregister-2"):
        svc_ns, names = "{http://externalclientservice.cashregister.seamless.com/}", ("ERSWSExternalClientServiceImplService", "ERSWSExternalClientServiceImplPort", "ERSWSExternalClientServiceImplServiceSoapBinding")
    else:
        svc_ns, names = ext, ("ERSWSExternalClientServiceService", "ERSWSExternalClientServicePort", "ERSWSExternalClientServiceServiceSoapBinding")
    service = list(c.wsdl.services.values())[0]
    port = list(service.ports.values())[0]
    layout = (service.name, port.name, port.binding.name.text, port.binding.port_type.name.text)
    want_layout = (names[0], names[1], svc_ns + names[2], ext + "ERSWSExternalClientService")
    print("  ", "service, port, binding, port type:", layout)
    if layout != want_layout:
        failed.append("%s: service, port, binding, port type %r, want %r" % (path, layout, want_layout))
    if len(c.wsdl.services) != 1:
        failed.append("%s: %d services, want 1" % (path, len(c.wsdl.services)))
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
    pid = {"id": "46700000000", "type": "SUBSCRIBERMSISDN"}
    acct = {"accountId": "1", "accountTypeId": "MAIN"}
    sek = {"currency": "SEK", "value": Decimal("1.00")}
    res["changePrincipalPassword"] = svc.changePrincipalPassword(context=ctx, principalId=pid, newPassword="x1234").resultCode
    res["confirmCustomerRegistration"] = svc.confirmCustomerRegistration(context=ctx, principalId=pid, secondaryPrincipalId=pid, registrationReference="r1").resultCode
    res["requestPrincipalInformation"] = svc.requestPrincipalInformation(context=ctx, principalId=pid).resultCode
    res["requestPurchase"] = svc.requestPurchase(context=ctx, senderPrincipalId=pid, receiverPrincipalId=pid, senderAccountSpecifier=acct,
        receiverAccountSpecifier=acct, purchaseOrder=[{"productSpecifier": {"productId": "P1", "productIdType": "SKU"}, "purchaseCount": 1}]).resultCode
    res["requestTopup"] = svc.requestTopup(context=ctx, senderPrincipalId=pid, topupPrincipalId=pid, senderAccountSpecifier=acct,
        topupAccountSpecifier=acct, productId="TOPUP", amount=sek).resultCode
    res["requestTransfer"] = svc.requestTransfer(context=ctx, senderPrincipalId=pid, receiverPrincipalId=pid, senderAccountSpecifier=acct,
        receiverAccountSpecifier=acct, productId="TRANSFER", amount=sek).resultCode
    want = {"assignSeqrId": 0, "sendInvoice": 0, "getPaymentStatus": (0, "ISSUED", 1), "updateInvoice": 0,
            "getPaymentStatus paid": ("PAID", 3, Decimal("20.00"), True), "submitPaymentReceipt": 0,
            "refundPayment": 0, "cancelInvoice": 0, "commitReservation": 96, "markTransactionPeriod": 0,
            "executeReport": (2, "REPORT_NOT_READY"), "benchmarkingNop": 0, "unregisterTerminal": 0,
            "changePrincipalPassword": 91, "confirmCustomerRegistration": 91, "requestPrincipalInformation": 91,
            "requestPurchase": 91, "requestTopup": 91, "requestTransfer": 91}
    if len(ops) != 19:
        failed.append("%s: %d operations in the WSDL, want SEQR's 19 (13 merchant operations and 6 others)" % (path, len(ops)))
    for k, v in res.items():
        print("  ", k, v)
        if want.get(k) != v:
            failed.append("%s %s: got %r, want %r" % (path, k, v, want.get(k)))
for f in failed:
    print("FAIL", f)
sys.exit(1 if failed else 0)
