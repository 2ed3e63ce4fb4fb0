// Package balancer is bench's in-process HTTP load balancer: a reverse proxy
// in front of the workers, with pluggable selection strategies.
//
// It shares a 2-core machine with the load generator and the workers, so
// every microsecond of CPU and every wake-up it spends per request is taken
// from the workers and bends the scaling curve it is there to measure. Two
// engines forward requests:
//
//   - EngineFast (the default) is a purpose-built HTTP/1.1 forwarder: one
//     goroutine per client connection, request and response heads parsed
//     only as far as framing needs, bytes copied verbatim over pooled
//     keep-alive backend connections, no allocation per request.
//   - EngineStd is net/http's httputil.ReverseProxy with a tuned Transport.
//     The fast engine hands it every connection whose request it does not
//     handle itself (HTTP/1.0, Upgrade, Expect, odd framing, huge heads).
//
// Both preserve the client's Host header and pass X-Forwarded-* headers
// through unchanged, like HAProxy does by default, and count requests and
// in-flight requests per backend the same way.
//
// Both bound client connections alike (a header read timeout, an idle
// timeout; the fast engine also a connection cap, see clientLimits), and
// WithMaxConns bounds each backend's connections in both, queueing
// requests in the balancer.
//
// Both check the backends' health the same way (health.go): a backend that
// refuses or drops a connection is ejected at once and a GET or HEAD it
// dropped is retried once on another; WithHealthCheck adds probes that also
// eject a hung backend; ejected backends are readmitted by a probe once they
// answer again.
package balancer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Engine names a forwarding implementation; see the package doc.
type Engine string

// The engines, in the order Engines lists them. WithEngine accepts EngineFast,
// EngineStd and EngineL4 (l4.go).
const (
	// EngineFast is the purpose-built HTTP/1.1 forwarder.
	EngineFast Engine = "fast"
	// EngineStd is httputil.ReverseProxy behind net/http's server.
	EngineStd Engine = "std"
	// EngineHAProxy is an HAProxy process in front of the workers, for
	// comparison; package haproxy runs it, a Balancer does not.
	EngineHAProxy Engine = "haproxy"
	// DefaultEngine is the engine New uses without WithEngine.
	DefaultEngine = EngineFast
)

// Engines is every engine a scenario may name, in the order help lists them.
// It is the one place a new engine is registered. Callers must not modify it.
var Engines = []Engine{EngineFast, EngineStd, EngineL4, EngineHAProxy}

// Valid reports whether e is one of Engines. Names are exact.
func (e Engine) Valid() bool { return slices.Contains(Engines, e) }

// Queues reports whether e can hold requests for a backend at its
// connection bound (WithMaxConns): the engines that see requests do.
func (e Engine) Queues() bool { return e == EngineFast || e == EngineStd }

// Defaults of the options.
const (
	// DefaultShutdownTimeout bounds how long a stopping Serve waits for
	// requests in progress before closing their connections.
	DefaultShutdownTimeout = 5 * time.Second
	// DefaultMaxIdleConnsPerBackend is the number of idle keep-alive
	// connections kept per backend. It is large on purpose: net/http's
	// default of 2 makes a loaded proxy open and close a connection per
	// request and measure port exhaustion instead of the workers.
	DefaultMaxIdleConnsPerBackend = 1024
	// DefaultIdleConnTimeout is how long an idle backend connection may be
	// reused. It is below Node's 5 s keep-alive timeout, so the balancer
	// does not write a request into a connection the backend is closing.
	DefaultIdleConnTimeout = 2 * time.Second
	// DefaultDialTimeout bounds connecting to a backend.
	DefaultDialTimeout = 5 * time.Second
	// DefaultQueueTimeout bounds how long a request waits for a connection
	// to a backend at its WithMaxConns limit; then it is a 503.
	DefaultQueueTimeout = 30 * time.Second
)

// Backend is one worker behind the balancer, with its counters. Its zero
// value is a healthy backend with no address.
type Backend struct {
	// Index is the backend's 1-based position in the addresses given to New.
	Index int
	// Addr is the backend's "host:port".
	Addr string

	requests  atomic.Uint64
	inFlight  atomic.Int64
	unhealthy atomic.Bool // zero: healthy until a health check says otherwise
	retries   atomic.Uint64
	ejections atomic.Uint64

	// Health check state (health.go).
	recovering atomic.Bool // marked down by a passive check: probe until it is back
	probing    atomic.Bool // a probe of this backend is running
	downSince  time.Time   // when the health checks marked it down; under Balancer.healthMu

	std  http.Handler // std engine: a ReverseProxy aimed at Addr
	pool upstreamPool // fast engine: idle keep-alive connections to Addr
}

