// Package experiment runs one scenario: for each worker count it starts a cluster and a balancer in
// front of it, offers load step by step, and collects what each step measured. It formats nothing.
package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/cluster"
	"github.com/bench-dev/bench/internal/load"
	"github.com/bench-dev/bench/internal/scale"
	"github.com/bench-dev/bench/internal/scaling"
	"github.com/bench-dev/bench/internal/scenario"
	"github.com/bench-dev/bench/internal/target"
)

// Thresholds below which a step is flagged instead of silently reported as the cluster's capacity.
const (
	// MinSentRatio: a step whose achieved send rate is below this share of the offered rate measured
	// the generator, not the cluster.
	MinSentRatio = 0.99
	// MinSuccess: a step with fewer successful responses than this is flagged.
	MinSuccess = 0.99
)

// Flags a step can carry.
const (
	FlagBehind  = "generator-behind" // the generator did not keep the schedule
	FlagErrors  = "errors"           // success below MinSuccess
	FlagOverSLO = "p99>slo"          // a search step whose p99 missed the SLO
	// FlagNoisy: other processes used more of the machine than the scenario's noise threshold
	// during the step; its numbers are the machine's as much as the cluster's.
	FlagNoisy = "noisy"
	// FlagRetried: a noisy step that was measured again; the step after it replaces it.
	FlagRetried = "retried"
)

// MaxRetries bounds how many times a noisy step is measured again.
const MaxRetries = 2

// LostThroughput: a fixed-rate step whose throughput is below this share of its offered rate
// saturated the cluster (requests queued faster than they were answered).
const LostThroughput = 0.97

// Options tune a run. The zero value works.
type Options struct {
	// WorkerCommand is the argv that starts a built-in worker; nil means this executable followed by
	// "worker" (what `bench run` wants). Tests point it at a freshly built bench binary.
	WorkerCommand []string
	// Listen is the balancer's address; empty means a free loopback port.
	Listen string
	// Cores is the machine's core count for notes and CPU shares; 0 means runtime.NumCPU().
	Cores int
	// OnStep, when set, is called after every finished step (to print it and save it at once).
	OnStep func(Step)
	// OnEvent, when set, receives one-line progress messages ("starting 2 workers").
	OnEvent func(string)
	// OnProgress, when set, receives a snapshot of the running step every load.ProgressInterval.
	// It is called on the goroutine that reads the step's results and must return quickly.
	OnProgress func(Progress)
	// Raw, when set, is asked before each step for the writer its raw results go to: every
	// measured request in vegeta's own encoding (see load.Step.Raw). It is given the step's
	// 1-based row in Result.Steps (the row it will have if it is recorded, which every step that
	// measured a request is) and the step as known before it runs: Workers, Strategy, Store, Rep,
	// Search and Offered. The writer is closed after the step. A nil writer skips the step; nil
	// Raw writes no raw results.
	Raw func(row int, st Step) (io.WriteCloser, error)
	// Shard and Shards, when Shards > 1, make this run generator Shard (1-based) of Shards that
	// offer each step's rate together (load.Step.Shard): every step, the settling one included,
	// sends its interleaved part of the schedule. Step.Offered stays the rate all Shards offer
	// together (so that their steps line up, row by row, for a merge), while Sent and Throughput
	// are this generator's own. A noisy step is then not measured again: the other generators
	// would not know to repeat it.
	Shard, Shards int
	// StartAt, when set, is the wall-clock time the first measured step waits for (after the
	// workers started and the machine settled), so that generators started separately begin
	// together.
	StartAt time.Time
}

// Progress is a snapshot of the running step, for a live status line.
type Progress struct {
	// Row is the step's 1-based row in Result.Steps (see Options.Raw).
	Row int
	// Step is the step as known before it runs: Workers, Strategy, Store, Rep, Search, Offered.
	Step Step
	load.Progress
}

// Step is what one load step measured.
type Step struct {
	Workers  int
	Strategy string
	Store    string // the session store (session workload), "" otherwise
	Rep      int    // repetition, 1-based (load.repeat)
	Search   bool   // part of a capacity search
	// Capacity marks the step whose throughput is its capacity search's answer: the passing step
	// with the highest throughput. False for fixed-rate steps, for the other steps of a search and
	// for every step of a search that found no passing rate.
	Capacity bool

	Offered    float64 // requests/s asked of the generator
	Sent       float64 // requests/s the generator achieved
	Throughput float64 // successful responses/s
	Success    float64 // fraction of requests that succeeded
	Requests   uint64

	// P50 … Max are the successful requests' latencies; failures are kept apart in FailP99.
	P50, P90, P99, P999, Max time.Duration
	Lag                      time.Duration // p99 of how late requests were sent versus the schedule
	// FailP99 is the p99 of the failed requests' latencies (how fast they failed); zero when
	// none failed.
	FailP99 time.Duration
	// Latency holds every successful measured request's latency in microseconds
	// (load.Result.Latency); nil for a step read back from summary.csv, which keeps only the
	// quantiles.
	Latency *hdrhistogram.Histogram

	Share []uint64 // requests served per worker during the measured window, worker 1 first

	Elapsed   time.Duration // the measured window
	WorkerCPU time.Duration // CPU used by all workers in the window
	BenchCPU  time.Duration // CPU used by bench itself (generator and balancer) in the window
	// OtherCPU is the CPU used in the window by everything else on the machine: all cores' busy
	// time from /proc/stat less the workers' and bench's own (and the processes bench started for
	// the run, such as redis-server), steal time included and interrupt time left out (the run's
	// own packets, mostly; see cluster.MachineCPU).
	OtherCPU time.Duration
	// Steal is the part of OtherCPU the hypervisor gave to other machines.
	Steal time.Duration
	Cores int

	// Sessions counts the session states the workers reported (load.clients); zero without clients.
	Sessions load.Sessions
	// Restarts counts workers restarted by the supervisor during the step.
	Restarts int
	// BenchRSS is bench's resident memory at the end of the step (generator and balancer):
	// flat from step to step when nothing leaks.
	BenchRSS uint64
	// CtxSwitches is the machine's context switches per second over the window (from /proc/stat):
	// what more processes than cores cost.
	CtxSwitches float64
	// Retries counts requests the balancer retried on another worker in the measured window
	// (a GET whose worker refused or dropped the connection).
	Retries uint64
	// Faults are the step's injected faults and what each cost.
	Faults []FaultResult

	// Errors counts failures by error text; Classes by where they came from.
	Errors  map[string]int
	Classes load.ErrorClasses
	Flags   []string
}

