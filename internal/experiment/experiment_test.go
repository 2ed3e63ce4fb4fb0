package experiment

import (
	"os/exec"
	"runtime"
	"slices"
	"strings"

	"bytes"
	"context"
	"fmt"
	"golang.org/x/sys/unix"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/bench-dev/bench/internal/load"
	"github.com/bench-dev/bench/internal/scenario"
	"github.com/bench-dev/bench/internal/target"
)

// workerEnv makes the test binary, re-executed by the cluster, serve as a worker: the built-in
// cpu workload on $PORT, until SIGTERM.
const workerEnv = "EXPERIMENT_TEST_WORKER"

// burnEnv makes the test binary burn one core (CPU 0) for the duration it holds, then exit: a
// noisy neighbour.
const burnEnv = "EXPERIMENT_TEST_BURN"

func TestMain(m *testing.M) {
	if d, err := time.ParseDuration(os.Getenv(burnEnv)); err == nil {
		var set unix.CPUSet
		set.Set(0)
		_ = unix.SchedSetaffinity(0, &set)
		runtime.GOMAXPROCS(1)
		for end := time.Now().Add(d); time.Now().Before(end); {
			for i := 0; i < 1e6; i++ {
			}
		}
		os.Exit(0)
	}
	if dir := os.Getenv(recordEnv); dir != "" {
		os.Exit(runRecorder(dir))
	}
	if os.Getenv(workerEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		index, _ := strconv.Atoi(os.Getenv("BENCH_WORKER_INDEX"))
		err := target.Run(ctx, target.Config{Workload: "cpu", Cost: time.Millisecond, Threads: 1, Index: index,
			Addr: "127.0.0.1:" + os.Getenv("PORT")})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// selfScenario parses a scenario whose target is this test binary as the built-in cpu worker
// (see TestMain), followed by the sections in rest.
func selfScenario(t *testing.T, rest string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Parse("test.yaml", []byte(fmt.Sprintf("target:\n  command: [%q]\n  env: {%s: \"1\"}\n", os.Args[0], workerEnv)+rest))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// rawBuffers collects the raw writers a run asks for, by row.
type rawBuffers struct {
	mu   sync.Mutex
	rows map[int]*closingBuffer
	ids  map[int]Step
}

type closingBuffer struct {
	bytes.Buffer
	closed bool
}

func (b *closingBuffer) Close() error { b.closed = true; return nil }

func (r *rawBuffers) open(row int, st Step) (io.WriteCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := &closingBuffer{}
	r.rows[row], r.ids[row] = b, st
	return b, nil
}

// A capacity search through a real cluster: every step's raw results and progress snapshots are
// labelled with the row the step gets, and the search's answer is marked as its capacity step.
func TestRun_searchRawProgressCapacity(t *testing.T) {
	t.Parallel()
	sc := selfScenario(t, `
workers: [1]
load:
  search: {p99: 20ms, max_steps: 3}
  duration: 400ms
  warmup: 100ms
  noise_threshold: 1   # other tests run beside this one: no step measured again
`)
	raws := &rawBuffers{rows: map[int]*closingBuffer{}, ids: map[int]Step{}}
	var mu sync.Mutex
	snaps := map[int][]Progress{}
	opts := Options{
		Raw: raws.open,
		OnProgress: func(p Progress) {
			mu.Lock()
			snaps[p.Row] = append(snaps[p.Row], p)
			mu.Unlock()
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, sc, opts)
	if err != nil {
		t.Fatal(err)
	}
	// max_steps, and the staircase when the search found a bracket; at most twice when the
	// staircase's first steps all went one way (other tests share the machine); then one rate
	// above measured again (recheckAbove) and an inversion's two (markInversion).
	if most := 2*(3+staircaseSteps) + 3; len(res.Steps) == 0 || len(res.Steps) > most {
		t.Fatalf("%d steps, want 1 to %d", len(res.Steps), most)
	}

	var capacity []int
	for i, st := range res.Steps {
		row := i + 1
		if !st.Search {
			t.Errorf("row %d: not marked as a search step", row)
		}
		if st.Capacity {
			capacity = append(capacity, row)
		}
		if st.Latency == nil || st.Latency.TotalCount() != int64(st.Requests) {
			t.Errorf("row %d: histogram missing or not counting the %d requests", row, st.Requests)
		}

		// Raw results: asked for with the step's identity, closed, one record per measured request.
		b, ok := raws.rows[row]
		if !ok {
			t.Errorf("row %d: no raw writer asked for", row)
			continue
		}
		if id := raws.ids[row]; id.Workers != 1 || id.Offered != st.Offered || !id.Search || id.Strategy != st.Strategy {
			t.Errorf("row %d: raw writer asked for %+v, the step is %d workers %v rps", row, id, st.Workers, st.Offered)
		}
		if !b.closed {
			t.Errorf("row %d: raw writer not closed", row)
		}
		dec := vegeta.NewDecoder(&b.Buffer)
		var n uint64
		for {
			var r vegeta.Result
			if err := dec.Decode(&r); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("row %d: %v", row, err)
			}
			n++
		}
		if n != st.Requests {
			t.Errorf("row %d: %d raw results, %d requests", row, n, st.Requests)
		}

		// Progress: the snapshots of this row are of this step, and end measuring.
		ps := snaps[row]
		if len(ps) == 0 {
			t.Errorf("row %d: no progress snapshot", row)
			continue
		}
		last := ps[len(ps)-1]
		if last.Step.Offered != st.Offered || last.Step.Workers != 1 || last.Requests > st.Requests {
			t.Errorf("row %d: last snapshot %+v, step %v rps %d requests", row, last, st.Offered, st.Requests)
		}
	}
	if len(snaps) != len(res.Steps) {
		t.Errorf("snapshots for rows %v, want one per step (%d)", keys(snaps), len(res.Steps))
	}

	// One passing step is marked as the capacity step, and the run's capacity lies within its
	// interval.
	cfg := load.SearchConfig{P99: 20 * time.Millisecond, Success: sc.Load.Search.Success}
	passes := func(st Step) bool {
		return st.Requests > 0 && st.P99 <= cfg.P99 && st.Success >= cfg.Success && !hasFlag(st, FlagBehind)
	}
	anyPassed := slices.ContainsFunc(res.Steps, passes)
	p, _ := res.PointAt(1)
	lo, hi := p.Interval()
	switch {
	case !anyPassed && len(capacity) != 0:
		t.Errorf("no step passed, yet rows %v are marked as capacity", capacity)
	case anyPassed && len(capacity) != 1:
		t.Errorf("capacity marked on rows %v, want one row", capacity)
	case anyPassed && !passes(res.Steps[capacity[0]-1]):
		t.Errorf("row %d is marked as capacity but did not pass", capacity[0])
	case anyPassed && !(lo <= p.Capacity && p.Capacity <= hi):
		t.Errorf("capacity %v outside its interval [%v, %v]", p.Capacity, lo, hi)
	}
}

func hasFlag(st Step, flag string) bool {
	for _, f := range st.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

func keys[V any](m map[int]V) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A scenario's default connection bound is the load package's: one number, documented in both.
func TestDefaultConnections(t *testing.T) {
	if scenario.DefaultConnections != load.DefaultConnections {
		t.Errorf("scenario.DefaultConnections = %d, load.DefaultConnections = %d", scenario.DefaultConnections, load.DefaultConnections)
	}
}

// A process burning one core while a step runs is interference: the step is flagged noisy and
// measured again once the burner is gone, and the run says so. Not parallel: the package's other
// tests would be interference too.
func TestRun_noisyNeighbour(t *testing.T) {
	sc := testScenario(t, `workers: [1]
load: {rates: [100], duration: 500ms, warmup: 100ms}
`)
	sc.Load.NoiseThreshold = 0.25 // one burnt core is half of a 2-core machine
	if runtime.NumCPU() > 4 {
		t.Skipf("%d cores: one burnt core is too small a share of the machine to cross the threshold", runtime.NumCPU())
	}
	burner := exec.Command(os.Args[0])
	burner.Env = append(os.Environ(), burnEnv+"=2500ms")
	if err := burner.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { burner.Process.Kill(); burner.Wait() })
	var events []string
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, sc, Options{OnEvent: func(e string) { events = append(events, e) }})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Steps); n < 2 || n > 1+MaxRetries {
		t.Fatalf("%d steps, want the noisy one and 1 to %d more", n, MaxRetries)
	}
	first, last := res.Steps[0], res.Steps[len(res.Steps)-1]
	if !first.Has(FlagNoisy) || !first.Has(FlagRetried) || first.OtherCPUShare() < 0.3 {
		t.Errorf("first step: flags %v, other CPU %.0f%%; want noisy and retried, other ≥ 30%%", first.Flags, 100*first.OtherCPUShare())
	}
	if last.Has(FlagRetried) {
		t.Errorf("last step %v: the step that counts must not be marked retried", last.Flags)
	}
	if !slices.ContainsFunc(events, func(e string) bool { return strings.Contains(e, "measuring again") }) {
		t.Errorf("events %q: none says the step is measured again", events)
	}
}

// Built-in cpu workers are all given the run's one calibration, so that every worker at every
// count burns the same iterations per request.
func TestWorkerSpec_oneCalibration(t *testing.T) {
	sc, err := scenario.Parse("cpu.yaml", []byte("target: {builtin: cpu, cost: 2ms}\nload: {rates: [10]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := workerSpec(sc, "", Options{WorkerCommand: []string{"bench", "worker"}})
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatFloat(target.Calibrate().ItersPerMs, 'f', 1, 64)
	if !slices.Contains(spec.Command, "--iters-per-ms") || !slices.Contains(spec.Command, want) {
		t.Errorf("worker command %q: want --iters-per-ms %s, the run's calibration", spec.Command, want)
	}
}
