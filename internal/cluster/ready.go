package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Readiness polling: quick at first, since most workers are up within milliseconds, then
// backing off so a slow starter is not hammered. A restarted worker is polled more tightly
// (delays of 1, 2, 3, … ms), because every millisecond between its first answer and the
// probe that sees it is downtime; a refused connect on loopback costs microseconds.
const (
	readyFirstDelay  = 5 * time.Millisecond
	readyMaxDelay    = 100 * time.Millisecond
	readyTryTimeout  = time.Second
	restartDelayStep = time.Millisecond
)

var (
	errReadyTimeout = errors.New("readiness timeout")
	errSiblingFail  = errors.New("another worker failed")
)

// waitReady polls every worker in parallel and returns nil once all answered 2xx.
func (c *Cluster) waitReady(ctx context.Context) error {
	failCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	readyCtx, cancel := context.WithTimeoutCause(failCtx, c.spec.ReadyTimeout, errReadyTimeout)
	defer cancel()

	// No keep-alive: an idle probe connection must not linger as the worker's first client.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	defer client.CloseIdleConnections()

	if c.spec.SharedPort {
		err := c.readyShared(readyCtx, client, c.procs, false)
		if ctx.Err() != nil {
			return fmt.Errorf("cluster: starting %d workers of %q: %w", len(c.procs), c.command, ctx.Err())
		}
		return err
	}
	errs := make([]error, len(c.procs))
	var wg sync.WaitGroup
	for i, p := range c.procs {
		wg.Go(func() {
			if err := c.ready(readyCtx, client, p, false); err != nil {
				errs[i] = err
				fail(errSiblingFail)
			}
		})
	}
	wg.Wait()

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cluster: starting %d workers of %q: %w", len(c.procs), c.command, err)
	}
	// The lowest-index failure that is not merely the echo of another one.
	for _, err := range errs {
		if err != nil && !errors.Is(err, errSiblingFail) {
			return err
		}
	}
	return nil
}

// ready polls p until it answers 2xx, exits, or ctx ends; restarted selects the tighter
// polling of a restarted worker.
func (c *Cluster) ready(ctx context.Context, client *http.Client, p *proc, restarted bool) error {
	if c.spec.SharedPort {
		return c.readyShared(ctx, client, []*proc{p}, restarted)
	}
	target := "http://" + p.w.Addr + c.spec.ReadyPath
	last := "no answer"
	delay := readyFirstDelay
	if restarted {
		delay = restartDelayStep
	}
	for {
		ok, status, _ := probe(ctx, client, target)
		if ok {
			p.markReady()
			return nil
		}
		if status != "" {
			last = status
		}
		wait := time.NewTimer(delay)
		select {
		case <-p.done:
			wait.Stop()
			return p.exitError(c.command, true)
		case <-ctx.Done():
			wait.Stop()
			if context.Cause(ctx) != errReadyTimeout {
				return context.Cause(ctx)
			}
			return &notReadyError{
				worker: p.w, command: c.command, target: p.w.Addr + c.spec.ReadyPath,
				after: c.spec.ReadyTimeout, last: last, stderr: p.out.Tail(),
			}
		case <-wait.C:
		}
		if restarted {
			delay = min(delay+restartDelayStep, readyMaxDelay)
		} else {
			delay = min(2*delay, readyMaxDelay)
		}
	}
}

// probe sends one GET; status describes a failure in a few words, or is empty when the try
// was cut short by ctx; worker is the answer's WorkerHeader.
func probe(ctx context.Context, client *http.Client, target string) (ok bool, status, worker string) {
	tryCtx, cancel := context.WithTimeout(ctx, readyTryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tryCtx, http.MethodGet, target, nil)
	if err != nil {
		return false, oneLine(err.Error()), ""
	}
	resp, err := client.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return false, "", ""
		case errors.Is(err, syscall.ECONNREFUSED):
			return false, "connection refused", ""
		case errors.Is(err, context.DeadlineExceeded):
			return false, fmt.Sprintf("no answer within %v", readyTryTimeout), ""
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in the message
		}
		return false, oneLine(err.Error()), ""
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	worker = resp.Header.Get(WorkerHeader)
	if resp.StatusCode/100 == 2 {
		return true, "", worker
	}
	return false, oneLine(resp.Status), worker
}

