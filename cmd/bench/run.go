package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/report"
	"github.com/bench-dev/bench/internal/scenario"
)

const runHelp = `Starts 1..N worker processes for each worker count of the scenario, puts bench's load balancer
in front of them on 127.0.0.1, offers load with vegeta at fixed rates (or searches the highest rate
that keeps p99 under the SLO), and prints throughput and tail latency next to the naive scaling
math "one worker's capacity × N". Flags override the scenario.

Writes into the results folder summary.csv, run.json (the scenario as run and the machine), the
charts, report.html (one self-contained page of it all), and per step its raw results in vegeta's
encoding (step-NN-….bin: ` + "`vegeta report`" + `, ` + "`vegeta plot`" + ` read them; --raw=false for none) and its
latency histogram (step-NN-….hdr, HdrHistogram base64). See results/README.md.

With an SLO (the scenario's slo section, or --slo), every fixed-rate step and the capacity step of
every search is judged after the run; a step that misses is printed on stderr with the reason, one
line each, and bench exits 99.

With --shard I/K, this bench is one of K generators that offer each step's rate together: it sends
every K-th request of the schedule (the I-th of each K), writes its usual results folder with a
shard.json, and ` + "`bench merge`" + ` combines the K folders. --start-at makes the K begin their first
measured step at one wall-clock time. A capacity search cannot be sharded. See docs/generators.md.

While it runs, bench prints one line per finished step on stderr; on a terminal it also redraws a
status line (worker count, step, live rate and p99, elapsed and remaining time). --quiet prints only
errors and the results folder.

Examples:
  bench run scenarios/cpu.yaml
  bench run scenarios/cpu.yaml --workers 1,2 --rates 200,400 --duration 5s --warmup 1s
  bench run scenarios/sleep.yaml --workers auto,2x --out /tmp/sleep
  bench run scenarios/cpu.yaml --workers 1,2 --engine haproxy          # the same run behind HAProxy
  bench run scenarios/cpu.yaml --slo p99=50ms,success=99.9% --quiet     # a CI gate: exit 99 on a miss
  bench run scenarios/cpu.yaml --format json > cpu.json                  # the folder goes to stderr
  bench run scenarios/cpu.yaml --format markdown                         # tables to paste in an issue
  bench run scenarios/cpu.yaml --rates 2k --shard 1/2 --start-at 2026-01-01T12:00:00Z   # generator 1 of 2

--out refuses a folder that holds a previous run (summary.csv or step files); --force replaces that
run, deleting its files first.

Exit status: 0 success, 1 the run failed, 2 bad scenario, flags, worker command or --listen address,
99 the run finished but a step missed the SLO, 130 interrupted by Ctrl-C (143 by SIGTERM): every
finished step is saved; a second Ctrl-C stops at once.
`

type runFlags struct {
	workers, rates, out, listen string
	engine, strategy            string
	connections, pin            int
	duration, warmup            time.Duration
	format, slo, noise          string
	raw, quiet, force, wide     bool
	warmupSet, interleave       bool
	interleaveSet, pinSet       bool
	shard, startAt              string
}

func runCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "SCENARIO.yaml [flags]", runHelp, stdout)
	var f runFlags
	fs.StringVar(&f.workers, "workers", "", "worker counts, e.g. 1,2,4 or auto (one per core) or 2x (two per core)")
	fs.StringVar(&f.rates, "rates", "", "offered request rates per second, e.g. 200,400 or 1k,2.5k (replaces a capacity search)")
	fs.DurationVar(&f.duration, "duration", 0, "measured duration of each step")
	fs.DurationVar(&f.warmup, "warmup", 0, "warm-up before each step, not counted")
	fs.StringVar(&f.out, "out", "", "results folder (default results/<scenario>-<UTC time>)")
	fs.BoolVar(&f.force, "force", false, "let --out replace a previous run in the folder (its files are deleted first)")
	fs.StringVar(&f.listen, "listen", "", "balancer address on loopback, e.g. 127.0.0.1:9000 (default a free 127.0.0.1 port)")
	fs.StringVar(&f.engine, "engine", "", "balancer engine: "+strings.Join(scenario.Engines, ", ")+" (replaces balancer.engine)")
	fs.StringVar(&f.strategy, "strategy", "", "balancing strategies to compare, comma-separated, e.g. round-robin,least-connections (replaces balancer.strategy)")
	fs.IntVar(&f.connections, "connections", 0, fmt.Sprintf("most connections the generator opens (default %d; replaces load.connections)", scenario.DefaultConnections))
	fs.StringVar(&f.format, "format", report.FormatTable, "summary on stdout: "+strings.Join(report.Formats, ", ")+" (csv and json print the folder on stderr)")
	fs.StringVar(&f.slo, "slo", "", "judge the steps against an SLO, e.g. p99=50ms,success=99.9% (replaces the scenario's slo); exit 99 on a miss")
	fs.BoolVar(&f.raw, "raw", true, "write each step's raw results in vegeta's encoding (step-NN-….bin, about 160 bytes per request)")
	fs.BoolVar(&f.quiet, "quiet", false, "print nothing but errors and the results folder")
	fs.StringVar(&f.noise, "noise-threshold", "", "share of the machine other processes may use during a step before it is measured again, e.g. 5% (replaces load.noise_threshold; 100% turns the check off)")
	fs.IntVar(&f.pin, "pin", 0, "cores each worker is bound to, dealt round; 0 lets the kernel place them (replaces target.pin, which is target.threads for a built-in worker)")
	fs.BoolVar(&f.interleave, "interleave", false, "let the worker counts' capacity searches take turns around their capacities, for a host whose speed drifts (replaces load.search.interleave)")
	fs.BoolVar(&f.wide, "wide", false, fmt.Sprintf("print every column of the tables (by default they leave out what does not fit %d columns)", report.Width))
	fs.StringVar(&f.shard, "shard", "", "be generator I of K that offer each step's rate together, e.g. 2/3: this one sends every third request of the schedule (see `bench merge`)")
	fs.StringVar(&f.startAt, "start-at", "", "wait until this time (RFC 3339, e.g. 2026-01-01T12:00:00Z, or Unix seconds) before the first measured step, so that shards begin together")
	procs := addProcsFlag(fs)
	path, restore, err := fs.parseScenarioArgs(args, procs)
	if err != nil {
		return err
	}
	defer restore()
	f.warmupSet = fs.isSet("warmup")
	f.interleaveSet = fs.isSet("interleave")
	f.pinSet = fs.isSet("pin")
	sc, err := scenario.Load(path)
	if err != nil {
		return badInput{err}
	}
	if err := f.apply(sc); err != nil {
		return badInput{err}
	}
	if err := checkListen(f.listen); err != nil {
		return badInput{err}
	}
	shard, shards, err := parseShard(f.shard)
	if err != nil {
		return badInput{err}
	}
	if shards > 1 && sc.Load.Search != nil {
		return badInput{fmt.Errorf("--shard %s: %s searches for its capacity, and a search cannot be split between generators (each would pick its next rate alone); give fixed rates (--rates or load.rates)", f.shard, path)}
	}
	startAt, err := parseStartAt(f.startAt, time.Now())
	if err != nil {
		return badInput{err}
	}

	dir := f.out
	if dir == "" {
		dir = filepath.Join("results", sc.Name+"-"+time.Now().UTC().Format("20060102T150405Z"))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return badInput{fmt.Errorf("--out: %w", err)}
	}
	if err := clearPreviousRun(dir, f.force); err != nil {
		return badInput{err}
	}
	if shards > 1 {
		info := report.Shard{Shard: shard, Shards: shards}
		if !startAt.IsZero() {
			info.StartAt = startAt.UTC().Format(time.RFC3339Nano)
		}
		if err := report.WriteShard(dir, info); err != nil {
			return err
		}
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, stop := interruptible(context.Background(), sigs, stderr)
	defer stop()

	mode := progressModeFor(stderr, f.quiet)
	prog := newProgress(stderr, mode, planOf(sc), time.Now)
	prog.Event(sc.Name + ": " + describe(sc))
	if shards > 1 {
		prog.Event(fmt.Sprintf("shard %d/%d: this generator sends every %s request of each step's schedule; offered_rps is what all %d offer together, sent and throughput are this one's (merge the folders with `bench merge`)",
			shard, shards, ordinal(shards), shards))
	}
	for _, p := range experiment.Preflight("/", runtime.NumCPU(), 300*time.Millisecond) {
		prog.Event("preflight: " + p)
	}
	var hdrErr error
	rows := 0
	opts := experiment.Options{
		Listen:  f.listen,
		OnEvent: prog.Event,
		Shard:   shard,
		Shards:  shards,
		StartAt: startAt,
	}
	if mode == progressLive {
		opts.OnProgress = prog.Update // snapshots only for a terminal: no timer on the results loop otherwise
	}
	opts.OnStep = func(st experiment.Step) {
		rows++ // OnStep follows the step's append to Result.Steps: this is its row
		if _, err := report.WriteHDR(dir, rows, st); err != nil && hdrErr == nil {
			hdrErr = err
		}
		prog.Step(st)
	}
	if f.raw {
		opts.Raw = func(row int, st experiment.Step) (io.WriteCloser, error) {
			return report.RawFile(dir, row, st), nil
		}
	}
	res, runErr := experiment.Run(ctx, sc, opts)
	prog.Done()

	var saveErr error
	if len(res.Steps) > 0 {
		// summary.csv, then the tables and charts from what it holds (see saveResults).
		var shown *experiment.Result
		shown, saveErr = saveResults(dir, res)
		if !f.quiet {
			if err := report.WriteSummary(stdout, shown, report.Options{Format: f.format, Wide: f.wide}); err != nil && saveErr == nil {
				saveErr = err
			}
		}
	} else if f.out == "" {
		os.Remove(dir) // nothing measured: leave no empty folder behind
	}
	saveErr = errors.Join(saveErr, hdrErr)
	// The folder is the last line on stdout, except after a machine-readable summary, which it
	// would spoil: then it goes to stderr.
	printDir := func() {
		if len(res.Steps) == 0 {
			return
		}
		if report.MachineReadable(f.format) && !f.quiet {
			fmt.Fprintln(stderr, dir)
		} else {
			fmt.Fprintln(stdout, dir)
		}
	}

	switch {
	case saveErr != nil:
		return fmt.Errorf("saving results: %w", saveErr)
	case runErr != nil && ctx.Err() != nil:
		if len(res.Steps) > 0 {
			fmt.Fprintf(stderr, "bench: interrupted; %d finished step(s) saved\n", len(res.Steps))
			printDir()
		}
		return exitError{signalExit(interruptSignal(ctx))}
	case runErr != nil:
		if len(res.Steps) > 0 {
			fmt.Fprintf(stderr, "bench: %d finished step(s) saved in %s\n", len(res.Steps), dir)
		}
		if experiment.IsStartError(runErr) {
			return badInput{runErr}
		}
		return runErr
	}
	printDir()
	if msg := res.Failure(); msg != "" {
		fmt.Fprintf(stderr, "bench: %s\n", msg)
		return exitError{exitFailed}
	}
	if sc.SLO != nil {
		// Judged on the run's own result, which knows each search's capacity step (summary.csv
		// does not).
		v := report.JudgeSLO(res, *sc.SLO)
		if !v.Met() {
			fmt.Fprintf(stderr, "bench: %s\n", v)
			for _, m := range v.Misses {
				fmt.Fprintf(stderr, "bench: SLO missed: %s\n", m)
			}
			return exitError{exitSLO}
		}
		if !f.quiet {
			fmt.Fprintf(stderr, "bench: %s\n", v)
		}
	}
	return nil
}

