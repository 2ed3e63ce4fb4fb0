package report

import (
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/scaling"
)

func testResult() *experiment.Result {
	res := &experiment.Result{
		Cores: 2,
		Steps: []experiment.Step{
			{Workers: 1, Strategy: "round-robin", Offered: 500, Sent: 500, Throughput: 498, Success: 1, Requests: 1000,
				P50: 2 * time.Millisecond, P99: 9500 * time.Microsecond, Share: []uint64{1000},
				Elapsed: 2 * time.Second, WorkerCPU: 2 * time.Second, BenchCPU: time.Second, Cores: 2},
			{Workers: 2, Strategy: "round-robin", Offered: 900, Sent: 880, Throughput: 870, Success: 0.98, Requests: 1760,
				P99: 40 * time.Millisecond, Share: []uint64{900, 860}, Flags: []string{experiment.FlagBehind, experiment.FlagErrors}},
		},
		Capacity: []scaling.Point{{Workers: 1, Capacity: 498}, {Workers: 2, Capacity: 870}},
	}
	res.Scaling, _ = scaling.Table(res.Capacity, 2)
	return res
}

func TestWriteCSV(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WriteCSV(&buf, testResult()); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(recs), 3; got != want {
		t.Fatalf("%d records, want %d", got, want)
	}
	row := map[string]string{}
	for i, name := range recs[0] {
		row[name] = recs[2][i]
	}
	for name, want := range map[string]string{
		"workers": "2", "offered_rps": "900.0", "p99_ms": "40.000", "capacity_rps": "870.0",
		"linear_rps": "996.0", "speedup": "1.747", "efficiency": "0.873", "share": "900 860",
		"flags": "generator-behind errors", "note": "2 workers (1 machine)",
	} {
		if got := row[name]; got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	first := map[string]string{}
	for i, name := range recs[0] {
		first[name] = recs[1][i]
	}
	// 2 s of worker CPU over a 2 s window on 2 cores is half the machine.
	if got, want := first["worker_cpu_pct"], "50.0"; got != want {
		t.Errorf("worker_cpu_pct = %q, want %q", got, want)
	}
}

func TestSaveCSV_atomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, err := SaveCSV(dir, testResult())
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "summary.csv" {
		t.Errorf("folder holds %v, want only summary.csv (no temporary file left)", entries)
	}
	if b, _ := os.ReadFile(path); !strings.HasPrefix(string(b), "workers,strategy,") {
		t.Errorf("summary.csv starts %.40q", b)
	}
}

func TestShares(t *testing.T) {
	t.Parallel()
	s := Shares([]uint64{30, 10, 10, 50})
	if s.Min != 0.1 || s.Max != 0.5 {
		t.Errorf("min, max = %v, %v; want 0.1, 0.5", s.Min, s.Max)
	}
	// fractions 0.3 0.1 0.1 0.5: mean 0.25, population stddev sqrt(0.0275).
	if want := math.Sqrt(0.0275); math.Abs(s.Stddev-want) > 1e-12 {
		t.Errorf("stddev = %v, want %v", s.Stddev, want)
	}
	if z := Shares(nil); z.Min != 0 || z.Max != 0 || len(z.Fractions) != 0 {
		t.Errorf("Shares(nil) = %+v", z)
	}
}

func TestWriteTables(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WriteSteps(&buf, testResult()); err != nil {
		t.Fatal(err)
	}
	if err := WriteScaling(&buf, testResult()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"p99", "9.50", "generator-behind", "1.75×", "87%", "single process",
		"(left out to fit 120 columns: row, sent rps, p90 ms, share %; --wide shows them)"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("tables lack %q:\n%s", want, buf.String())
		}
	}
	for _, line := range strings.Split(buf.String(), "\n") {
		if n := utf8.RuneCountInString(line); n > Width {
			t.Errorf("a line of %d columns, more than %d:\n%s", n, Width, line)
		}
	}

	// --wide: every column, and no note.
	buf.Reset()
	if err := WriteSummary(&buf, testResult(), Options{Format: FormatTable, Wide: true}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"51 49", "sent", "p90", "row"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("wide tables lack %q:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), "left out") {
		t.Errorf("wide tables left columns out:\n%s", buf.String())
	}
}

