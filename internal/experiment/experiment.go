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
	"sort"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/bench-dev/bench/internal/cluster"
	"github.com/bench-dev/bench/internal/load"
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
)

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

	P50, P90, P99, P999, Max time.Duration
	Lag                      time.Duration // p99 of how late requests were sent versus the schedule
	// Latency holds every measured request's latency in microseconds (load.Result.Latency); nil
	// for a step read back from summary.csv, which keeps only the quantiles.
	Latency *hdrhistogram.Histogram

	Share []uint64 // requests served per worker during the measured window, worker 1 first

	Elapsed   time.Duration // the measured window
	WorkerCPU time.Duration // CPU used by all workers in the window
	BenchCPU  time.Duration // CPU used by bench itself (generator and balancer) in the window
	Cores     int

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

	Errors map[string]int
	Flags  []string
}

// WorkerCPUShare is the workers' CPU as a fraction of the machine (all cores) over the window.
func (s Step) WorkerCPUShare() float64 { return cpuShare(s.WorkerCPU, s.Elapsed, s.Cores) }

// BenchCPUShare is bench's own CPU (generator and balancer) as a fraction of the machine.
func (s Step) BenchCPUShare() float64 { return cpuShare(s.BenchCPU, s.Elapsed, s.Cores) }

func cpuShare(cpu, elapsed time.Duration, cores int) float64 {
	if elapsed <= 0 || cores <= 0 {
		return 0
	}
	return cpu.Seconds() / (elapsed.Seconds() * float64(cores))
}

// Flagged reports whether the step must not count as a measure of the cluster's capacity.
func (s Step) Flagged() bool {
	for _, f := range s.Flags {
		if f == FlagBehind || f == FlagErrors {
			return true
		}
	}
	return false
}

// Result is a whole run.
type Result struct {
	Scenario *scenario.Scenario
	Started  time.Time
	Cores    int
	Steps    []Step
	// Capacity per worker count: the search's answer, or the best unflagged throughput over the
	// offered rates.
	Capacity []scaling.Point
	Scaling  []scaling.Row
}

