package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bench-dev/bench/internal/report"
)

// Rates that never saturate the workers give lower bounds, said as such everywhere: the table,
// summary.csv's saturated column, and no speedup over a bound.
func TestRun_unsaturated(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	stdout, stderr, code := bench(t, "run", writeScenario(t, `name: unsat
target: {builtin: sleep, cost: 1ms}
workers: [1, 2]
load: {rates: [20, 40], duration: 300ms, warmup: 100ms}
`), "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !regexp.MustCompile(`≥ \d+ \(not saturated\)`).MatchString(stdout) || !strings.Contains(stdout, "no worker count was saturated") {
		t.Errorf("the table does not state the lower bounds:\n%s", stdout)
	}
	res, err := report.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range res.Scaling {
		if row.Saturated {
			t.Errorf("%d workers: saturated=true in summary.csv, want false", row.Workers)
		}
		if row.Workers > 1 && (row.Speedup != 0 || row.SpeedupKnown()) {
			t.Errorf("%d workers: speedup %v (%v–%v) over an unsaturated baseline, want none", row.Workers, row.Speedup, row.SpeedupLo, row.SpeedupHi)
		}
	}
	data, _ := os.ReadFile(filepath.Join(out, "summary.csv"))
	if !strings.Contains(string(data), ",false,") {
		t.Errorf("summary.csv has no saturated=false cell:\n%s", data)
	}
}

// A target on which every request fails: exit 1 with the errors and where they came from, the
// measured steps saved.
func TestRun_allFailing(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: it serves the failing target")
	}
	server := filepath.Join(t.TempDir(), "fail.py")
	if err := os.WriteFile(server, []byte(`import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 200 if self.path == "/healthz" else 500
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	stdout, stderr, code := bench(t, "run", writeScenario(t, `name: failing
target: {command: [`+python+`, `+server+`], ready_path: /healthz}
workers: [1]
load: {rates: [20], duration: 300ms, warmup: 100ms}
`), "--out", out)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"no step reached", "from the workers (", `"500 Internal Server Error"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "summary.csv")); err != nil {
		t.Errorf("the measured steps were not saved: %v", err)
	}
	data, _ := os.ReadFile(filepath.Join(out, "summary.csv"))
	if !strings.Contains(string(data), "errors_target") {
		t.Errorf("summary.csv has no errors by class")
	}
}
