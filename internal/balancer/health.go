package balancer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// This file is the backends' health: passive checks (a proxied request whose
// backend refused or dropped the connection), active checks (periodic
// probes, WithHealthCheck), and the one place a backend changes state,
// setHealth. Strategies only read Backend.Available; they never see how it
// was decided.
//
// Without WithHealthCheck only passive checks run, and a backend they marked
// down is re-probed with a TCP connect every DefaultRecoverInterval until it
// accepts connections again: a crashed worker that its supervisor restarted
// on the same port comes back by itself, and nothing is probed while every
// backend is up. With WithHealthCheck every backend is probed over HTTP,
// which also ejects a backend that accepts connections but answers nothing
// (a hung or SIGSTOPped worker), and readmits only a backend that answers
// 2xx, whoever marked it down.
//
// Probes run while at least one Serve is running; a Balancer used only as an
// http.Handler probes nothing, and a backend marked down stays down until
// SetHealthy(true).

// Defaults of the health checks.
const (
	// DefaultHealthInterval is WithHealthCheck's probe interval for a zero
	// interval.
	DefaultHealthInterval = 100 * time.Millisecond
	// DefaultHealthTimeout is WithHealthCheck's probe timeout for a zero
	// timeout, and the timeout of the TCP probes of passive-down backends.
	DefaultHealthTimeout = 500 * time.Millisecond
	// DefaultRecoverInterval is how often a backend marked down by a
	// passive check is re-probed with a TCP connect when there is no
	// WithHealthCheck.
	DefaultRecoverInterval = 100 * time.Millisecond
	// confirmTimeout bounds the connect that confirms a dropped connection
	// (see passiveFailure). A live backend accepts at once even when it is
	// too busy to answer: the kernel completes the handshake.
	confirmTimeout = time.Second
)

// HealthEvent records one change of a backend's health made by the health
// checks (not by SetHealthy).
type HealthEvent struct {
	// Time is when the change was made.
	Time time.Time
	// Index is the backend's 1-based Index.
	Index int
	// Addr is the backend's "host:port".
	Addr string
	// Healthy is the new state: false for an ejection, true for a
	// readmission.
	Healthy bool
	// Passive is true when a proxied request noticed the failure (a refused
	// or dropped backend connection), false when a probe decided.
	Passive bool
	// Reason says why in a few words, e.g. "passive: dial tcp
	// 127.0.0.1:10001: connect: connection refused", "active: GET /healthz:
	// no answer within 500ms", "active: GET /healthz 200".
	Reason string
	// Downtime is, for a readmission, how long the backend was down; zero
	// for an ejection, or when the health checks did not see it go down.
	Downtime time.Duration
}

// String returns the event on one line, e.g. `backend 2 (127.0.0.1:10001) up
// after 412ms: active: GET /healthz 200`.
func (e HealthEvent) String() string {
	state := "down"
	if e.Healthy {
		state = "up"
		if e.Downtime > 0 {
			state += " after " + e.Downtime.Round(time.Millisecond).String()
		}
	}
	return fmt.Sprintf("backend %d (%s) %s: %s", e.Index, e.Addr, state, e.Reason)
}

// healthCheck is WithHealthCheck's configuration.
type healthCheck struct {
	path              string
	interval, timeout time.Duration
}

// WithHealthCheck turns on active health checks: every interval each
// backend is sent GET path, and one that does not answer 2xx within
// timeout (refused, reset, hung, or an error status) is marked down at
// once; a down backend that answers 2xx is readmitted, also one that a
// passive check or SetHealthy marked down. A hung backend is thus ejected
// within interval + timeout. An empty path means "/", zero or negative
// durations DefaultHealthInterval and DefaultHealthTimeout.
//
// Keep timeout well above the backend's latency under the heaviest load
// it is given: a probe queued behind a saturated single-threaded worker
// times out like a hung one, and ejecting it moves its load onto the
// others.
func WithHealthCheck(path string, interval, timeout time.Duration) Option {
	return func(b *Balancer) {
		if path == "" || path[0] != '/' {
			path = "/" + path
		}
		if interval <= 0 {
			interval = DefaultHealthInterval
		}
		if timeout <= 0 {
			timeout = DefaultHealthTimeout
		}
		b.health = &healthCheck{path: path, interval: interval, timeout: timeout}
	}
}

// WithOnHealth sets a function called with every HealthEvent, from the
// goroutine that made the change (a client connection's, or a probe's),
// one event at a time in the order the changes were made. It must return
// quickly and must not call back into the Balancer's health (it runs under
// its lock); hand the event to another goroutine for anything slow. Nil
// means no calls.
func WithOnHealth(f func(HealthEvent)) Option { return func(b *Balancer) { b.onHealth = f } }