// apply overrides the scenario with the flags that were set, then validates the result.
func (f runFlags) apply(sc *scenario.Scenario) error {
	if f.workers != "" {
		w, err := scenario.ParseWorkers(f.workers)
		if err != nil {
			return fmt.Errorf("--workers: %w", err)
		}
		sc.Workers = w
	}
	if f.rates != "" {
		r, err := scenario.ParseRates(expandRates(f.rates))
		if err != nil {
			return fmt.Errorf("--rates: %w", err)
		}
		sc.Load.Rates, sc.Load.Search = r, nil
	}
	// The names are checked by the scenario's own rule (Validate, below), so that a bad name
	// reads the same from the flag as from the file.
	if f.engine != "" {
		sc.Balancer.Engine = balancer.Engine(f.engine)
	}
	if f.strategy != "" {
		var names []balancer.Strategy
		for n := range strings.SplitSeq(f.strategy, ",") {
			names = append(names, balancer.Strategy(strings.TrimSpace(n)))
		}
		sc.Balancer.ReplaceStrategies(slices.Compact(names))
	}
	if f.interleaveSet && sc.Load.Search != nil {
		sc.Load.Search.Interleave = f.interleave
	}
	if f.noise != "" {
		t, err := scenario.ParseShare(f.noise)
		if err != nil {
			return fmt.Errorf("--noise-threshold: %w", err)
		}
		sc.Load.NoiseThreshold = t
	}
	if f.connections != 0 {
		if f.connections < 1 || f.connections > scenario.MaxConnections {
			return fmt.Errorf("--connections: must be between 1 and %d, got %d", scenario.MaxConnections, f.connections)
		}
		sc.Load.Connections = f.connections
	}
	if f.pinSet {
		sc.Target.Pin = f.pin
	}
	if f.duration != 0 {
		sc.Load.Duration = f.duration
	}
	if f.warmupSet {
		sc.Load.Warmup = f.warmup
	}
	if f.slo != "" {
		o, err := scenario.ParseSLO(f.slo)
		if err != nil {
			return fmt.Errorf("--slo: %w", err)
		}
		sc.SLO = &o
	}
	if err := report.CheckFormat(f.format); err != nil {
		return fmt.Errorf("--format %w", err)
	}
	return f.relabel(sc.Validate())
}

