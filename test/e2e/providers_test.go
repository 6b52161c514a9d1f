package e2e

// Resurs Bank and Payson against the real binaries (issues 13 and 8, "Tests
// and numbers"; reliability.md): posd and paysim as processes, posd killed
// with SIGKILL at the moments where money could be lost or doubled, then
// restarted on the same state. The assertions read the emulator's call log
// and state (what the provider saw) and posd's API and receipt file (what
// the till recorded): paid once, one journal post, every after-paid task
// (Resurs finalizePayment, Payson ship) done once.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/test/harness"
)

// provRig is one paysim serving SEQR, Resurs and Payson, and posd (one run
// at a time) configured for all three on one state directory.
type provRig struct {
	t        *testing.T
	ctx      context.Context
	bin      harness.Binaries
	sim      *harness.Sim
	stateDir string
	env      []string
	runs     []*harness.Proc
	posd     *harness.Proc
	api      *harness.API
}

// laterInterval is "Betala sen"'s check interval in these tests: the
// shortest posd accepts (production default 1 min).
const laterInterval = 5 * time.Second

// newProvRig starts paysim and posd; firstRun is extra environment for the
// first posd run only (a crash point).
func newProvRig(t *testing.T, bin harness.Binaries, firstRun ...string) *provRig {
	t.Helper()
	r := &provRig{t: t, ctx: context.Background(), bin: bin, stateDir: t.TempDir(),
		env: []string{"POSD_PROVIDERS_RESURS_LATER_INTERVAL=" + laterInterval.String()}}
	p, base, err := harness.StartPaysim(bin)
	require.NoError(t, err)
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("paysim output:\n%s", p.Out.String())
		}
	})
	r.sim = harness.NewSim(base)
	t.Cleanup(func() {
		for i, p := range r.runs {
			p.Kill()
			if t.Failed() {
				t.Logf("posd run %d output:\n%s", i+1, p.Out.String())
			}
		}
	})
	r.start(firstRun...)
	return r
}

// start runs posd on the rig's state with extra environment.
func (r *provRig) start(extra ...string) {
	r.t.Helper()
	env := append(append([]string{}, r.env...), extra...)
	p, ready, err := harness.StartPosdWith(r.bin, r.stateDir, harness.AllAt(r.sim.Base), env...)
	require.NoError(r.t, err)
	r.runs = append(r.runs, p)
	r.posd = p
	r.api, err = harness.NewAPI(r.stateDir)
	require.NoError(r.t, err)
	r.t.Logf("posd run %d READY after %s", len(r.runs), ready.Round(time.Millisecond))
}

// kill is kill -9.
func (r *provRig) kill() {
	r.t.Helper()
	r.posd.Kill()
}

func (r *provRig) create(method, amount string) harness.ProviderPayment {
	r.t.Helper()
	key := fmt.Sprintf("%s-%d", strings.ReplaceAll(r.t.Name(), "/", "."), time.Now().UnixNano())
	var p harness.ProviderPayment
	require.NoError(r.t, r.api.Do(r.ctx, "POST", "/v1/payments", harness.Order(method, "sale-"+key[len(key)-8:], amount),
		map[string]string{"Idempotency-Key": key}, &p))
	return p
}

func (r *provRig) get(id string) harness.ProviderPayment {
	r.t.Helper()
	p, err := r.api.Payment(r.ctx, id)
	require.NoError(r.t, err)
	return p
}

func (r *provRig) waitState(id, state string, limit time.Duration) harness.ProviderPayment {
	r.t.Helper()
	var p harness.ProviderPayment
	err := harness.WaitFor(r.ctx, limit, func() (bool, error) {
		var err error
		p, err = r.api.Payment(r.ctx, id)
		return err == nil && p.State == state, err
	})
	require.NoError(r.t, err, "waiting for %s to be %s; it is %s (error %q)", id, state, p.State, p.Error)
	return p
}

func (r *provRig) calls(service, op string) []harness.ProviderCall {
	r.t.Helper()
	c, err := r.sim.ProviderCalls(r.ctx, service, op, "")
	require.NoError(r.t, err)
	return c
}

// callsFor keeps the calls whose reference or path names ref.
func callsFor(calls []harness.ProviderCall, ref string) []harness.ProviderCall {
	var out []harness.ProviderCall
	for _, c := range calls {
		if c.Reference == ref || strings.Contains(c.Path, "/"+ref) {
			out = append(out, c)
		}
	}
	return out
}

