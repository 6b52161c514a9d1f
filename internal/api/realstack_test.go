package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/internal/simctl"
	"github.com/posd/posd/internal/store"
	"github.com/posd/posd/internal/store/seqrreg"
)

// realStack is posd's API in front of the real register, real SQLite and
// receipt file in a temp dir, and the SEQR emulator over loopback: what the
// contract tests run against (never the fake register).
type realStack struct {
	base   string
	client *http.Client
	reg    *register.Register
	sim    *seqrsim.Sim
	resurs *resurssim.Sim // the Resurs stack's emulator
	db     *store.DB      // the Resurs stack's database
	calls  *simctl.CallLog
	keys   atomic.Int64
}

const contractSeqrID = "TILL0001"

// stackBase is what every real stack of these tests stands on: real
// SQLite and a receipt file in a temp dir, and the context it ends with.
type stackBase struct {
	ctx     context.Context
	cancel  context.CancelFunc
	db      *store.DB
	journal *receipt.Journal
}

func newStackBase(t *testing.T) *stackBase {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := store.Open(ctx, filepath.Join(dir, "posd.db"), store.Options{})
	require.NoError(t, err)
	journal, _, err := receipt.OpenJournal(filepath.Join(dir, "receipts.journal"), time.Now)
	require.NoError(t, err)
	return &stackBase{ctx: ctx, cancel: cancel, db: db, journal: journal}
}

// serve runs reg until it is ready (enrolled: the till registered with the
// SEQR emulator and given a SEQR id, as after installation) and the API
// with cfg in front of it on 127.0.0.1, and returns the API's base URL. At
// the test's end both stop, then closers run (the emulators' servers),
// then the receipt file and the database close.
func (b *stackBase) serve(t *testing.T, reg *register.Register, cfg Config, enrolled bool, closers ...func()) string {
	t.Helper()
	regDone := make(chan error, 1)
	go func() { regDone <- reg.Run(b.ctx) }()
	select {
	case <-reg.Ready():
	case err := <-regDone:
		t.Fatalf("register ended before ready: %v", err)
	}
	if enrolled {
		_, err := reg.RegisterTerminal(b.ctx, register.RegisterTerminalRequest{ResellerID: seqrsim.TestResellerID,
			ResellerUserID: seqrsim.TestResellerUserID, ResellerPassword: seqrsim.TestResellerPassword,
			ExternalTerminalID: "Shop 1/POS 2", Name: "Kassa 2"})
		require.NoError(t, err)
		_, err = reg.AssignSeqrID(b.ctx, contractSeqrID)
		require.NoError(t, err)
	}
	srv, err := New(cfg, reg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(b.ctx, ln) }()
	<-srv.Listening()
	t.Cleanup(func() {
		b.cancel()
		<-srvDone
		<-regDone
		for _, c := range closers {
			c()
		}
		_ = b.journal.Close()
		_ = b.db.Close()
	})
	return "http://" + srv.Addr().String()
}

// startRealStack builds the stack; with enrolled, the till is registered
// with the emulator and has a SEQR id, as after installation.
func startRealStack(t *testing.T, enrolled bool) *realStack {
	t.Helper()
	b := newStackBase(t)
	db, journal := b.db, b.journal

	calls := simctl.NewCallLog(0)
	sim := seqrsim.New(seqrsim.Options{Calls: calls})
	simSrv := httptest.NewServer(sim.Handler())
	client, err := seqr.New(seqr.Config{URL: simSrv.URL + seqrsim.PathCashRegister2, ClientID: "posd",
		ClientReference: "posd contract", HTTPClient: simSrv.Client()})
	require.NoError(t, err)

	prov, err := seqr.NewAdapter(client, seqrreg.Store{DB: db}, seqr.AdapterConfig{}, time.Now)
	require.NoError(t, err)
	reg, err := register.New(register.Config{}, register.Deps{Store: db, Providers: []payment.Provider{prov}, Journal: journal})
	require.NoError(t, err)
	base := b.serve(t, reg, Config{Token: testToken, Heartbeat: time.Hour}, enrolled, simSrv.Close)
	return &realStack{base: base, client: &http.Client{Transport: &http.Transport{}}, reg: reg, sim: sim, calls: calls}
}

