// Package metrics is a small, dependency-free metrics registry that serves
// the Prometheus text exposition format (version 0.0.4). posd needs a
// handful of counters, gauges and one histogram on GET /metrics; the
// Prometheus client library is not among our modules, and this is all of it
// we use.
//
// There is no default registry: cmd/posd makes one with NewRegistry and
// hands the metrics to the components that update them. Registering a bad or
// duplicate name, or passing the wrong number of label values, is a
// programming error and panics, as regexp.MustCompile does; everything else
// is safe for concurrent use.
package metrics

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Registry holds metric families and writes them out. Safe for concurrent use.
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{families: make(map[string]*family)}
}

type kind int

const (
	kindCounter kind = iota
	kindGauge
	kindGaugeFunc
	kindHistogram
)

func (k kind) String() string {
	switch k {
	case kindCounter:
		return "counter"
	case kindHistogram:
		return "histogram"
	default:
		return "gauge"
	}
}

// family is one metric name with its help, type, label names and children
// (one per combination of label values seen).
type family struct {
	name    string
	help    string
	kind    kind
	labels  []string
	buckets []float64      // histogram upper bounds, strictly increasing, without +Inf
	fn      func() float64 // gauge func

	mu       sync.RWMutex
	children map[string]*child
}

// child is one time series: a family and a tuple of label values.
type child struct {
	values []string
	bits   atomic.Uint64 // counter: the count; gauge: math.Float64bits of the value

	hmu    sync.Mutex // histogram fields below
	counts []uint64   // per bucket, not cumulative; the last is +Inf
	sum    float64
	count  uint64
}

func (r *Registry) register(f *family) *family {
	if !validName(f.name, true) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", f.name))
	}
	seen := map[string]bool{}
	for _, l := range f.labels {
		if !validName(l, false) || strings.HasPrefix(l, "__") || seen[l] || (f.kind == kindHistogram && l == "le") {
			panic(fmt.Sprintf("metrics: %s: invalid or repeated label name %q", f.name, l))
		}
		seen[l] = true
	}
	f.children = make(map[string]*child)
	if len(f.labels) == 0 && f.kind != kindGaugeFunc {
		f.child(nil) // a metric without labels is exposed from the start, at zero
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.families[f.name]; dup {
		panic(fmt.Sprintf("metrics: %s registered twice", f.name))
	}
	r.families[f.name] = f
	return f
}

// validName checks the metric (colons allowed) or label name grammar.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (colon && c == ':') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// child returns the series for these label values, creating it on first use.
func (f *family) child(values []string) *child {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values (%s), got %d", f.name, len(f.labels), strings.Join(f.labels, ", "), len(values)))
	}
	key := seriesKey(values)
	f.mu.RLock()
	c := f.children[key]
	f.mu.RUnlock()
	if c != nil {
		return c
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c = f.children[key]; c == nil {
		c = &child{values: slices.Clone(values)}
		if f.kind == kindHistogram {
			c.counts = make([]uint64, len(f.buckets)+1)
		}
		f.children[key] = c
	}
	return c
}

// lookup returns the series for these label values, or nil if never touched.
func (f *family) lookup(values []string) *child {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values (%s), got %d", f.name, len(f.labels), strings.Join(f.labels, ", "), len(values)))
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.children[seriesKey(values)]
}

// seriesKey joins label values unambiguously (length-prefixed).
func seriesKey(values []string) string {
	var b strings.Builder
	for _, v := range values {
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
	}
	return b.String()
}

// Counter counts events; it only goes up. Its values are integers.
type Counter struct{ f *family }

// Counter registers a counter. By convention its name ends in _total.
func (r *Registry) Counter(name, help string, labelNames ...string) *Counter {
	return &Counter{r.register(&family{name: name, help: help, kind: kindCounter, labels: slices.Clone(labelNames)})}
}

// Inc adds one to the series with these label values.
func (c *Counter) Inc(labelValues ...string) { c.f.child(labelValues).bits.Add(1) }

// Add adds n to the series with these label values.
func (c *Counter) Add(n uint64, labelValues ...string) { c.f.child(labelValues).bits.Add(n) }

// Value returns the current count of a series (0 if never touched).
func (c *Counter) Value(labelValues ...string) uint64 {
	if s := c.f.lookup(labelValues); s != nil {
		return s.bits.Load()
	}
	return 0
}

// Gauge is a value that goes up and down.
type Gauge struct{ f *family }

// Gauge registers a gauge.
func (r *Registry) Gauge(name, help string, labelNames ...string) *Gauge {
	return &Gauge{r.register(&family{name: name, help: help, kind: kindGauge, labels: slices.Clone(labelNames)})}
}

// Set sets the series with these label values to v.
func (g *Gauge) Set(v float64, labelValues ...string) {
	g.f.child(labelValues).bits.Store(math.Float64bits(v))
}

// Add adds delta (which may be negative) to the series.
func (g *Gauge) Add(delta float64, labelValues ...string) {
	b := &g.f.child(labelValues).bits
	for {
		old := b.Load()
		if b.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+delta)) {
			return
		}
	}
}

// Value returns the current value of a series (0 if never set).
func (g *Gauge) Value(labelValues ...string) float64 {
	if s := g.f.lookup(labelValues); s != nil {
		return math.Float64frombits(s.bits.Load())
	}
	return 0
}

// GaugeFunc registers a gauge without labels whose value is fn's result at
// each scrape (a queue length, a backlog count). fn must be safe to call from
// any goroutine and should be quick; it is called without the registry's lock.
func (r *Registry) GaugeFunc(name, help string, fn func() float64) {
	if fn == nil {
		panic(fmt.Sprintf("metrics: %s: nil gauge func", name))
	}
	r.register(&family{name: name, help: help, kind: kindGaugeFunc, fn: fn})
}

