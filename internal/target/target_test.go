package target

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/testserver"
)

// processCPU is the user+system CPU time of this test process so far.
func processCPU(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// newServer serves Handler(cfg) on loopback for the test's lifetime.
func newServer(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	h, err := Handler(cfg)
	if err != nil {
		t.Fatalf("Handler(%+v): %v", cfg, err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// get fetches url with c and returns the response with its body read.
func get(t testing.TB, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp, string(body)
}

// Not parallel: it measures the CPU time of the whole process, and parallel
// tests only start once the sequential ones are done.
func TestHandler_CPUBurnsCost(t *testing.T) {
	const (
		cost = 5 * time.Millisecond
		n    = 20
	)
	srv := newServer(t, Config{Workload: WorkloadCPU, Cost: cost, Concurrency: 1})
	c := srv.Client()
	get(t, c, srv.URL+"/warm") // connection set up outside the measurement

	before := processCPU(t)
	for range n {
		if resp, _ := get(t, c, srv.URL+"/"); resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200", resp.StatusCode)
		}
	}
	used := processCPU(t) - before

	want := n * cost
	t.Logf("%d requests of %s: %s CPU (%.2f×); calibration %s", n, cost, used, float64(used)/float64(want), Calibrate())
	if lo, hi := want/2, want*3; used < lo || used > hi {
		t.Errorf("process CPU for %d requests of %s = %s, want within [%s, %s]", n, cost, used, lo, hi)
	}
}

// Not parallel, like TestHandler_CPUBurnsCost.
func TestHandler_HealthzDoesNoWork(t *testing.T) {
	const cost = 20 * time.Millisecond
	srv := newServer(t, Config{Workload: WorkloadCPU, Cost: cost, Index: 1})
	c := srv.Client()
	get(t, c, srv.URL+HealthPath)

	before := processCPU(t)
	for range 10 {
		resp, body := get(t, c, srv.URL+HealthPath)
		if resp.StatusCode != http.StatusOK || body != "ok\n" {
			t.Fatalf("GET %s = %d %q, want 200 \"ok\\n\"", HealthPath, resp.StatusCode, body)
		}
	}
	// Ten requests that each did the workload would use 10 × cost; all ten
	// together must stay under half of one.
	if used := processCPU(t) - before; used > cost/2 {
		t.Errorf("process CPU for 10 health checks = %s, want < %s (no work)", used, cost/2)
	}
}

func TestHandler_Concurrency(t *testing.T) {
	t.Parallel()
	const (
		cost = 30 * time.Millisecond
		n    = 4
	)
	for _, tc := range []struct {
		name        string
		concurrency int
		min, max    time.Duration // max 0: no upper bound
	}{
		// happy: one at a time, 4 requests queue behind each other
		{"one", 1, n * cost, 0},
		// two slots: at least two rounds
		{"two", 2, n / 2 * cost, 0},
		// unlimited: all four overlap, well under the serial 4 × cost
		{"unlimited", 0, cost, 3 * cost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, Config{Workload: WorkloadSleep, Cost: cost, Concurrency: tc.concurrency})
			c := srv.Client()

			start := make(chan struct{})
			errs := make(chan error, n)
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					resp, err := c.Get(srv.URL + "/")
					if err != nil {
						errs <- err
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						errs <- errors.New(resp.Status)
					}
				}()
			}
			t0 := time.Now()
			close(start)
			wg.Wait()
			elapsed := time.Since(t0)
			close(errs)
			for err := range errs {
				t.Fatalf("request: %v", err)
			}
			t.Logf("%d requests of %s with concurrency %d: %s", n, cost, tc.concurrency, elapsed)
			if elapsed < tc.min {
				t.Errorf("elapsed = %s, want ≥ %s", elapsed, tc.min)
			}
			if tc.max > 0 && elapsed >= tc.max {
				t.Errorf("elapsed = %s, want < %s (requests should overlap)", elapsed, tc.max)
			}
		})
	}
}

func TestHandler_QueuedRequestGivesUp(t *testing.T) {
	t.Parallel()
	h, err := Handler(Config{Workload: WorkloadSleep, Cost: time.Hour, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	h.(*handler).sem <- struct{}{} // the only slot is busy

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))

	// A request that had waited for the slot would have slept an hour.
	if got, want := rec.Code, http.StatusServiceUnavailable; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	if got, want := len(h.(*handler).sem), 1; got != want {
		t.Errorf("slots taken = %d, want %d (the give-up must not release a slot it never took)", got, want)
	}
}

func TestHandler_Response(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{Workload: WorkloadSleep, Index: 3})
	want := "3/" + strconv.Itoa(os.Getpid())
	for _, path := range []string{"/", "/any/path?q=1", HealthPath} {
		resp, body := get(t, srv.Client(), srv.URL+path)
		if got := resp.StatusCode; got != http.StatusOK {
			t.Errorf("GET %s: status = %d, want 200", path, got)
		}
		if got := resp.Header.Get(WorkerHeader); got != want {
			t.Errorf("GET %s: %s = %q, want %q", path, WorkerHeader, got, want)
		}
		if got := resp.Header.Get("Content-Length"); got != "3" {
			t.Errorf("GET %s: Content-Length = %q, want \"3\"", path, got)
		}
		if body != "ok\n" {
			t.Errorf("GET %s: body = %q, want \"ok\\n\"", path, body)
		}
	}
}

