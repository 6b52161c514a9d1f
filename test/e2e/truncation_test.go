package e2e

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/test/harness"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// soapProxy sits between posd and paysim and mangles SEQR answers the way
// Toxiproxy's slicer and limit_data do (reliability N6), which paysim's own
// faults cannot: the request always reaches paysim and runs there.
type soapProxy struct {
	t      *testing.T
	client *http.Client
	srv    *httptest.Server

	mu       sync.Mutex
	upstream string
	op       string // operation the rule applies to ("*": all)
	mode     string // "truncate": well-formed HTTP, XML cut in half; "cut": connection closed mid-body; "slice": 7-byte fragments
	count    int    // calls left (-1: no limit)
	fired    int
}

var soapOp = regexp.MustCompile(`<(?:[A-Za-z0-9_]+:)?(sendInvoice|getPaymentStatus|cancelInvoice|benchmarkingNop|submitPaymentReceipt|[A-Za-z]+)[\s>/]`)

func newSOAPProxy(t *testing.T) *soapProxy {
	p := &soapProxy{t: t, client: &http.Client{Timeout: 30 * time.Second}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *soapProxy) set(op, mode string, count int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.op, p.mode, p.count, p.fired = op, mode, count, 0
}

// setUpstream is guarded: the proxy's handler reads it on requests from
// posd, another process, whose ordering the race detector cannot see.
func (p *soapProxy) setUpstream(base string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.upstream = base
}

func (p *soapProxy) firedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fired
}

// operation is the first element in the SOAP Body.
func operation(body []byte) string {
	i := bytes.Index(body, []byte("Body"))
	if i < 0 {
		return ""
	}
	for _, m := range soapOp.FindAllSubmatch(body[i:], -1) {
		if name := string(m[1]); name != "Body" {
			return name
		}
	}
	return ""
}

func (p *soapProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	p.mu.Lock()
	upstream := p.upstream
	p.mu.Unlock()
	req, err := http.NewRequestWithContext(r.Context(), r.Method, upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}

	mode := ""
	p.mu.Lock()
	if p.mode != "" && p.count != 0 && (p.op == "*" || p.op == operation(body)) {
		mode = p.mode
		p.fired++
		if p.count > 0 {
			p.count--
		}
	}
	p.mu.Unlock()

	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	switch mode {
	case "truncate":
		half := out[:len(out)/2]
		w.Header().Set("Content-Length", strconv.Itoa(len(half)))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(half)
	case "cut":
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(out[:len(out)/2])
		_ = http.NewResponseController(w).Flush()
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
	case "slice":
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(resp.StatusCode)
		rc := http.NewResponseController(w)
		for i := 0; i < len(out); i += 7 {
			_, _ = w.Write(out[i:min(i+7, len(out))])
			_ = rc.Flush()
			time.Sleep(200 * time.Microsecond) // a slow link: separate TCP segments
		}
	default:
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(out)
	}
}

// TestN6TruncatedAndFragmented: SEQR answers cut short (a well-formed HTTP
// answer with half the XML, or the connection closed mid-body) give a
// parse or transport error, never a panic, and the sale stays open;
// fragmented answers parse as usual. A truncated sendInvoice answer after
// the invoice was created must not be taken for a refusal.
func TestN6TruncatedAndFragmented(t *testing.T) {
	proxy := newSOAPProxy(t)
	r := newRigVia(t, nil, func(base string) string { proxy.setUpstream(base); return proxy.srv.URL })
	alive := func(t *testing.T) {
		t.Helper()
		select {
		case <-r.posd.Exited():
			t.Fatalf("posd exited:\n%s", r.posd.Out.String())
		default:
		}
		assert.NotContains(t, r.posd.Out.String(), "panic")
	}

	t.Run("fragmented", func(t *testing.T) {
		r.t = t
		proxy.set("*", "slice", -1)
		defer proxy.set("", "", 0)
		p := r.payOnce()
		assert.Positive(t, proxy.firedCount())
		assert.NotEmpty(t, p.ERSReference)
		alive(t)
	})

	for _, mode := range []string{"truncate", "cut"} {
		t.Run(mode+" getPaymentStatus", func(t *testing.T) {
			r.t = t
			p, err := r.create()
			require.NoError(t, err)
			require.Equal(t, "polling", p.State)
			proxy.set("getPaymentStatus", mode, 3)
			defer proxy.set("", "", 0)
			q := r.waitFor(p.ID, 10*time.Second, "a poll error", func(p harness.PaymentDetail) bool { return p.Error != "" })
			t.Logf("%s: state %s, outageSince %v, error %q", mode, q.State, q.OutageSince != nil, q.Error)
			assert.Equal(t, "polling", q.State, "a mangled answer decides nothing")
			_, err = r.sim.Pay(r.ctx, p.InvoiceReference, "paid")
			require.NoError(t, err)
			q = r.waitFor(p.ID, 15*time.Second, "paid", func(p harness.PaymentDetail) bool { return p.State == "paid" })
			assert.Equal(t, 3, proxy.firedCount())
			inv, err := r.sim.Invoice(r.ctx, p.InvoiceReference)
			require.NoError(t, err)
			assert.Equal(t, inv.ERSReference, q.ERSReference)
			alive(t)
		})
	}

	for _, mode := range []string{"truncate", "cut"} {
		t.Run(mode+" sendInvoice", func(t *testing.T) {
			r.t = t
			before := len(r.calls("sendInvoice", ""))
			proxy.set("sendInvoice", mode, 1)
			defer proxy.set("", "", 0)
			p, err := r.create()
			require.NoError(t, err)
			t.Logf("%s: state %s, error %q", mode, p.State, p.Error)
			sent := r.calls("sendInvoice", "")
			require.Len(t, sent, before+1, "one sendInvoice")
			require.NotEmpty(t, sent[before].Reference, "the emulator created the invoice")
			assert.Equal(t, "unknown", p.State, "the invoice exists at SEQR: its outcome is unknown, not failed")
			assert.Empty(t, p.InvoiceReference)
			assert.True(t, strings.Contains(p.Error, "not confirmed, not charged"), p.Error)
			proxy.set("", "", 0)
			r.payOnce()
			assert.Len(t, r.calls("sendInvoice", ""), before+2)
			alive(t)
		})
	}
}
