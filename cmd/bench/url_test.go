package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// bench run against a server that already runs (target.url, on loopback): a capacity search,
// an SLO verdict and the usual results folder, with nothing started.
func TestRun_targetURLSearchAndSLO(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api" {
			hits.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	sc := fmt.Sprintf(`name: running
target:
  url: %s/api
load:
  search: {p99: 500ms, max_steps: 2}
  duration: 300ms
  warmup: 100ms
slo: {p99: 1s}
`, srv.URL)
	out := t.TempDir()
	stdout, stderr, code := bench(t, "run", writeScenario(t, sc), "--out", out, "--noise-threshold", "100%")
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "running service "+srv.URL+"/api") || !strings.Contains(stderr, "bench: SLO met") {
		t.Errorf("stderr lacks the target or the SLO verdict:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "summary.csv")); err != nil {
		t.Errorf("no summary.csv: %v", err)
	}
	if !strings.Contains(stdout, "capacity rps") || hits.Load() == 0 {
		t.Errorf("no scaling table, or the server saw no load (%d):\n%s", hits.Load(), stdout)
	}
}
