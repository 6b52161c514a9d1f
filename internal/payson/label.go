package payson

import "strings"

// Label names Payson's posts and receipt lines: "Payson Kort" for a
// payment (the method as Check names it), "Payson refund" for a credit.
func (a *Adapter) Label(kind, methodName string) string {
	if kind == "refund" {
		return "Payson refund"
	}
	m := strings.TrimSpace(methodName)
	if m == "" || strings.EqualFold(m, "Payson") {
		return "Payson"
	}
	return "Payson " + m
}
