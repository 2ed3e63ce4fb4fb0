package main

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/report"
	"github.com/bench-dev/bench/internal/scaling"
)

// synth describes a synthetic run: no load is needed to test what reads summary.csv.
type synth struct {
	strategy string
	cores    int
	search   bool
	// capacity of each worker count; the steps' throughput is min(offered, capacity) × jitter.
	capacity map[int]float64
	workers  []int
	rates    []float64
	// p99 at each step, before jitter; zero: 5 ms.
	p99 time.Duration
	// jitter[i] multiplies throughput and p99 of repetition i; nil: one repetition, no jitter.
	jitter   []float64
	benchCPU float64 // bench's CPU share of the machine in every step
	behind   bool    // flag every step generator-behind
	// unsaturated worker counts carried every rate: their capacity is a lower bound.
	unsaturated map[int]bool
}

// result builds the experiment.Result the synthetic run would have measured.
func (s synth) result() *experiment.Result {
	if s.strategy == "" {
		s.strategy = "round-robin"
	}
	if s.cores == 0 {
		s.cores = 2
	}
	if s.p99 == 0 {
		s.p99 = 5 * time.Millisecond
	}
	jitter := s.jitter
	if jitter == nil {
		jitter = []float64{1}
	}
	res := &experiment.Result{Cores: s.cores}
	for _, n := range s.workers {
		var best float64
		for _, r := range s.rates {
			for _, j := range jitter {
				tp := min(r, s.capacity[n]) * j
				p99 := time.Duration(float64(s.p99) * (2 - j))
				st := experiment.Step{
					Workers: n, Strategy: s.strategy, Search: s.search,
					Offered: r, Sent: r, Throughput: tp, Success: 1, Requests: uint64(tp),
					P50: p99 / 3, P90: p99 / 2, P99: p99, P999: p99 * 3 / 2, Max: 2 * p99,
					Share:   make([]uint64, n),
					Elapsed: time.Second, WorkerCPU: time.Duration(tp) * 2 * time.Millisecond,
					BenchCPU: time.Duration(s.benchCPU * float64(s.cores) * float64(time.Second)),
					Cores:    s.cores,
				}
				for i := range st.Share {
					st.Share[i] = uint64(tp) / uint64(n)
				}
				if s.behind {
					st.Flags = []string{experiment.FlagBehind}
				} else {
					best = max(best, tp)
				}
				res.Steps = append(res.Steps, st)
			}
		}
		if best > 0 {
			p := scaling.Point{Workers: n, Capacity: best, Lo: best, Hi: best * 1.02}
			if s.unsaturated[n] {
				p.Unsaturated, p.Hi = true, math.Inf(1)
			}
			res.Capacity = append(res.Capacity, p)
		}
	}
	if len(res.Capacity) > 0 {
		res.Scaling, _ = scaling.Table(res.Capacity, s.cores)
	}
	return res
}

