# Third-party check of the Resurs emulator's After Shop WSDL: python3-zeep
# (Debian package) loads ?wsdl and its ?xsd= documents with Basic auth in
# strict mode and calls all 13 operations, exiting 1 when an answer is not
# the one the spec gives. Run by TestWSDLWithZeep, or by hand:
#   go run ./cmd/paysim --listen 127.0.0.1:8479 &
#   /usr/bin/python3 internal/resurs/resurssim/testdata/zeep_check.py http://127.0.0.1:8479
import sys, json
from decimal import Decimal
import requests
from requests.auth import HTTPBasicAuth
from zeep import Client, Settings
from zeep.transports import Transport
from zeep.exceptions import Fault

base = sys.argv[1]
auth = HTTPBasicAuth("posd_test", "posd_test_pw")
failed = []

def check(name, got, want):
    ok = got == want
    print(("ok   " if ok else "FAIL ") + name + ": " + repr(got) + ("" if ok else " want " + repr(want)))
    if not ok:
        failed.append(name)

def fault_id(call):
    try:
        call()
    except Fault as f:
        return int(f.detail.find(".//errorTypeId").text)
    return None

# A "Betala sen" invoice payment of 625.00 (500 + 25 % VAT), authorised only.
r = requests.post(base + "/pos/payments/ZEEP-1", auth=auth, json={"orderLines": [
    {"artNo": "1", "description": "Kaffe", "quantity": 1, "unitAmountWithoutVat": 500, "vatPct": 25}]})
r.raise_for_status()
sid = r.json()["paymentSessionId"]
requests.post(base + "/sim/resurs/sessions/" + sid + "/complete",
              json={"governmentId": "198305147715", "method": "invoice", "later": True}).raise_for_status()

session = requests.Session()
session.auth = auth
client = Client(base + "/ecommerce-test/ws/V4/AfterShopFlowService?wsdl",
                transport=Transport(session=session), settings=Settings(strict=True))
svc = client.service
ops = sorted(client.wsdl.bindings[list(client.wsdl.bindings)[0]]._operations.keys())
check("operations", len(ops), 13)

p = svc.getPayment(paymentId="ZEEP-1")
check("getPayment total", p.totalAmount, Decimal("625.00000"))
check("getPayment status", list(p.status), ["DEBITABLE"])
check("getPayment customer", p.customer.address.postalArea, "Göteborg")
check("getPayment diff", (p.paymentDiffs[0].type, p.paymentDiffs[0].paymentSpec.totalVatAmount), ("AUTHORIZE", Decimal("125.00000")))
check("getPayment unknown", fault_id(lambda: svc.getPayment(paymentId="NOPE")), 8)

check("addMetaData", svc.addMetaData(paymentId="ZEEP-1", key="CustomerId", value="42"), None)
check("finalizePayment", svc.finalizePayment(paymentId="ZEEP-1", partPaymentSpec={"totalAmount": Decimal("100.00")}), None)
check("annulPayment", svc.annulPayment(paymentId="ZEEP-1"), None)
check("creditPayment", svc.creditPayment(paymentId="ZEEP-1", partPaymentSpec={"totalAmount": Decimal("50")}, createdBy="zeep"), None)
check("creditPayment too much", fault_id(lambda: svc.creditPayment(paymentId="ZEEP-1", partPaymentSpec={"totalAmount": Decimal("51")})), 23)
check("additionalDebitOfPayment", svc.additionalDebitOfPayment(paymentId="ZEEP-1", paymentSpec={"totalAmount": Decimal("10")}), None)
p = svc.getPayment(paymentId="ZEEP-1")
check("after-shop totals", (p.totalAmount, list(p.status)), (Decimal("60.00000"), ["DEBITABLE", "CREDITABLE", "IS_DEBITED", "IS_CREDITED", "IS_ANNULLED"]))
check("metaData", [(m.key, m.value) for m in p.metaData], [("CustomerId", "42")])

found = svc.findPayments(searchCriteria={"governmentId": "198305147715", "statusSet": ["CREDITABLE"]},
                         pageNumber=1, itemsPerPage=10, sortBy={"ascending": False, "sortColumns": ["BOOKED_TIME"]})
check("findPayments", [b.paymentId for b in found], ["ZEEP-1"])
check("calculateResultSize", svc.calculateResultSize(searchCriteria={"statusSet": ["IS_ANNULLED"]}), 1)
names = svc.getPaymentDocumentNames(paymentId="ZEEP-1")
check("getPaymentDocumentNames", len(names), 1)
doc = svc.getPaymentDocument(paymentId="ZEEP-1", documentName=names[0])
check("getPaymentDocument", doc.pdfData[:5], b"%PDF-")
bonus = svc.getCustomerBonus(governmentId="198305147715")  # zeep unwraps the one-field bonus type
check("getCustomerBonus", getattr(bonus, "points", bonus), 0)
import datetime
check("insertBonusPoints", fault_id(lambda: svc.insertBonusPoints(governmentId="198305147715", bonusPoints=5, expirationDate=datetime.date(2030, 1, 1))), 11)
check("withdrawBonusPoints", fault_id(lambda: svc.withdrawBonusPoints(governmentId="198305147715", bonusPoints=5)), 11)

if failed:
    print("FAILED:", ", ".join(failed))
    sys.exit(1)
print("all", len(ops), "operations answered as expected")