func TestHandler_Config(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string // "" = valid
	}{
		// happy
		{"zero value is cpu, no cost", Config{}, ""},
		{"sleep", Config{Workload: "sleep", Cost: time.Millisecond, Concurrency: 4}, ""},
		// sad
		{"session, memory store", Config{Workload: "session"}, ""},
		{"unknown workload", Config{Workload: "nope"}, `workload: unknown workload "nope" (known: cpu, sleep, session)`},
		{"unknown store", Config{Workload: "session", Store: "disk"}, `store: unknown store "disk" (known: memory, redis)`},
		{"redis not on loopback", Config{Workload: "session", Store: "redis", RedisAddr: "10.1.2.3:6379"}, "redis addr: \"10.1.2.3:6379\" is not a loopback address"},
		{"redis addr without port", Config{Workload: "session", Store: "redis", RedisAddr: "127.0.0.1"}, "redis addr: address 127.0.0.1: missing port"},
		{"negative session ttl", Config{Workload: "session", SessionTTL: -time.Second}, "session ttl: must not be negative"},
		{"negative cost", Config{Cost: -time.Millisecond}, "cost: must not be negative"},
		{"negative concurrency", Config{Concurrency: -1}, "concurrency: must not be negative"},
		{"negative threads", Config{Threads: -1}, "threads: must not be negative"},
		{"negative index", Config{Index: -1}, "index: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Handler(tc.cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Handler: %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Handler: %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := Handler(Config{Workload: "nope"}); !errors.Is(err, ErrUnknownWorkload) {
		t.Errorf("Handler(unknown workload) = %v, want errors.Is ErrUnknownWorkload", err)
	}
}

// Not parallel: Run changes GOMAXPROCS for the whole process.
func TestRun_StopsOnCancel(t *testing.T) {
	addr := testserver.FreeAddr(t)
	procs := runtime.GOMAXPROCS(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Config{Workload: WorkloadCPU, Cost: time.Millisecond, Index: 2, Addr: addr}) }()

	c := &http.Client{Timeout: time.Second}
	defer c.CloseIdleConnections()
	url := "http://" + addr + HealthPath
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if got, want := resp.Header.Get(WorkerHeader), "2/"+strconv.Itoa(os.Getpid()); got != want {
				t.Errorf("%s = %q, want %q", WorkerHeader, got, want)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: not up after 5s: %v", url, err)
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond) // poll interval, not synchronisation
	}
	if got := runtime.GOMAXPROCS(0); got != DefaultThreads {
		t.Errorf("GOMAXPROCS while running = %d, want %d", got, DefaultThreads)
	}
	if resp, _ := get(t, c, "http://"+addr+"/"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /: status = %d, want 200", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(DefaultShutdownTimeout + 5*time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Errorf("GOMAXPROCS after Run = %d, want it restored to %d", got, procs)
	}
	// The port is free again: the listener really closed.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s after Run: %v", addr, err)
	}
	ln.Close()
}

// Not parallel: Run changes GOMAXPROCS for the whole process.
func TestRun_Errors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	err = Run(ctx, Config{Workload: WorkloadSleep, Addr: addr})
	if err == nil || !strings.Contains(err.Error(), addr) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Run on busy %s = %v, want EADDRINUSE naming the address", addr, err)
	}
	if err := Run(ctx, Config{Workload: WorkloadSleep}); err == nil || !strings.Contains(err.Error(), "addr") {
		t.Errorf("Run with empty addr = %v, want error naming addr", err)
	}
	if err := Run(ctx, Config{Workload: "nope", Addr: testserver.FreeAddr(t)}); !errors.Is(err, ErrUnknownWorkload) {
		t.Errorf("Run with unknown workload = %v, want ErrUnknownWorkload", err)
	}
}

func TestSlowdownFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec  string
		index int
		want  float64
		bad   bool
	}{
		{"", 1, 1, false},
		{"1=3", 1, 3, false},
		{"1=3", 2, 1, false},
		{"1=3, 4=1.5", 4, 1.5, false},
		{"1=0", 1, 0, true}, // sad: a factor must be > 0
		{"x=2", 1, 0, true}, // sad: not an index
		{"1:3", 1, 0, true}, // sad: not index=factor
		{"0=2", 1, 0, true}, // sad: indexes start at 1
	} {
		got, err := SlowdownFor(tc.spec, tc.index)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("SlowdownFor(%q, %d) = %v, %v; want %v (error %v)", tc.spec, tc.index, got, err, tc.want, tc.bad)
		}
	}
}

func TestHandler_slowdownMultipliesCost(t *testing.T) {
	t.Parallel()
	cfg := Config{Workload: WorkloadSleep, Cost: 10 * time.Millisecond, Slowdown: 3}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Cost, 30*time.Millisecond; got != want {
		t.Errorf("cost = %v, want %v", got, want)
	}
}
