// Package cluster runs N copies of a worker command on loopback ports: it spawns them, waits
// until each answers its readiness probe, reports their CPU time, notices when one dies —
// restarting it with back-off when asked to (see RestartPolicy) — injects faults (Kill, Pause,
// Resume), and stops them, also when the harness itself dies, through the kernel's
// parent-death signal.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults used for the zero values of Spec's fields.
const (
	DefaultPortEnv      = "PORT"
	DefaultReadyPath    = "/"
	DefaultReadyTimeout = 10 * time.Second
	DefaultGrace        = 3 * time.Second
)

// IndexEnv is the environment variable carrying a worker's 1-based index.
const IndexEnv = "BENCH_WORKER_INDEX"

// ReusePortEnv is set to "1" for the workers of a Spec.SharedPort cluster: they must listen
// with SO_REUSEPORT. The built-in worker (`bench worker`) reads it as its --reuseport default.
const ReusePortEnv = "BENCH_REUSEPORT"

// WorkerHeader is the response header in which a worker may name itself as "<index>/<pid>",
// as the built-in worker does; readiness on a shared port uses it (see Spec.SharedPort).
const WorkerHeader = "X-Worker"

// Spec describes the worker processes of a cluster.
type Spec struct {
	// Command is the worker's argv. Command[0] is looked up in PATH unless it contains a
	// slash. Required.
	Command []string
	// Env holds extra "KEY=VALUE" entries appended to os.Environ(); a later entry for the same
	// key wins, and the port and index variables are appended last. Nil adds nothing.
	Env []string
	// PortEnv names the variable that tells a worker the port it must listen on at
	// 127.0.0.1. Empty means DefaultPortEnv ("PORT").
	PortEnv string
	// ReadyPath is the path polled with GET until it answers 2xx. Empty means "/"; a missing
	// leading slash is added.
	ReadyPath string
	// ReadyTimeout bounds how long Start waits for every worker to become ready. Zero or
	// negative means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Grace is how long Stop waits after SIGTERM before it sends SIGKILL. Zero or negative
	// means DefaultGrace.
	Grace time.Duration
	// Restart makes the cluster restart workers that exit or are killed once Start has
	// returned. The zero value restarts nothing, like Node's cluster module.
	Restart RestartPolicy
	// OnEvent, when set, is called with every Event as it is recorded, from the cluster's own
	// goroutines, one worker's events in order. It must return quickly and must not call Stop
	// (Stop waits for the goroutine that calls it); hand the event to another goroutine for
	// anything slow. Nil means events are only kept for Events.
	OnEvent func(Event)
	// SharedPort gives all workers the same port, with ReusePortEnv=1 in their environment:
	// each must listen on it with SO_REUSEPORT (as the same user), and the kernel spreads new
	// connections over the listeners, like Node's cluster workers sharing a port, with no
	// balancer in between. Linux only. Every Worker then has the same Addr.
	//
	// Readiness is then told apart by who answers: the shared port is polled with fresh
	// connections, and a worker is ready once a 2xx answer to ReadyPath carried its index in
	// WorkerHeader ("<index>/<pid>"; the pid may be a child's, as under a wrapper script, and
	// is not checked). A 2xx answer without a parsable WorkerHeader cannot be attributed: the
	// command is taken not to set it, and every worker still starting counts as ready at once
	// if all of them are alive — so Start may return before each one listens (the kernel only
	// routes to those that do). The same holds for the probe of a restarted worker, which the
	// others may answer. False (the zero value) gives every worker a port of its own.
	SharedPort bool
	// Pin binds each worker to this many cores (sched_setaffinity, which all its threads and
	// children inherit): worker i gets the cores (i-1)·Pin … i·Pin-1 of those bench may use,
	// counted round, so workers beyond the cores share them in turn. Left to itself the kernel
	// may stack two busy workers on one core while the other idles; on a 2-core VM that made
	// two workers' p99 at 650–750 rps swing from 24 to 600 ms between runs, pinned 6–24 ms.
	// Zero, or at least as many as the cores, leaves placement to the kernel.
	Pin int
}

func (s Spec) withDefaults() Spec {
	if s.PortEnv == "" {
		s.PortEnv = DefaultPortEnv
	}
	if s.ReadyPath == "" {
		s.ReadyPath = DefaultReadyPath
	}
	if !strings.HasPrefix(s.ReadyPath, "/") {
		s.ReadyPath = "/" + s.ReadyPath
	}
	if s.ReadyTimeout <= 0 {
		s.ReadyTimeout = DefaultReadyTimeout
	}
	if s.Grace <= 0 {
		s.Grace = DefaultGrace
	}
	s.Restart = s.Restart.withDefaults()
	return s
}

