package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bench-dev/bench/internal/rawio"
)

// DefaultMaxIdleConnsPerHost is the idle keep-alive connections a Transport
// keeps per host when Transport.MaxIdleConnsPerHost is zero.
const DefaultMaxIdleConnsPerHost = 1024

// Transport errors.
var (
	// ErrUnsupported is returned for a request a Transport without a
	// Fallback cannot carry: any scheme but plain http.
	ErrUnsupported = errors.New("load: transport: only plain http is supported (no Fallback set)")
	// ErrTransportClosed is returned for requests started after Close.
	ErrTransportClosed = errors.New("load: transport closed")
	// ErrTimeout is returned when Transport.Timeout expires; it is a
	// net.Error whose Timeout() is true, and matches
	// context.DeadlineExceeded with errors.Is, as net/http's does.
	ErrTimeout error = &timeoutError{}
)

type timeoutError struct{}

func (*timeoutError) Error() string        { return "load: request timed out (Transport.Timeout)" }
func (*timeoutError) Timeout() bool        { return true }
func (*timeoutError) Temporary() bool      { return true }
func (*timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// Transport is a lean http.RoundTripper for offering load over plain
// HTTP/1.1, meant for loopback targets. It exists because the generator
// shares the machine with the workers it measures, and net/http's
// Transport spends most of the generator's CPU: a request hops between the
// caller's goroutine and the connection's read and write loops, and
// allocates about 30 times. Here a request runs on the caller's goroutine
// alone: it takes an idle keep-alive connection (or dials one), writes the
// head (and body) in one system call from a pooled buffer, parses the
// response head from a pooled reader, and returns the connection to the
// pool when the body is read or closed. Socket I/O uses raw system calls
// (see package rawio).
//
// Requests are sent as written: method, request URI, Host, the request's
// headers, Content-Length or chunked framing for a body, and "Connection:
// close" when Request.Close is set. Nothing else is added (no
// User-Agent, no Accept-Encoding: bodies come back as the server sends
// them). Responses carry every header, a Body that reads exactly the
// message body (Content-Length, chunked or until close), and are not
// decompressed. Interim 1xx responses are skipped; 101 is an error.
//
// A request that fails on a reused connection before any response byte
// arrived (the server closed it while idle) is sent again once on a new
// connection if it is safe to repeat: GET, HEAD, OPTIONS or TRACE, with no
// body or a GetBody.
//
// The zero Transport is ready to use; it must not be copied after first
// use. Its methods are safe for concurrent use; a response Body is not.
type Transport struct {
	// DialContext dials new connections. Nil means a net.Dialer with TCP
	// keep-alive probes every 30 s.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxIdleConnsPerHost bounds the idle keep-alive connections kept per
	// host; a connection freed beyond it is closed. Zero means
	// DefaultMaxIdleConnsPerHost.
	MaxIdleConnsPerHost int
	// MaxConnsPerHost bounds the connections per host, idle or carrying a
	// request. A request that finds none idle when the bound is reached
	// waits, first come first served, for one to come free or close; the
	// wait is part of its latency, as in a client with a connection pool.
	// Zero means no bound.
	MaxConnsPerHost int
	// Timeout bounds each request from the start of RoundTrip to the end
	// of its response body, dial included; on expiry the request fails
	// with ErrTimeout and its connection is closed. It is kept to 1 %: a
	// request may time out up to Timeout/100 early (see arm). Zero means
	// no limit beyond the request's context.
	//
	// Set it here rather than as http.Client.Timeout: net/http hands its
	// own transports a deadline in the request's context, but for any
	// other RoundTripper it starts a goroutine and a timer per request to
	// cancel it, which would cost about what this Transport saves. Both
	// work: a request's context deadline and cancellation are honoured.
	Timeout time.Duration
	// Fallback carries the requests this Transport does not: any scheme
	// but plain http (https, and so HTTP/2). Timeout applies to them too,
	// through their context. Nil means they fail with ErrUnsupported.
	Fallback http.RoundTripper

	last atomic.Pointer[hostPool] // the pool used last: a load test has one host

	mu     sync.Mutex
	hosts  map[string]*hostPool // by URL host
	conns  map[*tconn]struct{}  // every open connection, idle or busy
	closed bool
}

// hostPool is one host's free list of idle keep-alive connections, most
// recently used on top: under light load the same few connections carry
// everything.
type hostPool struct {
	host string // URL host, the key
	addr string // host:port to dial

	mu      sync.Mutex
	idle    []*tconn
	open    int           // connections open or being dialled, for MaxConnsPerHost
	waiters []chan *tconn // requests waiting for a connection, oldest first
}

// handOff gives c (nil: a free slot to dial into) to the oldest waiting
// request and reports whether there was one. p.mu is held.
func (p *hostPool) handOff(c *tconn) bool {
	if len(p.waiters) == 0 {
		return false
	}
	w := p.waiters[0]
	p.waiters[0] = nil
	p.waiters = p.waiters[1:]
	w <- c // buffered: never blocks
	return true
}

// tconn is a client connection of a Transport.
type tconn struct {
	t         *Transport
	pool      *hostPool
	nc        net.Conn
	rw        io.ReadWriter // raw socket I/O on nc
	cancelFn  func()        // c.cancel, bound once: a method value per request would allocate
	cancelled atomic.Bool   // the request's context was done while this connection carried it
	deadline  time.Time     // set on nc; zero if none
	closed    atomic.Bool
}

// RoundTrip sends req and returns its response; see Transport. It
// implements http.RoundTripper: req.Body is closed, errors are not
// responses, and a non-2xx status is a response, not an error.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		closeRequestBody(req)
		return nil, errors.New("load: transport: nil Request.URL")
	}
	if req.URL.Scheme != "http" {
		return t.fallback(req)
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeRequestBody(req)
		return nil, err
	}
	if req.URL.Host == "" {
		closeRequestBody(req)
		return nil, errors.New("load: transport: no host in request URL")
	}
	p, err := t.pool(req.URL.Host)
	if err != nil {
		closeRequestBody(req)
		return nil, err
	}
	var deadline time.Time
	if t.Timeout > 0 {
		deadline = time.Now().Add(t.Timeout)
	}
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}

	body := req.Body // replaced by GetBody for a retry; req is not ours to change
	for attempt := 0; ; attempt++ {
		c, reused, err := t.getConn(ctx, p, deadline, attempt > 0)
		if err != nil {
			closeBody(body)
			return nil, t.mapError(ctx, nil, err)
		}
		resp, stale, err := c.roundTrip(ctx, req, body, deadline)
		if err == nil {
			return resp, nil
		}
		// c is closed. A reused connection the server had closed while
		// idle fails this way; try once more on a new one.
		if attempt == 0 && reused && stale && replayable(req) {
			closeBody(body)
			if body != nil && body != http.NoBody {
				if body, err = req.GetBody(); err != nil {
					return nil, fmt.Errorf("load: transport: request body for a retry: %w", err)
				}
			}
			continue
		}
		closeBody(body)
		return nil, t.mapError(ctx, c, err)
	}
}

