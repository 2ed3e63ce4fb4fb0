package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// Defaults used for the zero values of RestartPolicy's fields.
const (
	DefaultMaxRestarts = 10
	DefaultWithin      = time.Minute
	DefaultMinBackoff  = 10 * time.Millisecond
	DefaultMaxBackoff  = 2 * time.Second
	DefaultMinUptime   = time.Second
)

// RestartPolicy says whether and how a cluster restarts workers that exit or are killed after
// Start has returned, in the manner of pm2's min_uptime / max_restarts. A restarted worker
// keeps its index and port, so whatever routes to its address (the balancer) needs no change;
// it counts as up again only once it answers its readiness probe, within Spec.ReadyTimeout
// (a restart that does not is killed and counts as another failure).
//
// The delay before a restart is zero when the worker had been up (ready) for at least
// MinUptime, so a single crash costs only the start-up time; for a worker that keeps failing
// sooner it is MinBackoff, then doubles with each failure up to MaxBackoff. A worker is given
// up on — left down, reported by an EventGaveUp and on Exited — when it would need more than
// Max restarts within Within.
type RestartPolicy struct {
	// Enabled turns restarts on. False (the zero value) restarts nothing: a worker that exits
	// stays down and is reported on Exited.
	Enabled bool
	// Max is the most restarts of one worker allowed within Within. Zero or negative means
	// DefaultMaxRestarts.
	Max int
	// Within is the sliding window over which Max counts. Zero or negative means
	// DefaultWithin.
	Within time.Duration
	// MinBackoff is the first delay before restarting a worker that failed before MinUptime.
	// Zero or negative means DefaultMinBackoff.
	MinBackoff time.Duration
	// MaxBackoff caps the doubling delay. Zero or negative means DefaultMaxBackoff; a value
	// below MinBackoff means MinBackoff.
	MaxBackoff time.Duration
	// MinUptime is how long a worker must have been ready for its next failure to be
	// restarted at once and to reset the back-off. Zero or negative means DefaultMinUptime.
	MinUptime time.Duration
}

func (r RestartPolicy) withDefaults() RestartPolicy {
	if r.Max <= 0 {
		r.Max = DefaultMaxRestarts
	}
	if r.Within <= 0 {
		r.Within = DefaultWithin
	}
	if r.MinBackoff <= 0 {
		r.MinBackoff = DefaultMinBackoff
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = DefaultMaxBackoff
	}
	r.MaxBackoff = max(r.MaxBackoff, r.MinBackoff)
	if r.MinUptime <= 0 {
		r.MinUptime = DefaultMinUptime
	}
	return r
}

// EventKind says what happened to a worker.
type EventKind string

// The kinds of Event.
const (
	// EventExit: a worker process ended on its own or was killed (not by Stop), or a restart
	// failed: it could not be started, or it was not ready within Spec.ReadyTimeout.
	EventExit EventKind = "exit"
	// EventRestart: a new process was started for the worker, after Event.Backoff.
	EventRestart EventKind = "restart"
	// EventReady: a restarted worker answered its readiness probe and counts as up again.
	EventReady EventKind = "ready"
	// EventGaveUp: the worker needed more than RestartPolicy.Max restarts within
	// RestartPolicy.Within and stays down.
	EventGaveUp EventKind = "gave-up"
)

// Event records one death or restart of a worker. Events of workers stopped by Stop are not
// recorded.
type Event struct {
	Time  time.Time // when it happened; for EventExit, when the exit was noticed
	Kind  EventKind
	Index int // the worker's 1-based index
	// PID is the process the event is about: the one that ended (EventExit, EventGaveUp;
	// 0 if it could not even be started), or the new one (EventRestart, EventReady).
	PID int
	// Err says how a process ended (EventExit: an *ExitError, or the not-ready or start
	// error of a failed restart) or why the worker was given up on (EventGaveUp, wrapping the
	// last failure). Nil for EventRestart and EventReady.
	Err error
	// Attempt counts the restarts since the worker was last up: 1 for the first restart after
	// a death. Zero for an EventExit of a worker that was up.
	Attempt int
	// Backoff is the delay waited before the restart (EventRestart); zero otherwise.
	Backoff time.Duration
	// Downtime is how long the worker was down, from the death that took it down to the
	// event (EventReady: ready again; EventGaveUp: down so far). Zero for other kinds.
	Downtime time.Duration
}