// readyShared polls the port all workers share (Spec.SharedPort) until each of procs has
// answered 2xx itself, one of them exits first, or ctx ends; restarted selects the tighter
// polling of a restarted worker. Which worker answers is the kernel's choice per connection,
// so every probe uses a fresh one (the client has no keep-alive), and probes go in bursts
// long enough that each listening worker is likely hit in one (see Spec.SharedPort for a
// command that does not name itself in WorkerHeader).
func (c *Cluster) readyShared(ctx context.Context, client *http.Client, procs []*proc, restarted bool) error {
	addr := procs[0].w.Addr
	target := "http://" + addr + c.spec.ReadyPath
	pending := make(map[int]*proc, len(procs)) // by index
	for _, p := range procs {
		pending[p.w.Index] = p
	}
	// One channel for the exits of all procs, so a wait can end on any of them.
	exited := make(chan *proc, len(procs))
	stop := make(chan struct{})
	defer close(stop)
	for _, p := range procs {
		go func() {
			select {
			case <-p.done:
				exited <- p
			case <-stop:
			}
		}()
	}
	// With k listeners, a burst of 3k probes misses a given one with probability (1-1/k)^3k,
	// about 5%; all workers count, since those already ready take their share of connections.
	burst := 3*len(c.ports) + 1
	last := "no answer"
	others := map[string]bool{} // WorkerHeader values of answers from workers not waited for
	delay := readyFirstDelay
	if restarted {
		delay = restartDelayStep
	}
	for {
		progress := false
		for range burst {
			ok, status, worker := probe(ctx, client, target)
			if !ok {
				if status != "" {
					last = status
				}
				break // not listening yet, or failing: no point hammering it
			}
			index, named := parseWorker(worker)
			if !named {
				// Not attributable: a command that does not name itself. Ready if all live.
				for _, p := range procs {
					select {
					case <-p.done:
						return p.exitError(c.command, pending[p.w.Index] == p)
					default:
					}
				}
				for _, p := range pending {
					p.markReady()
				}
				return nil
			}
			if p := pending[index]; p != nil {
				p.markReady()
				delete(pending, index)
				progress = true
				if len(pending) == 0 {
					return nil
				}
			} else {
				others[worker] = true
			}
		}
		if len(others) > 0 {
			last = "2xx only from " + WorkerHeader + " " + strings.Join(slices.Sorted(maps.Keys(others)), ", ")
		}

		wait := time.NewTimer(delay)
	waiting:
		for {
			select {
			case p := <-exited:
				if pending[p.w.Index] == p {
					wait.Stop()
					return p.exitError(c.command, true)
				}
				// Already ready: its death is the supervisor's business, not readiness's.
			case <-ctx.Done():
				wait.Stop()
				if context.Cause(ctx) != errReadyTimeout {
					return context.Cause(ctx)
				}
				p := pending[slices.Min(slices.Collect(maps.Keys(pending)))]
				return &notReadyError{
					worker: p.w, command: c.command, target: addr + c.spec.ReadyPath,
					after: c.spec.ReadyTimeout, last: last, stderr: p.out.Tail(),
				}
			case <-wait.C:
				break waiting
			}
		}
		switch {
		case progress:
			// A worker just came up: the others are probably about to, poll again soon.
			delay = readyFirstDelay
			if restarted {
				delay = restartDelayStep
			}
		case restarted:
			delay = min(delay+restartDelayStep, readyMaxDelay)
		default:
			delay = min(2*delay, readyMaxDelay)
		}
	}
}

// parseWorker returns the index in a WorkerHeader value "<index>/<pid>"; ok is false when v
// is not of that form.
func parseWorker(v string) (index int, ok bool) {
	i, pid, found := strings.Cut(v, "/")
	if !found {
		return 0, false
	}
	index, err1 := strconv.Atoi(i)
	_, err2 := strconv.Atoi(pid)
	if err1 != nil || err2 != nil || index < 1 {
		return 0, false
	}
	return index, true
}

// notReadyError reports a worker that ran but never answered its probe with 2xx.
type notReadyError struct {
	worker  Worker
	command string
	target  string // host:port/path probed
	after   time.Duration
	last    string // what the last probe got
	stderr  string
}

func (e *notReadyError) Error() string {
	msg := fmt.Sprintf("worker %d (%q) not ready on %s after %v (last: %s)",
		e.worker.Index, e.command, e.target, e.after, e.last)
	if e.stderr != "" {
		msg += "; stderr: " + e.stderr
	}
	return msg
}

func (e *notReadyError) Unwrap() error { return ErrNotReady }
