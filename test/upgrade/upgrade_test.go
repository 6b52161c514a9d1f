package upgrade

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // look for the fixture's references in the migrated database
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/test/harness"
)

// TestUpgradeFromV1State starts the current posd, built from this tree, on a
// copy of the state an older posd left behind (testdata/v1-state) and a
// fresh emulator, and checks that nothing recorded is lost: posd migrates
// and starts, lists every payment with its state, amount and references,
// keeps the terminal, the refund, the closed period and the receipt file,
// and polls the payments left open within 2 s of its start without sending
// any invoice again.
func TestUpgradeFromV1State(t *testing.T) {
	ctx := context.Background()
	exp, err := ReadExpected(FixtureDir)
	require.NoError(t, err)
	requireEveryCase(t, exp)

	bin, err := harness.Build(ctx, t.TempDir())
	require.NoError(t, err)
	stateDir := copyFixture(t)
	journal := filepath.Join(stateDir, "receipts.journal")
	before := readTables(t, filepath.Join(stateDir, "posd.db"))
	require.NotEmpty(t, before["audit"].text, "the fixture's audit trail")

	t.Run("OldReceiptFileVerifiesWithNewBinary", func(t *testing.T) {
		journalVerify(t, bin, journal)
	})

	simProc, base, err := harness.StartPaysim(bin)
	require.NoError(t, err)
	t.Cleanup(func() {
		simProc.Kill()
		if t.Failed() {
			t.Logf("paysim output:\n%s", simProc.Out.String())
		}
	})
	sim := harness.NewSim(base)

	// READY=1 comes after the migrations and the recovery of open payments.
	posd, ready, err := harness.StartPosd(bin, stateDir, base+seqrsim.PathCashRegister2)
	require.NoError(t, err, "posd must migrate the v1 database and start")
	t.Cleanup(func() {
		posd.Kill()
		if t.Failed() {
			t.Logf("posd output:\n%s", posd.Out.String())
		}
	})
	t.Logf("posd READY %s after start on the v1 state (fixture from %s)", ready.Round(time.Millisecond), exp.GeneratedFrom)
	api, err := harness.NewAPI(stateDir)
	require.NoError(t, err, "the v1 API token is kept")

	// Read the payments at once, before the first poll tick can move an
	// open payment along.
	got := listPayments(t, ctx, api)

	t.Run("KeepsEveryPaymentWithStateAmountAndReferences", func(t *testing.T) {
		byID := map[string]Payment{}
		for _, p := range got {
			byID[p.ID] = p
		}
		assert.Len(t, got, len(exp.Payments), "payments listed")
		for _, want := range exp.Payments {
			p, ok := byID[want.ID]
			if !assert.True(t, ok, "payment %s (%s) is not listed", want.ID, want.Case) {
				continue
			}
			if want.Case == CasePolling {
				// Its window ended while posd was stopped: the first tick
				// after the start may already ask the cashier to decide. It
				// must still be open, never settled by the upgrade.
				assert.Contains(t, []string{"polling", "awaiting_decision"}, p.State, "%s: state", want.Case)
			} else {
				assert.Equal(t, want.State, p.State, "%s: state", want.Case)
			}
			assert.Equal(t, want.Amount, p.Amount, "%s: amount", want.Case)
			assert.Equal(t, want.Currency, p.Currency, "%s: currency", want.Case)
			assert.Equal(t, want.SaleID, p.SaleID, "%s: saleId", want.Case)
			assert.Equal(t, want.InvoiceReference, p.InvoiceReference, "%s: invoiceReference", want.Case)
			assert.Equal(t, want.ERSReference, p.ERSReference, "%s: ersReference", want.Case)
			assert.Equal(t, want.Refunded, p.Refunded, "%s: refunded", want.Case)
		}
	})

	// Migration 0005 made refunds one kind of adjustment: each old refund
	// is in its payment's detail as a done refund with its reference.
	t.Run("RefundsAreAdjustments", func(t *testing.T) {
		require.NotEmpty(t, exp.Refunds, "the fixture has refunds")
		for _, rf := range exp.Refunds {
			var d struct {
				Actions     []string `json:"actions"`
				Adjustments []struct {
					ID          string `json:"id"`
					Kind        string `json:"kind"`
					State       string `json:"state"`
					Amount      string `json:"amount"`
					ProviderRef string `json:"providerRef"`
				} `json:"adjustments"`
			}
			require.NoError(t, api.Do(ctx, "GET", "/v1/payments/"+rf.PaymentID, nil, nil, &d))
			assert.Equal(t, []string{"refund"}, d.Actions, "SEQR: refunds only")
			found := false
			for _, a := range d.Adjustments {
				if a.ID == rf.ID {
					found = true
					assert.Equal(t, "refund", a.Kind)
					assert.Equal(t, "done", a.State)
					assert.Equal(t, rf.Amount, a.Amount)
					assert.Equal(t, rf.ERSReference, a.ProviderRef)
				}
			}
			assert.True(t, found, "refund %s is in its payment's adjustments", rf.ID)
		}
	})

	t.Run("KeepsTheTerminal", func(t *testing.T) {
		var term Terminal
		require.NoError(t, api.Do(ctx, "GET", "/v1/terminal", nil, nil, &term))
		assert.Equal(t, exp.Terminal, term)
	})

	t.Run("KeepsEveryReceiptPost", func(t *testing.T) {
		var resp struct {
			Posts []Post `json:"posts"`
		}
		require.NoError(t, api.Do(ctx, "GET", "/v1/journal?after=0", nil, nil, &resp))
		assert.Equal(t, exp.Journal, resp.Posts)
		for _, rf := range exp.Refunds {
			assert.True(t, slices.ContainsFunc(resp.Posts, func(p Post) bool {
				return p.Kind == "refund" && p.Reference == rf.ERSReference && p.PaymentID == rf.PaymentID && p.Amount == rf.Amount
			}), "refund %s has no receipt post", rf.ID)
		}
	})

	t.Run("PollsOpenPaymentsWithin2s", func(t *testing.T) {
		// The fresh emulator does not know these invoices (nor the
		// terminal): only the arrival of the poll matters.
		for _, want := range exp.Payments {
			if want.InvoiceReference == "" || !slices.Contains([]string{"polling", "awaiting_decision", "unknown"}, want.State) {
				continue
			}
			var first time.Time
			err := harness.WaitFor(ctx, 10*time.Second, func() (bool, error) {
				calls, err := sim.Calls(ctx, "getPaymentStatus", want.InvoiceReference)
				if len(calls) > 0 {
					first = calls[0].Time
				}
				return len(calls) > 0, err
			})
			if !assert.NoError(t, err, "%s: no getPaymentStatus for %s", want.Case, want.InvoiceReference) {
				continue
			}
			after := first.Sub(posd.Started)
			t.Logf("%s: first poll %s after the start", want.Case, after.Round(time.Millisecond))
			assert.Less(t, after, 2*time.Second, "%s: first poll after the start (SEQR reverses unpolled payments after 20 s)", want.Case)
		}
	})

	t.Run("NeverSendsAnInvoiceAgain", func(t *testing.T) {
		sent, err := sim.Calls(ctx, "sendInvoice", "")
		require.NoError(t, err)
		assert.Empty(t, sent, "the upgraded posd sent an invoice at start")
	})

	posd.Stop(20 * time.Second)
	require.Equal(t, 0, posd.Cmd.ProcessState.ExitCode(), "posd stops cleanly after the upgrade")
	after := readTables(t, filepath.Join(stateDir, "posd.db"))

	t.Run("ReceiptFileVerifiesAfterRun", func(t *testing.T) {
		journalVerify(t, bin, journal)
	})

	t.Run("KeepsRefundAndPeriodInDatabase", func(t *testing.T) {
		// The schema is the migration's to choose: look for the values in
		// any column of any table but the audit trail, which only tells
		// that they once were.
		var state strings.Builder
		for name, tbl := range after {
			if !strings.HasPrefix(name, "audit") {
				state.WriteString(tbl.text)
			}
		}
		text := state.String()
		for _, rf := range exp.Refunds {
			assert.True(t, strings.Contains(text, rf.ID), "refund %s is not in the database", rf.ID)
			assert.True(t, strings.Contains(text, rf.ERSReference), "refund %s: ersReference %s is not in the database", rf.ID, rf.ERSReference)
		}
		for _, pr := range exp.Periods {
			assert.True(t, strings.Contains(text, pr.TransactionPeriodID), "closed period %s is not in the database", pr.TransactionPeriodID)
		}
	})

	t.Run("KeepsTheAuditTrail", func(t *testing.T) {
		// The audit is append-only: a migration may rename its columns,
		// never drop a row.
		for name, tbl := range before {
			if !strings.HasPrefix(name, "audit") {
				continue
			}
			require.Contains(t, after, name, "audit table %s", name)
			assert.GreaterOrEqual(t, after[name].rows, tbl.rows, "rows of %s", name)
			for _, p := range exp.Payments {
				assert.True(t, strings.Contains(after[name].text, p.ID), "%s has no row of payment %s (%s)", name, p.ID, p.Case)
			}
		}
	})
}

