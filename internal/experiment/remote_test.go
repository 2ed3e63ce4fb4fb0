package experiment

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/scaling"
	"github.com/bench-dev/bench/internal/scenario"
)

// pathCounter is a loopback server that counts requests by path and answers them at once.
type pathCounter struct {
	mu    sync.Mutex
	paths map[string]int
}

func (p *pathCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.paths[r.URL.RequestURI()]++
	p.mu.Unlock()
	fmt.Fprintln(w, "ok")
}

func (p *pathCounter) count(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paths[path]
}

// target.url: a running server is measured as it is, with a capacity search and nothing
// started: the load goes straight to the URL (its path and query), after the ready path.
func TestRun_targetURL(t *testing.T) {
	t.Parallel()
	pc := &pathCounter{paths: map[string]int{}}
	srv := httptest.NewServer(pc)
	t.Cleanup(srv.Close)
	sc, err := scenario.Parse("test.yaml", []byte(fmt.Sprintf(`
target:
  url: %s/api?x=1
  ready_path: /healthz
load:
  search: {p99: 200ms, max_steps: 2}
  duration: 300ms
  warmup: 100ms
`, srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, sc, Options{OnEvent: func(e string) { events = append(events, e) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) == 0 {
		t.Fatal("no steps")
	}
	var measured uint64
	for _, st := range res.Steps {
		if st.Workers != 1 || !st.Search || st.Share != nil {
			t.Errorf("step %+v: want 1 worker, a search step, no shares (no balancer of bench's)", st)
		}
		measured += st.Requests
	}
	if got := pc.count("/api?x=1"); uint64(got) < measured {
		t.Errorf("the server saw %d requests of /api?x=1, the steps measured %d", got, measured)
	}
	if pc.count("/healthz") == 0 {
		t.Error("the ready path was never asked")
	}
	if p, ok := res.PointAt(1); !ok || p.Capacity <= 0 {
		t.Errorf("no capacity at 1 worker: %+v (events %q)", res.Capacity, events)
	}
	for _, e := range events {
		if strings.Contains(e, "starting") && strings.Contains(e, "off this machine") {
			t.Errorf("a loopback URL was announced as off this machine: %q", e)
		}
	}
}

// target.endpoints: bench's balancer goes in front of the first N replicas for each count.
func TestRun_targetEndpoints(t *testing.T) {
	t.Parallel()
	hits, urls := countingServers(t, 3, "/work")
	sc, err := scenario.Parse("test.yaml", []byte(fmt.Sprintf(`
target:
  endpoints: [%s]
  path: /work
workers: [1, 2]
load:
  rates: [200]
  duration: 300ms
  warmup: 100ms
`, strings.Join(urls, ", "))))
	if err != nil {
		t.Fatal(err)
	}
	res, err := run(t, sc)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 2 {
		t.Fatalf("%d steps, want one per worker count", len(res.Steps))
	}
	for i, st := range res.Steps {
		n := i + 1
		if st.Workers != n || len(st.Share) != n {
			t.Fatalf("step %d: %d workers, shares %v; want %d of each", n, st.Workers, st.Share, n)
		}
		for w, c := range st.Share {
			if c == 0 {
				t.Errorf("step %d: replica %d served nothing: %v", n, w+1, st.Share)
			}
		}
	}
	if hits[2].Load() != 0 {
		t.Errorf("the third endpoint, beyond the largest worker count, got %d requests", hits[2].Load())
	}
}

func TestMachineCPUsOf(t *testing.T) {
	rows := []scaling.Row{{Workers: 1, Note: machinesNote(1, 0.5)}, {Workers: 2, Note: machinesNote(2, 0.5)}}
	if got := MachineCPUsOf(rows); got != 0.5 {
		t.Errorf("MachineCPUsOf(%v) = %v, want 0.5", rows, got)
	}
	if got := MachineCPUsOf([]scaling.Row{{Workers: 2, Note: scaling.Note(2, 4)}}); got != 0 {
		t.Errorf("MachineCPUsOf a plain note = %v, want 0", got)
	}
}

// A scale command hook, here two shell commands over a file that stands for the orchestrator's
// state, with loopback servers as its replicas: each worker count is scaled to before it is
// measured, the load goes through bench's balancer to the replicas printed, or straight to
// target.url when it is set, and the count is scaled back to the first one at the end.
func TestRun_scaleCommand(t *testing.T) {
	t.Parallel()
	replicas, urls := countingServers(t, 2, "/")
	var addrs []string
	for _, u := range urls {
		addrs = append(addrs, strings.TrimPrefix(u, "http://"))
	}
	var front atomic.Int64
	frontSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			front.Add(1)
		}
	}))
	t.Cleanup(frontSrv.Close)

	for _, viaURL := range []bool{false, true} {
		t.Run(fmt.Sprintf("url=%v", viaURL), func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "replicas")
			log := state + ".log"
			url := ""
			if viaURL {
				url = fmt.Sprintf("  url: %s/\n", frontSrv.URL)
			}
			sc, err := scenario.Parse("test.yaml", []byte(fmt.Sprintf(`
target:
%s  ready_path: /ready
workers: [1, 2]
scale:
  command:
    scale: [sh, -c, 'echo $0 > %s; echo $0 >> %s', '{n}']
    endpoints: [sh, -c, 'n=$(cat %s 2>/dev/null || echo 0); printf "%s\n%s\n" | head -n "$n"']
load:
  rates: [100]
  duration: 200ms
  warmup: 50ms
`, url, state, log, state, addrs[0], addrs[1])))
			if err != nil {
				t.Fatal(err)
			}
			before0, before1, beforeFront := replicas[0].Load(), replicas[1].Load(), front.Load()
			res, err := run(t, sc)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Steps) != 2 {
				t.Fatalf("%d steps, want 2", len(res.Steps))
			}
			calls, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Fields(string(calls)); !slices.Equal(got, []string{"1", "2", "0"}) {
				t.Errorf("scale command called with %v, want 1, 2, then 0 (the count before the run)", got)
			}
			gotFront := front.Load() - beforeFront
			gotReplicas := replicas[0].Load() - before0 + replicas[1].Load() - before1
			if viaURL && (gotFront == 0 || gotReplicas != 0) {
				t.Errorf("with target.url: %d requests to the URL, %d to the replicas; want all to the URL", gotFront, gotReplicas)
			}
			if !viaURL && (gotFront != 0 || replicas[1].Load() == before1) {
				t.Errorf("without target.url: %d requests to the URL, replica 2 got %d; want the replicas through bench's balancer", gotFront, replicas[1].Load()-before1)
			}
		})
	}
}

// countingServers starts n loopback servers that count the requests for path, and returns the
// counters and the servers' URLs.
func countingServers(t *testing.T, n int, path string) ([]*atomic.Int64, []string) {
	t.Helper()
	counts := make([]*atomic.Int64, n)
	urls := make([]string, n)
	for i := range counts {
		counts[i] = new(atomic.Int64)
		c := counts[i]
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == path {
				c.Add(1)
			}
		}))
		t.Cleanup(srv.Close)
		urls[i] = srv.URL
	}
	return counts, urls
}
