package balancer

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/testserver"
)

// healthLog records the HealthEvents of a Balancer.
type healthLog struct {
	mu     sync.Mutex
	events []HealthEvent
}

func (l *healthLog) record(e HealthEvent) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *healthLog) all() []HealthEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]HealthEvent(nil), l.events...)
}

func TestHealth_RetryOnDeadBackend(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		srv1, srv2 := backend(t, 1, ok), backend(t, 2, ok)
		var log healthLog
		b := New(addrs(srv1, srv2), nil, WithEngine(e), WithOnHealth(log.record))
		url := serve(t, b)
		c := client(t)
		// Both backends get pooled keep-alive connections first, so the
		// crash also leaves dead ones in the pool.
		for range 4 {
			if resp, body := get(t, c, "GET", url+"/", nil); resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("before the crash: %d %q", resp.StatusCode, body)
			}
		}
		srv1.Close() // the worker dies: its port refuses connections
		for i := range 10 {
			method := "GET"
			if i%2 == 1 {
				method = "HEAD"
			}
			resp, _ := get(t, c, method, url+"/", nil)
			if resp.StatusCode != 200 || resp.Header.Get("X-Worker") != "2" {
				t.Fatalf("%s %d after the crash: status %d from worker %q, want 200 from worker 2",
					method, i, resp.StatusCode, resp.Header.Get("X-Worker"))
			}
		}
		be1 := b.Backends()[0]
		if be1.Healthy() {
			t.Error("dead backend 1 still healthy")
		}
		if got := b.Retries(); got == 0 || got != be1.Retries() {
			t.Errorf("Retries() = %d, backend 1 Retries() = %d; want equal and > 0", got, be1.Retries())
		}
		if got := b.Ejections(); got != 1 || be1.Ejections() != 1 {
			t.Errorf("Ejections() = %d, backend 1 Ejections() = %d; want 1 and 1", got, be1.Ejections())
		}
		evs := log.all()
		if len(evs) != 1 || evs[0].Index != 1 || evs[0].Healthy || !evs[0].Passive ||
			!strings.HasPrefix(evs[0].Reason, "passive: ") || !strings.Contains(evs[0].Reason, "refused") {
			t.Errorf("health events = %+v, want one passive ejection of backend 1 naming the refused connection", evs)
		}
		for _, be := range b.Backends() {
			if got := be.InFlight(); got != 0 {
				t.Errorf("backend %d InFlight() = %d after all responses, want 0", be.Index, got)
			}
		}
	})
}

func TestHealth_PostNotRetried(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		srv2 := backend(t, 2, ok)
		b := New([]string{testserver.FreeAddr(t), addrs(srv2)[0]}, new(RoundRobin), WithEngine(e))
		url := serve(t, b)
		c := client(t)
		// Round-robin starts with backend 1: the POST meets the dead one.
		resp, body := get(t, c, "POST", url+"/", strings.NewReader("order=1"))
		if resp.StatusCode != http.StatusBadGateway || !strings.HasPrefix(body, "bad gateway: ") {
			t.Errorf("POST to a dead backend: %d %q, want 502 bad gateway", resp.StatusCode, body)
		}
		if got := b.Retries(); got != 0 {
			t.Errorf("Retries() = %d after a POST, want 0: a POST is never sent twice", got)
		}
		if b.Backends()[0].Healthy() {
			t.Error("dead backend 1 still healthy: a failed POST ejects it too")
		}
		// Ejected, it is not chosen again.
		for i := range 3 {
			if resp, body := get(t, c, "POST", url+"/", strings.NewReader("order=2")); resp.StatusCode != 200 || body != "ok" {
				t.Errorf("POST %d after the ejection: %d %q, want 200 ok", i, resp.StatusCode, body)
			}
		}
	})
}