// Histogram counts observations in fixed buckets and keeps their sum and count.
type Histogram struct{ f *family }

// Histogram registers a histogram with these bucket upper bounds (strictly
// increasing, finite; the +Inf bucket is implicit).
func (r *Registry) Histogram(name, help string, buckets []float64, labelNames ...string) *Histogram {
	if len(buckets) == 0 {
		panic(fmt.Sprintf("metrics: %s: no buckets", name))
	}
	for i, b := range buckets {
		if math.IsNaN(b) || math.IsInf(b, 0) || (i > 0 && b <= buckets[i-1]) {
			panic(fmt.Sprintf("metrics: %s: buckets must be finite and strictly increasing: %v", name, buckets))
		}
	}
	return &Histogram{r.register(&family{name: name, help: help, kind: kindHistogram,
		labels: slices.Clone(labelNames), buckets: slices.Clone(buckets)})}
}

// Observe records one value in the series with these label values.
func (h *Histogram) Observe(v float64, labelValues ...string) {
	c := h.f.child(labelValues)
	i := sort.SearchFloat64s(h.f.buckets, v) // first bucket with v <= bound; len: +Inf
	c.hmu.Lock()
	c.counts[i]++
	c.sum += v
	c.count++
	c.hmu.Unlock()
}

// ObserveDuration records d in seconds, the Prometheus base unit.
func (h *Histogram) ObserveDuration(d time.Duration, labelValues ...string) {
	h.Observe(d.Seconds(), labelValues...)
}

// DefaultBuckets returns bucket bounds in seconds for network round trips,
// from 5 ms to 10 s.
func DefaultBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}

// ExponentialBuckets returns n bounds starting at start, each factor times the last.
func ExponentialBuckets(start, factor float64, n int) []float64 {
	if start <= 0 || factor <= 1 || n < 1 {
		panic(fmt.Sprintf("metrics: ExponentialBuckets(%v, %v, %d): want start > 0, factor > 1, n >= 1", start, factor, n))
	}
	b := make([]float64, n)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

// WriteText writes every family, sorted by name, in the Prometheus text
// exposition format 0.0.4. Series are sorted by their label values. A family
// with labels that has no series yet is left out, as the Prometheus client does.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	fams := make([]*family, 0, len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })

	bw := bufio.NewWriter(w)
	for _, f := range fams {
		f.write(bw)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}

func (f *family) write(w *bufio.Writer) {
	var series []*child
	if f.kind != kindGaugeFunc {
		f.mu.RLock()
		for _, c := range f.children {
			series = append(series, c)
		}
		f.mu.RUnlock()
		if len(series) == 0 {
			return
		}
		slices.SortFunc(series, func(a, b *child) int { return slices.Compare(a.values, b.values) })
	}
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.kind)
	switch f.kind {
	case kindGaugeFunc:
		writeSample(w, f.name, nil, nil, "", "", f.fn())
	case kindCounter:
		for _, c := range series {
			writeSample(w, f.name, f.labels, c.values, "", "", float64(c.bits.Load()))
		}
	case kindGauge:
		for _, c := range series {
			writeSample(w, f.name, f.labels, c.values, "", "", math.Float64frombits(c.bits.Load()))
		}
	case kindHistogram:
		for _, c := range series {
			c.hmu.Lock()
			counts, sum, count := slices.Clone(c.counts), c.sum, c.count
			c.hmu.Unlock()
			var cum uint64
			for i, n := range counts {
				cum += n
				le := "+Inf"
				if i < len(f.buckets) {
					le = formatFloat(f.buckets[i])
				}
				writeSample(w, f.name+"_bucket", f.labels, c.values, "le", le, float64(cum))
			}
			writeSample(w, f.name+"_sum", f.labels, c.values, "", "", sum)
			writeSample(w, f.name+"_count", f.labels, c.values, "", "", float64(count))
		}
	}
}

// writeSample writes `name{l1="v1",...,extra="extraValue"} value`.
func writeSample(w *bufio.Writer, name string, labels, values []string, extra, extraValue string, v float64) {
	w.WriteString(name)
	if len(labels) > 0 || extra != "" {
		w.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(l)
			w.WriteString(`="`)
			w.WriteString(escapeLabelValue(values[i]))
			w.WriteByte('"')
		}
		if extra != "" {
			if len(labels) > 0 {
				w.WriteByte(',')
			}
			w.WriteString(extra)
			w.WriteString(`="`)
			w.WriteString(extraValue)
			w.WriteByte('"')
		}
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	w.WriteString(formatFloat(v))
	w.WriteByte('\n')
}

// formatFloat renders a sample value: integers plainly ("3", "1500000"),
// others in Go's shortest form, and the specials as Prometheus spells them.
func formatFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
}

// escapeHelp escapes backslash and newline, as the format requires in HELP.
func escapeHelp(s string) string { return escape(s, false) }

// escapeLabelValue escapes backslash, double quote and newline.
func escapeLabelValue(s string) string { return escape(s, true) }

func escape(s string, quote bool) string {
	s = toValidUTF8(s)
	if !strings.ContainsAny(s, "\\\n\"") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// toValidUTF8 keeps the output valid UTF-8 whatever a label value holds.
func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// Handler serves the registry in the text format on GET and HEAD.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// Render first, so a scrape never sees half a page with a 200.
		var buf bytes.Buffer
		if err := r.WriteText(&buf); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		if req.Method == http.MethodGet {
			w.Write(buf.Bytes())
		}
	})
}
