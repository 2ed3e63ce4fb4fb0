package balancer

import (
	"bufio"
	"context"
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
	// upstreamReadBuf bounds a response head; a larger one is a 502.
	upstreamReadBuf = 16 << 10
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
	idleSince time.Time // when it was last put in the pool
}

func (uc *upConn) close() {
	_ = uc.conn.Close()
	putReader(&upstreamReaders, uc.br)
	putWriter(uc.bw)
	uc.br, uc.bw = nil, nil
}

// upstreamPool is a backend's free list of idle keep-alive connections,
// most recently used on top: under light load the same few connections
// serve everything and the rest age out.
type upstreamPool struct {
	addr        string
	maxIdle     int           // idle connections kept; more are closed
	idleTimeout time.Duration // an idle connection older than this is closed, not reused
	dialer      *net.Dialer

	mu   sync.Mutex
	idle []*upConn // idleSince ascending
}

// freshFor is how long an idle connection may wait before carrying a
// request that must not be sent twice (see get). A backend's keep-alive
// timeout may close a connection just as a request goes out on it; a
// request that can be replayed is then sent again on a new connection, one
// that cannot is a 502. Backends' keep-alive timeouts are seconds (Node 5 s,
// Apache 5 s, gunicorn 2 s), and under load connections idle for
// microseconds, so this costs a dial only to a request that comes alone.
const freshFor = time.Second

// get returns an idle connection, reused true, or dials a new one. An idle
// connection is only reused once rawio.Idle shows it quiet: bytes the
// backend sent after the last response (a stray response, the rest of a
// body longer than its Content-Length) would be read as the next
// request's response, and one the backend closed would fail it. For a
// request that is not replayable, connections idle longer than freshFor
// are left for others and a new one is dialed.
func (p *upstreamPool) get(ctx context.Context, replayable bool) (uc *upConn, reused bool, err error) {
	maxAge := p.idleTimeout
	if !replayable {
		maxAge = min(maxAge, freshFor)
	}
	now := time.Now()
	for {
		var stale []*upConn
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
		p.mu.Unlock()
		for _, s := range stale {
			s.close()
		}
		if uc == nil {
			break
		}
		if rawio.Idle(uc.rw) == nil {
			return uc, true, nil
		}
		uc.close()
	}
	uc, err = p.dial(ctx)
	return uc, false, err
}

// dial returns a new connection, bypassing the idle ones.
func (p *upstreamPool) dial(ctx context.Context) (*upConn, error) {
	conn, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	rw := rawio.NewDeferred(conn) // a request goes out when its response is awaited
	return &upConn{side: side{conn: conn, rw: rw, br: getReader(&upstreamReaders, rw), bw: getWriter(rw)}}, nil
}

// put returns uc to the pool, or closes it when the pool is full or closed.
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
