package seqr

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/soap"
)

// Responses are read by local name only (spec 1.4), with soap.BodyLocal:
// prefixes differ between SOAP stacks (soap/S, ns2/ns1), fields may come in
// any order and unknown elements are ignored. The operation's element is read
// into a small tree and fields are picked from it.

// faultOf turns a SOAP fault into a *FaultError.
func faultOf(op string, f *soap.Fault) *FaultError {
	// A server may echo the request in its fault text; never let a password through.
	return &FaultError{Op: op, Code: f.Code, String: string(Redact([]byte(f.String)))}
}

// parseResponse checks the envelope of op's response and returns its <return>
// and resultCode. A non-zero resultCode is returned as a *ResultError, with the
// return node still set so that callers may look at it.
func parseResponse(op string, body []byte) (*soap.Node, int, error) {
	payload, err := soap.BodyLocal(body)
	if err != nil {
		if fault := (*soap.Fault)(nil); errors.As(err, &fault) {
			return nil, 0, faultOf(op, fault)
		}
		return nil, 0, err
	}
	return returnOf(op, payload)
}

// returnOf checks an operation's response element and returns its <return>
// and resultCode, as parseResponse.
func returnOf(op string, payload *soap.Node) (*soap.Node, int, error) {
	if payload.Local != op+"Response" {
		return nil, 0, fmt.Errorf("unexpected response element <%s>, want <%sResponse>", payload.Local, op)
	}
	ret := payload.Child("return")
	if ret == nil {
		return nil, 0, fmt.Errorf("<%sResponse> has no <return>", op)
	}
	rc := ret.Child("resultCode")
	if rc == nil {
		return nil, 0, errors.New("response has no resultCode")
	}
	code, err := strconv.Atoi(strings.TrimSpace(rc.Text))
	if err != nil {
		return nil, 0, fmt.Errorf("resultCode %q is not an integer", strings.TrimSpace(rc.Text))
	}
	if code != ResultSuccess {
		return ret, code, &ResultError{Op: op, Code: code, Description: ret.Str("resultDescription")}
	}
	return ret, code, nil
}

func intField(n *soap.Node, field string) (int, error) {
	s := n.Str(field)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an integer", field, s)
	}
	return v, nil
}

// paymentStatusOf reads an erswsPaymentStatusResponse.
func paymentStatusOf(ret *soap.Node) (PaymentStatus, error) {
	version, err := intField(ret, "version")
	if err != nil {
		return PaymentStatus{}, err
	}
	ps := PaymentStatus{
		Status:       Status(ret.Str("status")),
		Version:      version,
		ERSReference: ret.Str("ersReference"),
	}
	if r := ret.Child("receipt"); r != nil {
		rec := &Receipt{
			TerminalID:       r.Str("terminalId"),
			PaymentDate:      r.Str("paymentDate"),
			ClientInvoiceID:  r.Str("clientInvoiceId"),
			InvoiceReference: r.Str("invoiceReference"),
			PaymentReference: r.Str("paymentReference"),
			PayerTerminalID:  r.Str("payerTerminalId"),
			ReceiverName:     r.Str("receiverName"),
		}
		if total := r.Child("invoice").Child("totalAmount"); total != nil {
			rec.Currency = total.Str("currency")
			if v := total.Str("value"); v != "" {
				if rec.Total, err = money.Parse(v); err != nil {
					return PaymentStatus{}, fmt.Errorf("receipt.invoice.totalAmount.value: %w", err)
				}
			}
		}
		ps.Receipt = rec
		if ps.ERSReference == "" {
			// Spec 4.3: the top-level ersReference equals receipt.paymentReference.
			ps.ERSReference = rec.PaymentReference
		}
	}
	if ct := ret.Child("customerTokens"); ct != nil {
		for i, t := range ct.Kids {
			if t.Local != "token" {
				continue
			}
			st, err := intField(t, "status")
			if err != nil {
				return PaymentStatus{}, fmt.Errorf("customerTokens token %d: %w", i+1, err)
			}
			ps.Tokens = append(ps.Tokens, CustomerToken{
				Description: t.Str("description"),
				ID:          t.Str("id"),
				Status:      st,
				Value:       t.Str("value"),
			})
		}
	}
	return ps, nil
}

// reportOf reads the report of an erswsExecuteReportResponse. contentString is
// kept byte for byte (CDATA and escaped text decode to the same string).
func reportOf(ret *soap.Node) (Report, error) {
	r := ret.Child("report")
	if r == nil {
		return Report{}, errors.New("response has no report")
	}
	rep := Report{
		Title:    r.Str("title"),
		MimeType: r.Str("mimeType"),
	}
	if k := r.Child("contentString"); k != nil {
		rep.ContentString = k.Text
	}
	if s := r.Str("content"); s != "" {
		// xs:base64Binary may be wrapped over several lines.
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return -1
			}
			return r
		}, s)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return Report{}, fmt.Errorf("report.content is not base64: %w", err)
		}
		rep.Content = b
	}
	return rep, nil
}