// Retries returns how many requests failed on a backend's connection before
// any response byte and were sent once more, to a backend chosen again
// (another one when the failed one was marked down), since New or the last
// ResetCounts.
func (b *Balancer) Retries() uint64 { return b.retries.Load() }

// Ejections returns how many times the health checks, passive or active,
// have marked a backend down since New.
func (b *Balancer) Ejections() uint64 { return b.ejections.Load() }

// setHealth makes be healthy or not and reports whether that changed its
// state. Changes are serialized so that events reach onHealth in order.
func (b *Balancer) setHealth(be *Backend, healthy, passive bool, reason string) bool {
	b.healthMu.Lock()
	defer b.healthMu.Unlock()
	if be.Healthy() == healthy {
		return false
	}
	now := time.Now()
	be.SetHealthy(healthy)
	ev := HealthEvent{Time: now, Index: be.Index, Addr: be.Addr, Healthy: healthy, Passive: passive, Reason: reason}
	if healthy {
		if !be.downSince.IsZero() {
			ev.Downtime = now.Sub(be.downSince)
		}
		be.downSince = time.Time{}
		be.recovering.Store(false)
	} else {
		be.downSince = now
		be.ejections.Add(1)
		b.ejections.Add(1)
		if passive {
			be.recovering.Store(true)
			select { // wake the probe loop if it sleeps with nothing to do
			case b.kick <- struct{}{}:
			default:
			}
		}
		// Pooled connections to a backend that died are dead too, and one
		// that hangs would hold them anyway: readmitted, it gets new ones.
		be.pool.closeIdle()
	}
	if b.onHealth != nil {
		b.onHealth(ev)
	}
	return true
}

// passiveFailure is called when a proxied request's connection to be failed
// with err before any response byte (connFailure), and marks be down if the
// failure shows it is gone. A refused dial does. A dropped connection is
// confirmed first with a new connect: a backend that closed one connection
// (its keep-alive timeout, a handler that panicked) but accepts new ones is
// alive. Failures caused by the client going away (ctx done) say nothing.
func (b *Balancer) passiveFailure(ctx context.Context, be *Backend, err error) {
	if !be.Healthy() || ctx.Err() != nil {
		return
	}
	reason := err.Error()
	if !isDialError(err) {
		cctx, cancel := context.WithTimeout(ctx, confirmTimeout)
		conn, derr := b.dialer.DialContext(cctx, "tcp", be.Addr)
		cancel()
		if derr == nil {
			_ = conn.Close()
			return
		}
		if ctx.Err() != nil {
			return
		}
		reason += ", then " + derr.Error()
	}
	b.setHealth(be, false, true, "passive: "+reason)
}

