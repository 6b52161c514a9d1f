// Package upgrade checks that a state directory written by an older posd
// (testdata/v1-state: a real database, receipt file and API token, made by
// the generator in ./gen with the code of the day the fixture was cut) is
// taken over by the current posd without loss: it migrates, lists every
// payment with the same state, amount and references, keeps the receipt file
// verifiable and polls the payments left open within 2 s of its start.
//
// The fixture is data, not code: regenerate it only to cut a new baseline
// (`go run ./test/upgrade/gen`), never to make the test pass.
package upgrade

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// FixtureDir is the committed v1 state directory, relative to this package.
const FixtureDir = "testdata/v1-state"

// ExpectedFile is the name, inside the fixture, of what the old posd said
// through its API about the state it left behind.
const ExpectedFile = "EXPECTED.json"

// StateFiles are the files of a state directory that make up the fixture:
// no -wal or -shm (the database is checkpointed before it is copied), no
// sockets.
var StateFiles = []string{"posd.db", "receipts.journal", "api-token"}

// Case names say how the generator drove each payment, so the test can find
// the ones it treats specially without guessing from states.
const (
	CasePaidRefunded      = "paid-refunded"       // paid by the customer, then partly refunded
	CasePaid              = "paid"                // paid by the customer, closed period
	CaseCanceledByCashier = "canceled-by-cashier" // cancelInvoice answered 0
	CaseRejected          = "rejected-by-customer"
	CaseFailedSend        = "failed-send"      // sendInvoice answered a result code: no reference
	CasePaidOpenPeriod    = "paid-open-period" // paid after the period close
	CaseUnknownNoRef      = "unknown-no-ref"   // sendInvoice's reply lost: no reference
	CaseUnknownWithRef    = "unknown-with-ref" // posd's own cancel refused after the decision limit
	CasePolling           = "polling"          // posd stopped (SIGTERM) while it polled
)

// Expected is EXPECTED.json: the state as the old posd's API showed it just
// before the old posd was stopped.
type Expected struct {
	GeneratedFrom string    `json:"generatedFrom"` // git commit of the code that wrote the state
	PosdVersion   string    `json:"posdVersion"`   // `posd version` of that code
	GeneratedAt   time.Time `json:"generatedAt"`
	Terminal      Terminal  `json:"terminal"`
	Payments      []Payment `json:"payments"`
	Refunds       []Refund  `json:"refunds"`
	Periods       []Period  `json:"periods"`
	Journal       []Post    `json:"journal"` // GET /v1/journal?after=0
}

// Terminal is the till's SEQR registration (GET /v1/terminal).
type Terminal struct {
	TerminalID string `json:"terminalId"`
	SeqrID     string `json:"seqrId"`
}

// Payment is one payment as GET /v1/payments listed it. Amounts are the
// API's decimal strings.
type Payment struct {
	Case             string `json:"case"`
	ID               string `json:"id"`
	SaleID           string `json:"saleId"`
	State            string `json:"state"`
	Amount           string `json:"amount"`
	Currency         string `json:"currency"`
	InvoiceReference string `json:"invoiceReference"`
	ERSReference     string `json:"ersReference"`
	Refunded         string `json:"refunded"`
}

// Refund is one refund as POST /v1/payments/{id}/refunds answered it.
type Refund struct {
	ID           string `json:"id"`
	PaymentID    string `json:"paymentId"`
	Amount       string `json:"amount"`
	ERSReference string `json:"ersReference"`
}

// Period is one closed SEQR transaction period as POST /v1/periods/close
// answered it.
type Period struct {
	TransactionPeriodID string `json:"transactionPeriodId"`
	LocalCount          int    `json:"localCount"`
	LocalTotal          string `json:"localTotal"`
	RemoteCount         int    `json:"remoteCount"`
	RemoteTotal         string `json:"remoteTotal"`
	Match               bool   `json:"match"`
}

// Post is one receipt-file post as GET /v1/journal listed it.
type Post struct {
	Seq       int64  `json:"seq"`
	PaymentID string `json:"paymentId"`
	Kind      string `json:"kind"`
	Amount    string `json:"amount"`
	Reference string `json:"reference"`
}

// ByCase returns the payments of one case.
func (e Expected) ByCase(c string) []Payment {
	var out []Payment
	for _, p := range e.Payments {
		if p.Case == c {
			out = append(out, p)
		}
	}
	return out
}

// ReadExpected reads dir/EXPECTED.json.
func ReadExpected(dir string) (Expected, error) {
	var e Expected
	b, err := os.ReadFile(filepath.Join(dir, ExpectedFile))
	if err != nil {
		return e, fmt.Errorf("read expected: %w", err)
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("decode %s: %w", ExpectedFile, err)
	}
	return e, nil
}

// WriteExpected writes dir/EXPECTED.json, indented for review in diffs.
func WriteExpected(dir string, e Expected) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("encode expected: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ExpectedFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write expected: %w", err)
	}
	return nil
}
