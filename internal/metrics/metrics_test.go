package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func text(t *testing.T, r *Registry) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, r.WriteText(&b))
	return b.String()
}

// posdRegistry registers the metrics posd exposes, as cmd/posd will.
func posdRegistry() (*Registry, *Counter, *Histogram, *Gauge, *Counter) {
	r := NewRegistry()
	payments := r.Counter("posd_payments_total", "Payments that reached a final state, by method and state.", "method", "state")
	poll := r.Histogram("posd_poll_duration_seconds", "Round trip of one getPaymentStatus call.", []float64{0.05, 0.1, 0.25, 0.5, 1})
	reachable := r.Gauge("posd_provider_reachable", "1 if the provider answered the last probe, else 0.", "provider")
	appends := r.Counter("posd_journal_appends_total", "Transaction posts appended to the receipt file.")
	r.GaugeFunc("posd_outbox_backlog", "Outbox calls waiting to succeed.", func() float64 { return 3 })
	r.GaugeFunc("posd_print_queue_length", "Receipts waiting to print.", func() float64 { return 0 })
	return r, payments, poll, reachable, appends
}

func TestWriteTextPosdMetrics(t *testing.T) {
	r, payments, poll, reachable, appends := posdRegistry()
	payments.Inc("seqr", "paid")
	payments.Inc("seqr", "paid")
	payments.Inc("seqr", "canceled")
	payments.Add(5, "resurs", "failed")
	for _, d := range []time.Duration{30 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond, 2 * time.Second} {
		poll.ObserveDuration(d)
	}
	reachable.Set(1, "seqr")
	reachable.Set(0, "payson")
	appends.Inc()

	want := `# HELP posd_journal_appends_total Transaction posts appended to the receipt file.
# TYPE posd_journal_appends_total counter
posd_journal_appends_total 1
# HELP posd_outbox_backlog Outbox calls waiting to succeed.
# TYPE posd_outbox_backlog gauge
posd_outbox_backlog 3
# HELP posd_payments_total Payments that reached a final state, by method and state.
# TYPE posd_payments_total counter
posd_payments_total{method="resurs",state="failed"} 5
posd_payments_total{method="seqr",state="canceled"} 1
posd_payments_total{method="seqr",state="paid"} 2
# HELP posd_poll_duration_seconds Round trip of one getPaymentStatus call.
# TYPE posd_poll_duration_seconds histogram
posd_poll_duration_seconds_bucket{le="0.05"} 2
posd_poll_duration_seconds_bucket{le="0.1"} 2
posd_poll_duration_seconds_bucket{le="0.25"} 3
posd_poll_duration_seconds_bucket{le="0.5"} 3
posd_poll_duration_seconds_bucket{le="1"} 3
posd_poll_duration_seconds_bucket{le="+Inf"} 4
posd_poll_duration_seconds_sum 2.2800000000000002
posd_poll_duration_seconds_count 4
# HELP posd_print_queue_length Receipts waiting to print.
# TYPE posd_print_queue_length gauge
posd_print_queue_length 0
# HELP posd_provider_reachable 1 if the provider answered the last probe, else 0.
# TYPE posd_provider_reachable gauge
posd_provider_reachable{provider="payson"} 0
posd_provider_reachable{provider="seqr"} 1
`
	got := text(t, r)
	assert.Equal(t, want, got)
	requireParses(t, got)
}