// WorkerCPUShare is the workers' CPU as a fraction of the machine (all cores) over the window.
func (s Step) WorkerCPUShare() float64 { return cpuShare(s.WorkerCPU, s.Elapsed, s.Cores) }

// BenchCPUShare is bench's own CPU (generator and balancer) as a fraction of the machine.
func (s Step) BenchCPUShare() float64 { return cpuShare(s.BenchCPU, s.Elapsed, s.Cores) }

// OtherCPUShare is the CPU of everything but the workers and bench as a fraction of the machine.
func (s Step) OtherCPUShare() float64 { return cpuShare(s.OtherCPU, s.Elapsed, s.Cores) }

// Has reports whether the step carries flag f.
func (s Step) Has(f string) bool { return slices.Contains(s.Flags, f) }

func cpuShare(cpu, elapsed time.Duration, cores int) float64 {
	if elapsed <= 0 || cores <= 0 {
		return 0
	}
	return cpu.Seconds() / (elapsed.Seconds() * float64(cores))
}

// Flagged reports whether the step must not count as a measure of the cluster's capacity.
func (s Step) Flagged() bool {
	return s.Has(FlagBehind) || s.Has(FlagErrors) || s.Has(FlagRetried)
}

// Result is a whole run.
type Result struct {
	Scenario *scenario.Scenario
	Started  time.Time
	Cores    int
	Steps    []Step
	// Capacity per worker count: the search's answer, or the best unflagged throughput over the
	// offered rates, with its interval and whether it was reached.
	Capacity []scaling.Point
	Scaling  []scaling.Row
	// MachineCPUs is each replica's CPU limit when the scale hook knows it (compose `cpus:`): the
	// worker counts are then machines of that size. Zero otherwise.
	MachineCPUs float64
}

// CapacityAt returns the capacity measured at n workers, 0 if none.
func (r *Result) CapacityAt(n int) float64 {
	p, _ := r.PointAt(n)
	return p.Capacity
}

// PointAt returns the capacity point of n workers.
func (r *Result) PointAt(n int) (scaling.Point, bool) {
	for _, p := range r.Capacity {
		if p.Workers == n {
			return p, true
		}
	}
	return scaling.Point{}, false
}

// ScalingAt returns the scaling row for n workers.
func (r *Result) ScalingAt(n int) (scaling.Row, bool) {
	for _, row := range r.Scaling {
		if row.Workers == n {
			return row, true
		}
	}
	return scaling.Row{}, false
}

// StartError wraps a failure to start the workers or the balancer: bad input rather than a failed
// measurement (a command that does not exist, a port in use).
type StartError struct{ Err error }

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// runner is one Run: what it measures, how, and what it found so far.
type runner struct {
	sc   *scenario.Scenario
	opts Options
	res  *Result
	// ours is the CPU used by the processes bench started for the run besides the workers (a
	// redis-server): not interference.
	ours func() time.Duration
	// requests is the scenario's request mix as the generator takes it (see loadStep).
	requests []load.Request
	// settled is set once the machine has carried load for the first time (see settle), and
	// settledAt is that load's rate when it met the search's objective.
	settled   bool
	settledAt float64
	// started is set once Options.StartAt was waited for.
	started bool
	// scaler runs the replicas when the scenario has a scale hook; nil for scale: local.
	scaler scale.Scaler
	// turns orders the steps of the worker counts' searches when they run at once (see
	// interleaved); nil when counts are measured one after the other.
	turns *turns
}

// cell is one combination the run measures: a worker count with a store, a strategy and a
// repetition. prior is where its search starts from (see guess).
type cell struct {
	workers  int
	store    target.Store
	strategy balancer.Strategy
	rep      int
	prior    prior
}

// prior is the capacity an earlier worker count was found to have; zero before the first.
type prior struct {
	capacity float64
	workers  int
}