// Requests returns the number of requests sent to b since New or the last
// ResetCounts.
func (b *Backend) Requests() uint64 { return b.requests.Load() }

// InFlight returns the number of requests b is answering right now.
func (b *Backend) InFlight() int64 { return b.inFlight.Load() }

// Retries returns how many requests b dropped (refused or closed the
// connection before any response byte) that were then sent once more, to a
// backend chosen again, since New or the last ResetCounts.
func (b *Backend) Retries() uint64 { return b.retries.Load() }

// Ejections returns how many times the health checks, passive or active,
// have marked b down since New.
func (b *Backend) Ejections() uint64 { return b.ejections.Load() }

// Healthy reports whether b is healthy: true unless it was marked
// unhealthy, by the health checks or SetHealthy.
func (b *Backend) Healthy() bool { return !b.unhealthy.Load() }

// Available reports whether strategies may choose b: whether it is
// Healthy. (Backends have no connection limit, so none is ever full.)
func (b *Backend) Available() bool { return b.Healthy() }

// SetHealthy marks b healthy (the default) or unhealthy, without a
// HealthEvent. The health checks change it too: an active check readmits a
// backend set unhealthy here once it answers, and a passive check ejects
// one that refuses connections. Strategies only look at Available.
func (b *Backend) SetHealthy(healthy bool) { b.unhealthy.Store(!healthy) }

// begin counts a request that was sent to b; end must follow.
func (b *Backend) begin() {
	b.requests.Add(1)
	b.inFlight.Add(1)
}

func (b *Backend) end() { b.inFlight.Add(-1) }

// Option configures a Balancer in New.
type Option func(*Balancer)

// WithEngine selects the forwarding engine; "" means DefaultEngine. An
// unknown engine makes Serve fail.
func WithEngine(e Engine) Option { return func(b *Balancer) { b.engine = e } }

// WithShutdownTimeout sets how long a stopping Serve waits for requests in
// progress; zero means DefaultShutdownTimeout.
func WithShutdownTimeout(d time.Duration) Option {
	return func(b *Balancer) { b.shutdownTimeout = d }
}

// WithMaxConns bounds each backend's open connections, idle ones included,
// to n, as HAProxy's maxconn on a server line does; zero or less means no
// bound. Requests that find every connection busy wait for one in the
// balancer, up to DefaultQueueTimeout, and the wait is part of their
// latency. A server that serves one connection at a time, such as
// Python's http.server, needs 1. Active health probes then go over the
// same connections, queued like requests, rather than competing with them.
func WithMaxConns(n int) Option { return func(b *Balancer) { b.maxConns = max(n, 0) } }

// Balancer is a reverse proxy spreading requests over a fixed set of
// backends. It is an http.Handler (the std engine) and serves on its own
// listener with Serve (either engine).
type Balancer struct {
	pool            []*Backend
	sel             Selector
	engine          Engine
	shutdownTimeout time.Duration
	maxConns        int // per backend; 0: no limit
	limits          clientLimits
	transport       *http.Transport
	dialer          net.Dialer

	health   *healthCheck // nil: passive checks only
	onHealth func(HealthEvent)
	healthMu sync.Mutex    // serializes health changes and their events
	kick     chan struct{} // wakes the probe loop when a backend goes down
	retries  atomic.Uint64
	// ejections counts every backend's ejections.
	ejections atomic.Uint64

	probeMu    sync.Mutex
	probeUsers int                // Serves running; the probe loop runs while > 0
	stopProbes context.CancelFunc // ends the probe loop

	serving sync.WaitGroup // Serve's goroutines and the probe loop
}

// New returns a Balancer for the backends at addrs ("host:port" each; an
// "http://" prefix is dropped) choosing with sel; nil sel means a new
// RoundRobin. An address that cannot be reached shows up as 502 responses,
// not as an error here.
func New(addrs []string, sel Selector, opts ...Option) *Balancer {
	if sel == nil {
		sel = new(RoundRobin)
	}
	b := &Balancer{sel: sel, engine: DefaultEngine, shutdownTimeout: DefaultShutdownTimeout, kick: make(chan struct{}, 1),
		limits: defaultClientLimits}
	for _, opt := range opts {
		opt(b)
	}
	if b.engine == "" {
		b.engine = DefaultEngine
	}
	if b.shutdownTimeout <= 0 {
		b.shutdownTimeout = DefaultShutdownTimeout
	}
	b.dialer = net.Dialer{Timeout: DefaultDialTimeout}
	b.transport = newTransport(&b.dialer, b.maxConns)
	for i, addr := range addrs {
		addr = strings.TrimPrefix(addr, "http://")
		be := &Backend{Index: i + 1, Addr: addr}
		be.std = newReverseProxy(addr, &backendTransport{b: b, be: be})
		be.pool = upstreamPool{
			addr:        addr,
			maxIdle:     DefaultMaxIdleConnsPerBackend,
			idleTimeout: DefaultIdleConnTimeout,
			maxConns:    b.maxConns,
			queueWait:   DefaultQueueTimeout,
			dialer:      &b.dialer,
		}
		b.pool = append(b.pool, be)
	}
	return b
}

