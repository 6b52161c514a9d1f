package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/register"
)

// The payment widget's routes (Resurs Bank's Merchant API). A register
// without the capability, or with no provider that has a widget, answers
// 501 not-supported.

// widgetRegister is what the widget routes need of the register.
type widgetRegister interface {
	WidgetSession(ctx context.Context) (payment.WidgetSession, error)
	PaymentMethodTypes(ctx context.Context, customerType string, methodIDs []string) (map[string]string, error)
}

// providerRoutes are the provider-specific routes of the route table.
func (s *Server) providerRoutes() []route {
	return []route{
		{"GET", "/v1/resurs/widget-session", false, s.widgetSession},
		{"GET", "/v1/resurs/payment-method-types", false, s.paymentMethodTypes},
	}
}

func (s *Server) widgetRegister() (widgetRegister, error) {
	if w, ok := s.reg.(widgetRegister); ok {
		return w, nil
	}
	return nil, fmt.Errorf("payment widget: %w", register.ErrNotSupported)
}

func (s *Server) widgetSession(w http.ResponseWriter, r *http.Request) {
	wr, err := s.widgetRegister()
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	ws, err := wr.WidgetSession(r.Context())
	if err == nil {
		// The token is the customer's session, not a secret of the shop;
		// still, nothing between here and the front end may keep it.
		w.Header().Set("Cache-Control", "no-store")
	}
	s.respond(w, r, ws, err)
}

func (s *Server) paymentMethodTypes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "customerType" && k != "paymentMethodId" {
			s.writeProblem(w, r, &requestError{Field: k, Message: "unknown query parameter (customerType, paymentMethodId)"})
			return
		}
	}
	if len(q["customerType"]) > 1 {
		s.writeProblem(w, r, &requestError{Field: "customerType", Message: "given more than once"})
		return
	}
	customerType := q.Get("customerType")
	if customerType == "" {
		customerType = "B2C"
	}
	wr, err := s.widgetRegister()
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	types, err := wr.PaymentMethodTypes(r.Context(), customerType, q["paymentMethodId"])
	s.respond(w, r, struct {
		Types map[string]string `json:"types"`
	}{types}, err)
}