// Worker identifies one worker process. A restarted worker keeps its Index and Addr and gets
// a new PID.
type Worker struct {
	Index int    // 1-based, as told to the worker in IndexEnv
	PID   int    // process id (also its process group id)
	Addr  string // "127.0.0.1:port" the worker listens on; the same for all with Spec.SharedPort
}

// Cores returns the cores worker index (1-based) is pinned to (Spec.Pin), the same for each
// of its restarts; nil when the kernel places it.
func (c *Cluster) Cores(index int) []int {
	return coresOf(index, c.spec.Pin, c.cores)
}

// CoresText writes cores as the run prints them, like "0" or "2+3"; "" for none.
func CoresText(cores []int) string {
	s := make([]string, len(cores))
	for i, c := range cores {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, "+")
}

// ErrNotReady is wrapped by the error Start returns when a worker kept running but never
// answered its readiness probe with 2xx in time.
var ErrNotReady = errors.New("not ready")

// Cluster is a set of running worker processes. Its methods are safe for concurrent use.
type Cluster struct {
	spec    Spec
	path    string // Command[0] resolved in PATH
	command string // Command joined by spaces, for messages
	ports   []int  // reserved in this process until Stop; ports[i] is worker i+1's for good
	cores   []int  // the cores bench may use, when Spec.Pin pins workers; nil otherwise
	// holder is the socket keeping a SharedPort cluster's port ours until Stop (see
	// reserveSharedPort); -1 for none.
	holder int

	exits chan *ExitError
	done  chan struct{}
	// life is cancelled when Stop begins: it ends back-off waits and readiness polls.
	life     context.Context
	endLife  context.CancelFunc
	stopping atomic.Bool // set under mu, so no restart can slip in after Stop's snapshot
	// One per started child (its locked starter/waiter goroutine) and one per supervisor.
	wg     sync.WaitGroup
	client *http.Client // readiness probes of restarted workers

	mu         sync.Mutex
	procs      []*proc       // the current process of each worker, by index-1
	retiredCPU time.Duration // final CPU of the processes replaced by restarts
	unwatch    func() bool   // unregisters the ctx watcher; nil until registered

	evMu     sync.Mutex
	events   []Event
	restarts atomic.Int64

	stopOnce sync.Once
	stopErr  error
}

// Start spawns n workers of spec.Command, each told a free loopback port (the same one with
// spec.SharedPort) and its index, and waits until every one answers GET spec.ReadyPath with 2xx. On any failure it stops what it
// started and returns a one-line error naming the command. The cluster is stopped when ctx is
// cancelled; call Stop to stop it earlier.
func Start(ctx context.Context, spec Spec, n int) (*Cluster, error) {
	if len(spec.Command) == 0 || spec.Command[0] == "" {
		return nil, errors.New("cluster: spec.Command is empty")
	}
	command := strings.Join(spec.Command, " ")
	if n < 1 {
		return nil, fmt.Errorf("cluster: %d workers of %q requested, want at least 1", n, command)
	}
	spec = spec.withDefaults()
	path, err := exec.LookPath(spec.Command[0])
	if err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			err = ee.Err // exec's own prefix would repeat the name
		}
		return nil, fmt.Errorf("worker command %q: %w", spec.Command[0], err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cluster: starting %d workers of %q: %w", n, command, err)
	}
	// All ports are chosen before any worker starts, so no worker can take another's port.
	holder := -1
	var ports []int
	if spec.SharedPort {
		port, fd, err := reserveSharedPort()
		if err != nil {
			return nil, err
		}
		holder, ports = fd, slices.Repeat([]int{port}, n)
	} else {
		ports, err = reservePorts(n)
		if err != nil {
			return nil, err
		}
	}

	c := &Cluster{
		ports:   ports,
		holder:  holder,
		spec:    spec,
		path:    path,
		command: command,
		exits:   make(chan *ExitError, n),
		done:    make(chan struct{}),
		// No keep-alive: an idle probe connection must not linger as the worker's first client.
		client: &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}},
	}
	c.life, c.endLife = context.WithCancel(context.Background())
	if c.cores, err = pinnable(spec.Pin); err != nil {
		return nil, err
	}
	for i := range n {
		p := c.newProc(i+1, ports[i])
		if err := c.spawn(p); err != nil {
			c.Stop()
			return nil, err
		}
		c.mu.Lock()
		c.procs = append(c.procs, p)
		c.mu.Unlock()
	}
	// Registered only once procs is complete, so Stop never races with the loop above.
	unwatch := context.AfterFunc(ctx, func() { c.Stop() })
	c.mu.Lock()
	c.unwatch = unwatch
	c.mu.Unlock()

	if err := c.waitReady(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	// Supervision starts only now: a worker that cannot come up the first time is a broken
	// command or scenario, which Start reports at once instead of retrying it.
	c.mu.Lock()
	if !c.stopping.Load() {
		for _, p := range c.procs {
			c.wg.Add(1)
			go c.supervise(p)
		}
	}
	c.mu.Unlock()
	return c, nil
}