// Run executes the scenario. On error (including cancellation) the returned Result still holds
// every step finished before it.
func Run(ctx context.Context, sc *scenario.Scenario, opts Options) (*Result, error) {
	if opts.Cores == 0 {
		opts.Cores = runtime.NumCPU()
	}
	r := &runner{sc: sc, opts: opts, res: &Result{Scenario: sc, Started: time.Now().UTC(), Cores: opts.Cores},
		ours: func() time.Duration { return 0 }}
	if sc.Redis != nil && sc.Redis.Start {
		rs, err := startRedis(ctx)
		if err != nil {
			return r.res, &StartError{err}
		}
		defer rs.stop()
		r.event("started redis-server on %s", rs.addr)
		r.ours = rs.cpu
		red := *sc.Redis
		red.Addr = rs.addr
		copied := *sc
		copied.Redis = &red
		r.sc = &copied
	}
	if t := sc.Target; t.Builtin.Burns() && t.Cost > 0 && sc.Scale.Local() {
		r.event("cpu loop calibrated once for every worker: %s", target.Calibrate())
	}
	for _, h := range sc.Target.RemoteHosts() {
		r.event("load goes off this machine, to %s, as the scenario's target names it", h)
	}
	if !sc.Scale.Local() {
		s, err := scale.New(r.sc, opts.OnEvent)
		if err != nil {
			return r.res, &StartError{err}
		}
		r.scaler = s
	}
	err := r.run(ctx)
	if sized, ok := r.scaler.(scale.Sized); ok {
		r.res.MachineCPUs = sized.CPUs()
	}
	if r.scaler != nil {
		// Whatever the hook started is stopped, also after a failure or a Ctrl-C.
		err = errors.Join(err, r.scaler.Close())
	}
	if len(r.res.Capacity) > 0 {
		cores := opts.Cores
		if sc.Target.Builtin == target.WorkloadSleep || !sc.Target.Spawned() {
			// Waiting workers do not compete for cores, nor do replicas bench did not start on
			// them: no "oversubscribed" note.
			cores = 0
		}
		r.res.Scaling, _ = scaling.Table(r.res.Capacity, cores)
		if cpus := r.res.MachineCPUs; cpus > 0 {
			for i := range r.res.Scaling {
				r.res.Scaling[i].Note = machinesNote(r.res.Scaling[i].Workers, cpus)
			}
		}
	}
	return r.res, err
}

// machinesNote describes a worker count of replicas with a CPU limit each, for the scaling
// table's note column.
func machinesNote(n int, cpus float64) string {
	return fmt.Sprintf("%d machine(s) of %g CPU", n, cpus)
}

// MachineCPUsOf reads back the CPU limit of each replica from a scaling table's notes (as
// summary.csv keeps them): 0 when the notes are not machinesNote's.
func MachineCPUsOf(rows []scaling.Row) float64 {
	for _, r := range rows {
		var n int
		var cpus float64
		if _, err := fmt.Sscanf(r.Note, "%d machine(s) of %g CPU", &n, &cpus); err == nil && n == r.Workers && cpus > 0 {
			return cpus
		}
	}
	return 0
}

func (r *runner) run(ctx context.Context) error {
	stores := r.sc.Target.StoreList()
	if len(stores) == 0 {
		stores = []target.Store{""}
	}
	specs := make([]cluster.Spec, len(stores))
	for i, store := range stores {
		spec, err := workerSpec(r.sc, store, r.opts)
		if err != nil {
			return &StartError{err}
		}
		specs[i] = spec
	}
	if r.interleaved() {
		return r.runInterleaved(ctx, specs[0], stores[0])
	}
	var before prior
	for _, n := range r.sc.Workers {
		var best scaling.Point
		for i, spec := range specs {
			p, err := r.workers(ctx, spec, cell{workers: n, store: stores[i], prior: before})
			if p.Capacity > best.Capacity {
				best = p
			}
			if err != nil {
				r.keep(best)
				return err
			}
		}
		before = prior{best.Capacity, n}
		r.keep(best)
	}
	return nil
}

// keep adds a worker count's capacity to the result, if it has one.
func (r *runner) keep(p scaling.Point) {
	if p.Capacity > 0 {
		r.res.Capacity = append(r.res.Capacity, p)
	}
}

// workers measures one worker count (c.workers, c.store), for each strategy and repetition, and
// returns its capacity: the best over strategies of the median over repetitions.
func (r *runner) workers(ctx context.Context, spec cluster.Spec, c cell) (scaling.Point, error) {
	// Strategies behind the balancer share one cluster; reuseport needs its own, every worker on
	// one port, and no balancer at all.
	var proxied []balancer.Strategy
	reuse := false
	for _, s := range strategies(r.sc) {
		if s == balancer.StrategyReusePort {
			reuse = true
		} else {
			proxied = append(proxied, s)
		}
	}
	var best scaling.Point
	if len(proxied) > 0 {
		p, err := r.cluster(ctx, spec, c, proxied)
		best = better(best, p)
		if err != nil {
			return best, err
		}
	}
	if reuse {
		if len(r.sc.Target.Command) > 0 {
			return best, &StartError{errors.New("balancer.strategy reuseport: the workers must listen with SO_REUSEPORT on one shared port; the built-in worker does, a target.command cannot be made to")}
		}
		shared := spec
		shared.SharedPort = true
		p, err := r.cluster(ctx, shared, c, []balancer.Strategy{balancer.StrategyReusePort})
		best = better(best, p)
		if err != nil {
			return best, err
		}
	}
	return best, nil
}

func better(a, b scaling.Point) scaling.Point {
	if b.Capacity > a.Capacity {
		return b
	}
	return a
}

// cluster starts c.workers workers and measures each strategy in front of them, each repetition;
// it returns the best over strategies of the median over repetitions.
func (r *runner) cluster(ctx context.Context, spec cluster.Spec, c cell, strategies []balancer.Strategy) (scaling.Point, error) {
	if c.store != "" {
		r.event("starting %d worker(s), session store %s", c.workers, c.store)
	} else {
		r.event("starting %d worker(s)", c.workers)
	}
	if t := r.sc.Target; t.Hold > 0 && r.sc.Redis != nil {
		// One token for the shared resource, whatever a previous cluster left holding it.
		if err := target.ResetLock(ctx, r.sc.Redis.Addr, t.LockKey); err != nil {
			return scaling.Point{}, &StartError{fmt.Errorf("target.hold: %w", err)}
		}
	}
	cl, addrs, stop, err := r.start(ctx, spec, c.workers)
	if err != nil {
		return scaling.Point{}, err
	}
	defer stop()

	var best scaling.Point
	for _, strategy := range strategies {
		c.strategy = strategy
		var reps []scaling.Point
		for rep := 1; rep <= max(1, r.sc.Load.Repeat); rep++ {
			c.rep = rep
			p, err := r.measure(ctx, cl, addrs, c)
			if p.Capacity > 0 {
				reps = append(reps, p)
			}
			if err != nil {
				return best, err
			}
		}
		best = better(best, medianPoint(reps))
	}
	return best, nil
}