// write saves the run as summary.csv in a new folder and returns the folder.
func (s synth) write(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := report.SaveCSV(dir, s.result()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// linearRun: 500 rps per worker on 1, 2, 4, 8 workers, rates up to past the largest capacity.
func linearRun() synth {
	return synth{
		cores:    8,
		capacity: map[int]float64{1: 500, 2: 1000, 4: 2000, 8: 4000},
		workers:  []int{1, 2, 4, 8},
		rates:    []float64{250, 500, 1000, 2000, 4000, 5000},
	}
}

// field returns the number after label on its line of the plan, e.g. "machines   3".
func field(t *testing.T, out, label string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(label) + `\s+([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q line in:\n%s", label, out)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPlan_linear(t *testing.T) {
	t.Parallel()
	dir := linearRun().write(t)
	for _, from := range []string{dir, filepath.Join(dir, "summary.csv")} {
		stdout, stderr, code := bench(t, "plan", "--rps", "10000", "--p99", "50ms", "--from", from, "--headroom", "0")
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if !strings.Contains(stdout, "From: "+from) {
			t.Errorf("output does not say it planned from %s:\n%s", from, stdout)
		}
		workers, machines, perMachine := field(t, stdout, "workers"), field(t, stdout, "machines"), field(t, stdout, "workers per machine")
		if perMachine != 8 || workers < 20 || workers != machines*perMachine {
			t.Errorf("%v workers on %v machines of %v: want ≥ 20 workers, 8 per machine\n%s", workers, machines, perMachine, stdout)
		}
		if got := field(t, stdout, "(a) linear math"); got != 20 {
			t.Errorf("linear math says %v workers, want 20 (10000 / 500)", got)
		}
		if p99 := field(t, stdout, "predicted p99"); p99 <= 2 || p99 > 50 {
			t.Errorf("predicted p99 %v ms, want within (2, 50]", p99)
		}
		for _, want := range []string{"bottleneck             CPU cores", "M/M/c (Erlang C)", "linear rps (N × one worker)", "← plan"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, stdout)
			}
		}
	}
}

func TestPlan_harnessAndCoherency(t *testing.T) {
	t.Parallel()
	// A peak at 3 workers (X falls past it) measured while bench used 40 % of the CPU.
	m := scaling.Model{Lambda: 500, Sigma: 0.05, Kappa: 0.1}
	s := synth{cores: 16, capacity: map[int]float64{}, rates: []float64{100000}, benchCPU: 0.4}
	for _, n := range []int{1, 2, 3, 4, 6, 8} {
		s.workers = append(s.workers, n)
		s.capacity[n] = m.Throughput(float64(n))
	}
	stdout, stderr, code := bench(t, "plan", "--rps", "5000", "--p99", "100ms", "--from", s.write(t))
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if got := field(t, stdout, "workers per machine"); got != 3 {
		t.Errorf("workers per machine = %v, want the model's peak 3", got)
	}
	for _, want := range []string{"bottleneck             the balancer / the harness", "then                   coherency (κ=0.1"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestPlan_newestResults(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	res := linearRun().result()
	old := time.Now().Add(-time.Hour)
	for _, name := range []string{"cpu-new", "cpu-old"} { // the older one written last
		dir := filepath.Join(root, "results", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := report.SaveCSV(dir, res); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(filepath.Join(root, "results", "cpu-old", "summary.csv"), old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "results", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd, mark := benchCommand(t, "plan", "--rps", "1000", "--p99", "50ms")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	assertNoProcesses(t, mark)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if want := "From: " + filepath.Join("results", "cpu-new") + " (the newest results folder"; !strings.Contains(string(out), want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}

func TestPlan_badInput(t *testing.T) {
	t.Parallel()
	dir := linearRun().write(t)
	noSummary := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no rps", []string{"--p99", "50ms", "--from", dir}, "--rps"},
		{"negative rps", []string{"--rps", "-5", "--p99", "50ms", "--from", dir}, "--rps"},
		{"bad rps", []string{"--rps", "lots", "--p99", "50ms", "--from", dir}, "-rps"},
		{"no p99", []string{"--rps", "100", "--from", dir}, "--p99"},
		{"p99 without unit", []string{"--rps", "100", "--p99", "50", "--from", dir}, "-p99"},
		{"headroom 1", []string{"--rps", "100", "--p99", "50ms", "--headroom", "1", "--from", dir}, "--headroom"},
		{"no cores", []string{"--rps", "100", "--p99", "50ms", "--cores-per-machine", "0", "--from", dir}, "--cores-per-machine"},
		{"unknown flag", []string{"--rps", "100", "--p99", "50ms", "--machines", "3", "--from", dir}, "machines"},
		{"stray argument", []string{"--rps", "100", "--p99", "50ms", dir}, "unexpected argument"},
		{"no such folder", []string{"--rps", "100", "--p99", "50ms", "--from", filepath.Join(dir, "nope")}, "no such results folder"},
		{"no summary", []string{"--rps", "100", "--p99", "50ms", "--from", noSummary}, "no summary.csv"},
		{"p99 below service", []string{"--rps", "100", "--p99", "1ms", "--from", dir}, "below the service time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := bench(t, append([]string{"plan"}, tc.args...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q: want one line naming %q", stderr, tc.want)
			}
		})
	}
}

// A run with one shared serialized resource (the capacities of a scenarios/shared-db.yaml run): the
// bottleneck model fits better than the USL, the plan scales with it and names the resource as what
// binds, with the ceiling no number of machines passes if they all share it.
func TestPlan_sharedResource(t *testing.T) {
	t.Parallel()
	s := synth{cores: 2, capacity: map[int]float64{1: 74, 2: 147, 4: 302, 6: 423, 8: 410, 12: 390, 16: 412},
		workers: []int{1, 2, 4, 6, 8, 12, 16}, rates: []float64{50, 100, 200, 300, 400, 450}}
	stdout, stderr, code := bench(t, "plan", "--rps", "10000", "--p99", "50ms", "--from", s.write(t))
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"bottleneck fit         min(74.3 rps × N, 408 rps)", "fits better, the plan uses it",
		"(c) bottleneck model", "bottleneck             a shared resource (bottleneck fit: ceiling ≈",
		"no number of machines carries more than", "bottleneck X(N), one machine"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, stdout)
		}
	}
	// min(74N, C) stops rising at the knee ⌈C/74⌉ = 6 workers per machine.
	if got := field(t, stdout, "workers per machine"); got != 6 {
		t.Errorf("workers per machine %v, want 6 (the knee)\n%s", got, stdout)
	}
}

// A run whose worker counts carried every rate offered has lower bounds, not capacities: plan
// refuses it and says what to measure, unless asked to plan from the bounds, which it then labels.
func TestPlan_unsaturated(t *testing.T) {
	t.Parallel()
	run := synth{
		capacity: map[int]float64{1: 400, 2: 400}, workers: []int{1, 2}, rates: []float64{100, 200, 400},
		unsaturated: map[int]bool{1: true, 2: true},
	}
	dir := run.write(t)
	stdout, stderr, code := bench(t, "plan", "--rps", "10000", "--p99", "50ms", "--from", dir)
	if code != 2 || !strings.Contains(stderr, "1, 2 worker(s) were not saturated") || !strings.Contains(stderr, "--lower-bound") ||
		strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("exit %d, stderr %q; want 2 and one line naming the unsaturated counts and --lower-bound\n%s", code, stderr, stdout)
	}
	stdout, stderr, code = bench(t, "plan", "--rps", "10000", "--p99", "50ms", "--from", dir, "--lower-bound")
	if code != 0 || !strings.Contains(stdout, "lower bound") {
		t.Errorf("--lower-bound: exit %d, want 0 and the plan labelled a lower bound\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// A saturated baseline with an unsaturated larger count: planned from the saturated ones.
	run.unsaturated = map[int]bool{2: true}
	run.capacity = map[int]float64{1: 300, 2: 400}
	if stdout, stderr, code := bench(t, "plan", "--rps", "10000", "--p99", "50ms", "--from", run.write(t)); code != 0 {
		t.Errorf("saturated baseline: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// When the run's verdict is CPU-bound, the plateau was the measuring machine's cores: a machine of
// 8 cores runs about 8 workers, not the 2 that saturated a 2-core machine.
func TestPlan_cpuBoundScalesWithCores(t *testing.T) {
	t.Parallel()
	run := synth{
		cores:    2,
		capacity: map[int]float64{1: 480, 2: 920, 4: 935},
		workers:  []int{1, 2, 4},
		rates:    []float64{240, 480, 960, 1900},
	}
	res := run.result()
	if v := report.Verdict(res); !strings.HasPrefix(v, "CPU-bound") {
		t.Fatalf("verdict %q: the synthetic run must be CPU-bound", v)
	}
	stdout, stderr, code := bench(t, "plan", "--rps", "10000", "--p99", "50ms", "--from", run.write(t), "--cores-per-machine", "8")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if wpm := field(t, stdout, "workers per machine"); wpm < 7 {
		t.Errorf("%v workers per machine of 8 cores, want ≥ 7: the cores were the limit\n%s", wpm, stdout)
	}
	if !strings.Contains(stdout, "per core") {
		t.Errorf("the plan does not say the ceiling scaled per core:\n%s", stdout)
	}
}
