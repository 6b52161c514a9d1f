package harness

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/posd/posd/internal/payson/paysonsim"
	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/seqr/seqrsim"
)

// Provider names, as posd's config and API spell them.
const (
	SEQR   = "seqr"
	Resurs = "resurs"
	Payson = "payson"
)

// Providers says where posd finds each payment provider: provider name ->
// the base URL of the emulator (or proxy) serving it, scheme and host
// only; the harness adds each provider's real paths. A provider not in the
// map is not configured.
type Providers map[string]string

// AllAt configures SEQR, Resurs and Payson against one paysim at base.
func AllAt(base string) Providers {
	return Providers{SEQR: base, Resurs: base, Payson: base}
}

// The emulators' seeded test accounts (printed in paysim's start-up lines).
const (
	ResursUser         = resurssim.TestUser
	ResursPassword     = resurssim.TestPassword
	ResursClientID     = resurssim.TestClientID
	ResursClientSecret = resurssim.TestClientSecret
	ResursStoreID      = resurssim.TestStoreID
	PaysonAgentID      = paysonsim.TestAgentID
	PaysonAPIKey       = paysonsim.TestAPIKey
)

// Env is posd's environment for p. Secrets go in files of mode 0600 under
// secretDir (created 0700), named by the *_file keys, as on a real till:
// posd refuses secrets readable by others, and a secret in the environment
// would show in /proc.
func (p Providers) Env(secretDir string) ([]string, error) {
	for name := range p {
		if name != SEQR && name != Resurs && name != Payson {
			return nil, fmt.Errorf("harness: unknown provider %q (seqr, resurs, payson)", name)
		}
	}
	var env []string
	if base, ok := p[SEQR]; ok {
		env = append(env, "POSD_PROVIDERS_SEQR_URL="+strings.TrimRight(base, "/")+seqrsim.PathCashRegister2)
	}
	if p[Resurs] != "" || p[Payson] != "" {
		if err := os.MkdirAll(secretDir, 0o700); err != nil {
			return nil, fmt.Errorf("harness: secrets dir: %w", err)
		}
	}
	secret := func(name, value string) (string, error) {
		path := filepath.Join(secretDir, name)
		if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("harness: write %s: %w", name, err)
		}
		return path, nil
	}
	if base, ok := p[Resurs]; ok {
		base = strings.TrimRight(base, "/")
		pw, err := secret("resurs-password", ResursPassword)
		if err != nil {
			return nil, err
		}
		cs, err := secret("resurs-client-secret", ResursClientSecret)
		if err != nil {
			return nil, err
		}
		env = append(env,
			"POSD_PROVIDERS_RESURS_POS_URL="+base+"/pos",
			"POSD_PROVIDERS_RESURS_AFTERSHOP_URL="+base+resurssim.PathAfterShop,
			"POSD_PROVIDERS_RESURS_MAPI_URL="+base+"/api",
			"POSD_PROVIDERS_RESURS_USERNAME="+ResursUser,
			"POSD_PROVIDERS_RESURS_PASSWORD_FILE="+pw,
			"POSD_PROVIDERS_RESURS_CLIENT_ID="+ResursClientID,
			"POSD_PROVIDERS_RESURS_CLIENT_SECRET_FILE="+cs,
			"POSD_PROVIDERS_RESURS_STORE_ID="+ResursStoreID,
		)
	}
	if base, ok := p[Payson]; ok {
		base = strings.TrimRight(base, "/")
		key, err := secret("payson-api-key", PaysonAPIKey)
		if err != nil {
			return nil, err
		}
		env = append(env,
			"POSD_PROVIDERS_PAYSON_URL="+base+"/2.0/",
			"POSD_PROVIDERS_PAYSON_AGENT_ID="+PaysonAgentID,
			"POSD_PROVIDERS_PAYSON_API_KEY_FILE="+key,
			// Payson requires the merchant URIs. The till listens on
			// loopback only and checks by polling; notifications go to a
			// path of the emulator nobody serves (Payson retries them, at
			// most once a minute: no load worth counting).
			"POSD_PROVIDERS_PAYSON_CHECKOUT_URI="+base+"/shop/checkout",
			"POSD_PROVIDERS_PAYSON_CONFIRMATION_URI="+base+"/shop/confirmation",
			"POSD_PROVIDERS_PAYSON_NOTIFICATION_URI="+base+"/shop/notification",
			"POSD_PROVIDERS_PAYSON_TERMS_URI="+base+"/shop/terms",
		)
	}
	slices.Sort(env)
	return env, nil
}

