package balancer

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bench-dev/bench/internal/httpwire"
	"github.com/bench-dev/bench/internal/rawio"
)

// This file is the fast engine: an HTTP/1.1 forwarder that moves request
// and response bytes verbatim between a client connection and a pooled
// keep-alive backend connection. Per request it parses the two heads once,
// makes one write system call each way for small messages, and allocates
// nothing. What it does not handle goes to net/http (see parseRequest).

// fastServer is one Serve of the fast engine.
type fastServer struct {
	b       *Balancer
	ln      net.Listener
	std     *http.Server  // serves the connections handed off
	handoff *connListener // feeds std

	mu      sync.Mutex
	conns   map[*clientConn]struct{}
	closing atomic.Bool
	active  sync.WaitGroup // client connection goroutines
	slots   chan struct{}  // one per client connection open, up to the limit
	done    chan struct{}  // closed by shutdown
}

// clientLimits bound the fast engine's client connections, as net/http's
// server and HAProxy bound theirs. A watchdog checks them every tick, so
// that a request pays nothing for them: a connection that makes no
// progress for headerTimeout while its request head is incomplete (or a
// new one that sends nothing), or for idleTimeout between requests, is
// closed; so is one whose client left while its request waits for the
// backend, along with the backend connection, which also ends the
// request's in-flight count. Beyond maxConns the engine stops accepting
// until a connection closes: the kernel's listen queue holds the rest.
type clientLimits struct {
	headerTimeout time.Duration
	idleTimeout   time.Duration
	tick          time.Duration
	maxConns      int
}

// Defaults of the fast engine's client limits.
const (
	// DefaultReadHeaderTimeout bounds a request head's arrival, as the std
	// engine's net/http server's ReadHeaderTimeout does.
	DefaultReadHeaderTimeout = 30 * time.Second
	// DefaultClientIdleTimeout bounds a client connection's wait for its
	// next request, in both engines.
	DefaultClientIdleTimeout = 2 * time.Minute
	// DefaultMaxClientConns bounds the fast engine's client connections:
	// above the driver's largest connection count (scenario.MaxConnections)
	// and the descriptors a process usually may open for both sides.
	DefaultMaxClientConns = 10_000
)

var defaultClientLimits = clientLimits{
	headerTimeout: DefaultReadHeaderTimeout,
	idleTimeout:   DefaultClientIdleTimeout,
	tick:          time.Second,
	maxConns:      DefaultMaxClientConns,
}

func newFastServer(b *Balancer, ln net.Listener, std *http.Server) *fastServer {
	return &fastServer{
		b:       b,
		ln:      ln,
		std:     std,
		handoff: newConnListener(ln.Addr()),
		conns:   make(map[*clientConn]struct{}),
		slots:   make(chan struct{}, b.limits.maxConns),
		done:    make(chan struct{}),
	}
}

// watch enforces the clientLimits every tick until shutdown.
func (s *fastServer) watch() {
	lim := s.b.limits
	ticks := func(d time.Duration) int { return max(1, int((d+lim.tick-1)/lim.tick)) }
	headTicks, idleTicks := ticks(lim.headerTimeout), ticks(lim.idleTimeout)
	t := time.NewTicker(lim.tick)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		s.mu.Lock()
		for c := range s.conns {
			st, n := c.state.Load(), c.reqs.Load()
			if st == c.seenState && n == c.seenReqs {
				c.stuck++
			} else {
				c.seenState, c.seenReqs, c.stuck = st, n, 0
			}
			switch {
			case st == connIdle && (c.stuck >= idleTicks || (n == 0 && c.stuck >= headTicks)),
				st == connHead && c.stuck >= headTicks:
				// Woken like an idle connection at shutdown: a response
				// still pending goes out first.
				if c.state.CompareAndSwap(st, connClosed) {
					_ = c.conn.SetReadDeadline(aLongTimeAgo)
				}
			case st == connActive && c.stuck >= 1:
				// A request that made no visible progress for a tick:
				// has its client gone? Bytes waiting (a pipelined
				// request) or none mean it has not.
				if err := rawio.IdleConn(c.conn); err != nil && err != rawio.ErrPending {
					_ = c.conn.Close()
					if uc := c.up.Load(); uc != nil {
						_ = uc.conn.Close()
					}
				}
			}
		}
		s.mu.Unlock()
	}
}