// medianPoint is the repetitions' median capacity with the medians of their intervals' ends; it
// is saturated or disturbed when any repetition was.
func medianPoint(reps []scaling.Point) scaling.Point {
	if len(reps) == 0 {
		return scaling.Point{}
	}
	var caps, los, his []float64
	out := scaling.Point{Workers: reps[0].Workers}
	for _, p := range reps {
		caps = append(caps, p.Capacity)
		lo, hi := p.Interval()
		los, his = append(los, lo), append(his, hi)
		out.Unsaturated = out.Unsaturated || p.Unsaturated
		out.Disturbed = out.Disturbed || p.Disturbed
	}
	out.Capacity, out.Lo, out.Hi = scaling.Median(caps), scaling.Median(los), scaling.Median(his)
	return out
}

func strategies(sc *scenario.Scenario) []balancer.Strategy {
	if len(sc.Balancer.Strategies) > 0 {
		return sc.Balancer.Strategies
	}
	return []balancer.Strategy{sc.Balancer.Strategy}
}

// measure puts a balancer with c's strategy in front of the workers listening at addrs and runs
// the scenario's load steps (fixed rates or a capacity search) through it; with target.url the
// load goes straight to that URL instead, and addrs is nil.
func (r *runner) measure(ctx context.Context, cl workerSet, addrs []string, c cell) (scaling.Point, error) {
	m := &meter{runner: r, cell: c, cl: cl, bal: direct{}, url: r.sc.Target.URL}
	if addrs != nil {
		fr, laddr, stopFront, err := r.startFront(ctx, addrs, c.strategy)
		if err != nil {
			return scaling.Point{}, &StartError{err}
		}
		defer stopFront()
		m.bal, m.url = fr, "http://"+laddr+r.sc.Target.Path
	}
	defer m.reportHealth()
	if err := r.settle(ctx, m); err != nil {
		return scaling.Point{}, err
	}
	if err := r.waitStart(ctx); err != nil {
		return scaling.Point{}, err
	}
	if r.sc.Load.Search != nil {
		return m.search(ctx)
	}
	return m.rates(ctx)
}

// settle runs one unrecorded step before the run's first measurement, when the scenario has a
// warm-up at all: the first worker count would otherwise be measured on a cold machine (caches,
// CPU frequency, the runtime's heap and the balancer's pools still growing), and the run's
// baseline, on which every speedup rests, would come out lower than the same count measured a
// minute later.
func (r *runner) settle(ctx context.Context, m *meter) error {
	if r.settled || r.sc.Load.Warmup == 0 {
		return nil // a scenario without warm-up asks for no unmeasured load
	}
	r.settled = true
	rate := float64(load.DefaultSearchStart * 4) // the first count's, which no earlier capacity guides
	if r.sc.Load.Search == nil {
		rate = r.sc.Load.Rates[0]
	}
	l := r.sc.Load
	d := min(settleTime, l.Warmup+l.Duration)
	r.event("settling the machine: %v at %.0f rps, not recorded", d, rate)
	ls := r.loadStep(m.url, rate)
	ls.Duration, ls.Warmup = d, 0
	lr, err := load.Attack(ctx, ls)
	if s := r.sc.Load.Search; s != nil && (load.SearchConfig{P99: s.P99, Success: s.Success}).Passes(lr) {
		r.settledAt = rate // the first search need not ramp up through it again
	}
	return err
}