// TestHealth_DroppedConnection: a backend that accepts connections but
// closes them without answering (a handler that crashes the connection) is
// alive, so it stays in; a GET it drops is retried, a POST is not.
func TestHealth_DroppedConnection(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		srv1 := backend(t, 1, func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.(*net.TCPConn).SetLinger(0) // a reset, as a crash with unread bytes gives
				conn.Close()
			}
		})
		srv2 := backend(t, 2, ok)
		b := New(addrs(srv1, srv2), new(RoundRobin), WithEngine(e))
		url := serve(t, b)
		c := client(t)
		for i := range 4 {
			resp, body := get(t, c, "GET", url+"/", nil)
			if resp.StatusCode != 200 || body != "ok" {
				t.Errorf("GET %d: %d %q, want 200 ok from worker 2", i, resp.StatusCode, body)
			}
		}
		be1 := b.Backends()[0]
		if !be1.Healthy() {
			t.Error("backend 1 ejected, but it accepts connections")
		}
		if got := b.Retries(); got == 0 {
			t.Error("Retries() = 0, want the GETs backend 1 dropped retried")
		}
		codes := map[int]int{}
		for range 2 {
			resp, _ := get(t, c, "POST", url+"/", strings.NewReader("x"))
			codes[resp.StatusCode]++
		}
		if codes[http.StatusBadGateway] != 1 || codes[200] != 1 {
			t.Errorf("two POSTs, one per backend: status counts %v, want one 502 and one 200", codes)
		}
	})
}

// hangable is a backend that stops answering while hung, as a SIGSTOPped
// worker does: connections are accepted, requests wait.
type hangable struct {
	srv     *httptest.Server
	mu      sync.Mutex
	release chan struct{} // nil: answering
}

func newHangable(t *testing.T, index int) *hangable {
	h := &hangable{}
	h.srv = backend(t, index, func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		release := h.release
		h.mu.Unlock()
		if release != nil {
			<-release // ignores the request's context, as a stopped process would
		}
		ok(w, r)
	})
	// Registered after backend's Close, so it runs first: Close waits for
	// the handlers.
	t.Cleanup(h.resume)
	return h
}

func (h *hangable) hang() {
	h.mu.Lock()
	if h.release == nil {
		h.release = make(chan struct{})
	}
	h.mu.Unlock()
}

func (h *hangable) resume() {
	h.mu.Lock()
	if h.release != nil {
		close(h.release)
		h.release = nil
	}
	h.mu.Unlock()
}

func TestHealth_ActiveEjectsHungBackend(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		const interval, timeout = 50 * time.Millisecond, 200 * time.Millisecond
		h1 := newHangable(t, 1)
		srv2 := backend(t, 2, ok)
		var log healthLog
		b := New(addrs(h1.srv, srv2), nil, WithEngine(e),
			WithHealthCheck("/healthz", interval, timeout), WithOnHealth(log.record))
		url := serve(t, b)
		be1 := b.Backends()[0]

		hungAt := time.Now()
		h1.hang()
		if !poll(func() bool { return !be1.Healthy() }) {
			t.Fatal("hung backend 1 not ejected within 5 s")
		}
		// Ejection needs at most one interval to the next probe plus its
		// timeout; logged, not asserted: the machine is shared.
		t.Logf("hung backend ejected after %v (interval %v + timeout %v)", time.Since(hungAt).Round(time.Millisecond), interval, timeout)

		c := client(t)
		for i := range 4 {
			resp, _ := get(t, c, "GET", url+"/", nil)
			if got := resp.Header.Get("X-Worker"); resp.StatusCode != 200 || got != "2" {
				t.Errorf("GET %d while backend 1 hangs: %d from worker %q, want 200 from 2", i, resp.StatusCode, got)
			}
		}

		h1.resume()
		if !poll(func() bool { return be1.Healthy() }) {
			t.Fatal("backend 1 not readmitted within 5 s of answering again")
		}
		seen := map[string]bool{}
		for range 4 {
			resp, _ := get(t, c, "GET", url+"/", nil)
			seen[resp.Header.Get("X-Worker")] = true
		}
		if !seen["1"] || !seen["2"] {
			t.Errorf("workers answering after readmission: %v, want 1 and 2", seen)
		}

		evs := log.all()
		if len(evs) != 2 {
			t.Fatalf("health events = %v, want an ejection and a readmission", evs)
		}
		down, up := evs[0], evs[1]
		if down.Index != 1 || down.Healthy || down.Passive || !strings.Contains(down.Reason, "no answer within "+timeout.String()) {
			t.Errorf("ejection event = %+v, want backend 1 down, active, no answer within %v", down, timeout)
		}
		if up.Index != 1 || !up.Healthy || up.Reason != "active: GET /healthz 200" || up.Downtime <= 0 || !up.Time.After(down.Time) {
			t.Errorf("readmission event = %+v, want backend 1 up after a downtime, active: GET /healthz 200", up)
		}
		if got := b.Ejections(); got != 1 {
			t.Errorf("Ejections() = %d, want 1", got)
		}
	})
}