// relabel names the flag instead of the scenario's field when the field's value came from a
// flag: "--engine: unknown engine ..." rather than "x.yaml: balancer.engine: ...", since the
// file says nothing wrong.
func (f runFlags) relabel(err error) error {
	var se *scenario.Error
	if !errors.As(err, &se) {
		return err
	}
	for _, o := range []struct {
		field, flag string
		set         bool
	}{
		{"balancer.engine", "engine", f.engine != ""},
		{"balancer.strategy", "strategy", f.strategy != ""},
		{"load.duration", "duration", f.duration != 0},
		{"load.warmup", "warmup", f.warmupSet},
		{"target.pin", "pin", f.pinSet},
	} {
		if o.set && (se.Field == o.field || strings.HasPrefix(se.Field, o.field+"[")) {
			return fmt.Errorf("--%s: %s", o.flag, se.Msg)
		}
	}
	return err
}

// maxShards bounds --shard's K: far more generators than any test needs, and few enough that a
// typo (2/30000) is caught.
const maxShards = 1000

// parseShard parses --shard I/K; empty means not sharded (1 of 1).
func parseShard(v string) (shard, shards int, err error) {
	if v == "" {
		return 1, 1, nil
	}
	i, k, ok := strings.Cut(v, "/")
	shard, err1 := strconv.Atoi(strings.TrimSpace(i))
	shards, err2 := strconv.Atoi(strings.TrimSpace(k))
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("--shard %q: want I/K, this generator's number and how many there are, e.g. 2/3", v)
	}
	if shards < 1 || shards > maxShards || shard < 1 || shard > shards {
		return 0, 0, fmt.Errorf("--shard %q: want 1 ≤ I ≤ K ≤ %d", v, maxShards)
	}
	return shard, shards, nil
}

// maxStartWait bounds how far ahead --start-at may be: a time further off is more likely a wrong
// date than a plan.
const maxStartWait = time.Hour

// parseStartAt parses --start-at as RFC 3339 or Unix seconds (fractions allowed); empty means no
// wait. A time more than a second before now is refused: the generators that waited for it would
// no longer start together with this one.
func parseStartAt(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		secs, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || math.IsNaN(secs) || math.IsInf(secs, 0) {
			return time.Time{}, fmt.Errorf("--start-at %q: want an RFC 3339 time (2026-01-01T12:00:00Z) or Unix seconds", v)
		}
		whole, frac := math.Modf(secs)
		t = time.Unix(int64(whole), int64(frac*1e9))
	}
	switch d := t.Sub(now); {
	case d < -time.Second:
		return time.Time{}, fmt.Errorf("--start-at %s: %v in the past", v, (-d).Round(time.Second))
	case d > maxStartWait:
		return time.Time{}, fmt.Errorf("--start-at %s: %v away, more than the %v bench waits at most", v, d.Round(time.Second), maxStartWait)
	}
	return t, nil
}

// ordinal is "1st", "2nd", "3rd", "4th" … for n ≥ 1: "every 3rd request".
func ordinal(n int) string {
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return strconv.Itoa(n) + "th"
	case n%10 == 1:
		return strconv.Itoa(n) + "st"
	case n%10 == 2:
		return strconv.Itoa(n) + "nd"
	case n%10 == 3:
		return strconv.Itoa(n) + "rd"
	}
	return strconv.Itoa(n) + "th"
}

