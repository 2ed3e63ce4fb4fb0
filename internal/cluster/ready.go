package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
	target := "http://" + p.w.Addr + c.spec.ReadyPath
	last := "no answer"
	delay := readyFirstDelay
	if restarted {
		delay = restartDelayStep
	}
	for {
		ok, status := probe(ctx, client, target)
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
// was cut short by ctx.
func probe(ctx context.Context, client *http.Client, target string) (ok bool, status string) {
	tryCtx, cancel := context.WithTimeout(ctx, readyTryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tryCtx, http.MethodGet, target, nil)
	if err != nil {
		return false, oneLine(err.Error())
	}
	resp, err := client.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return false, ""
		case errors.Is(err, syscall.ECONNREFUSED):
			return false, "connection refused"
		case errors.Is(err, context.DeadlineExceeded):
			return false, fmt.Sprintf("no answer within %v", readyTryTimeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in the message
		}
		return false, oneLine(err.Error())
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return true, ""
	}
	return false, oneLine(resp.Status)
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
