package seqrsim_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type wsdlDoc struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/wsdl/ definitions"`
	TNS     string   `xml:"targetNamespace,attr"`
	Types   struct {
		Schema struct {
			TNS         string `xml:"targetNamespace,attr"`
			ElementForm string `xml:"elementFormDefault,attr"`
			Elements    []struct {
				Name string `xml:"name,attr"`
			} `xml:"http://www.w3.org/2001/XMLSchema element"`
			ComplexTypes []struct {
				Name string `xml:"name,attr"`
			} `xml:"http://www.w3.org/2001/XMLSchema complexType"`
		} `xml:"http://www.w3.org/2001/XMLSchema schema"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/ types"`
	Messages []struct {
		Name string `xml:"name,attr"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/ message"`
	PortType struct {
		Ops []struct {
			Name string `xml:"name,attr"`
		} `xml:"http://schemas.xmlsoap.org/wsdl/ operation"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/ portType"`
	Binding struct {
		Name string `xml:"name,attr"`
		Ops  []struct {
			Name string `xml:"name,attr"`
			Op   struct {
				SOAPAction string `xml:"soapAction,attr"`
			} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ operation"`
		} `xml:"http://schemas.xmlsoap.org/wsdl/ operation"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/ binding"`
	Service struct {
		Name string `xml:"name,attr"`
		Port struct {
			Name    string `xml:"name,attr"`
			Address struct {
				Location string `xml:"location,attr"`
			} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ address"`
		} `xml:"http://schemas.xmlsoap.org/wsdl/ port"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/ service"`
}

var merchantOps = []string{"registerTerminal", "unregisterTerminal", "assignSeqrId", "sendInvoice", "updateInvoice",
	"getPaymentStatus", "cancelInvoice", "commitReservation", "submitPaymentReceipt", "refundPayment",
	"markTransactionPeriod", "executeReport", "benchmarkingNop"}

func TestWSDL(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ path, service, port string }{
		{seqrsim.PathCashRegister2, "ERSWSExternalClientServiceImplService", "ERSWSExternalClientServiceImplPort"},
		{seqrsim.PathServiceV2, "ERSWSExternalClientServiceService", "ERSWSExternalClientServicePort"},
	} {
		resp, err := http.Get(e.srv.URL + tc.path + "?wsdl")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var d wsdlDoc
		require.NoError(t, xml.Unmarshal(b, &d))
		require.NoError(t, wellFormed(b))
		assert.Equal(t, "http://external.interfaces.ers.seamless.com/", d.TNS)
		assert.Equal(t, d.TNS, d.Types.Schema.TNS)
		assert.Equal(t, "unqualified", d.Types.Schema.ElementForm)
		assert.Equal(t, tc.service, d.Service.Name)
		assert.Equal(t, tc.port, d.Service.Port.Name)
		assert.Equal(t, e.srv.URL+tc.path, d.Service.Port.Address.Location)
		var ops, binds, elems, msgs, types []string
		for _, o := range d.PortType.Ops {
			ops = append(ops, o.Name)
		}
		for _, o := range d.Binding.Ops {
			binds = append(binds, o.Name)
			assert.Equal(t, "", o.Op.SOAPAction)
		}
		for _, el := range d.Types.Schema.Elements {
			elems = append(elems, el.Name)
		}
		for _, m := range d.Messages {
			msgs = append(msgs, m.Name)
		}
		for _, c := range d.Types.Schema.ComplexTypes {
			types = append(types, c.Name)
		}
		assert.ElementsMatch(t, merchantOps, ops)
		assert.ElementsMatch(t, merchantOps, binds)
		for _, op := range merchantOps {
			assert.Contains(t, elems, op)
			assert.Contains(t, elems, op+"Response")
			assert.Contains(t, msgs, op)
			assert.Contains(t, msgs, op+"Response")
		}
		for _, ty := range []string{"clientContext", "principalId", "invoice", "paymentInvoiceRow", "amount", "customerToken",
			"receipt", "receiptDocument", "parameterMap", "report", "erswsResponse", "erswsPaymentStatusResponse"} {
			assert.True(t, slices.Contains(types, ty), ty)
		}
	}
}
