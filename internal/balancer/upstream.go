package balancer

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/bench-dev/bench/internal/rawio"
)

// Buffer sizes of the fast engine's connections.
const (
	// clientReadBuf bounds a request head the fast engine handles itself;
	// larger heads go to net/http, which accepts up to 1 MiB.
	clientReadBuf = 8 << 10
	// upstreamReadBuf holds a typical response head; a larger one grows
	// the connection's buffer (upConn.grow) up to maxResponseHead.
	upstreamReadBuf = 16 << 10
	// maxResponseHead bounds a response head, as net/http's Transport's
	// default MaxResponseHeaderBytes does; a larger one is a 502.
	maxResponseHead = 10 << 20
	// writeBuf holds a typical head plus a small body, so a small exchange
	// is one write system call each way.
	writeBuf = 4 << 10
)

var (
	clientReaders   = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, clientReadBuf) }}
	upstreamReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, upstreamReadBuf) }}
	writers         = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBuf) }}
)

func getReader(p *sync.Pool, r io.Reader) *bufio.Reader {
	br := p.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func putReader(p *sync.Pool, br *bufio.Reader) {
	br.Reset(nil)
	p.Put(br)
}

func getWriter(w io.Writer) *bufio.Writer {
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(w)
	return bw
}

func putWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	writers.Put(bw)
}

// upConn is a keep-alive connection from the fast engine to a backend.
type upConn struct {
	side
	pool      *upstreamPool
	idleSince time.Time     // when it was last put in the pool
	pooled    *bufio.Reader // the pool's reader under br after grow; nil before
}

// grow gives uc a read buffer eight times larger, up to maxResponseHead,
// for a response head that filled it, and reports whether it could. The
// larger buffer reads through the smaller one, which keeps what it holds;
// a connection that grew is closed after its response rather than pooled
// with an odd buffer.
func (uc *upConn) grow() bool {
	size := uc.br.Size()
	if size >= maxResponseHead {
		return false
	}
	if uc.pooled == nil {
		uc.pooled = uc.br
	}
	uc.br = bufio.NewReaderSize(uc.br, min(8*size, maxResponseHead))
	uc.chained = true
	return true
}

// close closes uc and frees its place under the pool's connection limit.
// It must not be called with the pool's lock held.
func (uc *upConn) close() {
	_ = uc.conn.Close()
	if uc.pooled != nil {
		uc.br, uc.pooled, uc.chained = uc.pooled, nil, false
	}
	putReader(&upstreamReaders, uc.br)
	putWriter(uc.bw)
	uc.br, uc.bw = nil, nil
	if p := uc.pool; p != nil && p.maxConns > 0 {
		p.mu.Lock()
		p.open--
		p.wakeLocked()
		p.mu.Unlock()
	}
}

// upstreamPool is a backend's free list of idle keep-alive connections,
// most recently used on top: under light load the same few connections
// serve everything and the rest age out.
//
// With maxConns set, it also bounds the backend's open connections, idle
// ones included, as HAProxy's maxconn on a server line does: a request
// that finds none free waits in a queue for one, and the wait is part of
// its latency. A server that serves one connection at a time (Python's
// http.server) needs maxConns 1: a second connection would wait in its
// listen queue behind the first, which keep-alive never ends.
type upstreamPool struct {
	addr        string
	maxIdle     int           // idle connections kept; more are closed
	idleTimeout time.Duration // an idle connection older than this is closed, not reused
	maxConns    int           // open connections at most; 0: no limit
	queueWait   time.Duration // a request waits this long for a connection under maxConns
	dialer      *net.Dialer

	mu      sync.Mutex
	idle    []*upConn       // idleSince ascending
	open    int             // connections open, with maxConns
	waiters []chan struct{} // requests waiting for a connection, with maxConns, first first
}

// freshFor is how long an idle connection may wait before carrying a
// request that must not be sent twice (see get). A backend's keep-alive
// timeout may close a connection just as a request goes out on it; a
// request that can be replayed is then sent again on a new connection, one
// that cannot is a 502. Backends' keep-alive timeouts are seconds (Node 5 s,
// Apache 5 s, gunicorn 2 s), and under load connections idle for
// microseconds, so this costs a dial only to a request that comes alone.
const freshFor = time.Second

// errQueueTimeout is the error of a request that waited for a connection
// under maxConns longer than the queue timeout.
var errQueueTimeout = errors.New("no connection to the backend free within the queue timeout")