// Backends returns the backends in the order of the addresses given to New.
// The slice is shared: do not modify it.
func (b *Balancer) Backends() []*Backend { return b.pool }

// Engine returns the engine Serve uses.
func (b *Balancer) Engine() Engine { return b.engine }

// Counts returns the number of requests sent to each backend, in the order
// of the addresses given to New.
func (b *Balancer) Counts() []uint64 {
	counts := make([]uint64, len(b.pool))
	for i, be := range b.pool {
		counts[i] = be.Requests()
	}
	return counts
}

// ResetCounts sets the request and retry counts of every backend, and
// Retries, to zero; in-flight gauges are left alone since those requests
// are still running, and ejections since they are health history.
func (b *Balancer) ResetCounts() {
	for _, be := range b.pool {
		be.requests.Store(0)
		be.retries.Store(0)
	}
	b.retries.Store(0)
}

// Serve listens on addr ("127.0.0.1:0" picks a free port) and serves the
// balancer there until ctx is done; it returns the address it listens on
// without waiting. When ctx is done it closes the listener and idle
// connections, waits up to the shutdown timeout for requests in progress,
// then closes what is left; Wait blocks until that is over. Serve may be
// called more than once, for several listeners.
//
// While any Serve runs, the health checks probe the backends (see
// WithHealthCheck and the notes in health.go).
func (b *Balancer) Serve(ctx context.Context, addr string) (string, error) {
	switch b.engine {
	case EngineFast, EngineStd, EngineL4:
	default:
		return "", fmt.Errorf("balancer: engine: unknown %q (known: %s, %s, %s)", b.engine, EngineFast, EngineStd, EngineL4)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("balancer: listen on %s: %w", addr, err)
	}
	if b.engine == EngineL4 {
		l4 := &l4Server{b: b, ln: ln, conns: map[net.Conn]struct{}{}}
		b.serving.Add(2)
		go func() { defer b.serving.Done(); l4.serve() }()
		go func() {
			defer b.serving.Done()
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), b.shutdownTimeout)
			defer cancel()
			l4.shutdown(sctx)
		}()
		return ln.Addr().String(), nil
	}
	std := b.newServer()
	var fast *fastServer
	b.serving.Add(1)
	switch b.engine {
	case EngineStd:
		go func() {
			defer b.serving.Done()
			_ = std.Serve(ln) // returns once shut down
		}()
	case EngineFast:
		fast = newFastServer(b, ln, std)
		go func() {
			defer b.serving.Done()
			fast.serve()
		}()
	}
	stopHealth := b.startHealth()
	b.serving.Add(1)
	go func() {
		defer b.serving.Done()
		<-ctx.Done()
		stopHealth()
		b.shutdown(ln, std, fast)
	}()
	return ln.Addr().String(), nil
}

// shutdown stops one Serve: listener first, then idle connections, then
// requests in progress once they finish or the shutdown timeout passes.
func (b *Balancer) shutdown(ln net.Listener, std *http.Server, fast *fastServer) {
	ctx, cancel := context.WithTimeout(context.Background(), b.shutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	if fast != nil {
		_ = ln.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			fast.shutdown(ctx)
		}()
	}
	// For the std engine this closes ln; for the fast one, the hand-off
	// listener and the connections handed to net/http.
	if err := std.Shutdown(ctx); err != nil {
		_ = std.Close()
	}
	wg.Wait()
	b.transport.CloseIdleConnections()
	for _, be := range b.pool {
		be.pool.closeIdle()
	}
}

// Wait blocks until every Serve has stopped after its ctx was done and its
// connections are closed.
func (b *Balancer) Wait() { b.serving.Wait() }

// ErrorHeader marks the balancer's own error responses (502 when a worker could not be reached,
// 503 when none is available) with the value "balancer", so that a client tells them from a
// worker's own 502 or 503: bench's generator counts them as the balancer's errors.
const ErrorHeader = "X-Bench-Error"

// errNoBackend is the 503 body when the Selector finds nothing available.
var errNoBackend = errors.New("no backend available")
