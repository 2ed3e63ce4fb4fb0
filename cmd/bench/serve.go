package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/cluster"
	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/scenario"
)

const serveHelp = `Runs the scenario's workers under supervision (restarted when they crash, per the scenario's
restart section) behind bench's load balancer with active health checks, until Ctrl-C or SIGTERM.
A crashed worker is ejected at once and safe requests (GET, HEAD) it dropped are retried on another
worker; a hung one is ejected when it misses a health check; both are readmitted once they answer
their ready path again. Prints where it listens, the workers, and one line per restart, ejection
and readmission. The scenario's worker counts and load are not used.

Examples:
  bench serve scenarios/cpu.yaml
  bench serve scenarios/node.yaml --listen 127.0.0.1:9000 --workers 4

Exit status: 130 after Ctrl-C (143 after SIGTERM), once the balancer has drained and the workers
have stopped; 1 on a failure while serving; 2 bad scenario, flags, worker command or an address it
cannot listen on (checked before any worker starts).
`

func serveCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "SCENARIO.yaml [flags]", serveHelp, stdout)
	listen := fs.String("listen", "127.0.0.1:8080", "balancer address; a non-loopback one is allowed, with a warning")
	workers := fs.Int("workers", runtime.NumCPU(), "number of workers (default one per core)")
	interval := fs.Duration("health-interval", balancer.DefaultHealthInterval, "how often each worker's ready path is probed")
	timeout := fs.Duration("health-timeout", balancer.DefaultHealthTimeout, "probe timeout: a worker that does not answer within it is ejected")
	procs := addProcsFlag(fs)
	path, restore, err := fs.parseScenarioArgs(args, procs)
	if err != nil {
		return err
	}
	defer restore()
	switch {
	case *workers < 1 || *workers > scenario.MaxWorkers:
		return badInput{fmt.Errorf("--workers: must be between 1 and %d, got %d", scenario.MaxWorkers, *workers)}
	case *interval <= 0:
		return badInput{fmt.Errorf("--health-interval: must be positive, got %v", *interval)}
	case *timeout <= 0:
		return badInput{fmt.Errorf("--health-timeout: must be positive, got %v", *timeout)}
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return badInput{fmt.Errorf("--listen: %w", err)}
	}
	if err := bindable(*listen); err != nil {
		return badInput{err}
	}
	sc, err := scenario.Load(path)
	if err != nil {
		return badInput{err}
	}
	b := sc.Balancer
	switch {
	case !sc.Target.Spawned() || !sc.Scale.Local():
		return badInput{fmt.Errorf("%s: target: serve starts the workers itself; a running target (target.url, target.endpoints) or a scale hook is for bench run", sc.File)}
	case b.Strategy == balancer.StrategyReusePort:
		return badInput{fmt.Errorf("%s: balancer.strategy reuseport has no balancer to serve through; pick another for serve", sc.File)}
	case b.Engine == balancer.EngineHAProxy:
		return badInput{fmt.Errorf("%s: balancer.engine haproxy: serve runs bench's own balancer (fast or std)", sc.File)}
	case sc.Redis != nil && sc.Redis.Start:
		return badInput{fmt.Errorf("%s: redis.start: serve does not start redis-server; run one and set redis.addr", sc.File)}
	}
	sel, err := balancer.NewSelectorConfig(balancer.SelectorConfig{Strategy: b.Strategy, Cookie: b.Cookie, BoundedLoad: b.BoundedLoad})
	if err != nil {
		return badInput{fmt.Errorf("%s: %w", sc.File, err)}
	}
	spec, err := experiment.WorkerSpec(sc)
	if err != nil {
		return badInput{err}
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	out := newLinePrinter(stdout)
	defer out.close()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		var first os.Signal
		select {
		case first = <-sigs:
			out.say("bench: %v: stopping the balancer and the workers (again to force)", first)
			cancel(stopSignal{first})
		case <-finished:
			return
		}
		select {
		case <-sigs:
			// The workers die with bench through their parent-death signal.
			fmt.Fprintln(stderr, "bench: forced exit")
			os.Exit(signalExit(first))
		case <-finished:
		}
	}()

	// The cluster outlives ctx: it is stopped after the balancer has drained, so requests in
	// progress at Ctrl-C still get their answers. A signal during Start still stops it.
	life, endLife := context.WithCancel(context.Background())
	defer endLife()
	unwatch := context.AfterFunc(ctx, endLife)
	spec.OnEvent = func(e cluster.Event) { out.event("bench: %v", e) }
	cl, err := cluster.Start(life, spec, *workers)
	unwatch()
	if err != nil {
		if ctx.Err() != nil {
			return exitError{signalExit(interruptSignal(ctx))} // interrupted while starting: a clean stop
		}
		return badInput{err}
	}
	defer cl.Stop()
	ws := cl.Workers()
	addrs := make([]string, len(ws))
	for i, w := range ws {
		addrs[i] = w.Addr
		pinned := ""
		if cores := cl.Cores(w.Index); len(cores) == 1 {
			pinned = ", pinned to core " + cluster.CoresText(cores)
		} else if cores != nil {
			pinned = ", pinned to cores " + cluster.CoresText(cores)
		}
		out.say("bench: worker %d pid %d on %s%s", w.Index, w.PID, w.Addr, pinned)
	}

	healthPath := spec.ReadyPath
	if healthPath == "" {
		healthPath = cluster.DefaultReadyPath
	}
	engine := balancer.Engine(b.Engine)
	bal := balancer.New(addrs, sel,
		balancer.WithEngine(engine),
		balancer.WithHealthCheck(healthPath, *interval, *timeout),
		balancer.WithOnHealth(func(e balancer.HealthEvent) {
			if e.Healthy {
				out.event("bench: worker %d readmitted after %v (%s)", e.Index, e.Downtime.Round(time.Millisecond), e.Reason)
			} else {
				out.event("bench: worker %d ejected (%s)", e.Index, e.Reason)
			}
		}))
	if !isLoopbackHost(host) {
		out.say("bench: warning: --listen %s is not a loopback address: anyone who can reach this machine can send requests to the workers", *listen)
	}
	laddr, err := bal.Serve(ctx, *listen)
	if err != nil {
		return badInput{err}
	}
	out.say("bench: listening on http://%s (%s, %s engine, health GET %s every %v, timeout %v); Ctrl-C stops",
		laddr, b.Strategy, bal.Engine(), healthPath, *interval, *timeout)

	<-ctx.Done()
	bal.Wait()
	stopErr := cl.Stop()
	out.say("bench: stopped: %d restart(s), %d ejection(s), %d retried request(s)", cl.Restarts(), bal.Ejections(), bal.Retries())
	if stopErr != nil {
		return fmt.Errorf("stopping the workers: %w", stopErr)
	}
	return exitError{signalExit(interruptSignal(ctx))}
}