// get returns an idle connection, reused true, or dials a new one. An idle
// connection is only reused once rawio.Idle shows it quiet: bytes the
// backend sent after the last response (a stray response, the rest of a
// body longer than its Content-Length) would be read as the next
// request's response, and one the backend closed would fail it. For a
// request that is not replayable, connections idle longer than freshFor
// are not reused; fresh asks for a new connection whatever is idle. Under
// maxConns an idle connection that is not reused is closed to make room,
// and with none free get waits up to queueWait.
func (p *upstreamPool) get(ctx context.Context, replayable, fresh bool) (uc *upConn, reused bool, err error) {
	maxAge := p.idleTimeout
	if !replayable {
		maxAge = min(maxAge, freshFor)
	}
	if fresh {
		maxAge = -1
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	now := time.Now()
	for {
		var stale []*upConn
		var wait chan struct{}
		uc = nil
		p.mu.Lock()
		n := len(p.idle)
		if n > 0 {
			uc = p.idle[n-1]
			switch age := now.Sub(uc.idleSince); {
			case age > p.idleTimeout:
				// The top is the youngest: everything below is stale too.
				stale = p.idle
				p.idle, uc = nil, nil
			case age > maxAge:
				uc = nil
			default:
				p.idle[n-1] = nil
				p.idle = p.idle[:n-1]
			}
		}
		dial := false
		switch {
		case uc != nil || len(stale) > 0:
		case p.maxConns == 0 || p.open < p.maxConns:
			dial = true
			if p.maxConns > 0 {
				p.open++
			}
		case len(p.idle) > 0:
			// At the limit with idle connections this request may not
			// use: the oldest makes room.
			stale = append(stale, p.idle[0])
			n := copy(p.idle, p.idle[1:])
			p.idle[n] = nil
			p.idle = p.idle[:n]
		default:
			wait = make(chan struct{}, 1)
			p.waiters = append(p.waiters, wait)
		}
		p.mu.Unlock()
		for _, s := range stale {
			s.close()
		}
		switch {
		case dial:
			uc, err = p.dial(ctx)
			if err != nil && p.maxConns > 0 {
				p.mu.Lock()
				p.open--
				p.wakeLocked()
				p.mu.Unlock()
			}
			return uc, false, err
		case wait != nil:
			if timer == nil {
				timer = time.NewTimer(p.queueWait)
			}
			select {
			case <-wait:
			case <-timer.C:
				p.leave(wait)
				return nil, false, errQueueTimeout
			case <-ctx.Done():
				p.leave(wait)
				return nil, false, ctx.Err()
			}
			now = time.Now()
		case uc != nil:
			if rawio.Idle(uc.rw) == nil {
				return uc, true, nil
			}
			uc.close()
		}
	}
}

// wakeLocked tells the first waiting request that a connection may be
// free. The caller holds p.mu.
func (p *upstreamPool) wakeLocked() {
	if len(p.waiters) > 0 {
		p.waiters[0] <- struct{}{}
		p.waiters[0] = nil
		p.waiters = p.waiters[1:]
	}
}

// leave takes a request that gave up waiting out of the queue; if it was
// woken meanwhile, the wake-up goes to the next one.
func (p *upstreamPool) leave(wait chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, w := range p.waiters {
		if w == wait {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return
		}
	}
	p.wakeLocked()
}

// dial returns a new connection; get counts it under maxConns.
func (p *upstreamPool) dial(ctx context.Context) (*upConn, error) {
	conn, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	rw := rawio.NewDeferred(conn) // a request goes out when its response is awaited
	return &upConn{pool: p, side: side{conn: conn, rw: rw, br: getReader(&upstreamReaders, rw), bw: getWriter(rw)}}, nil
}

// put returns uc to the pool, or closes it when the pool is full.
func (p *upstreamPool) put(uc *upConn) {
	now := time.Now()
	uc.idleSince = now
	var stale []*upConn
	p.mu.Lock()
	if len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		uc.close()
		return
	}
	// Connections at the bottom that aged out would otherwise sit there,
	// half-closed by the backend, until the pool drains.
	if len(p.idle) > 0 && now.Sub(p.idle[0].idleSince) > p.idleTimeout {
		k := 0
		for k < len(p.idle) && now.Sub(p.idle[k].idleSince) > p.idleTimeout {
			k++
		}
		stale = append(stale, p.idle[:k]...)
		n := copy(p.idle, p.idle[k:])
		clear(p.idle[n:])
		p.idle = p.idle[:n]
	}
	p.idle = append(p.idle, uc)
	p.wakeLocked()
	p.mu.Unlock()
	for _, s := range stale {
		s.close()
	}
}

// closeIdle closes every idle connection.
func (p *upstreamPool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, uc := range idle {
		uc.close()
	}
}