// connFailure reports whether err means the backend connection was refused,
// reset or closed before any response byte: a failure worth a passive check
// and, for a safe request, a retry. A partial response (an unexpected EOF
// inside its head), a malformed one, or a timeout is not.
func connFailure(err error) bool {
	switch {
	case isDialError(err),
		errors.Is(err, errBackendClosed),
		errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// isDialError reports whether err is a failure to connect.
func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// retryable reports whether a request may be sent to a second backend after
// the first dropped it: GET and HEAD without a body. It is narrower than
// idempotent, which decides replays on the same backend after a stale
// keep-alive connection.
func retryable(method string, hasBody bool) bool {
	return !hasBody && (method == http.MethodGet || method == http.MethodHead)
}

// startHealth is called by every Serve: the first one starts the probe
// loop, which runs until the last Serve stops and calls the returned
// function.
func (b *Balancer) startHealth() (stop func()) {
	b.probeMu.Lock()
	defer b.probeMu.Unlock()
	b.probeUsers++
	if b.probeUsers == 1 {
		ctx, cancel := context.WithCancel(context.Background())
		b.stopProbes = cancel
		b.serving.Add(1)
		go func() {
			defer b.serving.Done()
			b.probeLoop(ctx)
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			b.probeMu.Lock()
			defer b.probeMu.Unlock()
			b.probeUsers--
			if b.probeUsers == 0 {
				b.stopProbes()
			}
		})
	}
}

// probeLoop probes the backends until ctx is done: all of them every
// interval with active checks, else the passive-down ones every
// DefaultRecoverInterval, sleeping while none is down. A backend whose probe
// is still running (a hung one, until its timeout) is not probed again.
func (b *Balancer) probeLoop(ctx context.Context) {
	var probes sync.WaitGroup
	defer probes.Wait()
	interval := DefaultRecoverInterval
	var client *http.Client
	if b.health != nil {
		interval = b.health.interval
		// Its own pool: probes keep one connection per backend and never
		// wait behind proxied requests for one.
		tr := &http.Transport{
			Proxy:               nil,
			DialContext:         b.dialer.DialContext,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     DefaultIdleConnTimeout,
			DisableCompression:  true,
		}
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr}
		if b.maxConns > 0 {
			// Under WithMaxConns a probe's connection of its own could wait
			// behind the balancer's in a one-connection server's listen
			// queue: the std engine's probes share its Transport, the fast
			// engine's its pools (probeFast).
			client = &http.Client{Transport: b.transport}
		}
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		pending := false
		for _, be := range b.pool {
			if b.health == nil && !be.recovering.Load() {
				continue
			}
			pending = true
			if !be.probing.CompareAndSwap(false, true) {
				continue
			}
			probes.Add(1)
			go func() {
				defer probes.Done()
				defer be.probing.Store(false)
				if b.health != nil {
					b.probeHTTP(ctx, client, be)
				} else {
					b.probeTCP(ctx, be)
				}
			}()
		}
		if !pending {
			// Passive checks only and all backends up: nothing to do
			// until one goes down.
			select {
			case <-ctx.Done():
				return
			case <-b.kick:
				tick.Reset(interval)
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-b.kick:
		}
	}
}

// probeHTTP sends one active check to be and applies its verdict.
func (b *Balancer) probeHTTP(ctx context.Context, client *http.Client, be *Backend) {
	hc := b.health
	pctx, cancel := context.WithTimeout(ctx, hc.timeout)
	defer cancel()
	what := "active: GET " + hc.path
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, "http://"+be.Addr+hc.path, nil)
	if err != nil {
		b.setHealth(be, false, false, what+": "+err.Error())
		return
	}
	var resp *http.Response
	if b.maxConns > 0 && b.engine == EngineFast {
		resp, err = probeFast(pctx, be, req)
	} else {
		resp, err = client.Do(req)
	}
	if err == nil {
		// Drained so the connection is reused; a health body is small.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
	switch {
	case ctx.Err() != nil:
		// Stopping: a cancelled probe says nothing about the backend.
	case err != nil && pctx.Err() != nil:
		b.setHealth(be, false, false, fmt.Sprintf("%s: no answer within %v", what, hc.timeout))
	case err != nil:
		b.setHealth(be, false, false, what+": "+unwrapURLError(err).Error())
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		b.setHealth(be, false, false, fmt.Sprintf("%s %d", what, resp.StatusCode))
	default:
		b.setHealth(be, true, false, fmt.Sprintf("%s %d", what, resp.StatusCode))
	}
}

// probeTCP readmits a passive-down be if it accepts a connection.
func (b *Balancer) probeTCP(ctx context.Context, be *Backend) {
	pctx, cancel := context.WithTimeout(ctx, DefaultHealthTimeout)
	defer cancel()
	conn, err := b.dialer.DialContext(pctx, "tcp", be.Addr)
	if err != nil {
		return
	}
	_ = conn.Close()
	if ctx.Err() == nil {
		b.setHealth(be, true, false, "probe: accepts connections")
	}
}

// unwrapURLError drops net/http's `Get "http://...":` prefix, which repeats
// what the event already says.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// probeFast sends a probe over be's fast engine pool, waiting for a
// connection like a request (see WithMaxConns), and returns its response
// with the body read. The connection goes back to the pool after a
// complete response with a small body; else it is closed.
func probeFast(ctx context.Context, be *Backend, req *http.Request) (*http.Response, error) {
	uc, _, err := be.pool.get(ctx, true, false)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = uc.conn.SetDeadline(dl)
	}
	// A cancelled probe must not wait for the deadline.
	stop := context.AfterFunc(ctx, func() { _ = uc.conn.SetDeadline(aLongTimeAgo) })
	_, err = fmt.Fprintf(uc.bw, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench-health\r\n\r\n", req.URL.RequestURI(), be.Addr)
	if err == nil {
		err = uc.bw.Flush()
	}
	var resp *http.Response
	if err == nil {
		resp, err = http.ReadResponse(uc.br, req)
	}
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	if !stop() || err != nil || resp.Close || len(body) == 64<<10 || uc.br.Buffered() > 0 {
		uc.close()
		return resp, err
	}
	_ = uc.conn.SetDeadline(time.Time{})
	be.pool.put(uc)
	return resp, nil
}
