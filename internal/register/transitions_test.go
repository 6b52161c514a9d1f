package register

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/store"
)

var allStates = []State{StateCreated, StatePolling, StateAwaitingDecision, StatePaid, StateCanceled, StateFailed, StateUnknown}

// Every (event, from, to) triple is tried against a real payment row: the
// table's legal moves succeed and leave the row in the target state with an
// audit row; every other move is refused with store.ErrStateConflict and
// changes nothing.
func TestEveryTransitionIsDecidedByTheTable(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "posd.db"), store.Options{})
	require.NoError(t, err)
	defer db.Close()
	r := &Register{db: db}
	n := 0
	for ev := range transitions {
		for _, from := range allStates {
			for _, to := range append([]State{""}, allStates...) {
				n++
				id := fmt.Sprintf("p%04d", n)
				_, _, err := db.CreatePayment(ctx, store.Payment{ID: id, IdempotencyKey: id, RequestHash: "h", Provider: "seqr",
					Method: "seqr", State: string(from), Amount: 100, Currency: "SEK", ReceiptTotal: 100, Balancing: "none",
					RowsJSON: []byte("[]")}, store.Audit{Actor: "test", Event: "seed", Outcome: "success"})
				require.NoError(t, err)
				target := to
				if target == "" {
					target = from
				}
				legal := allowed(ev, from, target)
				got, err := r.transition(ctx, id, ev, to, change{origin: "test"})
				name := fmt.Sprintf("%s: %s -> %s", ev, from, target)
				after, rerr := db.Payment(ctx, id)
				require.NoError(t, rerr)
				trail, aerr := db.AuditTrail(ctx, id)
				require.NoError(t, aerr)
				if legal {
					require.NoError(t, err, name)
					assert.Equal(t, string(target), got.State, name)
					assert.Equal(t, string(target), after.State, name)
					assert.Len(t, trail, 2, "%s: the seed and the transition's audit row", name)
					continue
				}
				require.ErrorIs(t, err, store.ErrStateConflict, name)
				assert.Equal(t, string(from), after.State, "%s: a refused move changes nothing", name)
				assert.Len(t, trail, 1, "%s: and writes no audit row", name)
			}
		}
	}
}

// The table itself: final states are never left, and nothing but the start
// leaves "created".
func TestFinalStatesAreNeverLeft(t *testing.T) {
	for ev, rl := range transitions {
		for _, from := range rl.from {
			assert.False(t, from.Final(), "%s may move a payment out of the final state %s", ev, from)
		}
		if slices.Contains(rl.from, StateCreated) {
			assert.Contains(t, []event{evStart, evRecoverUnsent}, ev, "%s leaves created", ev)
		}
	}
}

// The seam: the register imports no provider package (go list -deps).
func TestRegisterImportsNoProvider(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, pkg := range strings.Fields(string(out)) {
		for _, p := range []string{"/internal/seqr", "/internal/resurs", "/internal/payson"} {
			assert.False(t, strings.Contains(pkg, p), "internal/register depends on %s", pkg)
		}
	}
	assert.Contains(t, string(out), "github.com/posd/posd/internal/payment", "it does depend on the contract")
}
