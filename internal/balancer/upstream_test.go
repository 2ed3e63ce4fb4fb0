package balancer

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestUpstreamPool(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	defer func() {
		ln.Close()
		for c := range accepted {
			c.Close()
		}
	}()

	p := &upstreamPool{addr: ln.Addr().String(), maxIdle: 2, idleTimeout: time.Hour, dialer: new(net.Dialer)}
	ctx := context.Background()
	get := func() (*upConn, bool) {
		t.Helper()
		uc, reused, err := p.get(ctx, true, false)
		if err != nil {
			t.Fatal(err)
		}
		return uc, reused
	}

	// An empty pool dials.
	a, reused := get()
	if reused {
		t.Error("first get: reused, want a new connection")
	}
	b, _ := get()
	c, _ := get()

	// The pool keeps at most maxIdle; the most recently returned comes back first.
	p.put(a)
	p.put(b)
	p.put(c) // over maxIdle: closed
	if got := len(p.idle); got != 2 {
		t.Fatalf("idle = %d, want 2", got)
	}
	if _, err := c.conn.Read(make([]byte, 1)); err == nil {
		t.Error("the connection put over maxIdle is still open")
	}
	if got, reused := get(); got != b || !reused {
		t.Errorf("get returned %p (reused %v), want the last one put back, %p", got, reused, b)
	}

	// Connections idle past idleTimeout are closed, not reused.
	p.put(b)
	for _, uc := range p.idle {
		uc.idleSince = time.Now().Add(-2 * time.Hour)
	}
	fresh, reused := get()
	if fresh == a || fresh == b || reused {
		t.Errorf("get after the idle timeout reused a stale connection")
	}
	fresh.close()
	if got := len(p.idle); got != 0 {
		t.Errorf("idle = %d after stale connections were dropped, want 0", got)
	}

	// put trims stale connections at the bottom of the pool.
	d, _ := get()
	e, _ := get()
	p.put(d)
	p.idle[0].idleSince = time.Now().Add(-2 * time.Hour)
	p.put(e)
	if len(p.idle) != 1 || p.idle[0] != e {
		t.Errorf("after put: idle = %v, want just the fresh connection", p.idle)
	}

	p.closeIdle()
	if got := len(p.idle); got != 0 {
		t.Errorf("idle = %d after closeIdle, want 0", got)
	}
}