// waitStart waits for Options.StartAt, once.
func (r *runner) waitStart(ctx context.Context) error {
	if r.started || r.opts.StartAt.IsZero() {
		return nil
	}
	r.started = true
	d := time.Until(r.opts.StartAt)
	if d <= 0 {
		return nil
	}
	r.event("waiting %v for the start at %s", d.Round(time.Millisecond), r.opts.StartAt.UTC().Format(time.RFC3339Nano))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// staircaseSteps is how many steps a capacity search spends going up and down around the
// capacity after its bisection (load.SearchConfig.Staircase): on cpu.yaml, a bisection alone left
// capacity ratios 2/1 spread over ±0.04 from run to run, because near the capacity a 2 s step
// passes or fails by chance.
const staircaseSteps = 6

// settleTime is how long settle loads the machine at most (one step's length when shorter).
const settleTime = 2 * time.Second

// search runs a capacity search and returns its answer.
func (m *meter) search(ctx context.Context) (scaling.Point, error) {
	s := m.sc.Load.Search
	// The first count starts above the settling load when that met the objective, and doubles.
	cfg := load.SearchConfig{P99: s.P99, Success: s.Success, MaxSteps: s.MaxSteps, Start: math.Round(2 * m.settledAt), Staircase: staircaseSteps}
	if guess := m.guess(); guess > 0 {
		cfg.Start, cfg.Near = guess, true
	}
	rows := map[float64][]int{} // rows in res.Steps of the steps the search saw, by rate
	disturbed := false
	step := func(ctx context.Context, rate float64) (load.Result, error) {
		st, lr, err := m.settledStep(ctx, rate, func(st *Step) {
			if st.P99 > s.P99 {
				st.Flags = append(st.Flags, FlagOverSLO)
			}
		})
		if st.Has(FlagNoisy) {
			disturbed = true
		}
		if err == nil || lr.Requests > 0 {
			rows[rate] = append(rows[rate], len(m.res.Steps)-1)
		}
		return lr, err
	}
	if t := m.turns; t != nil {
		// Searching with other counts: each step waits for its turn.
		cfg.Bracketed = func(lo float64) { t.bracketed(m.workers(), lo) }
		alone := step
		step = func(ctx context.Context, rate float64) (lr load.Result, err error) {
			if werr := t.do(ctx, m.workers(), func() { lr, err = alone(ctx, rate) }); werr != nil {
				return load.Result{}, werr
			}
			return lr, err
		}
		var p scaling.Point
		found, err := load.FindCapacity(ctx, cfg, step)
		t.exclusive(func() {
			// Measured again alone, between the other counts' steps: with the workers pinned,
			// fifteen runs of cpu.yaml taking turns flagged two inversions, each resting on one
			// failing step (800 rps at 84 ms below 889 at 42), none measured again.
			m.markInversion(ctx, alone, rows)
			p = m.capacity(cfg, found, rows, disturbed)
		})
		return p, err
	}
	found, err := load.FindCapacity(ctx, cfg, step)
	if err == nil && !m.recheckAbove(ctx, step, rows) {
		m.markInversion(ctx, step, rows)
	}
	return m.capacity(cfg, found, rows, disturbed), err
}

// guess is where the search of a later worker count starts: the earlier count's capacity scaled
// linearly over the cores the two can keep busy, min(workers, cores), as CPU-bound workers scale
// until the cores run out. From there the search ramps by 10 %, then 20, 40, 80 %, up or down
// (load.SearchConfig.Near). On cpu.yaml (2 cores) two workers start at twice one worker's
// capacity and four at two workers', and a run took 33–37 steps where doubling from below had
// taken 39–46. Workers that scale past the cores (I/O-bound) pay a step or two more on the way
// up. Replicas bench does not start on this machine scale linearly, without the cores' bound.
// Zero for the first count.
func (m *meter) guess() float64 {
	from := m.cell.prior
	if from.capacity <= 0 || from.workers <= 0 {
		return 0
	}
	busy := func(n int) float64 {
		if !m.sc.Target.Spawned() || !m.sc.Scale.Local() {
			return float64(n)
		}
		return float64(min(n, max(m.opts.Cores, 1)))
	}
	return math.Round(from.capacity * busy(m.workers()) / busy(from.workers))
}

// recheckAbove measures once more, of the rates that missed the objective at least invertedGap
// above the lowest that did, the one that came closest (lowest p99): a search that fell into a
// band of rates whose latency is worse than above it (see Inversion) never climbs back to see
// that. On cpu.yaml, two workers on a host that woke idle cores slowly: 800 rps failed once by
// chance, the search settled at 570–630 rps in the band below it, and 800 met the objective in
// most other runs. When the rate meets the objective now, its step is flagged p99-fell and
// recheckAbove reports true; in a search whose latency grows with the rate, that step, above the
// capacity, fails again.
func (m *meter) recheckAbove(ctx context.Context, again func(context.Context, float64) (load.Result, error), rows map[float64][]int) bool {
	latest := func(rate float64) *Step { return &m.res.Steps[lastRow(rows, rate)] }
	failed := func(rate float64) bool { st := latest(rate); return st.clean() && st.Has(FlagOverSLO) }
	lowest, above := math.Inf(1), math.Inf(1)
	for rate := range rows {
		if failed(rate) {
			lowest = min(lowest, rate)
		}
	}
	for rate := range rows {
		if failed(rate) && rate >= invertedGap*lowest && (math.IsInf(above, 1) || latest(rate).P99 < latest(above).P99) {
			above = rate
		}
	}
	if math.IsInf(above, 1) {
		return false
	}
	if _, err := again(ctx, above); err != nil {
		return false
	}
	st := latest(above)
	if !st.clean() || st.Has(FlagOverSLO) {
		return false
	}
	st.Flags = append(st.Flags, FlagInverted)
	m.event("%d worker(s): %.0f rps met the objective (p99 %v) when measured again, above rates from %.0f rps that missed it: no capacity under a p99 objective is well defined here",
		m.workers(), above, st.P99.Round(time.Millisecond), lowest)
	return true
}

// capacity marks the step a search's answer rests on and returns the answer.
func (m *meter) capacity(cfg load.SearchConfig, found load.Capacity, rows map[float64][]int, disturbed bool) scaling.Point {
	estimate, lo, hi := found.Estimate(cfg)
	// The capacity step is the passing step at the highest rate not above the estimate: the
	// measured step closest to the answer from the safe side. Its rate is the rate it carried
	// (offered × success), as the estimate's are: the throughput measured over the window can
	// come out a little above that, and the step the estimate is taken from would then be
	// passed over.
	best := -1
	for _, idx := range rows {
		for _, i := range idx {
			st := m.res.Steps[i]
			if st.Flagged() || st.Has(FlagOverSLO) || st.Offered*st.Success > estimate*(1+1e-9) {
				continue
			}
			if best < 0 || st.Offered > m.res.Steps[best].Offered {
				best = i
			}
		}
	}
	if best >= 0 && estimate > 0 {
		m.res.Steps[best].Capacity = true
	}
	if found.GeneratorLimited && !found.Saturated() {
		m.event("%d worker(s): the generator fell behind at %.0f rps: the capacity may be higher than measured", m.workers(), found.Limit)
	}
	p := scaling.Point{Workers: m.workers(), Capacity: estimate, Lo: lo, Hi: hi, Unsaturated: !found.Saturated(), Disturbed: disturbed}
	if p.Unsaturated && estimate > 0 {
		m.event("%d worker(s): not saturated: every step up to %.0f rps passed; the capacity is at least that", m.workers(), lo)
	}
	return p
}

// markInversion flags the step of a search whose p99 fell as the rate rose (see Inversion) and
// says so. The pair of rates is measured once more first with again, the step function of the
// search, and only an inversion that repeats is flagged: a step that a passing hiccup slowed can
// miss the objective below a rate that met it.
func (m *meter) markInversion(ctx context.Context, again func(context.Context, float64) (load.Result, error), rows map[float64][]int) {
	var idx []int // the search's rows, in the order they ran
	for _, r := range rows {
		idx = append(idx, r...)
	}
	slices.Sort(idx)
	steps := make([]Step, len(idx))
	for k, i := range idx {
		steps[k] = m.res.Steps[i]
	}
	a, b, ok := Inversion(steps)
	if !ok {
		return
	}
	lo, hi := steps[a], steps[b]
	_, errLo := again(ctx, lo.Offered)
	_, errHi := again(ctx, hi.Offered)
	if errLo != nil || errHi != nil {
		return
	}
	flag := lastRow(rows, hi.Offered)
	lo2, hi2 := m.res.Steps[lastRow(rows, lo.Offered)], m.res.Steps[flag]
	if _, _, ok := Inversion([]Step{lo2, hi2}); !ok {
		m.event("%d worker(s): p99 fell as the rate rose once (%s), not when measured again", m.workers(), InversionText(lo, hi))
		return
	}
	m.res.Steps[flag].Flags = append(m.res.Steps[flag].Flags, FlagInverted)
	m.event("%d worker(s): p99 fell as the rate rose (%s): no capacity under a p99 objective is well defined here",
		m.workers(), InversionText(lo2, hi2))
}

// rates runs the scenario's fixed-rate steps; the capacity is the best unflagged throughput, and
// the worker count is saturated when some step lost throughput, failed, or missed the SLO.
func (m *meter) rates(ctx context.Context) (scaling.Point, error) {
	var steps []load.Result
	var rates []float64
	var capacity float64
	disturbed := false
	for _, rate := range m.sc.Load.Rates {
		st, lr, err := m.settledStep(ctx, rate, nil)
		if err != nil && st.Requests == 0 {
			return m.fixedPoint(capacity, rates, steps, disturbed), err
		}
		disturbed = disturbed || st.Has(FlagNoisy)
		steps, rates = append(steps, lr), append(rates, rate)
		if !st.Flagged() && st.Throughput > capacity {
			capacity = st.Throughput
		}
		if err != nil {
			return m.fixedPoint(capacity, rates, steps, disturbed), err
		}
	}
	return m.fixedPoint(capacity, rates, steps, disturbed), nil
}

func (m *meter) fixedPoint(capacity float64, rates []float64, steps []load.Result, disturbed bool) scaling.Point {
	p := scaling.Point{Workers: m.workers(), Capacity: capacity, Disturbed: disturbed}
	lo, hi := load.Bracket(rates, steps, m.keptUp)
	p.Unsaturated = hi == 0
	p.Lo, p.Hi = min(lo, capacity), max(hi, capacity)
	if lo == 0 {
		p.Lo = capacity
	}
	if p.Unsaturated {
		p.Hi = math.Inf(1)
	}
	return p
}

// keptUp reports whether a fixed-rate step's target kept up with the offered rate: throughput
// close to it, few failures, and within the SLO when the scenario has one.
func (m *meter) keptUp(r load.Result) bool {
	ok := r.Requests > 0 && r.Throughput >= LostThroughput*r.Offered && r.Success >= MinSuccess
	if o := m.sc.SLO; o != nil && o.P99 > 0 {
		ok = ok && r.Quantile(99) <= o.P99
	}
	return ok
}

// meter runs load steps of one cell against one started cluster and accounts CPU and shares for
// each.
type meter struct {
	*runner
	cell
	cl      workerSet
	bal     front
	url     string
	healthN int // health events already reported
}

func (m *meter) workers() int { return m.cell.workers }

type cpuMark struct {
	at             time.Time
	workers, bench time.Duration
	machine        cluster.MachineCPU
}

func (m *meter) mark() cpuMark {
	self, _ := cluster.SelfCPU()
	mc, _ := cluster.ReadMachineCPU()
	return cpuMark{at: time.Now(), workers: m.cl.CPU(), bench: self + m.bal.CPU() + m.ours(), machine: mc}
}

// settledStep runs a step at rate and records it; while the step was noisy it is measured again,
// up to MaxRetries times, after waiting for the machine to quieten: the noisy steps stay in the
// results, flagged retried, and the last one counts (still flagged noisy if it was). flag, when
// set, adds flags to each step before it is recorded.
func (m *meter) settledStep(ctx context.Context, rate float64, flag func(*Step)) (Step, load.Result, error) {
	for try := 0; ; try++ {
		st, lr, err := m.step(ctx, rate)
		if flag != nil {
			flag(&st)
		}
		again := st.Has(FlagNoisy) && try < MaxRetries && err == nil && m.opts.Shards <= 1
		if again {
			st.Flags = append(st.Flags, FlagRetried)
		}
		if err == nil || lr.Requests > 0 {
			m.record(st)
		}
		if !again {
			return st, lr, err
		}
		m.event("%d worker(s) at %.0f rps: other processes used %.0f%% of the machine; measuring again", m.workers(), rate, 100*st.OtherCPUShare())
		m.waitQuiet(ctx)
	}
}

// waitQuiet waits, at most quietWait, until other processes use less than the noise threshold
// over a quietSlice.
func (m *meter) waitQuiet(ctx context.Context) {
	for deadline := time.Now().Add(quietWait); time.Now().Before(deadline); {
		before := m.mark()
		select {
		case <-ctx.Done():
			return
		case <-time.After(quietSlice):
		}
		if share := cpuShare(other(before, m.mark()), quietSlice, m.opts.Cores); share < m.noiseThreshold() {
			return
		}
	}
}

const (
	quietWait  = 3 * time.Second
	quietSlice = 250 * time.Millisecond
)

func (m *meter) noiseThreshold() float64 {
	if t := m.sc.Load.NoiseThreshold; t > 0 {
		return t
	}
	return scenario.DefaultNoiseThreshold
}

// other is the CPU used between two marks by everything but the workers and bench.
func other(start, end cpuMark) time.Duration {
	all := end.machine.Busy - start.machine.Busy
	ours := (end.workers - start.workers) + (end.bench - start.bench)
	return max(all-ours, 0)
}

func (m *meter) record(st Step) {
	m.res.Steps = append(m.res.Steps, st)
	if m.opts.OnStep != nil {
		m.opts.OnStep(st)
	}
}

// reportHealth passes the balancer's ejections and readmissions since the last call to OnEvent,
// as `bench serve` prints them: a run whose requests fail says why.
func (m *meter) reportHealth() {
	h := m.bal.Health()
	for _, e := range h[min(m.healthN, len(h)):] {
		if e.Healthy {
			m.event("worker %d readmitted (%s)", e.Index, e.Reason)
		} else {
			m.event("worker %d ejected (%s)", e.Index, e.Reason)
		}
	}
	m.healthN = len(h)
}

func (m *meter) step(ctx context.Context, rate float64) (Step, load.Result, error) {
	l := m.sc.Load
	id := Step{Workers: m.workers(), Strategy: string(m.strategy), Store: string(m.store), Rep: m.rep, Search: l.Search != nil, Offered: rate}
	row := len(m.res.Steps) + 1
	ls := m.loadStep(m.url, rate)
	ls.Name = stepName(row, id)
	if m.opts.OnProgress != nil {
		ls.Progress = func(p load.Progress) { m.opts.OnProgress(Progress{Row: row, Step: id, Progress: p}) }
	}
	var raw io.WriteCloser
	if m.opts.Raw != nil {
		var err error
		if raw, err = m.opts.Raw(row, id); err != nil {
			return id, load.Result{}, fmt.Errorf("raw results of step %d: %w", row, err)
		}
		if raw != nil {
			ls.Raw = raw
		}
	}

	// The measured window starts after the warm-up: reset the per-worker counters and take the CPU
	// readings then, so that shares and CPU cover the same requests as the latencies.
	var start cpuMark
	started := make(chan struct{})
	timer := time.AfterFunc(l.Warmup, func() {
		m.bal.ResetCounts()
		start = m.mark()
		close(started)
	})
	eventsBefore := len(m.cl.Events())
	faults := injectFaults(m.cl, m.sc.Faults, m.workers(), l.Warmup)
	lr, err := load.Attack(ctx, ls) // encodes and flushes the raw results before it returns
	if !timer.Stop() {
		<-started
	} else {
		start = m.mark() // cancelled during warm-up: an empty window
	}
	end := m.mark()
	if raw != nil {
		if cerr := raw.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("raw results of step %d: %w", row, cerr)
		}
	}
	events := m.cl.Events()[eventsBefore:]
	m.reportHealth()

	st := id
	st.Sent, st.Throughput, st.Success, st.Requests, st.Lag = lr.Sent, lr.Throughput, lr.Success, lr.Requests, lr.Lag
	st.Share = shareOf(m.bal.Counts(), lr.Workers, m.workers())
	st.Retries = m.bal.Retries()
	st.Elapsed = end.at.Sub(start.at)
	st.WorkerCPU, st.BenchCPU = end.workers-start.workers, end.bench-start.bench
	st.OtherCPU, st.Steal = other(start, end), end.machine.Steal-start.machine.Steal
	st.BenchRSS = cluster.SelfRSS()
	st.Cores = m.opts.Cores
	st.Errors, st.Classes = lr.Errors, lr.Classes
	st.Sessions = lr.Sessions
	st.Restarts = restartsIn(events)
	st.CtxSwitches = perSecond(end.machine.Ctxt-start.machine.Ctxt, st.Elapsed)
	st.Faults = faults.finish(events, m.bal.Health(), lr)
	if lr.Latency != nil && lr.Latency.TotalCount() > 0 {
		st.P50, st.P90, st.P99, st.P999 = lr.Quantile(50), lr.Quantile(90), lr.Quantile(99), lr.Quantile(99.9)
		st.Max = time.Duration(lr.Latency.Max()) * time.Microsecond
		st.Latency = lr.Latency
	}
	if lr.FailLatency != nil && lr.FailLatency.TotalCount() > 0 {
		st.FailP99 = time.Duration(lr.FailLatency.ValueAtQuantile(99)) * time.Microsecond
	}
	if lr.Behind {
		st.Flags = append(st.Flags, FlagBehind)
	}
	if lr.Requests > 0 && lr.Success < MinSuccess {
		st.Flags = append(st.Flags, FlagErrors)
	}
	if _, blind := m.cl.(elsewhere); !blind && st.Elapsed > 0 && st.OtherCPUShare() > m.noiseThreshold() {
		st.Flags = append(st.Flags, FlagNoisy)
	}
	return st, lr, err
}

