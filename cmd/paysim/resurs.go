package main

import (
	"fmt"
	"io"
	"net/http"

	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/simctl"
	"go.uber.org/zap"
)

// resursShadowLimitPct is the emulated merchant's shadow limit: what a
// booked payment may grow by through additional debits (spec B.6).
const resursShadowLimitPct = 20

// mountResurs builds the Resurs emulator on the shared clock, call log and
// fault rules and routes its prefixes on mux. Its Run (callbacks, delayed
// rules) runs beside the server.
func mountResurs(mux *http.ServeMux, clock *simctl.Clock, calls *simctl.CallLog, faults *simctl.Faults, log *zap.Logger) *resurssim.Sim {
	if log == nil {
		log = zap.NewNop()
	}
	sim := resurssim.New(resurssim.Options{Clock: clock, Now: clock.Now, Calls: calls, Faults: faults, ShadowLimitPct: resursShadowLimitPct,
		Logger: log.With(zap.String("emulator", "resurs"))})
	h := sim.Handler()
	for _, p := range resurssim.Prefixes() {
		mux.Handle(p, h)
	}
	return sim
}

// printResurs writes the Resurs lines of paysim's start-up banner: every
// URL and test credential a client or a person needs.
func printResurs(w io.Writer, base string) {
	fmt.Fprintf(w, "  Resurs POS REST   %s/pos/payments/{orderReference}  (also %s/checkout/payments/...)\n", base, base)
	fmt.Fprintf(w, "  Resurs After Shop %s%s  (WSDL: ?wsdl; also %s, %s)\n", base, resurssim.PathAfterShop, resurssim.PathSimplifiedShop, resurssim.PathConfiguration)
	fmt.Fprintf(w, "  Resurs MAPI       %s%s  widget %s  types %s\n", base, resurssim.PathToken, resurssim.PathWidgetSession, resurssim.PathWidgetTypes)
	fmt.Fprintf(w, "  Resurs checkout   %s%s?{paymentSessionId}  (Betala sen link: %s/web/later/{paymentSessionId})\n", base, resurssim.PathCheckoutPage, base)
	fmt.Fprintf(w, "  Resurs control    %s/sim/resurs/sessions/{id}/{complete,expire}  %s/sim/resurs/payments/{id}/{freeze,thaw}  %s/sim/resurs/clock/advance\n", base, base, base)
	fmt.Fprintf(w, "  Resurs account    web-service user %s password %s; MAPI client %s secret %s; store %s (number %s)\n",
		resurssim.TestUser, resurssim.TestPassword, resurssim.TestClientID, resurssim.TestClientSecret, resurssim.TestStoreID, resurssim.TestStoreNumber)
	fmt.Fprintf(w, "  Resurs test data  approved 198305147715, rejected 197211072793, frozen 198209123705, frozen->thawed 5 s 198001010001, inspection->approved 10 s 199105149612\n")
}