// CloseIdleConnections closes the connections not carrying a request.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	pools := make([]*hostPool, 0, len(t.hosts))
	for _, p := range t.hosts {
		pools = append(pools, p)
	}
	t.mu.Unlock()
	for _, p := range pools {
		p.mu.Lock()
		idle := p.idle
		p.idle = nil
		p.mu.Unlock()
		for _, c := range idle {
			c.close()
		}
	}
}

// Close closes every connection, idle or carrying a request (whose reads
// and writes then fail), and makes later requests fail with
// ErrTransportClosed. It does not close Fallback. It is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	conns := t.conns
	t.conns = nil
	for _, p := range t.hosts {
		p.mu.Lock()
		p.idle = nil
		for p.handOff(nil) { // they find the Transport closed
		}
		p.mu.Unlock()
	}
	t.mu.Unlock()
	for c := range conns {
		c.closed.Store(true)
		_ = c.nc.Close()
	}
	return nil
}

// fallback sends a request that is not plain http through t.Fallback.
func (t *Transport) fallback(req *http.Request) (*http.Response, error) {
	if t.Fallback == nil {
		closeRequestBody(req)
		return nil, ErrUnsupported
	}
	if t.Timeout <= 0 {
		return t.Fallback.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.Timeout)
	resp, err := t.Fallback.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelBody releases a fallback request's timeout when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// pool returns the pool of host, making it on first use.
func (t *Transport) pool(host string) (*hostPool, error) {
	if p := t.last.Load(); p != nil && p.host == host {
		return p, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrTransportClosed
	}
	p := t.hosts[host]
	if p == nil {
		addr := host
		if _, _, err := net.SplitHostPort(host); err != nil {
			// No port: the URL's host is a bare name or address.
			addr = net.JoinHostPort(trimBrackets(host), "80")
		}
		p = &hostPool{host: host, addr: addr}
		if t.hosts == nil {
			t.hosts = make(map[string]*hostPool)
		}
		t.hosts[host] = p
	}
	t.last.Store(p)
	return p, nil
}

func trimBrackets(h string) string {
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

// getConn returns an idle connection of p (reused true) or, when there is
// none or fresh is set, a new one; at MaxConnsPerHost it waits for either.
func (t *Transport) getConn(ctx context.Context, p *hostPool, deadline time.Time, fresh bool) (c *tconn, reused bool, err error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 && !fresh {
		c = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, true, nil
	}
	if t.MaxConnsPerHost > 0 && p.open >= t.MaxConnsPerHost {
		if fresh && len(p.idle) > 0 {
			// A retry needs a new connection: make room by closing an idle one.
			c = p.idle[0]
			p.idle = p.idle[1:]
			p.mu.Unlock()
			c.close() // frees its slot, which a waiter may take first
			return t.getConn(ctx, p, deadline, fresh)
		}
		if c, err = t.wait(ctx, p, deadline); err != nil || c != nil {
			return c, c != nil, err
		}
		// Handed a free slot: p.open already counts this dial.
	} else {
		p.open++
		p.mu.Unlock()
	}
	c, err = t.dial(ctx, p, deadline)
	if err != nil {
		p.mu.Lock()
		if !p.handOff(nil) {
			p.open--
		}
		p.mu.Unlock()
		return nil, false, err
	}
	return c, false, nil
}

// wait queues for a connection of p at MaxConnsPerHost; p.mu is held and
// is released. It returns a connection freed by another request, or nil
// and no error when a slot came free to dial into (counted in p.open).
func (t *Transport) wait(ctx context.Context, p *hostPool, deadline time.Time) (*tconn, error) {
	w := make(chan *tconn, 1)
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	var expired <-chan time.Time
	if !deadline.IsZero() {
		timer := time.NewTimer(time.Until(deadline))
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case c := <-w:
		return c, t.closedErr()
	case <-ctx.Done():
		return t.leave(p, w, ctx.Err())
	case <-expired:
		return t.leave(p, w, context.DeadlineExceeded)
	}
}

// leave takes w off p's queue after its request gave up with err. If it
// was handed a connection or a slot meanwhile, that goes to the next one.
func (t *Transport) leave(p *hostPool, w chan *tconn, err error) (*tconn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return nil, err
		}
	}
	c := <-w // already handed over: pass it on
	switch {
	case c != nil && p.handOff(c):
	case c != nil:
		p.idle = append(p.idle, c)
	case !p.handOff(nil):
		p.open--
	}
	return nil, err
}