// Workers returns the workers in index order with the PID of each one's current process:
// the newest one of a restarted worker, the last one of a worker that is down.
func (c *Cluster) Workers() []Worker {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := make([]Worker, len(c.procs))
	for i, p := range c.procs {
		ws[i] = p.w
	}
	return ws
}

// CPU returns the user+system CPU time the workers have used so far, read from /proc. A
// process that has exited, or was replaced by a restart, counts with its final reading, so the
// difference of two calls is the CPU used in between. Time of a worker's own child processes
// is not included.
func (c *Cluster) CPU() time.Duration {
	c.mu.Lock()
	procs := slices.Clone(c.procs)
	sum := c.retiredCPU
	c.mu.Unlock()
	for _, p := range procs {
		sum += p.cpu()
	}
	return sum
}

// Exited delivers one *ExitError for each worker that went down for good on its own, that is,
// before Stop was called. Without Spec.Restart that is every worker that exits; with it, only a
// worker whose supervisor gave up (EventGaveUp), carrying its last exit — exits followed by a
// restart are reported as Events only. It is closed once Stop has reaped every worker. Nothing
// needs to read it: it is buffered for every worker.
func (c *Cluster) Exited() <-chan *ExitError { return c.exits }

// Done is closed when Stop has finished and every worker has been reaped.
func (c *Cluster) Done() <-chan struct{} { return c.done }

// Stop sends SIGTERM to every worker's process group (and SIGCONT, so a paused worker gets
// it), SIGKILL after spec.Grace to those still running, and returns once every worker has been
// reaped. Once Stop has begun, no worker is restarted: a pending back-off or readiness wait
// ends at once. It is idempotent and safe to call concurrently; every call returns the first
// call's result. Stop runs by itself when the context given to Start is cancelled.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	c.mu.Lock()
	c.stopping.Store(true)
	// Complete: a restart installs its process under mu after checking stopping.
	procs := slices.Clone(c.procs)
	if c.unwatch != nil {
		c.unwatch()
	}
	c.mu.Unlock()
	c.endLife()

	var errs []error
	for _, p := range procs {
		// SIGTERM stays pending on a stopped process until SIGCONT wakes it to handle it.
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGCONT} {
			if err := p.signal(sig); err != nil && !errors.Is(err, ErrNotRunning) {
				errs = append(errs, err)
			}
		}
	}
	reaped := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(reaped)
	}()
	grace := time.NewTimer(c.spec.Grace)
	defer grace.Stop()
	select {
	case <-reaped:
	case <-grace.C:
		for _, p := range procs {
			if err := p.signal(syscall.SIGKILL); err != nil && !errors.Is(err, ErrNotRunning) {
				errs = append(errs, err)
			}
		}
		<-reaped
	}
	releasePorts(c.ports)
	if c.holder >= 0 {
		unix.Close(c.holder) // after the workers: the port stays ours until none listens
	}
	close(c.exits)
	close(c.done)
	return errors.Join(errs...)
}

// ExitError describes a worker process that exited: on its own while running (delivered on
// Exited, and as the Err of an EventExit), or before it became ready (returned by Start).
type ExitError struct {
	Worker      Worker
	Command     string           // the worker's argv joined by spaces
	State       *os.ProcessState // how it ended; nil if unknown
	Stderr      string           // last lines of its stderr joined by " | "; empty if none
	BeforeReady bool             // it exited before answering its readiness probe
}

// Error returns one line, e.g.
// `worker 2 ("node server.mjs") exited with status 1 before it was ready; stderr: ...`.
func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "worker %d (%q) %s", e.Worker.Index, e.Command, describeState(e.State))
	if e.BeforeReady {
		b.WriteString(" before it was ready")
	}
	if e.Stderr != "" {
		b.WriteString("; stderr: ")
		b.WriteString(e.Stderr)
	}
	return b.String()
}

func describeState(s *os.ProcessState) string {
	if s == nil {
		return "exited"
	}
	if ws, ok := s.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "was killed by signal " + strconv.Itoa(int(ws.Signal())) + " (" + ws.Signal().String() + ")"
	}
	return "exited with status " + strconv.Itoa(s.ExitCode())
}