func answered(calls []harness.ProviderCall, code int) int {
	n := 0
	for _, c := range calls {
		if c.Answered(code) {
			n++
		}
	}
	return n
}

func (r *provRig) faults(rules ...harness.FaultRule) {
	r.t.Helper()
	require.NoError(r.t, r.sim.ClearFaults(r.ctx))
	if len(rules) > 0 {
		_, err := r.sim.SetFaults(r.ctx, rules...)
		require.NoError(r.t, err)
	}
}

func (r *provRig) fired() int {
	r.t.Helper()
	rules, err := r.sim.Faults(r.ctx)
	require.NoError(r.t, err)
	n := 0
	for _, rl := range rules {
		n += rl.Fired
	}
	return n
}

// assertOnePost checks that the receipt file holds exactly one post, for
// payment id with transaction reference ref, and verifies the file.
func (r *provRig) assertOnePost(id, ref string) {
	r.t.Helper()
	posts, err := r.api.Journal(r.ctx, 0)
	require.NoError(r.t, err)
	require.Len(r.t, posts, 1, "one transaction post")
	assert.Equal(r.t, id, posts[0].PaymentID)
	assert.Equal(r.t, ref, posts[0].Reference)
	assert.Equal(r.t, 1, countLines(r.t, filepath.Join(r.stateDir, "receipts.journal"), ref), "the reference in one line of the receipt file")
	k2VerifyJournal(r.t, r.bin, r.stateDir)
}

// resursSession is the paymentSessionId Resurs gave order reference ref
// (what the iframe shows the cashier).
func (r *provRig) resursSession(ref string) string {
	r.t.Helper()
	for _, c := range r.calls(harness.Resurs, "createPayment") {
		if c.Reference == ref && c.Answered(200) {
			return c.Detail["paymentSessionId"]
		}
	}
	r.t.Fatalf("no session created for order reference %s", ref)
	return ""
}

// resursComplete plays the cashier and the customer in the checkout: the
// approved test person pays by invoice (later: "Betala sen", then paid
// through the link).
func (r *provRig) resursComplete(session string, later bool) string {
	r.t.Helper()
	var in struct {
		PaymentID string `json:"paymentId"`
		State     string `json:"state"`
	}
	require.NoError(r.t, r.sim.Do(r.ctx, "POST", "/sim/resurs/sessions/"+url.PathEscape(session)+"/complete",
		map[string]any{"governmentId": "198305147715", "method": "invoice", "later": later}, &in))
	require.NotEmpty(r.t, in.PaymentID, "the session is booked (state %s)", in.State)
	return in.PaymentID
}

type resursPayState struct {
	ID        string   `json:"id"`
	Status    []string `json:"status"`
	Frozen    bool     `json:"frozen"`
	Finalized bool     `json:"finalized"`
}

func (r *provRig) resursPayment(id string) resursPayState {
	r.t.Helper()
	var p resursPayState
	require.NoError(r.t, r.sim.Do(r.ctx, "GET", "/sim/resurs/payments/"+url.PathEscape(id), nil, &p))
	return p
}

// resursDiffs counts the diffs of each type (AUTHORIZE, DEBIT, ...) of the
// payment booked under order reference ref, as Resurs's payment JSON
// shows them to the web-service account.
func (r *provRig) resursDiffs(ref string) map[string]int {
	r.t.Helper()
	req, err := http.NewRequestWithContext(r.ctx, "GET", r.sim.Base+"/pos/payments/"+url.PathEscape(ref), nil)
	require.NoError(r.t, err)
	req.SetBasicAuth(harness.ResursUser, harness.ResursPassword)
	resp, err := r.sim.HTTP.Do(req)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	require.Equal(r.t, http.StatusOK, resp.StatusCode)
	var p struct {
		Diffs []struct {
			Type string `json:"type"`
		} `json:"paymentDiffs"`
	}
	require.NoError(r.t, json.NewDecoder(resp.Body).Decode(&p))
	n := map[string]int{}
	for _, d := range p.Diffs {
		n[d.Type]++
	}
	return n
}

// resursChecks are posd's reads of order reference ref after time since.
func (r *provRig) resursChecks(ref string, since time.Time) []harness.ProviderCall {
	r.t.Helper()
	var out []harness.ProviderCall
	for _, c := range callsFor(r.calls(harness.Resurs, "getPayment"), ref) {
		if c.Time.After(since) {
			out = append(out, c)
		}
	}
	return out
}

