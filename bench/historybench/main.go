// Command historybench measures the receipt file at scale (issue 11 item 8):
// it writes a rotated series of N posts (a till's years of sales, one file
// per day), then, each in a fresh process so that RSS is the journal's own,
// opens it for the first time (which builds the index of sealed files), opens
// it again as every later start does, and verifies it. It prints the time
// and resident memory of each step, plus the cost of Has and Posts on old
// history, and fails when a normal open exceeds the targets.
//
//	go run ./bench/historybench                          # 1 000 000 posts, 550 a day
//	go run ./bench/historybench -posts 100000 -keep      # keep the directory to look at
//
// The series is written by this command's own encoder, independent of
// package receipt's, so a format drift between the two fails verification.
// It builds no SQLite state dir: posd's start-up time at this scale also
// depends on the register's re-append scan, which is measured elsewhere.
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/posd/posd/bench/internal/journalgen"
	"github.com/posd/posd/internal/receipt"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "historybench:", err)
		os.Exit(1)
	}
}

type options struct {
	posts, perDay int
	dir           string
	keep          bool
	maxOpen       time.Duration
	maxRSS        int64 // KiB
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "-child" {
		return child(args[1:], stdout)
	}
	var o options
	fs := flag.NewFlagSet("historybench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.posts, "posts", 1_000_000, "posts in the series")
	fs.IntVar(&o.perDay, "per-day", 550, "posts per day (one file per day)")
	fs.StringVar(&o.dir, "dir", "", "directory for the series (default: a new temporary one)")
	fs.BoolVar(&o.keep, "keep", false, "keep the directory")
	fs.DurationVar(&o.maxOpen, "max-open", 200*time.Millisecond, "target: time of a normal open")
	fs.Int64Var(&o.maxRSS, "max-rss-mb", 30, "target: peak RSS of a process that opened the journal, MB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.posts < 1 || o.perDay < 1 {
		return fmt.Errorf("-posts and -per-day must be 1 or more")
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "historybench-")
		if err != nil {
			return err
		}
		o.dir = d
	}
	if !o.keep {
		defer os.RemoveAll(o.dir)
	}
	path := filepath.Join(o.dir, "receipts.journal")

	start := time.Now()
	files, bytes, err := journalgen.WriteSeries(path, o.posts, o.perDay,
		journalgen.First(o.posts, o.perDay, time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d posts in %d files (%.1f MB) in %v\n", o.posts, files, float64(bytes)/1e6, time.Since(start).Round(time.Millisecond))

	var normal childResult
	for _, step := range []string{"first-open", "open", "open", "verify"} {
		r, err := runChild(step, path)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, r.line)
		if step == "open" {
			normal = r
		}
	}
	fmt.Fprintf(stdout, "targets: open <= %v, peak RSS <= %d MB\n", o.maxOpen, o.maxRSS)
	if normal.took > o.maxOpen || normal.peakKB > o.maxRSS*1024 {
		return fmt.Errorf("open took %v with peak RSS %d KB: over target", normal.took, normal.peakKB)
	}
	if o.keep {
		fmt.Fprintln(stdout, "kept", o.dir)
	}
	return nil
}

type childResult struct {
	line   string
	took   time.Duration
	peakKB int64
}

// runChild runs one step in a fresh process and parses its one-line report
// (the last two fields are the step's time in ns and its peak RSS in KiB).
func runChild(step, path string) (childResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return childResult{}, err
	}
	cmd := exec.Command(exe, "-child", step, path)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return childResult{}, fmt.Errorf("%s: %w", step, err)
	}
	line := strings.TrimSpace(string(out))
	f := strings.Fields(line)
	if len(f) < 2 {
		return childResult{}, fmt.Errorf("%s: unexpected report %q", step, line)
	}
	ns, err1 := strconv.ParseInt(f[len(f)-2], 10, 64)
	kb, err2 := strconv.ParseInt(f[len(f)-1], 10, 64)
	if err1 != nil || err2 != nil {
		return childResult{}, fmt.Errorf("%s: unexpected report %q", step, line)
	}
	return childResult{line: strings.Join(f[:len(f)-2], " "), took: time.Duration(ns), peakKB: kb}, nil
}

// child runs one measured step and prints "<report> <ns> <peak KiB>".
func child(args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return fmt.Errorf("child: want step and path")
	}
	step, path := args[0], args[1]
	// The series' last day is "now", so opening starts no new file.
	now := func() time.Time { return time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC) }
	switch step {
	case "verify":
		start := time.Now()
		n, err := receipt.Verify(path)
		took := time.Since(start)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "verify:      %8v  %d posts  peak RSS %5.1f MB  %d %d\n", took.Round(time.Millisecond), n, mb(peakKB()), took, peakKB())
		return nil
	case "first-open", "open":
		start := time.Now()
		j, rec, err := receipt.OpenJournal(path, now)
		took := time.Since(start)
		if err != nil {
			return err
		}
		defer j.Close()
		openPeak := peakKB()
		rssAfterOpen := rssKB()
		// Old history: Has on random references of sealed files, and one page of posts.
		last := j.LastSeq()
		rng := rand.New(rand.NewPCG(1, 2))
		const lookups = 2000
		hs := time.Now()
		for range lookups {
			seq := 1 + rng.Int64N(last)
			prov, ref := journalgen.RefOf(seq)
			if !j.Has(prov, ref) {
				return fmt.Errorf("Has(%s, %s) = false for seq %d", prov, ref, seq)
			}
		}
		hasEach := time.Since(hs) / lookups
		ms := time.Now()
		if j.Has("seqr", "no-such-reference") {
			return fmt.Errorf("Has of an absent reference = true")
		}
		missTook := time.Since(ms)
		ps := time.Now()
		posts, err := j.Posts(last/2, 100)
		if err != nil || len(posts) != 100 || posts[0].Seq != last/2+1 {
			return fmt.Errorf("Posts(%d, 100): %d posts, %v", last/2, len(posts), err)
		}
		pageTook := time.Since(ps)
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		fmt.Fprintf(stdout, "%-12s %8v  %d posts, %d sealed files indexed at open  RSS after open %5.1f MB (peak %5.1f MB), heap %4.1f MB | Has (hit, old) %v each, miss %v, Posts page of 100 in the middle %v  %d %d\n",
			step+":", took.Round(100*time.Microsecond), rec.ValidPosts, rec.Indexed, mb(rssAfterOpen), mb(openPeak), float64(m.HeapAlloc)/1e6,
			hasEach.Round(100*time.Nanosecond), missTook.Round(100*time.Nanosecond), pageTook.Round(10*time.Microsecond), took, openPeak)
		return nil
	}
	return fmt.Errorf("child: unknown step %q", step)
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

// procStatusKB reads a "Vm...:  N kB" line of /proc/self/status.
func procStatusKB(key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
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

func peakKB() int64 { return procStatusKB("VmHWM") }
func rssKB() int64  { return procStatusKB("VmRSS") }