// serve accepts connections until the listener is closed.
func (s *fastServer) serve() {
	stdDone := make(chan struct{})
	go func() {
		defer close(stdDone)
		_ = s.std.Serve(s.handoff) // returns once std is shut down
	}()
	defer func() { <-stdDone }()

	watching := make(chan struct{})
	go func() {
		defer close(watching)
		s.watch() // until shutdown, which follows the listener's close
	}()
	defer func() { <-watching }()
	var backoff time.Duration
	for {
		select {
		case s.slots <- struct{}{}:
		case <-s.done:
			return
		}
		conn, err := s.ln.Accept()
		if err != nil {
			<-s.slots
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off as net/http
			// does rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		c := s.track(conn)
		if c == nil {
			<-s.slots
			_ = conn.Close()
			continue
		}
		go c.serve()
	}
}

// track registers a new client connection, or returns nil when shutting
// down.
func (s *fastServer) track(conn net.Conn) *clientConn {
	c := &clientConn{s: s, side: side{conn: conn}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil
	}
	s.conns[c] = struct{}{}
	s.active.Add(1)
	return c
}

func (s *fastServer) forget(c *clientConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	<-s.slots
	s.active.Done()
}

// shutdown closes idle connections, lets active ones finish their request
// until ctx is done, then closes them with their backend connections. The
// listener is already closed.
func (s *fastServer) shutdown(ctx context.Context) {
	s.mu.Lock()
	s.closing.Store(true)
	close(s.done)
	for c := range s.conns {
		// A connection waiting for its next request is idle; one that
		// goes idle after this sees closing and closes itself. An idle one
		// is woken by a read deadline rather than closed here: its last
		// response may still be pending (rawio.NewDeferred), and it sends
		// that before it closes.
		if c.state.CompareAndSwap(connIdle, connClosed) {
			_ = c.conn.SetReadDeadline(aLongTimeAgo)
		}
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.active.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		_ = c.conn.Close()
		if uc := c.up.Load(); uc != nil {
			_ = uc.conn.Close()
		}
	}
	s.mu.Unlock()
	<-done
}

// aLongTimeAgo is a deadline in the past: setting it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// Client connection states, for shutdown and the clientLimits.
const (
	connIdle   int32 = iota // waiting for a request
	connHead                // reading a request head
	connActive              // answering a request
	connClosed              // closed by shutdown or a limit
)

// clientConn is one client connection of the fast engine.
type clientConn struct {
	s *fastServer
	side
	state atomic.Int32
	reqs  atomic.Uint32          // requests read: progress, for the watchdog
	up    atomic.Pointer[upConn] // backend connection in use, for shutdown
	busy  *Backend               // backend of the request in flight, if any
	// interim is set once a 1xx response of the current request went to
	// the client: from then on the request cannot be sent elsewhere.
	interim bool
	// linger is set when the connection closes after a response while the
	// client may still be sending the request's body (see closeLingering).
	linger bool

	// The watchdog's view (fastServer.watch), under fastServer.mu: state
	// and requests at its last tick, and for how many ticks both stayed.
	seenState int32
	seenReqs  uint32
	stuck     int

	// Per-request scratch, reused so a request allocates nothing.
	h   reqHead
	rh  respHead
	req Request
	raw rawHead
}

// serve answers requests on c until either side closes, the request is one
// for net/http, or the server shuts down.
func (c *clientConn) serve() {
	// Responses are sent when the connection next waits for a request
	// (see rawio.NewDeferred): one system call less per request.
	rw := rawio.NewDeferred(c.conn)
	c.rw = rw
	c.br = getReader(&clientReaders, rw)
	c.bw = getWriter(rw)
	c.req.RemoteAddr = c.conn.RemoteAddr().String()
	c.req.header = &c.raw
	handedOff := false
	defer func() {
		putWriter(c.bw)
		if !handedOff {
			_ = rawio.Flush(rw) // the last response
			if c.linger {
				c.closeLingering()
			}
			_ = c.conn.Close()
			putReader(&clientReaders, c.br)
		}
		c.s.forget(c)
	}()
	for {
		c.state.Store(connIdle)
		if c.s.closing.Load() {
			return
		}
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		if !c.state.CompareAndSwap(connIdle, connHead) {
			return // shutdown or the watchdog closed it
		}
		head, err := c.readHead()
		if err != nil || !c.state.CompareAndSwap(connHead, connActive) {
			return
		}
		c.reqs.Add(1)
		if head == nil {
			if rawio.Flush(rw) != nil { // net/http writes to the connection directly
				return
			}
			handedOff = c.s.handoff.push(&bufConn{Conn: c.conn, r: c.br})
			return
		}
		if !c.proxy(head) {
			return
		}
	}
}

// lingerTimeout bounds how long closeLingering reads what a client still
// sends; net/http's server waits as long.
const lingerTimeout = 500 * time.Millisecond

// closeLingering ends the connection's sending side and reads and drops
// what the client still sends, for up to lingerTimeout, before the caller
// closes it: closing a socket with unread bytes resets the connection,
// and a reset can destroy the response in the client's receive buffer
// before the client reads it.
func (c *clientConn) closeLingering() {
	if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = c.br.Discard(c.br.Buffered())
	_, _ = io.Copy(io.Discard, c.conn)
}

// readHead waits for a complete request head and parses it into c.h. It
// returns the buffered bytes starting with the head, or nil for a request
// that net/http should answer.
func (c *clientConn) readHead() ([]byte, error) {
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		switch parseRequest(buf, &c.h) {
		case parseOK:
			return buf, nil
		case parseUnsupported:
			return nil, nil
		}
		if len(buf) >= c.br.Size() {
			return nil, nil // net/http takes heads up to 1 MiB
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			return nil, err
		}
	}
}