// TestResursPOSPendingSurvivesKill: a Checkout POS payment is pending (the
// customer has not signed) when posd is killed; the customer completes
// after the restart, or while posd is down. posd records the payment paid
// once with one journal post. Resurs finalizes a POS payment itself: posd
// must not.
func TestResursPOSPendingSurvivesKill(t *testing.T) {
	for _, tc := range []struct {
		name          string
		paysWhileDown bool
	}{{name: "after-restart"}, {name: "while-down", paysWhileDown: true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newProvRig(t, binaries(t))
			p := r.create("resurs", "149.00")
			require.Equal(t, "polling", p.State, "error %q", p.Error)
			require.Equal(t, harness.Resurs, p.Provider)
			require.NotEmpty(t, p.ProviderRef)
			require.NotNil(t, p.CustomerView, "the cashier page needs the checkout")
			session := r.resursSession(p.ProviderRef)

			// posd is following it: at least one check before the kill.
			require.NoError(t, harness.WaitFor(r.ctx, 10*time.Second, func() (bool, error) {
				return len(r.resursChecks(p.ProviderRef, time.Time{})) > 0, nil
			}))
			r.kill()
			var paymentID string
			if tc.paysWhileDown {
				paymentID = r.resursComplete(session, false)
			}
			restarted := time.Now()
			r.start()
			if !tc.paysWhileDown {
				paymentID = r.resursComplete(session, false)
			}
			got := r.waitState(p.ID, "paid", 20*time.Second)
			assert.Equal(t, paymentID, got.TransactionRef)
			assert.NotEmpty(t, got.MethodName)
			assert.NotEmpty(t, r.resursChecks(p.ProviderRef, restarted), "checked after the restart")

			r.assertOnePost(p.ID, paymentID)
			assert.Len(t, callsFor(r.calls(harness.Resurs, "createPayment"), p.ProviderRef), 1, "one session, never created again")
			assert.Empty(t, r.calls(harness.Resurs, "finalizePayment"), "Resurs finalizes a POS payment itself")
			assert.True(t, r.resursPayment(paymentID).Finalized)
			list, err := r.api.Payments(r.ctx)
			require.NoError(t, err)
			assert.Len(t, list, 1)
		})
	}
}

// TestResursLaterFollowedAcrossRestart: a pending "Betala sen" payment
// (link sent, nobody paid) is still checked after posd restarts, at its
// slow cadence (the first check spread over one interval); when the
// customer pays, posd records it and finalizes it once.
func TestResursLaterFollowedAcrossRestart(t *testing.T) {
	r := newProvRig(t, binaries(t))
	p := r.create("resurs_later", "320.00")
	require.Equal(t, "polling", p.State, "error %q", p.Error)
	require.Equal(t, "resurs_later", p.Method)
	session := r.resursSession(p.ProviderRef)
	require.NoError(t, harness.WaitFor(r.ctx, 2*laterInterval, func() (bool, error) {
		return len(r.resursChecks(p.ProviderRef, time.Time{})) > 0, nil
	}), "posd checks the pending payment")

	r.kill()
	restarted := time.Now()
	r.start()
	var first time.Time
	require.NoError(t, harness.WaitFor(r.ctx, 2*laterInterval+5*time.Second, func() (bool, error) {
		c := r.resursChecks(p.ProviderRef, restarted)
		if len(c) > 0 {
			first = c[0].Time
		}
		return len(c) > 0, nil
	}), "the pending payment is still followed after the restart")
	t.Logf("first check %s after the restart (spread over %s)", first.Sub(restarted).Round(time.Millisecond), laterInterval)
	assert.Equal(t, "polling", r.get(p.ID).State)
	// Still at its slow cadence: the next check one interval later, not
	// sooner (the ticker keeps the interval; a 10 % slack for scheduling).
	var second time.Time
	require.NoError(t, harness.WaitFor(r.ctx, 2*laterInterval, func() (bool, error) {
		c := r.resursChecks(p.ProviderRef, restarted)
		if len(c) > 1 {
			second = c[1].Time
		}
		return len(c) > 1, nil
	}), "checked again one interval later")
	assert.GreaterOrEqual(t, second.Sub(first), laterInterval*9/10, "no busy checking of a \"Betala sen\" payment")

	paymentID := r.resursComplete(session, true)
	got := r.waitState(p.ID, "paid", 2*laterInterval+5*time.Second)
	assert.Equal(t, paymentID, got.TransactionRef)
	require.NoError(t, harness.WaitFor(r.ctx, 15*time.Second, func() (bool, error) {
		return r.resursPayment(paymentID).Finalized, nil
	}), "posd finalizes the paid \"Betala sen\" payment")
	assert.Equal(t, 1, answered(callsFor(r.calls(harness.Resurs, "finalizePayment"), paymentID), harness.SOAPOK), "finalized once")
	r.assertOnePost(p.ID, paymentID)
}

