package load

import (
	"context"
	"errors"
	"net"
	"sync"
)

// errStopped fails dials made after an attack was stopped.
var errStopped = errors.New("load: attack stopped")

// connTracker remembers the connections an attack opened so that stopping
// it can cut requests in flight: vegeta's requests carry no context, and
// without this a cancelled step would wait for every slow response, up to
// the request timeout. It costs a map insert per connection, none per
// request on a kept-alive connection.
type connTracker struct {
	dialer *net.Dialer

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func newConnTracker(d *net.Dialer) *connTracker {
	return &connTracker{dialer: d, conns: make(map[*trackedConn]struct{})}
}

// DialContext dials like the dialer, refusing once closeAll has run.
func (t *connTracker) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := t.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, t: t}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close()
		return nil, errStopped
	}
	t.conns[tc] = struct{}{}
	return tc, nil
}

// closeAll closes every open connection and refuses new ones.
func (t *connTracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for c := range t.conns {
		c.Conn.Close()
	}
	clear(t.conns)
}

// trackedConn leaves the tracker when closed.
type trackedConn struct {
	net.Conn
	t *connTracker
}

func (c *trackedConn) Close() error {
	c.t.mu.Lock()
	delete(c.t.conns, c)
	c.t.mu.Unlock()
	return c.Conn.Close()
}