// requireEveryCase fails on a fixture that lacks a case the test relies on
// (a regenerated fixture must not quietly drop one).
func requireEveryCase(t *testing.T, exp Expected) {
	t.Helper()
	for _, c := range []string{CasePaidRefunded, CasePaid, CaseCanceledByCashier, CaseRejected, CaseFailedSend,
		CasePaidOpenPeriod, CaseUnknownNoRef, CaseUnknownWithRef, CasePolling} {
		require.Len(t, exp.ByCase(c), 1, "fixture case %s", c)
	}
	require.NotEmpty(t, exp.ByCase(CaseUnknownWithRef)[0].InvoiceReference, "the unknown payment with a reference")
	require.NotEmpty(t, exp.Refunds, "a refund")
	require.NotEmpty(t, exp.Periods, "a closed period")
}

// copyFixture copies the state files to a private directory with the modes
// posd requires: git keeps no 0600, and posd refuses a token file that
// others can read.
func copyFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o700))
	for _, name := range StateFiles {
		src, err := os.Open(filepath.Join(FixtureDir, name))
		require.NoError(t, err)
		dst, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		require.NoError(t, err)
		_, err = io.Copy(dst, src)
		require.NoError(t, err)
		require.NoError(t, dst.Close())
		require.NoError(t, src.Close())
	}
	return dir
}

