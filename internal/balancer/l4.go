package balancer

import (
	"context"
	"io"
	"net"
	"sync"
	"time"
)

// EngineL4 balances connections, not requests: each client connection is handed to one backend,
// chosen by the Selector when it is accepted, and bytes are copied both ways (spliced by the
// kernel on Linux) until either side closes. It is what Node's cluster module and HAProxy's
// `mode tcp` do, for comparison: with a few keep-alive clients the shares follow the connections,
// whatever the requests on them cost. Requests are not seen, so Counts counts connections.
const EngineL4 Engine = "l4"

// l4Server is one Serve of the l4 engine.
type l4Server struct {
	b     *Balancer
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func (s *l4Server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed by shutdown
		}
		if !s.track(c, true) {
			c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.track(c, false)
			s.proxy(c)
		}()
	}
}

// track adds or removes a connection; it refuses new ones once shutdown closed the set.
func (s *l4Server) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		return false
	}
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	return true
}

func (s *l4Server) proxy(c net.Conn) {
	defer c.Close()
	req := &Request{RemoteAddr: c.RemoteAddr().String()}
	for range len(s.b.pool) {
		be := s.b.sel.Select(s.b.pool, req)
		if be == nil {
			return // nothing available: the client sees the connection close
		}
		up, err := net.DialTimeout("tcp", be.Addr, DefaultDialTimeout)
		if err != nil {
			be.SetHealthy(false) // a refused backend: try another one for this connection
			continue
		}
		be.begin()
		splice(c, up)
		be.end()
		return
	}
}

// splice copies both ways until one side is done, then closes both.
func splice(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src) // TCP to TCP: splice(2) on Linux
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	// One direction ended: give the other a moment to drain its last response, then close.
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	a.Close()
	b.Close()
}

func (s *l4Server) shutdown(ctx context.Context) {
	s.ln.Close()
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