func (t *Transport) closedErr() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrTransportClosed
	}
	return nil
}

// dial opens a new connection of p.
func (t *Transport) dial(ctx context.Context, p *hostPool, deadline time.Time) (*tconn, error) {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return nil, ErrTransportClosed
	}
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	dial := t.DialContext
	if dial == nil {
		dial = defaultDialer.DialContext
	}
	nc, err := dial(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	c := &tconn{t: t, pool: p, nc: nc, rw: rawio.NewDeferred(nc)}
	c.cancelFn = c.cancel
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = nc.Close()
		return nil, ErrTransportClosed
	}
	if t.conns == nil {
		t.conns = make(map[*tconn]struct{})
	}
	t.conns[c] = struct{}{}
	return c, nil
}

var defaultDialer = &net.Dialer{KeepAlive: 30 * time.Second}

// put returns c to its pool after a complete exchange, or closes it when
// the pool is full or the Transport closed.
func (c *tconn) put() {
	t, p := c.t, c.pool
	max := t.MaxIdleConnsPerHost
	if max <= 0 {
		max = DefaultMaxIdleConnsPerHost
	}
	p.mu.Lock()
	if c.closed.Load() {
		p.mu.Unlock()
		c.close()
		return
	}
	if p.handOff(c) {
		p.mu.Unlock()
		return
	}
	if len(p.idle) >= max {
		p.mu.Unlock()
		c.close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
	// Close may have run between its sweep of this pool and the append:
	// it marks every connection closed first, so check again.
	if c.closed.Load() {
		c.close()
	}
}

// close closes c and forgets it; its slot under MaxConnsPerHost goes to
// the oldest waiting request. It is idempotent.
func (c *tconn) close() {
	c.closed.Store(true)
	_ = c.nc.Close()
	t := c.t
	t.mu.Lock()
	_, known := t.conns[c]
	delete(t.conns, c)
	t.mu.Unlock()
	if !known {
		return // closed before, or by Transport.Close
	}
	p := c.pool
	p.mu.Lock()
	if !p.handOff(nil) {
		p.open--
	}
	p.mu.Unlock()
}

// cancel runs when the context of the request c carries is done: it wakes
// the request's blocked read or write, which then reports the context's
// error. c is not reused.
func (c *tconn) cancel() {
	c.cancelled.Store(true)
	_ = c.nc.SetDeadline(aLongTimeAgo)
}

var aLongTimeAgo = time.Unix(1, 0)

// deadlineSlack: a request may time out up to Timeout/deadlineSlack early
// (see arm).
const deadlineSlack = 100

// arm applies the request's deadline to c and watches its context.
//
// Moving a connection's deadline updates two runtime timers; at tens of
// thousands of requests per second that shows. A deadline set less than
// deadlineSlack of Transport.Timeout earlier is kept instead: the request
// may time out that much early, never late.
func (c *tconn) arm(ctx context.Context, deadline time.Time) (stop func() bool) {
	switch {
	case !deadline.IsZero():
		if d := deadline.Sub(c.deadline); d < 0 || d > c.t.Timeout/deadlineSlack || c.deadline.IsZero() {
			_ = c.nc.SetDeadline(deadline)
			c.deadline = deadline
		}
	case !c.deadline.IsZero():
		_ = c.nc.SetDeadline(time.Time{})
		c.deadline = time.Time{}
	}
	if ctx.Done() != nil {
		return context.AfterFunc(ctx, c.cancelFn)
	}
	return nil
}

// mapError turns a connection's I/O error into what the caller should see:
// the context's error if it was done, ErrTimeout if Transport.Timeout
// expired.
func (t *Transport) mapError(ctx context.Context, c *tconn, err error) error {
	if (c != nil && c.cancelled.Load()) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
			return ErrTimeout
		}
	}
	return err
}

// isStale reports whether err, met before any response byte arrived, is
// how a connection the server closed while idle fails: the write is
// refused, or the first read finds the end.
func isStale(err error) bool {
	return errors.Is(err, errServerClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// replayable reports whether req may be sent twice, as net/http decides.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

func closeRequestBody(req *http.Request) { closeBody(req.Body) }

func closeBody(b io.ReadCloser) {
	if b != nil {
		_ = b.Close()
	}
}

// Interface guards.
var (
	_ http.RoundTripper = (*Transport)(nil)
	_ net.Error         = (*timeoutError)(nil)
)