// isLoopbackHost reports whether a listen host is on loopback only; "" (all interfaces) is not.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// linePrinter writes lines to w from one goroutine, so that the cluster's and the balancer's
// callbacks, which must not block, never wait for a slow terminal or pipe. Lines printed after
// close are dropped.
type linePrinter struct {
	mu      sync.Mutex
	closed  bool
	lines   chan string
	done    chan struct{}
	dropped atomic.Int64
}

func newLinePrinter(w io.Writer) *linePrinter {
	p := &linePrinter{lines: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for line := range p.lines {
			if n := p.dropped.Swap(0); n > 0 {
				fmt.Fprintf(w, "bench: (%d event line(s) dropped: output too slow)\n", n)
			}
			fmt.Fprintln(w, line)
		}
	}()
	return p
}

// say prints a line, waiting for room if need be.
func (p *linePrinter) say(format string, args ...any) { p.send(fmt.Sprintf(format, args...), true) }

// event prints a line from a callback: dropped (and counted) rather than waited for.
func (p *linePrinter) event(format string, args ...any) { p.send(fmt.Sprintf(format, args...), false) }

func (p *linePrinter) send(line string, wait bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if wait {
		p.lines <- line // the printing goroutine takes no lock: it drains meanwhile
		return
	}
	select {
	case p.lines <- line:
	default:
		p.dropped.Add(1)
	}
}

// close prints what is queued and returns.
func (p *linePrinter) close() {
	p.mu.Lock()
	p.closed = true
	close(p.lines)
	p.mu.Unlock()
	<-p.done
}