func journalVerify(t *testing.T, bin harness.Binaries, path string) {
	t.Helper()
	out, err := exec.Command(bin.Posd, "journal", "verify", "--file", path).CombinedOutput()
	require.NoError(t, err, "posd journal verify: %s", out)
}

func listPayments(t *testing.T, ctx context.Context, api *harness.API) []Payment {
	t.Helper()
	var resp struct {
		Payments []Payment `json:"payments"`
	}
	require.NoError(t, api.Do(ctx, "GET", "/v1/payments", nil, nil, &resp))
	return resp.Payments
}

// table is what readTables found in one table.
type table struct {
	rows int
	text string // every text and blob value, one per line
}

// readTables reads every table of the database at path, whatever its schema.
func readTables(t *testing.T, path string) map[string]table {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	var names []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	require.NoError(t, err)
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	out := map[string]table{}
	for _, name := range names {
		rows, err := db.Query(fmt.Sprintf(`SELECT * FROM "%s"`, strings.ReplaceAll(name, `"`, `""`)))
		require.NoError(t, err)
		cols, err := rows.Columns()
		require.NoError(t, err)
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		var tbl table
		var b strings.Builder
		for rows.Next() {
			require.NoError(t, rows.Scan(ptrs...))
			tbl.rows++
			for _, v := range vals {
				switch v := v.(type) {
				case string:
					b.WriteString(v + "\n")
				case []byte:
					b.Write(v)
					b.WriteByte('\n')
				}
			}
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		tbl.text = b.String()
		out[name] = tbl
	}
	return out
}