// describe says in one line what the scenario will do.
func describe(sc *scenario.Scenario) string {
	var b strings.Builder
	t := sc.Target
	switch {
	case t.URL != "":
		fmt.Fprintf(&b, "running service %s", t.URL)
	case t.Endpoints != nil:
		fmt.Fprintf(&b, "running replicas %s", strings.Join(t.Endpoints, " "))
	case !t.Spawned():
		fmt.Fprintf(&b, "replicas started by the scale hook")
	case len(t.Command) > 0:
		fmt.Fprintf(&b, "command %q", strings.Join(t.Command, " "))
	default:
		fmt.Fprintf(&b, "built-in %s workload, %v per request, %d thread(s) per worker", t.Builtin, t.Cost, t.Threads)
		if t.Concurrency > 0 {
			fmt.Fprintf(&b, ", concurrency %d", t.Concurrency)
		}
	}
	if hosts := t.RemoteHosts(); len(hosts) > 0 {
		fmt.Fprintf(&b, " (off loopback: %s, as the scenario names it)", strings.Join(hosts, ", "))
	}
	switch c := sc.Scale; {
	case c.Compose != nil:
		fmt.Fprintf(&b, "; scaled by Docker Compose (%s, service %s)", c.Compose.File, c.Compose.Service)
	case c.Command != nil:
		fmt.Fprintf(&b, "; scaled by %q", strings.Join(c.Command.Scale, " "))
		if len(c.Command.Allow) > 0 {
			fmt.Fprintf(&b, " (replicas may be off loopback in %s, as scale.command.allow says)", strings.Join(c.Command.Allow, ", "))
		}
	}
	fmt.Fprintf(&b, "; workers %v; %s", sc.Workers, sc.Balancer.Strategy)
	if s := sc.Load.Search; s != nil {
		fmt.Fprintf(&b, "; capacity search p99 ≤ %v", s.P99)
	} else {
		fmt.Fprintf(&b, "; rates %v rps", sc.Load.Rates)
	}
	switch n := len(sc.Load.Requests); {
	case sc.Load.Targets != "":
		fmt.Fprintf(&b, "; %d request(s) from %s", n, sc.Load.Targets)
	case n > 0:
		fmt.Fprintf(&b, "; %d request(s) of load.requests", n)
	}
	fmt.Fprintf(&b, "; %v per step after %v warm-up", sc.Load.Duration, sc.Load.Warmup)
	return b.String()
}

func progressLine(st experiment.Step) string {
	flags := ""
	if len(st.Flags) > 0 {
		flags = "  [" + strings.Join(st.Flags, " ") + "]"
	}
	// Name the commonest error: "errors" alone does not say what to fix.
	var top string
	for e, n := range st.Errors {
		if top == "" || n > st.Errors[top] || (n == st.Errors[top] && e < top) {
			top = e
		}
	}
	if top != "" {
		flags += fmt.Sprintf("  %d× %q", st.Errors[top], top)
	}
	return fmt.Sprintf("  %2d worker(s)  offered %6.0f rps  sent %6.0f  throughput %6.0f  p99 %8v  success %.2f%%  cpu workers %.0f%% bench %.0f%% other %.0f%%%s",
		st.Workers, st.Offered, st.Sent, st.Throughput, st.P99.Round(10*time.Microsecond), 100*st.Success,
		100*st.WorkerCPUShare(), 100*st.BenchCPUShare(), 100*st.OtherCPUShare(), flags)
}

// interruptible returns a context cancelled by the first signal on sigs; a second signal exits at
// once (the workers die with bench through their parent-death signal). stop releases the watcher.
func interruptible(parent context.Context, sigs <-chan os.Signal, stderr io.Writer) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	done := make(chan struct{})
	go func() {
		var first os.Signal
		select {
		case first = <-sigs:
			fmt.Fprintf(stderr, "bench: %v: stopping the load and the workers (again to force)\n", first)
			cancel(stopSignal{first})
		case <-done:
			return
		}
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "bench: forced exit")
			os.Exit(signalExit(first))
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() { once.Do(func() { close(done); cancel(nil) }) }
}

// interruptSignal is the signal that cancelled ctx, or SIGINT when it was cancelled otherwise.
func interruptSignal(ctx context.Context) os.Signal {
	var s stopSignal
	if errors.As(context.Cause(ctx), &s) {
		return s.Signal
	}
	return os.Interrupt
}
