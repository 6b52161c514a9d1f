// Command statebench measures posd itself at a till's lifetime of history
// (issue 9 item 1, issue 11 item 8): it builds a state directory holding N
// paid payments (bulk SQL inserts in one transaction, with their audit rows,
// and the matching receipt file series, one file per day), then runs the
// real posd binary on it and measures
//
//   - start-up: time from exec to READY=1 and peak RSS (VmHWM) at READY, for
//     a start after the first (the first one builds the receipt file's index);
//   - lists: peak RSS while 10 clients page through every stored payment
//     (GET /v1/payments, 500 a page, with different filters), and the
//     page latencies.
//
// Run it as:
//
//	go run ./bench/statebench                                # 1 000 000 payments
//	go run ./bench/statebench -payments 100000 -keep -dir D  # keep the state dir
//	go run ./bench/statebench -reuse -dir D                  # measure again on it
//
// The receipt file series is written by this command's own encoder (as
// bench/historybench does), independent of package receipt's.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/posd/posd/bench/internal/journalgen"
	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/test/harness"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "statebench:", err)
		os.Exit(1)
	}
}

type options struct {
	payments, perDay, clients, starts int
	listPages                         int
	dir                               string
	keep, reuse, dropWatermark        bool
	maxReady                          time.Duration
	maxStartRSS, maxListRSS           int64 // MB
}

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("statebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.payments, "payments", 1_000_000, "paid payments in the state dir")
	fs.IntVar(&o.perDay, "per-day", 550, "payments per day (one receipt file per day)")
	fs.IntVar(&o.clients, "clients", 10, "clients paging through the payments at once")
	fs.IntVar(&o.listPages, "list-pages", 0, "pages each client reads (0: every payment)")
	fs.IntVar(&o.starts, "starts", 3, "measured starts")
	fs.StringVar(&o.dir, "dir", "", "work directory (default: a new temporary one)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory")
	fs.BoolVar(&o.reuse, "reuse", false, "use the state dir a -keep run left in -dir (skip building it)")
	fs.BoolVar(&o.dropWatermark, "drop-watermark", false, "delete the journal watermark first: the first start is an upgraded till's (checks every payment)")
	fs.DurationVar(&o.maxReady, "max-ready", 200*time.Millisecond, "target: exec to READY")
	fs.Int64Var(&o.maxStartRSS, "max-start-rss-mb", 30, "target: peak RSS at READY, MB")
	fs.Int64Var(&o.maxListRSS, "max-list-rss-mb", 64, "target: peak RSS while the clients page, MB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "statebench-")
		if err != nil {
			return err
		}
		o.dir = d
	}
	if !o.keep {
		defer os.RemoveAll(o.dir)
	}
	ctx := context.Background()
	bin, err := harness.Build(ctx, filepath.Join(o.dir, "bin"))
	if err != nil {
		return err
	}
	sim, seqrURL, err := harness.StartPaysim(bin)
	if err != nil {
		return err
	}
	defer sim.Stop(5 * time.Second)
	state := filepath.Join(o.dir, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(state, "posd.db")); err != nil || !o.reuse {
		// A first start creates the database (every migration), token and files.
		p, _, err := harness.StartPosd(bin, state, seqrURL)
		if err != nil {
			return err
		}
		p.Stop(10 * time.Second)
		t0 := time.Now()
		if err := fill(filepath.Join(state, "posd.db"), filepath.Join(state, "receipts.journal"), o.payments, o.perDay); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "state dir with %d paid payments built in %v (%s)\n", o.payments, time.Since(t0).Round(time.Second), du(state))
	} else {
		fmt.Fprintf(stdout, "reusing the state dir in %s (%s)\n", state, du(state))
	}

	if o.dropWatermark {
		db, err := sql.Open("sqlite3", "file:"+filepath.Join(state, "posd.db"))
		if err != nil {
			return err
		}
		_, err = db.Exec("DELETE FROM journal_watermark")
		db.Close()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "watermark deleted: the first start checks every paid payment against the receipt file")
	}
	// The first start on this history builds the receipt file's index (and,
	// without a watermark, checks every paid payment and sets one).
	p, ready, err := harness.StartPosd(bin, state, seqrURL)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "first start:  READY in %v, peak RSS %.1f MB\n", ready.Round(time.Millisecond), mb(procKB(p, "VmHWM")))
	p.Stop(10 * time.Second)

	var readies []time.Duration
	var peaks []int64
	for i := range o.starts {
		p, ready, err := harness.StartPosd(bin, state, seqrURL)
		if err != nil {
			return err
		}
		peak := procKB(p, "VmHWM")
		readies, peaks = append(readies, ready), append(peaks, peak)
		fmt.Fprintf(stdout, "start %d:      READY in %v, peak RSS %.1f MB\n", i+1, ready.Round(time.Millisecond), mb(peak))
		if i < o.starts-1 {
			p.Stop(10 * time.Second)
			continue
		}
		// The last start stays up for the list bench.
		listPeak, err := listBench(ctx, stdout, p, state, o)
		p.Stop(10 * time.Second)
		if err != nil {
			return err
		}
		slices.Sort(readies)
		slices.Sort(peaks)
		medReady, maxPeak := readies[len(readies)/2], peaks[len(peaks)-1]
		fmt.Fprintf(stdout, "targets: READY <= %v (median %v), start peak RSS <= %d MB (max %.1f MB), list peak RSS < %d MB (%.1f MB)\n",
			o.maxReady, medReady.Round(time.Millisecond), o.maxStartRSS, mb(maxPeak), o.maxListRSS, mb(listPeak))
		if medReady > o.maxReady || maxPeak > o.maxStartRSS*1024 || listPeak >= o.maxListRSS*1024 {
			return fmt.Errorf("over target")
		}
	}
	if o.keep {
		fmt.Fprintln(stdout, "kept", o.dir)
	}
	return nil
}