// StartPosdWith runs `posd serve` like StartPosd with every provider of p
// configured (secrets in stateDir/secrets). env comes last and wins.
func StartPosdWith(bin Binaries, stateDir string, p Providers, env ...string) (*Proc, time.Duration, error) {
	penv, err := p.Env(filepath.Join(stateDir, "secrets"))
	if err != nil {
		return nil, 0, err
	}
	return startPosd(bin, stateDir, append(penv, env...))
}

// Order is a payment request of any method: one row of amount at 25 % VAT.
func Order(method, saleID, amount string) map[string]any {
	return map[string]any{
		"method": method, "saleId": saleID, "cashierId": "c1", "title": "Test sale",
		"amount": amount, "currency": "SEK", "receiptTotal": amount,
		"rows": []map[string]string{{"description": "Kaffe", "quantity": "1", "unitPrice": amount, "totalAmount": amount, "taxRate": "25"}},
	}
}

// ProviderCall is one entry of paysim's call log for any provider.
type ProviderCall struct {
	Seq        int64             `json:"seq"`
	Time       time.Time         `json:"time"`
	Service    string            `json:"service"`
	Operation  string            `json:"operation"`
	Path       string            `json:"path"`
	Reference  string            `json:"invoiceReference"`
	ResultCode *int              `json:"resultCode"`
	Fault      string            `json:"fault"`
	Duration   time.Duration     `json:"durationNs"`
	Detail     map[string]string `json:"detail"`
}

// SOAPOK is the result code paysim logs for a SOAP call answered without
// a fault (REST calls log their HTTP status).
const SOAPOK = 0

// Answered is whether the emulator gave the call a business answer with
// code (HTTP status; SOAPOK for SOAP), not a fault, drop or reset.
func (c ProviderCall) Answered(code int) bool {
	return c.Fault == "" && c.ResultCode != nil && *c.ResultCode == code
}

// End is when the emulator finished the call.
func (c ProviderCall) End() time.Time { return c.Time.Add(c.Duration) }

// ProviderCalls lists the calls of service (e.g. "resurs"), op and ref
// (each: all if empty), in order. ref is what the emulator logs as the
// call's reference (Resurs: the order reference, or the payment id in After
// Shop calls; Payson: the checkout id).
func (s *Sim) ProviderCalls(ctx context.Context, service, op, ref string) ([]ProviderCall, error) {
	var resp struct {
		Calls []ProviderCall `json:"calls"`
	}
	q := url.Values{"service": {service}}
	if op != "" {
		q.Set("op", op)
	}
	if ref != "" {
		q.Set("ref", ref)
	}
	err := s.Do(ctx, "GET", "/sim/calls?"+q.Encode(), nil, &resp)
	return resp.Calls, err
}

// ProviderPayment is posd's payment with the provider-neutral fields.
type ProviderPayment struct {
	PaymentDetail
	Provider       string    `json:"provider"`
	Method         string    `json:"method"`
	ProviderRef    string    `json:"providerRef"`
	TransactionRef string    `json:"transactionRef"`
	MethodName     string    `json:"methodName"`
	UpdatedAt      time.Time `json:"updatedAt"`
	CustomerView   *struct {
		URL  string `json:"url"`
		HTML string `json:"html"`
	} `json:"customerView"`
}

// Payment reads one payment.
func (a *API) Payment(ctx context.Context, id string) (ProviderPayment, error) {
	var p ProviderPayment
	err := a.Do(ctx, "GET", "/v1/payments/"+id, nil, nil, &p)
	return p, err
}