// TestResursFinalizeQueuedKill: a "Betala sen" payment is paid
// and posd recorded it and queued finalizePayment in the outbox; posd is
// killed while the task is still queued: every finalize failed (a fault,
// nothing reached Resurs), or the finalize landed and its answer never came
// back (posd killed while waiting for it). After the restart (faults gone)
// Resurs holds exactly one DEBIT, and the payment still has one post.
func TestResursFinalizeQueuedKill(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  harness.FaultRule
		landed bool // the finalize took effect before the kill
	}{
		{name: "failing", fault: harness.FaultRule{Service: harness.Resurs, Operation: "finalizePayment", Mode: "drop"}},
		{name: "landed", landed: true,
			// Runs the finalize, then holds the answer past the kill.
			fault: harness.FaultRule{Service: harness.Resurs, Operation: "finalizePayment", Mode: "drop", Process: true, LatencyMs: 60_000, Count: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newProvRig(t, binaries(t))
			p := r.create("resurs_later", "99.50")
			require.Equal(t, "polling", p.State, "error %q", p.Error)
			session := r.resursSession(p.ProviderRef)
			r.faults(tc.fault)

			paymentID := r.resursComplete(session, true)
			got := r.waitState(p.ID, "paid", 2*laterInterval+5*time.Second)
			require.Equal(t, paymentID, got.TransactionRef)
			require.NoError(t, harness.WaitFor(r.ctx, 15*time.Second, func() (bool, error) {
				return r.fired() >= 1 && (!tc.landed || r.resursPayment(paymentID).Finalized), nil
			}), "posd tried to finalize")
			r.kill()
			require.Equal(t, tc.landed, r.resursPayment(paymentID).Finalized, "finalized at Resurs before the kill")
			before := len(r.calls(harness.Resurs, "finalizePayment"))

			r.faults()
			restarted := time.Now()
			r.start()
			require.NoError(t, harness.WaitFor(r.ctx, 30*time.Second, func() (bool, error) {
				if !r.resursPayment(paymentID).Finalized {
					return false, nil
				}
				// The queued task ran: it finalized, or read the payment
				// back finalized (After Shop getPayment) and stopped.
				for _, c := range callsFor(r.calls(harness.Resurs, ""), paymentID) {
					if c.Time.After(restarted) && c.Path != "" && strings.Contains(c.Path, "AfterShop") && c.Answered(harness.SOAPOK) {
						return true, nil
					}
				}
				return false, nil
			}), "the queued finalize is settled after the restart")
			fin := callsFor(r.calls(harness.Resurs, "finalizePayment"), paymentID)
			t.Logf("finalizePayment: %d call(s) before the kill, %d in all", before, len(fin))
			if tc.landed {
				assert.Len(t, fin, 1, "the landed finalize is never sent again")
			} else {
				assert.Equal(t, 1, answered(fin, harness.SOAPOK), "finalized once")
			}
			assert.Equal(t, 1, r.resursDiffs(p.ProviderRef)["DEBIT"], "one DEBIT at Resurs")
			assert.Equal(t, "paid", r.get(p.ID).State)
			r.assertOnePost(p.ID, paymentID)
		})
	}
}

// paysonCheckout is the emulator's view of a checkout.
type paysonCheckout struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	PurchaseID int64  `json:"purchaseId"`
}

func (r *provRig) paysonCheckout(id string) paysonCheckout {
	r.t.Helper()
	var co paysonCheckout
	require.NoError(r.t, r.sim.Do(r.ctx, "GET", "/sim/payson/checkouts/"+url.PathEscape(id), nil, &co))
	return co
}

func (r *provRig) paysonPay(id string) {
	r.t.Helper()
	require.NoError(r.t, r.sim.Do(r.ctx, "POST", "/sim/payson/checkouts/"+url.PathEscape(id)+"/pay", map[string]string{"method": "card"}, nil))
}