// restartable is a backend that can die and come back on the same port, as
// a supervised worker does.
func restartable(t *testing.T, index int) (addr string, kill, start func()) {
	t.Helper()
	var srv *httptest.Server
	start = func() {
		t.Helper()
		srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Worker", "1")
			ok(w, r)
		}))
		if addr != "" {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("listening again on %s: %v", addr, err)
			}
			srv.Listener.Close()
			srv.Listener = ln
		}
		srv.Start()
		addr = srv.Listener.Addr().String()
	}
	start()
	t.Cleanup(func() { srv.Close() })
	return addr, func() { srv.Close() }, start
}

func TestHealth_ReadmitAfterRestart(t *testing.T) {
	for _, active := range []bool{false, true} {
		name := "passive only"
		if active {
			name = "active"
		}
		t.Run(name, func(t *testing.T) {
			forEngine(t, func(t *testing.T, e Engine) {
				addr, kill, start := restartable(t, 1)
				srv2 := backend(t, 2, ok)
				var log healthLog
				opts := []Option{WithEngine(e), WithOnHealth(log.record)}
				if active {
					opts = append(opts, WithHealthCheck("/", 20*time.Millisecond, time.Second))
				}
				b := New([]string{addr, addrs(srv2)[0]}, nil, opts...)
				url := serve(t, b)
				c := client(t)
				be1 := b.Backends()[0]

				kill()
				// Requests find it dead (or the probe does first).
				for range 4 {
					if resp, _ := get(t, c, "GET", url+"/", nil); resp.StatusCode != 200 {
						t.Fatalf("GET while backend 1 is down: %d", resp.StatusCode)
					}
				}
				if !poll(func() bool { return !be1.Healthy() }) {
					t.Fatal("killed backend 1 not ejected")
				}
				start()
				if !poll(func() bool { return be1.Healthy() }) {
					t.Fatal("restarted backend 1 not readmitted")
				}
				evs := log.all()
				if len(evs) != 2 || evs[0].Healthy || !evs[1].Healthy || evs[1].Index != 1 {
					t.Fatalf("health events = %v, want backend 1 down then up", evs)
				}
				wantReason := "probe: accepts connections"
				if active {
					wantReason = "active: GET / 200"
				}
				if evs[1].Reason != wantReason {
					t.Errorf("readmission reason = %q, want %q", evs[1].Reason, wantReason)
				}
			})
		})
	}
}

// TestHealth_ProbesStop: the probe loop runs while any Serve does, and a
// backend set down by hand stays down without active checks.
func TestHealth_ProbesStop(t *testing.T) {
	srv := backend(t, 1, ok)
	b := New(addrs(srv), nil, WithHealthCheck("/", 10*time.Millisecond, time.Second))
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	if _, err := b.Serve(ctx1, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Serve(ctx2, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	be := b.Backends()[0]
	cancel1()
	// The second Serve still runs: the probes still readmit.
	be.SetHealthy(false)
	if !poll(be.Healthy) {
		t.Fatal("active check did not readmit a healthy backend while a Serve runs")
	}
	cancel2()
	waitOrFail(t, b) // Wait covers the probe loop and its probes

	passive := New(addrs(srv), nil)
	url := serve(t, passive)
	passive.Backends()[0].SetHealthy(false)
	if resp, _ := get(t, client(t), "GET", url+"/", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("backend set down by hand: status %d, want 503", resp.StatusCode)
	}
}