// workerSpec turns the scenario's target into the command the cluster starts.
func workerSpec(sc *scenario.Scenario, store target.Store, opts Options) (cluster.Spec, error) {
	t := sc.Target
	spec := cluster.Spec{
		Restart: cluster.RestartPolicy{
			Enabled: sc.Restart.Enabled, Max: sc.Restart.Max, Within: sc.Restart.Within,
		},
		PortEnv:      t.PortEnv,
		ReadyPath:    t.ReadyPath,
		ReadyTimeout: t.ReadyTimeout,
		Pin:          t.Pin,
	}
	for k, v := range t.Env {
		spec.Env = append(spec.Env, k+"="+v)
	}
	if len(t.Command) > 0 {
		spec.Command = t.Command
		return spec, nil
	}
	cmd := opts.WorkerCommand
	if cmd == nil {
		exe, err := os.Executable()
		if err != nil {
			return spec, fmt.Errorf("cannot find the bench executable to start built-in workers: %w", err)
		}
		cmd = []string{exe, "worker"}
	}
	w := target.Config{Workload: t.Builtin, Cost: t.Cost, Concurrency: t.Concurrency, Threads: t.Threads}
	if t.Builtin.Burns() && t.Cost > 0 {
		// One calibration for the whole run (cached in this process): every worker at every
		// count then burns the same loop iterations per request.
		w.ItersPerMs = target.Calibrate().ItersPerMs
	}
	if t.Builtin == target.WorkloadSession {
		w.Store = store
	}
	if t.Hold > 0 {
		w.Hold, w.LockKey = t.Hold, t.LockKey
	}
	if sc.Redis != nil && (store == target.StoreRedis || t.Hold > 0) {
		w.RedisAddr = sc.Redis.Addr
	}
	spec.Command = append(append([]string(nil), cmd...), target.Args(w, t.Slowdown)...)
	// GOMAXPROCS in the environment makes the runtime start with it, before any flag is parsed.
	spec.Env = append(spec.Env, "GOMAXPROCS="+strconv.Itoa(t.Threads))
	return spec, nil
}