// proxy answers the request whose head starts buf, and reports whether the
// connection can carry another request.
func (c *clientConn) proxy(buf []byte) bool {
	h := &c.h
	be := c.selectBackend()
	if be == nil {
		_, _ = c.br.Discard(h.n)
		return c.reply(http.StatusServiceUnavailable, errNoBackend.Error())
	}
	be.begin()
	c.busy = be
	keep := c.forward(be, buf)
	c.done()
	return keep
}

// selectBackend asks the Selector for a backend for the request in c.h,
// whose head is still at the start of the read buffer.
func (c *clientConn) selectBackend() *Backend {
	h := &c.h
	c.req.Method = methodString(h.method)
	c.req.Target = bytesString(h.target)
	c.raw.lines = h.headers
	be := c.s.b.sel.Select(c.s.b.pool, &c.req)
	// The views point into the read buffer; drop them before it moves.
	c.req.Method, c.req.Target, c.raw.lines = "", "", nil
	return be
}

// done ends the in-flight count of the current request, once. It runs
// before the last flush to the client, as the std engine's count ends
// when the handler returns, before net/http flushes: a client that has
// its response never sees the request still in flight.
func (c *clientConn) done() {
	if c.busy != nil {
		c.busy.end()
		c.busy = nil
	}
}

// maxAttempts bounds how often a request is sent to one backend: after a
// reused connection turned out to be closed, the next attempt is on a new
// one, which settles whether the backend is there.
const maxAttempts = 2

