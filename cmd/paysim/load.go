package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/internal/simctl"
	"golang.org/x/sync/errgroup"
)

type loadConfig struct {
	tills    int
	duration time.Duration
	interval time.Duration
	url      string
	maxP99   time.Duration
}

func parseLoad(args []string, stderr io.Writer) (loadConfig, error) {
	var c loadConfig
	fs := flag.NewFlagSet("paysim load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.tills, "tills", 500, "number of tills, each with one invoice polled once per interval")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "how long the tills poll")
	fs.DurationVar(&c.interval, "interval", time.Second, "poll period of each till (ticker)")
	fs.StringVar(&c.url, "url", "", "base URL of a running paysim (default: start one in-process on 127.0.0.1:0)")
	fs.DurationVar(&c.maxP99, "max-p99", 20*time.Millisecond, "fail when the p99 latency is above this (0: never)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.tills < 1 || c.tills > 100_000:
		return c, fmt.Errorf("--tills %d: must be between 1 and 100000", c.tills)
	case c.duration <= 0:
		return c, fmt.Errorf("--duration %s: must be positive", c.duration)
	case c.interval <= 0:
		return c, fmt.Errorf("--interval %s: must be positive", c.interval)
	}
	c.url = strings.TrimRight(c.url, "/")
	return c, nil
}

// loadStats is what one till measured.
type loadStats struct {
	lat    []time.Duration
	errors int
	first  error
}

// runLoad is the store-wide load benchmark of issue 2: N tills registered
// over SOAP, each sending one invoice and then polling getPaymentStatus on a
// 1 s ticker for the duration, over real loopback HTTP with one shared client.
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseLoad(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	base := cfg.url
	where := base
	var served chan error
	if base == "" {
		em := newEmulators(seqrsim.Options{})
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		base = "http://" + ln.Addr().String()
		where = base + " (in-process emulator)"
		served = make(chan error, 1)
		srv := newServer(em.handler)
		go func() { served <- serve(ctx, srv, ln) }()
		defer func() {
			cancel()
			<-served
		}()
	}
	endpoint := base + seqrsim.PathCashRegister2
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        cfg.tills + 16,
			MaxIdleConnsPerHost: cfg.tills + 16,
			IdleConnTimeout:     time.Minute,
		},
	}
	defer client.CloseIdleConnections()

	fmt.Fprintf(stdout, "paysim load: %d tills x %s, poll every %s, against %s\n", cfg.tills, cfg.duration, cfg.interval, where)
	ids := make([]string, cfg.tills)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range ids {
		g.Go(func() error {
			body, err := soapCall(gctx, client, endpoint, registerXML(i))
			if err != nil {
				return fmt.Errorf("register till %d: %w", i, err)
			}
			id := terminalIDRe.FindSubmatch(body)
			if id == nil {
				return fmt.Errorf("register till %d: no terminalId in %.200s", i, body)
			}
			ids[i] = string(id[1])
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}

	stats := make([]loadStats, cfg.tills)
	start := time.Now()
	deadline := start.Add(cfg.duration)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			// Spread the tills over one interval, as real tills are not in phase.
			offset := time.Duration(int64(cfg.interval) * int64(i) / int64(cfg.tills))
			stats[i] = runTill(ctx, client, endpoint, ids[i], start.Add(offset), deadline, cfg.interval)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	var all []time.Duration
	errs := 0
	var first error
	for _, s := range stats {
		all = append(all, s.lat...)
		errs += s.errors
		if first == nil {
			first = s.first
		}
	}
	if len(all) == 0 {
		return errors.New("no calls completed")
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(float64(len(all))*p))] }
	p99 := pct(0.99)
	fmt.Fprintf(stdout, "calls: %d in %s (%.0f/s)  errors: %d\n", len(all), elapsed.Round(time.Millisecond), float64(len(all))/elapsed.Seconds(), errs)
	fmt.Fprintf(stdout, "latency: p50=%s p90=%s p99=%s max=%s\n", fmtDur(pct(0.50)), fmtDur(pct(0.90)), fmtDur(p99), fmtDur(all[len(all)-1]))
	if server, err := serverLatencies(ctx, client, base, ids); err != nil {
		fmt.Fprintf(stdout, "server-side: unavailable (%v)\n", err)
	} else if len(server) > 0 {
		// The emulator's own handling time, from its call log: what is left
		// of the client-side numbers once network and scheduling are removed.
		spct := func(p float64) time.Duration { return server[min(len(server)-1, int(float64(len(server))*p))] }
		fmt.Fprintf(stdout, "server-side handling (call log): p50=%s p99=%s max=%s\n", fmtDur(spct(0.50)), fmtDur(spct(0.99)), fmtDur(server[len(server)-1]))
	}
	if errs > 0 {
		return fmt.Errorf("%d calls failed; first: %w", errs, first)
	}
	if cfg.maxP99 > 0 && p99 > cfg.maxP99 {
		return fmt.Errorf("p99 %s above --max-p99 %s", fmtDur(p99), cfg.maxP99)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// serverLatencies reads the emulator's call log and returns the sorted
// handling durations of the calls made by the given tills.
func serverLatencies(ctx context.Context, client *http.Client, base string, ids []string) ([]time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/sim/calls?service="+seqrsim.Service, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /sim/calls: HTTP %d", resp.StatusCode)
	}
	var calls simctl.CallsResponse
	if err := json.NewDecoder(resp.Body).Decode(&calls); err != nil {
		return nil, fmt.Errorf("decode /sim/calls: %w", err)
	}
	mine := make(map[string]bool, len(ids))
	for _, id := range ids {
		mine[id] = true
	}
	var out []time.Duration
	for _, c := range calls.Calls {
		if mine[c.PrincipalID] && c.Operation != "registerTerminal" {
			out = append(out, c.Duration)
		}
	}
	slices.Sort(out)
	return out, nil
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}