// listBench runs the clients and samples posd's RSS; it returns the peak (KiB).
func listBench(ctx context.Context, stdout io.Writer, p *harness.Proc, state string, o options) (int64, error) {
	// Reset the peak so it measures the listing, not the start.
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.Cmd.Process.Pid), []byte("5"), 0)
	base := procKB(p, "VmRSS")
	var peak atomic.Int64
	peak.Store(base)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if kb := procKB(p, "VmRSS"); kb > peak.Load() {
					peak.Store(kb)
				}
			}
		}
	}()
	filters := []string{"", "state=paid", "provider=seqr", "order=desc", "from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lat []time.Duration
	listed := make([]int, o.clients)
	errs := make(chan error, o.clients)
	start := time.Now()
	for c := range o.clients {
		wg.Go(func() {
			api, err := harness.NewAPI(state)
			if err != nil {
				errs <- err
				return
			}
			filter := filters[c%len(filters)]
			cursor := ""
			for page := 0; o.listPages == 0 || page < o.listPages; page++ {
				q := "limit=500"
				if filter != "" {
					q += "&" + filter
				}
				if cursor != "" {
					q += "&cursor=" + url.QueryEscape(cursor)
				}
				var resp struct {
					Payments []json.RawMessage `json:"payments"`
					Next     string            `json:"next"`
				}
				t := time.Now()
				if err := api.Do(ctx, "GET", "/v1/payments?"+q, nil, nil, &resp); err != nil {
					errs <- fmt.Errorf("client %d page %d: %w", c, page, err)
					return
				}
				d := time.Since(t)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				listed[c] += len(resp.Payments)
				if resp.Next == "" {
					break
				}
				cursor = resp.Next
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(stop)
	<-sampled
	close(errs)
	for err := range errs {
		return 0, err
	}
	if kb := procKB(p, "VmHWM"); kb > peak.Load() {
		peak.Store(kb)
	}
	slices.Sort(lat)
	total := 0
	for _, n := range listed {
		total += n
	}
	fmt.Fprintf(stdout, "lists: %d clients listed %d payments in %d pages in %v (RSS before %.1f MB, peak %.1f MB); page latency p50 %v p99 %v max %v; per client %v\n",
		o.clients, total, len(lat), took.Round(time.Millisecond), mb(base), mb(peak.Load()),
		lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond), listed)
	return peak.Load(), nil
}

func procKB(p *harness.Proc, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

func du(dir string) string {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return fmt.Sprintf("%.0f MB on disk", float64(n)/1e6)
}

const timeLayout = "2006-01-02T15:04:05.000000000Z" // internal/store's

// fill writes n paid payments with their audit rows into the database in one
// transaction, then the receipt file series with their posts, and the
// journal watermark a previous posd run would have left.
func fill(dbPath, journal string, n, perDay int) error {
	days := (n + perDay - 1) / perDay
	first := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -days)
	db, err := sql.Open("sqlite3", "file:"+dbPath+"?_foreign_keys=on&_journal_mode=WAL")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins, err := tx.Prepare(`INSERT INTO payments (id, idempotency_key, request_hash, provider, method, state, amount, currency,
		receipt_total, balancing, sale_id, cashier_id, title, rows_json, session_ref, transaction_ref, method_name, poll_window,
		progress, poll_count, paid_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, 'paid', ?, 'SEK', ?, 'none', ?, 'bob', 'Kaffebaren', ?, ?, ?, ?, 1, 1, 3, ?, ?, ?)`)
	if err != nil {
		return err
	}
	aud, err := tx.Prepare(`INSERT INTO audit (payment_id, provider, actor, event, from_state, to_state, outcome, session_ref,
		transaction_ref, origin, detail, at) VALUES (?, ?, 'posd', ?, ?, ?, 'success', ?, ?, 'api', '', ?)`)
	if err != nil {
		return err
	}
	for seq := int64(1); seq <= int64(n); seq++ {
		prov, ref := journalgen.RefOf(seq)
		at := journalgen.PaidAt(seq, perDay, first)
		created, paid := at.Add(-20*time.Second).Format(timeLayout), at.Format(timeLayout)
		amount := 100 + seq%50000
		rows := fmt.Sprintf(`[{"description":"Kaffe och kanelbulle","quantity":"1","unitPrice":"%s","totalAmount":"%s","taxRate":"12","ean":"7310865004703"}]`,
			money.Amount(amount), money.Amount(amount))
		id := journalgen.PaymentID(seq)
		sess := fmt.Sprintf("INV-%025d", seq)
		if _, err := ins.Exec(id, "key-"+id, "hash-"+id, prov, prov, amount, amount, fmt.Sprintf("S-%d", seq), rows,
			sess, ref, strings.ToUpper(prov), paid, created, paid); err != nil {
			return fmt.Errorf("payment %d: %w", seq, err)
		}
		if _, err := aud.Exec(id, prov, "create", "", "created", "", "", created); err != nil {
			return err
		}
		if _, err := aud.Exec(id, prov, "paid", "polling", "paid", sess, ref, paid); err != nil {
			return err
		}
	}
	var top int64
	if err := tx.QueryRow("SELECT MAX(id) FROM audit").Scan(&top); err != nil {
		return err
	}
	_, lastRef := journalgen.RefOf(int64(n))
	if _, err := tx.Exec(`INSERT INTO journal_watermark (id, audit_id, journal_seq, journal_ref, at) VALUES (1, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET audit_id = excluded.audit_id, journal_seq = excluded.journal_seq, journal_ref = excluded.journal_ref`,
		top, n, lastRef, time.Now().UTC().Format(timeLayout)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return err
	}
	// The first start wrote an empty file 1; the series replaces it.
	old, _ := filepath.Glob(journal + "*")
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	_, _, err = journalgen.WriteSeries(journal, n, perDay, first)
	return err
}