// forward sends the request whose head starts buf to be and copies the
// response back, and reports whether the client connection can carry
// another request.
//
// A connection that fails before any response byte is handled in three
// ways. A reused one may just have been closed by the backend while idle:
// a request without a body that is safe to repeat is sent again on a new
// connection, as net/http's Transport does. Otherwise the failure goes to
// the passive health check, which ejects be if it is gone; then a GET or
// HEAD is sent once more to a backend chosen again, so a crashed worker
// costs its clients no error.
func (c *clientConn) forward(be *Backend, buf []byte) bool {
	h := &c.h
	replayable := !h.hasBody() && idempotent(h.method)
	consumed := false // the head was discarded from the read buffer
	fresh := false    // dial rather than take a pooled connection
	retried := false  // sent to a second backend already
	c.interim = false
	for attempt := 1; ; attempt++ {
		var uc *upConn
		var reused bool
		var err error
		uc, reused, err = be.pool.get(context.Background(), replayable, fresh)
		if errors.Is(err, errQueueTimeout) {
			if !consumed {
				_, _ = c.br.Discard(h.n)
			}
			return c.reply(http.StatusServiceUnavailable, err.Error())
		}
		if err != nil {
			// Nothing was sent.
			if alt := c.failover(be, err, &retried); alt != nil {
				be, attempt, fresh = alt, 0, false
				continue
			}
			return c.fail(err, consumed)
		}
		c.up.Store(uc)
		err = c.send(uc, buf, &consumed)
		early := false
		switch {
		case err == nil:
		case errors.Is(err, errBadChunk):
			// The client's chunked body is malformed. The backend got
			// its head and the chunks before the bad line, never the end
			// of the body: dropping its connection drops the request.
			c.up.Store(nil)
			uc.close()
			return c.reply(http.StatusBadRequest, "bad request: "+err.Error())
		case consumed && rawio.Idle(uc.rw) == rawio.ErrPending:
			// The backend answered before reading the whole body (a 413
			// to an upload too large) and stopped reading or closed:
			// its answer is the response, as net/http's Transport
			// forwards it.
			early, err = true, nil
		}
		var resp []byte
		if err == nil {
			resp, err = c.readResponseHead(uc)
		}
		if err != nil {
			c.up.Store(nil)
			received := uc.br.Buffered() > 0 || c.interim
			uc.close()
			if received || !connFailure(err) {
				return c.fail(err, consumed)
			}
			if reused && replayable && attempt < maxAttempts {
				fresh = true
				continue
			}
			if alt := c.failover(be, err, &retried); alt != nil {
				be, attempt, fresh = alt, 0, false
				continue
			}
			return c.fail(err, consumed)
		}
		if !consumed {
			_, _ = c.br.Discard(h.n)
		}
		return c.respond(be, uc, resp, early)
	}
}

// failover reports the connection failure err of be to the passive health
// check and returns the backend to send the request to once more, or nil
// if the request may not be retried, was already, or no backend is
// available. The head is still in the read buffer.
func (c *clientConn) failover(be *Backend, err error, retried *bool) *Backend {
	b := c.s.b
	b.passiveFailure(context.Background(), be, err)
	if *retried || c.interim || !retryable(methodString(c.h.method), c.h.hasBody()) {
		return nil
	}
	alt := c.selectBackend()
	if alt == nil {
		return nil
	}
	*retried = true
	be.retries.Add(1)
	b.retries.Add(1)
	c.done()
	alt.begin()
	c.busy = alt
	return alt
}

// send writes the request to uc: the head verbatim and, if any, the body.
func (c *clientConn) send(uc *upConn, buf []byte, consumed *bool) error {
	h := &c.h
	if _, err := uc.bw.Write(buf[:h.n]); err != nil {
		return err
	}
	if h.hasBody() {
		// The body follows the head in the read buffer.
		_, _ = c.br.Discard(h.n)
		*consumed = true
		var err error
		if h.chunked {
			err = copyChunked(&uc.side, &c.side)
		} else {
			err = copyBody(&uc.side, &c.side, h.contentLength)
		}
		if err != nil {
			return err
		}
	}
	return uc.bw.Flush()
}

// readResponseHead reads the final response head from uc into c.rh,
// passing interim (1xx) responses to the client as they come.
func (c *clientConn) readResponseHead(uc *upConn) ([]byte, error) {
	for {
		resp, err := readResponseHead(uc.br, c.h.head, &c.rh)
		if err == errHeadTooLarge && uc.grow() {
			continue
		}
		if err != nil {
			return nil, err
		}
		switch {
		case c.rh.Status == http.StatusSwitchingProtocols:
			return nil, errUnexpected101 // Upgrade requests go to net/http
		case c.rh.Status < 200:
			c.interim = true
			if _, err := c.bw.Write(resp[:c.rh.N]); err != nil {
				return nil, err
			}
			_, _ = uc.br.Discard(c.rh.N)
			if err := c.side.flush(); err != nil { // the client sees it while we wait
				return nil, err
			}
			continue
		}
		return resp, nil
	}
}