func TestWriteTextEdgeCases(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *Registry)
		want  string
	}{
		{"empty registry", func(*Registry) {}, ""},
		{"labelled family without series is left out", func(r *Registry) { r.Counter("a_total", "A.", "x") }, ""},
		{"unlabelled metrics start at zero", func(r *Registry) {
			r.Counter("c_total", "C.")
			r.Gauge("g", "G.")
			r.Histogram("h", "H.", []float64{1})
		}, "# HELP c_total C.\n# TYPE c_total counter\nc_total 0\n" +
			"# HELP g G.\n# TYPE g gauge\ng 0\n" +
			"# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n"},
		{"escaping", func(r *Registry) {
			c := r.Counter("e_total", "Help with \\ backslash\nand newline \"quoted\".", "v")
			c.Inc("a\\b")
			c.Inc("say \"hi\"\nbye")
			c.Inc("bad \xff utf8")
		}, "# HELP e_total Help with \\\\ backslash\\nand newline \"quoted\".\n# TYPE e_total counter\n" +
			"e_total{v=\"a\\\\b\"} 1\n" +
			"e_total{v=\"bad \uFFFD utf8\"} 1\n" +
			"e_total{v=\"say \\\"hi\\\"\\nbye\"} 1\n"},
		{"gauge values", func(r *Registry) {
			g := r.Gauge("g", "G.", "k")
			g.Set(math.Inf(1), "a")
			g.Set(math.Inf(-1), "b")
			g.Set(math.NaN(), "c")
			g.Set(0.25, "d")
			g.Set(1.5e6, "e")
			g.Set(1e20, "f")
			g.Set(-3, "g")
			g.Add(2, "h")
			g.Add(-0.5, "h")
		}, "# HELP g G.\n# TYPE g gauge\n" +
			"g{k=\"a\"} +Inf\ng{k=\"b\"} -Inf\ng{k=\"c\"} NaN\ng{k=\"d\"} 0.25\ng{k=\"e\"} 1500000\ng{k=\"f\"} 1e+20\ng{k=\"g\"} -3\ng{k=\"h\"} 1.5\n"},
		{"labelled histogram, le last, boundary value counted in its bucket", func(r *Registry) {
			h := r.Histogram("rt_seconds", "RT.", []float64{0.5, 1}, "provider")
			h.Observe(1, "seqr")
			h.Observe(0.5, "seqr")
			h.Observe(7, "payson")
		}, "# HELP rt_seconds RT.\n# TYPE rt_seconds histogram\n" +
			"rt_seconds_bucket{provider=\"payson\",le=\"0.5\"} 0\nrt_seconds_bucket{provider=\"payson\",le=\"1\"} 0\nrt_seconds_bucket{provider=\"payson\",le=\"+Inf\"} 1\n" +
			"rt_seconds_sum{provider=\"payson\"} 7\nrt_seconds_count{provider=\"payson\"} 1\n" +
			"rt_seconds_bucket{provider=\"seqr\",le=\"0.5\"} 1\nrt_seconds_bucket{provider=\"seqr\",le=\"1\"} 2\nrt_seconds_bucket{provider=\"seqr\",le=\"+Inf\"} 2\n" +
			"rt_seconds_sum{provider=\"seqr\"} 1.5\nrt_seconds_count{provider=\"seqr\"} 2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			tt.setup(r)
			got := text(t, r)
			assert.Equal(t, tt.want, got)
			requireParses(t, got)
		})
	}
}

func TestRegistrationPanics(t *testing.T) {
	tests := []struct {
		name string
		fn   func(r *Registry)
	}{
		{"bad metric name", func(r *Registry) { r.Counter("1abc", "x") }},
		{"dash in name", func(r *Registry) { r.Gauge("a-b", "x") }},
		{"bad label name", func(r *Registry) { r.Counter("a_total", "x", "a:b") }},
		{"reserved label name", func(r *Registry) { r.Counter("a_total", "x", "__name") }},
		{"repeated label", func(r *Registry) { r.Counter("a_total", "x", "m", "m") }},
		{"le on a histogram", func(r *Registry) { r.Histogram("h", "x", []float64{1}, "le") }},
		{"duplicate name", func(r *Registry) { r.Counter("a_total", "x"); r.Gauge("a_total", "y") }},
		{"unsorted buckets", func(r *Registry) { r.Histogram("h", "x", []float64{1, 0.5}) }},
		{"infinite bucket", func(r *Registry) { r.Histogram("h", "x", []float64{1, math.Inf(1)}) }},
		{"no buckets", func(r *Registry) { r.Histogram("h", "x", nil) }},
		{"nil gauge func", func(r *Registry) { r.GaugeFunc("g", "x", nil) }},
		{"wrong label count", func(r *Registry) { r.Counter("a_total", "x", "m").Inc() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Panics(t, func() { tt.fn(NewRegistry()) })
		})
	}
}

func TestValueDoesNotCreateSeries(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("a_total", "A.", "m")
	g := r.Gauge("g", "G.", "m")
	assert.Zero(t, c.Value("x"))
	assert.Zero(t, g.Value("x"))
	assert.Empty(t, text(t, r))
	c.Add(3, "x")
	assert.Equal(t, uint64(3), c.Value("x"))
}

func TestBuckets(t *testing.T) {
	assert.Equal(t, []float64{0.01, 0.02, 0.04, 0.08}, ExponentialBuckets(0.01, 2, 4))
	assert.Panics(t, func() { ExponentialBuckets(0, 2, 3) })
	b := DefaultBuckets()
	b[0] = 99 // a fresh slice each time
	assert.Equal(t, 0.005, DefaultBuckets()[0])
}