// TestPaysonKillBeforeShip: the customer paid (readyToShip), posd recorded
// the sale and then died before its ship task was done: killed at the
// outbox task (crash point), or after Payson shipped but before the answer
// reached posd (the update runs, the reply is dropped). After the restart:
// shipped once, paid once, one journal post.
func TestPaysonKillBeforeShip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash string             // POSD_CRASH_AT of the first run
		fault *harness.FaultRule // on Payson's update (the ship)
	}{
		{name: "crash-point", crash: register.CrashTaskBefore},
		{name: "reply-lost", fault: &harness.FaultRule{Service: harness.Payson, Operation: "updateCheckout", Mode: "drop", Process: true, Count: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var env []string
			if tc.crash != "" {
				env = append(env, "POSD_CRASH_AT="+tc.crash)
			}
			r := newProvRig(t, k2Binaries(t), env...)
			if tc.fault != nil {
				r.faults(*tc.fault)
			}
			p := r.create("payson", "75.00")
			require.Equal(t, "polling", p.State, "error %q", p.Error)
			co := p.ProviderRef
			require.NotEmpty(t, co)
			r.paysonPay(co)

			first := r.posd
			if tc.crash != "" {
				select {
				case <-first.Exited():
				case <-time.After(20 * time.Second):
					t.Fatalf("posd did not die at %s", tc.crash)
				}
				assert.Equal(t, "readyToShip", r.paysonCheckout(co).Status, "killed before the ship")
			} else {
				require.NoError(t, harness.WaitFor(r.ctx, 20*time.Second, func() (bool, error) {
					return r.fired() == 1, nil
				}), "the ship ran and its answer was dropped")
				r.kill()
				assert.Equal(t, "shipped", r.paysonCheckout(co).Status, "the ship landed; posd never heard it")
			}
			restarted := time.Now()
			r.start()
			got := r.waitState(p.ID, "paid", 20*time.Second)
			require.NoError(t, harness.WaitFor(r.ctx, 20*time.Second, func() (bool, error) {
				// The ship task after the restart reads the checkout first and
				// ships it only when it is readyToShip: once that read saw it
				// shipped, or the ship was answered, no ship can follow.
				for _, c := range callsFor(r.calls(harness.Payson, ""), co) {
					if c.Time.After(restarted) && (c.Operation == "getCheckout" && c.Detail["status"] == "shipped" ||
						c.Operation == "updateCheckout" && c.Answered(200)) {
						return true, nil
					}
				}
				return false, nil
			}), "shipped after the restart, and posd saw it")
			ships := callsFor(r.calls(harness.Payson, "updateCheckout"), co)
			assert.Equal(t, 1, answered(ships, 200), "shipped once")
			assert.Len(t, callsFor(r.calls(harness.Payson, "createCheckout"), co), 1, "one checkout")
			require.NotEmpty(t, got.TransactionRef)
			r.assertOnePost(p.ID, got.TransactionRef)
		})
	}
}

// TestPaysonCreateReplyLost: Payson creates the checkout but the answer is
// dropped. posd must not create a second one: it finds the checkout by its
// merchant reference (the payment id) and follows it, so the customer pays
// the one checkout and the sale is paid once.
func TestPaysonCreateReplyLost(t *testing.T) {
	r := newProvRig(t, binaries(t))
	r.faults(harness.FaultRule{Service: harness.Payson, Operation: "createCheckout", Mode: "drop", Process: true, Count: 1})
	p := r.create("payson", "42.00")
	require.Equal(t, 1, r.fired(), "the create's answer was dropped")
	creates := r.calls(harness.Payson, "createCheckout")
	require.Len(t, creates, 1, "one create reached Payson")
	t.Logf("after the lost answer the payment is %s (providerRef %q, error %q)", p.State, p.ProviderRef, p.Error)
	require.Equal(t, "polling", p.State, "found by reference and followed")
	require.Equal(t, creates[0].Reference, p.ProviderRef, "the checkout Payson created is the one followed")
	assert.NotEmpty(t, r.calls(harness.Payson, "listCheckouts"), "looked up by merchant reference")

	r.paysonPay(p.ProviderRef)
	got := r.waitState(p.ID, "paid", 20*time.Second)
	assert.Len(t, r.calls(harness.Payson, "createCheckout"), 1, "one checkout at Payson, not two")
	r.assertOnePost(p.ID, got.TransactionRef)
}
