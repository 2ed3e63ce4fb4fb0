package target

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// discardWriter is a ResponseWriter that keeps one header map, as net/http's
// own response does per request, so allocations counted are the handler's.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkHandler measures the handler alone with cost 0: what the worker
// adds to every request on top of net/http.
func BenchmarkHandler(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
		path string
	}{
		{"cpu", Config{Workload: WorkloadCPU, Index: 1}, "/"},
		{"cpu/concurrency=1", Config{Workload: WorkloadCPU, Index: 1, Concurrency: 1}, "/"},
		{"sleep", Config{Workload: WorkloadSleep, Index: 1}, "/"},
		{"healthz", Config{Workload: WorkloadCPU, Index: 1}, HealthPath},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h, err := Handler(bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, bc.path, nil)
			w := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkServeLoopback measures one keep-alive request over loopback
// through net/http, client included: the full per-request price of a worker
// with cost 0, of which BenchmarkHandler is the worker's own share.
func BenchmarkServeLoopback(b *testing.B) {
	h, err := Handler(Config{Workload: WorkloadCPU, Index: 1, Concurrency: 1})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := srv.Client()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
