// Command escposbench encodes the same receipt N times with posd's ESC/POS
// encoder and prints the rate, by wall clock and by the thread's own CPU
// time (the fair "one core" figure on a shared machine). bench/escpos-compare.sh
// runs it beside node-thermal-printer.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/receipt"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "escposbench:", err)
		os.Exit(1)
	}
}

func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD (Linux)
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run() error {
	n := flag.Int("n", 100000, "receipts to encode")
	path := flag.String("json", "bench/receipt20.json", "receipt document (JSON)")
	out := flag.String("out", "", "write one encoded receipt here (to compare bytes)")
	flag.Parse()
	b, err := os.ReadFile(*path)
	if err != nil {
		return err
	}
	var d receipt.Document
	if err := json.Unmarshal(b, &d); err != nil {
		return fmt.Errorf("decode %s: %w", *path, err)
	}
	cp, err := printer.ParseCodepage("cp858")
	if err != nil {
		return err
	}
	opts := printer.ReceiptOptions{Codepage: cp, Columns: 48, Location: receipt.Stockholm(), Confirm: true}
	runtime.GOMAXPROCS(1)
	runtime.LockOSThread()
	buf := make([]byte, 0, 8192)
	for i := 0; i < 1000; i++ { // warm up
		if buf, err = printer.EncodeDocument(buf[:0], d, opts); err != nil {
			return err
		}
	}
	if *out != "" {
		if err := os.WriteFile(*out, buf, 0o644); err != nil {
			return err
		}
	}
	cpu0, wall0 := threadCPU(), time.Now()
	for i := 0; i < *n; i++ {
		buf, _ = printer.EncodeDocument(buf[:0], d, opts)
	}
	wall, cpu := time.Since(wall0), threadCPU()-cpu0
	fmt.Printf("posd: %d receipts (%d bytes each) in %.3f s wall, %.3f s cpu\n", *n, len(buf), wall.Seconds(), cpu.Seconds())
	fmt.Printf("posd_rate_wall=%.0f\nposd_rate_cpu=%.0f\n", float64(*n)/wall.Seconds(), float64(*n)/cpu.Seconds())
	return nil
}