func (r *runner) event(format string, args ...any) {
	if r.opts.OnEvent != nil {
		r.opts.OnEvent(fmt.Sprintf(format, args...))
	}
}

// loadStep is the scenario's load step at rate against url: its request mix (converted once per
// run), timing, connections, and this generator's part of the schedule (Options.Shard).
func (r *runner) loadStep(url string, rate float64) load.Step {
	if r.requests == nil {
		r.requests = loadRequests(r.sc)
	}
	l := r.sc.Load
	ls := load.Step{URL: url, Requests: r.requests, Rate: rate, Duration: l.Duration, Warmup: l.Warmup,
		Timeout: l.Timeout, Clients: l.Clients, Connections: l.Connections, AllowHosts: r.sc.Target.RemoteHosts()}
	if r.opts.Shards > 1 {
		ls.Shard, ls.Shards = r.opts.Shard, r.opts.Shards
	}
	return ls
}

// IsStartError reports whether err is a failure to start workers or the balancer.
func IsStartError(err error) bool {
	var se *StartError
	return errors.As(err, &se)
}

func perSecond(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// shareOf returns the per-worker request counts: the balancer's when it keeps them, otherwise the
// ones the responses' X-Worker headers gave (reuseport, HAProxy), padded to n workers.
func shareOf(balancer, responses []uint64, n int) []uint64 {
	if balancer != nil {
		return balancer
	}
	if responses == nil {
		return nil
	}
	out := make([]uint64, max(n, len(responses)))
	copy(out, responses)
	return out
}

// Failure says why the run measured nothing usable when no step reached the success threshold
// (the search's, or MinSuccess): the commonest errors and where they came from. "" when some
// step did, or when there were no steps.
func (r *Result) Failure() string {
	threshold := MinSuccess
	if r.Scenario != nil && r.Scenario.Load.Search != nil && r.Scenario.Load.Search.Success > 0 {
		threshold = r.Scenario.Load.Search.Success
	}
	var classes load.ErrorClasses
	errs := map[string]int{}
	for _, st := range r.Steps {
		if st.Requests > 0 && st.Success >= threshold {
			return ""
		}
		classes.Target += st.Classes.Target
		classes.Balancer += st.Classes.Balancer
		classes.Generator += st.Classes.Generator
		for e, n := range st.Errors {
			errs[e] += n
		}
	}
	if len(r.Steps) == 0 {
		return ""
	}
	top := make([]string, 0, len(errs))
	for e := range errs {
		top = append(top, e)
	}
	sort.Slice(top, func(i, j int) bool {
		if errs[top[i]] != errs[top[j]] {
			return errs[top[i]] > errs[top[j]]
		}
		return top[i] < top[j]
	})
	var b strings.Builder
	fmt.Fprintf(&b, "no step reached %.1f%% success: failures came from the workers (%d), the balancer's own 502/503 (%d), the generator (no response: %d)",
		100*threshold, classes.Target, classes.Balancer, classes.Generator)
	for i, e := range top {
		if i == 3 {
			break
		}
		sep := "; commonest: "
		if i > 0 {
			sep = ", "
		}
		fmt.Fprintf(&b, "%s%d× %q", sep, errs[e], e)
	}
	return b.String()
}
