package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// One worker, one short step: enough to judge.
const sloScenario = `name: tiny-slo
target:
  builtin: cpu
  cost: 100us
workers: [1]
load:
  rates: [100]
  duration: 300ms
  warmup: 100ms
slo: {p99: 1us}
`

func TestRun_sloMissedExits99(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	stdout, stderr, code := bench(t, "run", writeScenario(t, sloScenario), "--out", out)
	if code != 99 {
		t.Fatalf("exit %d, want 99 (SLO missed)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// The row that failed and why, on one line; the results are saved and named as usual.
	if !strings.Contains(stderr, "bench: SLO missed: row 1 (1 worker(s), round-robin, 100 rps): p99 ") ||
		!strings.Contains(stderr, " > 1µs\n") {
		t.Errorf("stderr does not name row 1 and its p99 over 1µs:\n%s", stderr)
	}
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); lines[len(lines)-1] != out {
		t.Errorf("last stdout line %q, want the results folder %q", lines[len(lines)-1], out)
	}
}

func TestRun_sloMetExits0(t *testing.T) {
	t.Parallel()
	// --slo replaces the scenario's impossible objective with a generous one.
	out := t.TempDir()
	stdout, stderr, code := bench(t, "run", writeScenario(t, sloScenario), "--out", out, "--slo", "p99=10s,success=50%", "--raw=false")
	if code != 0 {
		t.Fatalf("exit %d, want 0 (SLO met)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "bench: SLO met (p99 ≤ 10s, success ≥ 50.00%): 1 step(s) judged") {
		t.Errorf("stderr lacks the verdict:\n%s", stderr)
	}
	// --raw=false: the histogram, but no raw results.
	bins, _ := filepath.Glob(filepath.Join(out, "step-*.bin"))
	hdrs, _ := filepath.Glob(filepath.Join(out, "step-*.hdr"))
	if len(bins) != 0 || len(hdrs) != 1 {
		t.Errorf("with --raw=false: raw files %v, histograms %v; want none and one", bins, hdrs)
	}
}

// A capacity search is judged at its capacity step only: its steps past the search's own p99 do
// not fail an SLO equal to it.
func TestRun_sloJudgesTheSearchCapacityStep(t *testing.T) {
	t.Parallel()
	sc := `name: tiny-search
target:
  builtin: cpu
  cost: 2ms
workers: [1]
load:
  search: {p99: 20ms, max_steps: 4}
  duration: 300ms
  warmup: 100ms
slo: {p99: 20ms}
`
	stdout, stderr, code := bench(t, "run", writeScenario(t, sc), "--out", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "SLO met (p99 ≤ 20ms): 1 step(s) judged") {
		t.Errorf("want one judged step (the capacity step); stderr:\n%s", stderr)
	}
}

func TestRun_badSLO(t *testing.T) {
	t.Parallel()
	_, stderr, code := bench(t, "run", writeScenario(t, sloScenario), "--out", t.TempDir(), "--slo", "p95=1ms")
	if code != 2 || !strings.Contains(stderr, "--slo") {
		t.Errorf("exit %d, stderr %q; want 2 naming --slo", code, stderr)
	}
}