// CapacityAt returns the capacity measured at n workers, 0 if none.
func (r *Result) CapacityAt(n int) float64 {
	for _, p := range r.Capacity {
		if p.Workers == n {
			return p.Capacity
		}
	}
	return 0
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

// Run executes the scenario. On error (including cancellation) the returned Result still holds
// every step finished before it.
func Run(ctx context.Context, sc *scenario.Scenario, opts Options) (*Result, error) {
	if opts.Cores == 0 {
		opts.Cores = runtime.NumCPU()
	}
	res := &Result{Scenario: sc, Started: time.Now().UTC(), Cores: opts.Cores}
	if sc.Redis != nil && sc.Redis.Start {
		addr, stop, err := startRedis(ctx)
		if err != nil {
			return res, &StartError{err}
		}
		defer stop()
		event(opts, "started redis-server on %s", addr)
		r := *sc.Redis
		r.Addr = addr
		copied := *sc
		copied.Redis = &r
		sc = &copied
	}
	stores := sc.Target.StoreList()
	if len(stores) == 0 {
		stores = []string{""}
	}
	specs := make([]cluster.Spec, len(stores))
	for i, store := range stores {
		spec, err := workerSpec(sc, store, opts)
		if err != nil {
			return res, &StartError{err}
		}
		specs[i] = spec
	}
	var runErr error
	var prev float64
	for _, n := range sc.Workers {
		var capacity float64
		var err error
		for i, spec := range specs {
			var c float64
			c, err = runWorkers(ctx, sc, spec, stores[i], n, prev, opts, res)
			capacity = max(capacity, c)
			if err != nil {
				break
			}
		}
		prev = capacity
		if capacity > 0 {
			res.Capacity = append(res.Capacity, scaling.Point{Workers: n, Capacity: capacity})
		}
		if err != nil {
			runErr = err
			break
		}
	}
	if len(res.Capacity) > 0 {
		cores := opts.Cores
		if sc.Target.Builtin == "sleep" {
			cores = 0 // waiting workers do not compete for cores: no "oversubscribed" note
		}
		res.Scaling, _ = scaling.Table(res.Capacity, cores)
	}
	return res, runErr
}

// runWorkers measures one worker count, for each strategy and repetition, and returns its
// capacity: the best over strategies of the median over repetitions. prev is the capacity of the
// previous worker count, from which a capacity search starts (0: from the search's default).
func runWorkers(ctx context.Context, sc *scenario.Scenario, spec cluster.Spec, store string, n int, prev float64, opts Options, res *Result) (float64, error) {
	// Strategies behind the balancer share one cluster; reuseport needs its own, every worker on
	// one port, and no balancer at all.
	var proxied []string
	reuse := false
	for _, s := range strategies(sc) {
		if s == "reuseport" {
			reuse = true
		} else {
			proxied = append(proxied, s)
		}
	}
	var best float64
	if len(proxied) > 0 {
		c, err := runCluster(ctx, sc, spec, store, n, proxied, prev, opts, res)
		best = max(best, c)
		if err != nil {
			return best, err
		}
	}
	if reuse {
		if len(sc.Target.Command) > 0 {
			return best, &StartError{errors.New("balancer.strategy reuseport: the workers must listen with SO_REUSEPORT on one shared port; the built-in worker does, a target.command cannot be made to")}
		}
		shared := spec
		shared.SharedPort = true
		c, err := runCluster(ctx, sc, shared, store, n, []string{"reuseport"}, prev, opts, res)
		best = max(best, c)
		if err != nil {
			return best, err
		}
	}
	return best, nil
}

// runCluster starts n workers and measures each strategy in front of them, each repetition; it
// returns the best over strategies of the median capacity over repetitions.
func runCluster(ctx context.Context, sc *scenario.Scenario, spec cluster.Spec, store string, n int, strategies []string, prev float64, opts Options, res *Result) (float64, error) {
	if store != "" {
		event(opts, "starting %d worker(s), session store %s", n, store)
	} else {
		event(opts, "starting %d worker(s)", n)
	}
	if t := sc.Target; t.Hold > 0 && sc.Redis != nil {
		// One token for the shared resource, whatever a previous cluster left holding it.
		if err := target.ResetLock(ctx, sc.Redis.Addr, t.LockKey); err != nil {
			return 0, &StartError{fmt.Errorf("target.hold: %w", err)}
		}
	}
	cl, err := cluster.Start(ctx, spec, n)
	if err != nil {
		return 0, &StartError{err}
	}
	defer cl.Stop()

	workers := cl.Workers()
	addrs := make([]string, len(workers))
	for i, w := range workers {
		addrs[i] = w.Addr
	}
	var best float64
	for _, strategy := range strategies {
		var caps []float64
		for rep := 1; rep <= max(1, sc.Load.Repeat); rep++ {
			c, err := measure(ctx, sc, cl, addrs, store, strategy, rep, prev, opts, res)
			if c > 0 {
				caps = append(caps, c)
			}
			if err != nil {
				return best, err
			}
		}
		if c := scaling.Median(caps); c > best {
			best = c
		}
	}
	return best, nil
}

func strategies(sc *scenario.Scenario) []string {
	if len(sc.Balancer.Strategies) > 0 {
		return sc.Balancer.Strategies
	}
	return []string{sc.Balancer.Strategy}
}

// measure puts a balancer with one strategy in front of the running cluster and runs the
// scenario's load steps (fixed rates or a capacity search) through it.
func measure(ctx context.Context, sc *scenario.Scenario, cl *cluster.Cluster, addrs []string, store, strategy string, rep int, prev float64, opts Options, res *Result) (float64, error) {
	n := len(addrs)
	fr, laddr, stopFront, err := startFront(ctx, sc, addrs, strategy, opts.Listen)
	if err != nil {
		return 0, &StartError{err}
	}
	defer stopFront()
	url := "http://" + laddr + sc.Target.Path

	m := &meter{sc: sc, cl: cl, bal: fr, url: url, workers: n, cores: opts.Cores, store: store, strategy: strategy, rep: rep,
		opts: opts, res: res, search: sc.Load.Search != nil}
	record := func(st Step) {
		res.Steps = append(res.Steps, st)
		if opts.OnStep != nil {
			opts.OnStep(st)
		}
	}

	if s := sc.Load.Search; s != nil {
		// More workers rarely carry less than fewer did: starting just below the previous capacity
		// saves the ramp's first steps; the search ramps down if that is still too high.
		cfg := load.SearchConfig{P99: s.P99, Success: s.Success, MaxSteps: s.MaxSteps, Start: math.Round(0.8 * prev)}
		var capacity float64
		best := -1 // index in res.Steps of the step whose throughput is capacity
		found, err := load.FindCapacity(ctx, cfg, func(ctx context.Context, rate float64) (load.Result, error) {
			st, lr, err := m.step(ctx, rate)
			if st.P99 > s.P99 {
				st.Flags = append(st.Flags, FlagOverSLO)
			}
			if err == nil || lr.Requests > 0 {
				record(st)
			}
			if cfg.Passes(lr) && lr.Throughput > capacity {
				capacity = lr.Throughput
				best = len(res.Steps) - 1 // a passing step measured requests, so it was recorded
			}
			return lr, err
		})
		if best >= 0 {
			res.Steps[best].Capacity = true
		}
		if found.GeneratorLimited {
			event(opts, "%d worker(s): the generator fell behind at %.0f rps: the capacity may be higher than measured", n, found.Limit)
		}
		return capacity, err
	}

	var capacity float64
	for _, rate := range sc.Load.Rates {
		st, _, err := m.step(ctx, rate)
		if err != nil && st.Requests == 0 {
			return capacity, err
		}
		record(st)
		if !st.Flagged() && st.Throughput > capacity {
			capacity = st.Throughput
		}
		if err != nil {
			return capacity, err
		}
	}
	return capacity, nil
}

// meter runs load steps against one started cluster and accounts CPU and shares for each.
type meter struct {
	sc       *scenario.Scenario
	cl       *cluster.Cluster
	bal      front
	url      string
	workers  int
	cores    int
	store    string
	strategy string
	rep      int
	search   bool // the steps are a capacity search's
	opts     Options
	res      *Result // where finished steps go: the next step's row is len(res.Steps)+1
}

type cpuMark struct {
	at             time.Time
	workers, bench time.Duration
	ctxt           uint64 // context switches of the whole machine since boot
}

func (m *meter) mark() cpuMark {
	self, _ := cluster.SelfCPU()
	return cpuMark{at: time.Now(), workers: m.cl.CPU(), bench: self + m.bal.CPU(), ctxt: contextSwitches()}
}

func (m *meter) step(ctx context.Context, rate float64) (Step, load.Result, error) {
	l := m.sc.Load
	id := Step{Workers: m.workers, Strategy: m.strategy, Store: m.store, Rep: m.rep, Search: m.search, Offered: rate}
	row := len(m.res.Steps) + 1
	ls := load.Step{URL: m.url, Name: stepName(row, id), Requests: loadRequests(m.sc), Rate: rate, Duration: l.Duration, Warmup: l.Warmup, Timeout: l.Timeout, Clients: l.Clients, Connections: l.Connections}
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
	began := time.Now()
	faults := injectFaults(m.cl, m.sc.Faults, m.workers)
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

	st := Step{
		Workers:     m.workers,
		Strategy:    m.strategy,
		Store:       m.store,
		Rep:         m.rep,
		Search:      m.search,
		Offered:     rate,
		Sent:        lr.Sent,
		Throughput:  lr.Throughput,
		Success:     lr.Success,
		Requests:    lr.Requests,
		Lag:         lr.Lag,
		Share:       shareOf(m.bal.Counts(), lr.Workers, m.workers),
		Retries:     m.bal.Retries(),
		Elapsed:     end.at.Sub(start.at),
		WorkerCPU:   end.workers - start.workers,
		BenchCPU:    end.bench - start.bench,
		BenchRSS:    selfRSS(),
		Cores:       m.cores,
		Errors:      lr.Errors,
		Sessions:    lr.Sessions,
		Restarts:    restartsIn(events),
		CtxSwitches: perSecond(end.ctxt-start.ctxt, end.at.Sub(start.at)),
		Faults:      faults.finish(events, m.bal.Health(), began, l.Warmup, lr),
	}
	if lr.Latency != nil && lr.Requests > 0 {
		st.P50, st.P90, st.P99, st.P999 = lr.Quantile(50), lr.Quantile(90), lr.Quantile(99), lr.Quantile(99.9)
		st.Max = time.Duration(lr.Latency.Max()) * time.Microsecond
		st.Latency = lr.Latency
	}
	if lr.Behind {
		st.Flags = append(st.Flags, FlagBehind)
	}
	if lr.Requests > 0 && lr.Success < MinSuccess {
		st.Flags = append(st.Flags, FlagErrors)
	}
	return st, lr, err
}

// workerSpec turns the scenario's target into the command the cluster starts.
func workerSpec(sc *scenario.Scenario, store string, opts Options) (cluster.Spec, error) {
	t := sc.Target
	spec := cluster.Spec{
		Restart: cluster.RestartPolicy{
			Enabled: sc.Restart.Enabled, Max: sc.Restart.Max, Within: sc.Restart.Within,
		},
		PortEnv:      t.PortEnv,
		ReadyPath:    t.ReadyPath,
		ReadyTimeout: t.ReadyTimeout,
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
	spec.Command = append(append([]string(nil), cmd...),
		"--workload", t.Builtin,
		"--cost", t.Cost.String(),
		"--concurrency", strconv.Itoa(t.Concurrency),
		"--threads", strconv.Itoa(t.Threads),
	)
	if len(t.Slowdown) > 0 {
		spec.Command = append(spec.Command, "--slowdown", slowdownSpec(t.Slowdown))
	}
	if t.Builtin == "session" {
		spec.Command = append(spec.Command, "--store", store)
	}
	if t.Hold > 0 {
		spec.Command = append(spec.Command, "--hold", t.Hold.String(), "--lock-key", t.LockKey)
	}
	if sc.Redis != nil && (store == "redis" || t.Hold > 0) {
		spec.Command = append(spec.Command, "--redis", sc.Redis.Addr)
	}
	// GOMAXPROCS in the environment makes the runtime start with it, before any flag is parsed.
	spec.Env = append(spec.Env, "GOMAXPROCS="+strconv.Itoa(t.Threads))
	return spec, nil
}

// slowdownSpec writes a scenario's slowdown map in the worker's --slowdown form, "1=3,2=1.5".
func slowdownSpec(m map[int]float64) string {
	idx := make([]int, 0, len(m))
	for i := range m {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	parts := make([]string, len(idx))
	for k, i := range idx {
		parts[k] = strconv.Itoa(i) + "=" + strconv.FormatFloat(m[i], 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

func event(opts Options, format string, args ...any) {
	if opts.OnEvent != nil {
		opts.OnEvent(fmt.Sprintf(format, args...))
	}
}

// IsStartError reports whether err is a failure to start workers or the balancer.
func IsStartError(err error) bool {
	var se *StartError
	return errors.As(err, &se)
}

// contextSwitches reads the machine's context switches since boot from /proc/stat; 0 where
// there is none.
func contextSwitches() uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "ctxt "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
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

// selfRSS reads this process's resident set size in bytes from /proc/self/status; 0 where there
// is none.
func selfRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