func TestConcurrentUpdates(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("c_total", "C.", "w")
	g := r.Gauge("g", "G.")
	h := r.Histogram("h", "H.", []float64{1, 2})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				c.Inc(strconv.Itoa(w % 2))
				g.Add(1)
				h.Observe(float64(i % 3))
			}
		})
		wg.Go(func() { assert.NoError(t, r.WriteText(io.Discard)) })
	}
	wg.Wait()
	assert.Equal(t, uint64(4000), c.Value("0"))
	assert.Equal(t, uint64(4000), c.Value("1"))
	assert.Equal(t, 8000.0, g.Value())
	got := text(t, r)
	assert.Contains(t, got, "h_count 8000\n")
	assert.Contains(t, got, "h_bucket{le=\"+Inf\"} 8000\n")
	requireParses(t, got)
}

func TestHandler(t *testing.T) {
	r, payments, _, _, _ := posdRegistry()
	payments.Inc("seqr", "paid")
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, text(t, r), string(body))
	assert.Contains(t, string(body), `posd_payments_total{method="seqr",state="paid"} 1`)

	resp, err = http.Post(srv.URL, "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
}

var (
	sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$`)
	labelRE  = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)`)
)

// requireParses reads text back with the rules of the 0.0.4 format: HELP and
// TYPE once per family and before its samples, families not interleaved,
// well-formed labels and values, histogram buckets cumulative with +Inf
// equal to _count.
func requireParses(t *testing.T, text string) {
	t.Helper()
	types := map[string]string{}
	done := map[string]bool{}
	current := ""
	lastBucket := map[string]float64{}
	infCount := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		where := fmt.Sprintf("line %d %q", n, line)
		if strings.HasPrefix(line, "# ") {
			f := strings.SplitN(line, " ", 4)
			require.Len(t, f, 4, where)
			require.Contains(t, []string{"HELP", "TYPE"}, f[1], where)
			if f[1] == "TYPE" {
				require.NotContains(t, types, f[2], where)
				require.Contains(t, []string{"counter", "gauge", "histogram"}, f[3], where)
				types[f[2]] = f[3]
				require.False(t, done[f[2]], where)
				if current != "" {
					done[current] = true
				}
				current = f[2]
			}
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		require.NotNil(t, m, where)
		name, labels, value := m[1], m[3], m[4]
		family := name
		if types[current] == "histogram" {
			family = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		}
		require.Equal(t, current, family, "sample outside its family: "+where)
		if value != "+Inf" && value != "-Inf" && value != "NaN" {
			_, err := strconv.ParseFloat(value, 64)
			require.NoError(t, err, where)
		}
		le, rest := "", labels
		var series []string
		for rest != "" {
			lm := labelRE.FindStringSubmatch(rest)
			require.NotNil(t, lm, where)
			if lm[1] == "le" {
				le = lm[2]
			} else {
				series = append(series, lm[1]+"="+lm[2]+";")
			}
			rest = rest[len(lm[0]):]
		}
		key := current + "{" + strings.Join(series, "") + "}"
		switch {
		case strings.HasSuffix(name, "_bucket") && types[current] == "histogram":
			require.NotEmpty(t, le, where)
			v, err := strconv.ParseFloat(value, 64)
			require.NoError(t, err, where)
			require.GreaterOrEqual(t, v, lastBucket[key], "buckets not cumulative: "+where)
			lastBucket[key] = v
			if le == "+Inf" {
				infCount[key] = value
			}
		case strings.HasSuffix(name, "_count") && types[current] == "histogram":
			require.Equal(t, infCount[key], value, "+Inf bucket differs from _count: "+where)
		}
	}
	require.NoError(t, sc.Err())
	if text != "" {
		require.True(t, strings.HasSuffix(text, "\n"))
	}
}

func BenchmarkCounterInc(b *testing.B) {
	r := NewRegistry()
	c := r.Counter("posd_payments_total", "P.", "method", "state")
	for b.Loop() {
		c.Inc("seqr", "paid")
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	r := NewRegistry()
	h := r.Histogram("posd_poll_duration_seconds", "P.", DefaultBuckets())
	for b.Loop() {
		h.Observe(0.042)
	}
}

func BenchmarkWriteText(b *testing.B) {
	r, payments, poll, reachable, appends := posdRegistry()
	for _, s := range []string{"paid", "canceled", "failed", "unknown"} {
		payments.Inc("seqr", s)
	}
	poll.Observe(0.1)
	reachable.Set(1, "seqr")
	appends.Inc()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.WriteText(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