// The default steps table of a realistic run, four strategies over 1..8 workers with long flags,
// fits 120 columns and keeps what a reader needs first.
func TestWriteSteps_fitsWidth(t *testing.T) {
	t.Parallel()
	res := &experiment.Result{Cores: 2}
	for _, strategy := range []string{"round-robin", "least-connections", "random", "power-of-two"} {
		for _, n := range []int{1, 2, 4, 8} {
			share := make([]uint64, n)
			for i := range share {
				share[i] = 12345
			}
			res.Steps = append(res.Steps, experiment.Step{Workers: n, Strategy: strategy, Rep: 3, Offered: 12000, Sent: 11800,
				Throughput: 11790.4, Success: 0.9991, Requests: 120000, P50: 1234 * time.Microsecond, P90: 25 * time.Millisecond,
				P99: 123 * time.Millisecond, P999: 456 * time.Millisecond, Max: 1234 * time.Millisecond, Share: share,
				Elapsed: 10 * time.Second, WorkerCPU: 15 * time.Second, BenchCPU: 4 * time.Second, Cores: 2, CtxSwitches: 123456,
				Restarts: 1, Flags: []string{experiment.FlagBehind, experiment.FlagErrors}})
		}
	}
	var buf bytes.Buffer
	if err := WriteSteps(&buf, res); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, line := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(line); n > Width {
			t.Errorf("a line of %d columns, more than %d:\n%s", n, Width, out)
			break
		}
	}
	for _, want := range []string{"workers", "strategy", "least-connections", "rep", "offered", "throughput", "success", "p99", "generator-behind errors"} {
		if !strings.Contains(out, want) {
			t.Errorf("default table lacks %q:\n%s", want, out)
		}
	}
}

// cpuRun is a run on 2 cores of 1, 2 and 4 workers with the given capacities, one step each
// whose workers used workerCPU in a 2 s window.
func cpuRun(workerCPU time.Duration, capacities ...float64) *experiment.Result {
	res := &experiment.Result{Cores: 2}
	for i, c := range capacities {
		p := scaling.Point{Workers: 1 << i, Capacity: c}
		res.Steps = append(res.Steps, experiment.Step{Workers: p.Workers, Throughput: p.Capacity, Success: 1,
			Elapsed: 2 * time.Second, WorkerCPU: workerCPU, Cores: 2})
		res.Capacity = append(res.Capacity, p)
	}
	res.Scaling, _ = scaling.Table(res.Capacity, 2)
	return res
}

func TestDiagnose_cpuOrContention(t *testing.T) {
	t.Parallel()
	mk := func(workerCPU time.Duration) *experiment.Result { return cpuRun(workerCPU, 490, 880, 860) }
	fit := fitRun(mk(0))
	if !fit.ok {
		t.Fatal("no fit")
	}
	// 3.8 s of worker CPU in a 2 s window on 2 cores: 95 % busy, the cores are the limit.
	if got := Verdict(mk(3800 * time.Millisecond)); !strings.HasPrefix(got, "CPU-bound") {
		t.Errorf("saturated cores: %q, want CPU-bound", got)
	}
	if got := Verdict(mk(200 * time.Millisecond)); strings.HasPrefix(got, "CPU-bound") {
		t.Errorf("idle cores: %q, want the model's diagnosis", got)
	}
}

func TestDiagnose_nearLinear(t *testing.T) {
	t.Parallel()
	res := &experiment.Result{Capacity: []scaling.Point{{Workers: 1, Capacity: 94}, {Workers: 4, Capacity: 373}, {Workers: 16, Capacity: 1485}}}
	res.Scaling, _ = scaling.Table(res.Capacity, 0)
	fit := fitRun(res)
	if !fit.ok {
		t.Fatal("no fit")
	}
	if got := Verdict(res); !strings.HasPrefix(got, "near-linear over the measured range: 15.8× at 16 workers") {
		t.Errorf("diagnose = %q, want near-linear", got)
	}
}