// key is a fresh Idempotency-Key.
func (s *realStack) key() string { return fmt.Sprintf("contract-%d", s.keys.Add(1)) }

type answer struct {
	status  int
	problem Problem
	body    map[string]any
	raw     string
}

// send posts body (a string is sent as is, anything else as JSON) with the
// token and the headers given.
func (s *realStack) send(t *testing.T, method, path string, body any, headers map[string]string) answer {
	t.Helper()
	var text string
	switch b := body.(type) {
	case nil:
	case string:
		text = b
	case []byte:
		text = string(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(t, err)
		text = string(j)
	}
	var rd io.Reader
	if text != "" {
		rd = strings.NewReader(text)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if text != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	if resp.Header.Get("Content-Type") == "application/problem+json" {
		require.NoError(t, json.Unmarshal(raw, &a.problem), string(raw))
	} else if len(raw) > 0 {
		_ = json.Unmarshal(raw, &a.body)
	}
	return a
}

// pay posts a payment with a fresh key.
func (s *realStack) pay(t *testing.T, body any) answer {
	t.Helper()
	return s.send(t, "POST", "/v1/payments", body, map[string]string{"Idempotency-Key": s.key()})
}

// settle cancels a payment the test created, so that the next one is not
// refused for an open payment on the same till and the emulator has no
// invoice left open.
func (s *realStack) settle(t *testing.T, a answer) {
	t.Helper()
	id, _ := a.body["id"].(string)
	require.NotEmpty(t, id, a.raw)
	c := s.send(t, "POST", "/v1/payments/"+id+"/cancel", nil, nil)
	require.Equal(t, http.StatusOK, c.status, c.raw)
}

// paid creates a payment of amount and has the emulator's customer pay it;
// it returns once the register has recorded it.
func (s *realStack) paid(t *testing.T, amount string) string {
	t.Helper()
	a := s.pay(t, paymentBody(amount))
	require.Equal(t, http.StatusAccepted, a.status, a.raw)
	id := a.body["id"].(string)
	s.payAndWait(t, id, func() {
		_, err := s.sim.Scan(contractSeqrID)
		require.NoError(t, err)
		_, err = s.sim.Pay(contractSeqrID, seqrsim.OutcomePaid)
		require.NoError(t, err)
	})
	return id
}

// payAndWait runs pay (the customer paying payment id) and returns the
// payment once the register has recorded it paid.
func (s *realStack) payAndWait(t *testing.T, id string, pay func()) register.Payment {
	t.Helper()
	events, stop := s.reg.Subscribe(id)
	defer stop()
	pay()
	timeout := time.NewTimer(10 * time.Second) // a bound on failure, not a synchronisation
	defer timeout.Stop()
	for {
		select {
		case ev, ok := <-events:
			require.True(t, ok, "event stream ended before paid")
			if ev.Type == "state" && ev.State == register.StatePaid {
				return ev.Payment
			}
		case <-timeout.C:
			t.Fatalf("payment %s not paid", id)
		}
	}
}

// sendInvoices counts the invoices the emulator received.
func (s *realStack) sendInvoices() int {
	return len(s.calls.Calls(simctl.Filter{Operation: "sendInvoice"}))
}

// registrations counts the registerTerminal calls the emulator received.
func (s *realStack) registrations() int {
	return len(s.calls.Calls(simctl.Filter{Operation: "registerTerminal"}))
}

// paymentBody is a valid one-row payment as a JSON-ready map.
func paymentBody(amount string) map[string]any {
	return map[string]any{
		"method": "seqr", "saleId": "S-1", "cashierId": "bob", "title": "Kaffebaren",
		"amount": amount, "currency": "SEK", "receiptTotal": amount,
		"rows": []any{map[string]any{"description": "Kaffe", "quantity": "1", "unitPrice": amount, "totalAmount": amount, "taxRate": "12"}},
	}
}
