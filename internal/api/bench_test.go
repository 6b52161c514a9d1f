package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkStatus measures GET /v1/status through the whole middleware
// stack (Host, origin, token, body limit, mux, JSON) and the real
// register's Status (its SQLite reads), without the network.
func BenchmarkStatus(b *testing.B) {
	s, err := New(Config{Token: testToken}, newSpy(b))
	if err != nil {
		b.Fatal(err)
	}
	h := s.handler(false, make(chan struct{}))
	req := httptest.NewRequest("GET", "http://127.0.0.1:8420/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

func BenchmarkStatusParallel(b *testing.B) {
	s, err := New(Config{Token: testToken}, newSpy(b))
	if err != nil {
		b.Fatal(err)
	}
	h := s.handler(false, make(chan struct{}))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "http://127.0.0.1:8420/v1/status", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}

// BenchmarkStatusLoopback is the same over a real loopback connection
// (keep-alive), the path a front end takes.
func BenchmarkStatusLoopback(b *testing.B) {
	ts := startServer(b, newSpy(b), nil)
	req, _ := http.NewRequest("GET", ts.base+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := ts.client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