// runTill sends one invoice at begin and then polls it every interval until deadline.
func runTill(ctx context.Context, client *http.Client, endpoint, id string, begin, deadline time.Time, interval time.Duration) loadStats {
	var st loadStats
	record := func(d time.Duration, err error) {
		if err != nil {
			st.errors++
			if st.first == nil {
				st.first = err
			}
			return
		}
		st.lat = append(st.lat, d)
	}
	if !waitUntil(ctx, begin) {
		return st
	}
	t0 := time.Now()
	body, err := soapCall(ctx, client, endpoint, sendInvoiceXML(id))
	record(time.Since(t0), err)
	if err != nil {
		return st
	}
	m := invoiceRefRe.FindSubmatch(body)
	if m == nil {
		record(0, fmt.Errorf("till %s: no invoiceReference in %.200s", id, body))
		return st
	}
	poll := getStatusXML(id, string(m[1]))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return st
		case now := <-tick.C:
			if now.After(deadline) {
				return st
			}
			t0 := time.Now()
			_, err := soapCall(ctx, client, endpoint, poll)
			record(time.Since(t0), err)
		}
	}
}

func waitUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

var (
	terminalIDRe = regexp.MustCompile(`<terminalId>([^<]+)</terminalId>`)
	invoiceRefRe = regexp.MustCompile(`<invoiceReference>([^<]+)</invoiceReference>`)
)

const resultOK = `<resultCode>0</resultCode>`

// soapCall posts one envelope; anything but HTTP 200 with resultCode 0 is an error.
func soapCall(ctx context.Context, client *http.Client, url, envelope string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(envelope))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=UTF-8")
	req.Header.Set("SOAPAction", `""`)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, body)
	}
	if !bytes.Contains(body, []byte(resultOK)) {
		return body, fmt.Errorf("result not 0: %.200s", body)
	}
	return body, nil
}

const (
	loadEnvOpen  = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ext="http://external.interfaces.ers.seamless.com/"><soapenv:Body>`
	loadEnvClose = `</soapenv:Body></soapenv:Envelope>`
	loadTillPass = "loadtest-password-1"
)

func loadContext(typ, id, userID, password string) string {
	s := `<context><channel>WS</channel><clientId>paysim load</clientId><clientReference>paysim-load</clientReference><clientRequestTimeout>0</clientRequestTimeout><initiatorPrincipalId><id>` +
		id + `</id><type>` + typ + `</type>`
	if userID != "" {
		s += `<userId>` + userID + `</userId>`
	}
	return s + `</initiatorPrincipalId><password>` + password + `</password></context>`
}

func registerXML(i int) string {
	return loadEnvOpen + `<ext:registerTerminal>` +
		loadContext("RESELLERUSER", seqrsim.TestResellerID, seqrsim.TestResellerUserID, seqrsim.TestResellerPassword) +
		fmt.Sprintf(`<externalTerminalId>Load/Till %d</externalTerminalId><password>%s</password><name>Load till %d</name>`, i, loadTillPass, i) +
		`</ext:registerTerminal>` + loadEnvClose
}

func sendInvoiceXML(id string) string {
	return loadEnvOpen + `<ext:sendInvoice>` + loadContext("TERMINALID", id, "", loadTillPass) +
		`<invoice><paymentMode>IMMEDIATE_DEBIT</paymentMode><acknowledgmentMode>NO_ACKNOWLEDGMENT</acknowledgmentMode>` +
		`<title>Load</title><invoiceRows><invoiceRow><itemDescription>Item</itemDescription><itemQuantity>1</itemQuantity>` +
		`<itemTotalAmount><currency>SEK</currency><value>10.00</value></itemTotalAmount></invoiceRow></invoiceRows>` +
		`<totalAmount><currency>SEK</currency><value>10.00</value></totalAmount><cashierId>load</cashierId></invoice>` +
		`</ext:sendInvoice>` + loadEnvClose
}

func getStatusXML(id, ref string) string {
	return loadEnvOpen + `<ext:getPaymentStatus>` + loadContext("TERMINALID", id, "", loadTillPass) +
		`<invoiceReference>` + ref + `</invoiceReference><invoiceVersion>1</invoiceVersion></ext:getPaymentStatus>` + loadEnvClose
}