// A run of scenarios/shared-db.yaml whose knee is too sharp for the USL (13 % off at N=6): the
// table adds the bottleneck model's column, whose worst point is within 10 %, and the verdict
// names the shared resource; summary.csv carries both models.
func TestWriteScaling_sharpKnee(t *testing.T) {
	t.Parallel()
	res := &experiment.Result{Cores: 2}
	for i, n := range []int{1, 2, 4, 6, 8, 12, 16} {
		p := scaling.Point{Workers: n, Capacity: []float64{74, 147, 302, 423, 410, 390, 412}[i]}
		res.Steps = append(res.Steps, experiment.Step{Workers: p.Workers, Throughput: p.Capacity, Success: 1,
			Elapsed: 2 * time.Second, Cores: 2})
		res.Capacity = append(res.Capacity, p)
	}
	res.Scaling, _ = scaling.Table(res.Capacity, 2)
	var buf bytes.Buffer
	if err := WriteScaling(&buf, res); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"bottleneck", "bottleneck fit: min(74 rps × N, 408 rps)", "fits better than the USL",
		"verdict: contention-limited: one shared resource caps throughput at ≈408 rps", "worst point -12.9% (N=6)"} {
		if !strings.Contains(out, want) {
			t.Errorf("scaling table lacks %q:\n%s", want, out)
		}
	}
	f := fitRun(res)
	if w := scaling.WorstResidual(f.bound.Residuals); math.Abs(w) > 0.10 {
		t.Errorf("bottleneck fit's worst point %+.3f, want within 10 %%", w)
	}

	buf.Reset()
	if err := WriteCSV(&buf, res); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(rows[0], "bound_rps")
	if col < 0 {
		t.Fatalf("summary.csv has no bound_rps: %v", rows[0])
	}
	if got := rows[1][col]; got != "74.3" { // N=1: λ of the fit
		t.Errorf("bound_rps at N=1 = %q, want 74.3", got)
	}
	if got := rows[7][col]; got != "408.0" { // N=16: the ceiling
		t.Errorf("bound_rps at N=16 = %q, want 408.0", got)
	}
}

// A search whose p99 fell as the rate rose draws no verdict, and says where: at the pair measured
// again, not at a wider pair earlier in the search, nor at a passing step just before the flagged
// one (a rate measured again above a failing one, recheckAbove).
func TestVerdict_inversion(t *testing.T) {
	t.Parallel()
	res := &experiment.Result{Cores: 2}
	step := func(w int, rate float64, p99 time.Duration, flags ...string) experiment.Step {
		return experiment.Step{Workers: w, Strategy: "round-robin", Rep: 1, Search: true, Offered: rate, Throughput: rate,
			Success: 1, P99: p99, Elapsed: 2 * time.Second, WorkerCPU: 3800 * time.Millisecond, Cores: 2, Flags: flags}
	}
	res.Steps = []experiment.Step{
		step(1, 480, 20*time.Millisecond), step(1, 520, 200*time.Millisecond, experiment.FlagOverSLO),
		step(2, 617, 24*time.Millisecond), step(2, 640, 300*time.Millisecond, experiment.FlagOverSLO),
		step(2, 720, 20*time.Millisecond), step(2, 673, 149*time.Millisecond, experiment.FlagOverSLO),
		step(1, 500, 30*time.Millisecond), // counts taking turns
		step(2, 760, 30*time.Millisecond),
		step(2, 800, 59*time.Millisecond, experiment.FlagOverSLO, experiment.FlagInverted),
	}
	res.Capacity = []scaling.Point{{Workers: 1, Capacity: 480}, {Workers: 2, Capacity: 617}}
	res.Scaling, _ = scaling.Table(res.Capacity, 2)
	want := "none drawn: p99 fell as the rate rose (2 workers: 149ms at 673 rps, 59ms at 800 rps)"
	if got := Verdict(res); !strings.HasPrefix(got, want) {
		t.Errorf("verdict = %q, want it to start %q", got, want)
	}
	res.Steps[8].Flags = res.Steps[8].Flags[:1]
	if got := Verdict(res); strings.HasPrefix(got, "none drawn") {
		t.Errorf("without the flag: verdict = %q, want one drawn", got)
	}
}

// Capacity that falls past the cores (cpu.yaml on 2 cores: 867 rps at 2 workers, 767 at 4) is no
// plateau, but with the cores saturated at the peak it is CPU-bound all the same.
func TestDiagnose_cpuPeak(t *testing.T) {
	t.Parallel()
	mk := func(workerCPU time.Duration) *experiment.Result { return cpuRun(workerCPU, 471, 867, 767) }
	want := "CPU-bound: from 2 workers on the machine's cores are saturated (95% of all cores busy) and capacity peaks at ≈867 rps"
	if got := Verdict(mk(3800 * time.Millisecond)); !strings.HasPrefix(got, want) {
		t.Errorf("saturated cores: %q, want it to start %q", got, want)
	}
	if got := Verdict(mk(200 * time.Millisecond)); strings.HasPrefix(got, "CPU-bound") {
		t.Errorf("idle cores: %q, want the model's diagnosis", got)
	}
}