// respond copies the response whose head starts resp from uc to the client,
// returns uc to its pool if it can be reused, and reports whether the
// client connection can carry another request. early is set for a response
// that came before the request's body was sent in full: both connections
// close after it.
func (c *clientConn) respond(be *Backend, uc *upConn, resp []byte, early bool) bool {
	rh := &c.rh
	err := c.writeResponseHead(resp[:rh.N], early)
	_, _ = uc.br.Discard(rh.N)
	if err == nil {
		switch {
		case rh.Chunked:
			err = copyChunked(&c.side, &uc.side)
		case rh.UntilClose:
			err = copyUntilEOF(&c.side, &uc.side)
		case rh.ContentLength > 0 && !c.h.head:
			err = copyBody(&c.side, &uc.side, rh.ContentLength)
		}
	}
	c.done()
	if err == nil {
		err = c.bw.Flush()
	}
	c.up.Store(nil) // before the pool may hand it to another client
	// Bytes the backend sent past the response would be read as the next
	// request's response (those still on their way are found by
	// rawio.Idle before reuse). After a Connection: close from either
	// side the backend may close at any moment.
	if err != nil || early || rh.Close || c.h.close || uc.br.Buffered() > 0 || uc.pooled != nil {
		uc.close()
	} else {
		be.pool.put(uc)
	}
	if early {
		c.linger = true
		return false
	}
	// The client saw the backend's Connection header verbatim: if the
	// backend closes, so does the client.
	return err == nil && !rh.Close && !c.h.close
}

// writeResponseHead writes a response head to the client, adding
// "Connection: close" when closing is set and the head does not already
// end the connection.
func (c *clientConn) writeResponseHead(head []byte, closing bool) error {
	closing = closing && !c.rh.Close && !c.h.close
	if !closing && !c.rh.DropLength && !c.rh.Folded {
		_, err := c.bw.Write(head)
		return err
	}
	extra := ""
	if closing {
		extra = "Connection: close\r\n"
	}
	httpwire.WriteHead(head, &c.rh, extra, func(p []byte) { _, _ = c.bw.Write(p) })
	return nil
}

// fail answers 502 for a request that got no response bytes yet.
func (c *clientConn) fail(err error, consumed bool) bool {
	if !consumed {
		_, _ = c.br.Discard(c.h.n)
	}
	return c.reply(http.StatusBadGateway, "bad gateway: "+err.Error())
}

// reply answers the current request with a one-line plain text error, as
// http.Error does, and reports whether the connection can carry another
// request: not if the request's body is still unread.
func (c *clientConn) reply(code int, msg string) bool {
	keep := !c.h.hasBody() && !c.h.close
	c.linger = c.h.hasBody()
	bw := c.bw
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(code))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(code))
	bw.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n" + ErrorHeader + ": balancer\r\nContent-Length: ")
	bw.WriteString(strconv.Itoa(len(msg) + 1))
	if !keep {
		bw.WriteString("\r\nConnection: close")
	}
	bw.WriteString("\r\n\r\n")
	bw.WriteString(msg)
	bw.WriteByte('\n')
	c.done()
	return bw.Flush() == nil && keep
}

// idempotent reports whether a request with this method may be sent twice.
func idempotent(method []byte) bool {
	switch string(method) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
}

// connListener is a net.Listener whose connections are pushed by the fast
// engine: the ones it hands to net/http.
type connListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to whoever Accepts, and reports false if the listener is
// closed.
func (l *connListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// bufConn is a connection whose first bytes were already read into r.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Interface guards.
var (
	_ net.Listener = (*connListener)(nil)
	_ net.Conn     = (*bufConn)(nil)
)
