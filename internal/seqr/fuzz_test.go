package seqr

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseResponse: any bytes give a value or an error naming what is wrong,
// never a panic. Seeds are the response files in testdata and a canned success
// for every operation.
func FuzzParseResponse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "response_*.xml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for op, ret := range successReturns {
		f.Add([]byte(envelope(op, ret)))
	}
	f.Add([]byte(envelope(opGetPaymentStatus, success+`<customerTokens><token><status>1</status></token></customerTokens><version>1</version>`)))
	f.Add([]byte(`<a:Envelope xmlns:a="x"><a:Body><a:Fault><faultcode>a:Client</faultcode></a:Fault></a:Body></a:Envelope>`))
	f.Add([]byte(`<password>p</password><x:password>`))

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, op := range []string{opGetPaymentStatus, opExecuteReport, opSendInvoice} {
			ret, code, err := parseResponse(op, data)
			if err != nil {
				if strings.TrimSpace(err.Error()) == "" {
					t.Fatalf("%s: empty error message", op)
				}
				if _, isResult := Code(err); isResult && code == 0 {
					t.Fatalf("%s: result error with code 0", op)
				}
				continue
			}
			if ret == nil {
				t.Fatalf("%s: no error and no return", op)
			}
			switch op {
			case opGetPaymentStatus:
				_, _ = paymentStatusOf(ret)
			case opExecuteReport:
				if rep, err := reportOf(ret); err == nil {
					_, _ = ParseReconReport(rep.XML())
				}
			}
		}
		red := Redact(data)
		if !strings.Contains(string(data), "password") && string(red) != string(data) {
			t.Fatalf("Redact changed a message without a password element")
		}
		_, _ = ParseReconReport(data)
	})
}