// String returns the event on one line, e.g. `worker 2 ready pid 4242 attempt 1 downtime 21ms`.
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "worker %d %s", e.Index, e.Kind)
	if e.PID != 0 {
		fmt.Fprintf(&b, " pid %d", e.PID)
	}
	if e.Attempt != 0 {
		fmt.Fprintf(&b, " attempt %d", e.Attempt)
	}
	if e.Kind == EventRestart {
		fmt.Fprintf(&b, " backoff %v", e.Backoff)
	}
	if e.Downtime != 0 {
		fmt.Fprintf(&b, " downtime %v", e.Downtime.Round(time.Microsecond))
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Events returns a copy of the events recorded so far, oldest first.
func (c *Cluster) Events() []Event {
	c.evMu.Lock()
	defer c.evMu.Unlock()
	return append([]Event(nil), c.events...)
}

// Restarts returns how many restarts have been made so far, over all workers, counting those
// that then failed to start or to become ready.
func (c *Cluster) Restarts() int { return int(c.restarts.Load()) }

func (c *Cluster) record(e Event) {
	c.evMu.Lock()
	c.events = append(c.events, e)
	c.evMu.Unlock()
	if c.spec.OnEvent != nil {
		c.spec.OnEvent(e)
	}
}

// ErrNotRunning is wrapped by the error Kill, Pause and Resume return when the worker has no
// running process: it is down, being restarted, or stopped.
var ErrNotRunning = errors.New("not running")

// errStopping reports a restart not made because Stop has begun.
var errStopping = errors.New("cluster stopping")

// Kill sends SIGKILL to the process group of worker index (1-based), as a crash would. With
// Spec.Restart the worker is restarted; without, it is reported on Exited.
func (c *Cluster) Kill(index int) error { return c.signalWorker(index, syscall.SIGKILL) }

// Pause sends SIGSTOP to the process group of worker index (1-based) and returns once the
// worker is stopped: it stays alive, keeps its port and accepts connections into its backlog,
// but answers nothing until Resume — a hung worker. The supervisor does not treat a paused
// worker as dead, and Stop resumes it to deliver SIGTERM.
func (c *Cluster) Pause(index int) error { return c.signalWorker(index, syscall.SIGSTOP) }

// Resume sends SIGCONT to the process group of worker index (1-based), undoing Pause.
func (c *Cluster) Resume(index int) error { return c.signalWorker(index, syscall.SIGCONT) }

func (c *Cluster) signalWorker(index int, sig syscall.Signal) error {
	// Under mu, where Stop sets stopping: a SIGSTOP either lands before Stop's SIGCONT or not
	// at all, so it can never leave a worker frozen through Stop.
	c.mu.Lock()
	defer c.mu.Unlock()
	if index < 1 || index > len(c.procs) {
		return fmt.Errorf("cluster: worker %d: no such worker (have 1-%d)", index, len(c.procs))
	}
	if c.stopping.Load() {
		return fmt.Errorf("cluster: worker %d: %w (cluster stopping)", index, ErrNotRunning)
	}
	p := c.procs[index-1]
	var err error
	if sig == syscall.SIGSTOP {
		err = p.pause()
	} else {
		err = p.signal(sig)
	}
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// supervise watches one worker from the moment Start has made it ready until Stop: it records
// every death and, under Spec.Restart, restarts the worker with back-off until it is ready
// again or given up on.
func (c *Cluster) supervise(p *proc) {
	defer c.wg.Done()
	pol := c.spec.Restart
	index := p.w.Index
	var (
		restarts []time.Time   // restarts of this worker within the last pol.Within
		next     time.Duration // the back-off after the next early failure
		last     *ExitError    // the latest exit, for Exited
		lastErr  error         // the latest failure, for EventGaveUp
		downAt   time.Time     // when the worker went down
		attempt  int           // restarts since the worker was last up
		up       = true        // p is ready: Start made it so
		uptime   time.Duration // how long p was ready before it failed
	)
	for {
		// Wait for the current process to end (it is ready here, or failed to start).
		if p != nil {
			select {
			case <-p.done:
			case <-c.life.Done():
				return
			}
			if c.stopping.Load() {
				return // Stop's own kill, or a death racing with it: not a fault
			}
			readyAt, exitedAt := p.times()
			last = p.exitError(c.command, !up)
			lastErr = last
			uptime = 0
			if up {
				uptime = exitedAt.Sub(readyAt)
				downAt = exitedAt
			}
			c.record(Event{Time: exitedAt, Kind: EventExit, Index: index, PID: p.w.PID, Err: last, Attempt: attempt})
		}
		if !pol.Enabled {
			c.giveUp(last)
			return
		}

		// How long to wait: nothing after a worker that ran long enough, else a doubling delay.
		var delay time.Duration
		if up && uptime >= pol.MinUptime {
			next = pol.MinBackoff
		} else {
			if next == 0 {
				next = pol.MinBackoff
			}
			delay = next
			next = min(2*next, pol.MaxBackoff)
		}
		up = false

		now := time.Now()
		restarts = dropBefore(restarts, now.Add(-pol.Within))
		if len(restarts) >= pol.Max {
			c.record(Event{Time: now, Kind: EventGaveUp, Index: index, PID: last.Worker.PID, Attempt: attempt,
				Downtime: now.Sub(downAt),
				Err:      fmt.Errorf("%d restarts within %v, giving up: %w", len(restarts), pol.Within, lastErr)})
			c.giveUp(last)
			return
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-c.life.Done():
				t.Stop()
				return
			}
		}

		np, err := c.respawn(index)
		if errors.Is(err, errStopping) {
			return
		}
		attempt++
		restarts = append(restarts, time.Now())
		c.restarts.Add(1)
		if err != nil {
			// The command could not be started at all: a failed attempt without a process.
			p, lastErr = nil, err
			last = &ExitError{Worker: last.Worker, Command: c.command, BeforeReady: true}
			c.record(Event{Time: time.Now(), Kind: EventExit, Index: index, Err: err, Attempt: attempt})
			continue
		}
		p = np
		c.record(Event{Time: time.Now(), Kind: EventRestart, Index: index, PID: p.w.PID, Attempt: attempt, Backoff: delay})

		readyCtx, cancel := context.WithTimeoutCause(c.life, c.spec.ReadyTimeout, errReadyTimeout)
		err = c.ready(readyCtx, c.client, p, true)
		cancel()
		switch {
		case err == nil:
			up = true
			readyAt, _ := p.times()
			c.record(Event{Time: readyAt, Kind: EventReady, Index: index, PID: p.w.PID, Attempt: attempt,
				Downtime: readyAt.Sub(downAt)})
			attempt = 0
		case c.life.Err() != nil:
			return
		default:
			var ee *ExitError
			if !errors.As(err, &ee) {
				// Not ready in time: kill it and record its end as a failed attempt, with the
				// not-ready error, which says more than "killed by signal 9". p = nil: nothing
				// is left for the top of the loop to wait for.
				p.signal(syscall.SIGKILL)
				select {
				case <-p.done:
				case <-c.life.Done():
					return
				}
				_, exitedAt := p.times()
				last, lastErr = p.exitError(c.command, true), err
				c.record(Event{Time: exitedAt, Kind: EventExit, Index: index, PID: p.w.PID, Err: err, Attempt: attempt})
				p = nil
			}
			// An exit before ready is recorded by the wait at the top of the loop.
		}
	}
}

// giveUp reports the worker as down for good on Exited, unless Stop has begun.
func (c *Cluster) giveUp(last *ExitError) {
	if last == nil || c.stopping.Load() {
		return
	}
	// Never blocks: the channel has room for every worker, and each is given up once.
	select {
	case c.exits <- last:
	default:
	}
}

// respawn starts a new process for worker index on its port and makes it the worker's
// current one, unless Stop has begun. The check and the install happen under mu, where Stop
// takes its snapshot, so Stop either signals the new process or no new process starts.
func (c *Cluster) respawn(index int) (*proc, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping.Load() {
		return nil, errStopping
	}
	p := c.newProc(index, c.ports[index-1])
	if err := c.spawn(p); err != nil {
		return nil, err
	}
	old := c.procs[index-1]
	c.retiredCPU += old.cpu() // reaped: its final reading
	c.procs[index-1] = p
	return p, nil
}

// dropBefore removes the times before cutoff from the sorted ts.
func dropBefore(ts []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(cutoff) {
		i++
	}
	return ts[i:]
}
