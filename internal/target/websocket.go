package target

import (
	"context"
	"net/http"

	"github.com/coder/websocket"
)

// WebSocketPath upgrades to a WebSocket that echoes every message back
// unchanged, with its type (text or binary). The first message the worker
// sends after the upgrade is "worker <index>/<pid>", the X-Worker value, so
// a client can tell which worker its long-lived connection reached. A
// request to it without an upgrade gets 426 Upgrade Required.
const WebSocketPath = "/ws"

// serveWebSocket runs one echo connection until the client closes it or the
// handler is closed, which ends it with 1001 Going Away. It takes no
// Concurrency slot: a connection lives far longer than a request, and an idle
// one costs the worker nothing.
func (h *handler) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !h.track() {
		http.Error(w, "worker stopping", http.StatusServiceUnavailable)
		return
	}
	defer h.conns.Done()

	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered with the reason (426, 403, …)
	}
	defer c.CloseNow()

	// net/http's Shutdown does not wait for hijacked connections: the
	// handler's Close ends them with a proper close frame instead.
	closed := make(chan struct{})
	stop := context.AfterFunc(h.closing, func() {
		defer close(closed)
		c.Close(websocket.StatusGoingAway, "worker stopping")
	})
	defer func() {
		if !stop() {
			<-closed
		}
	}()

	ctx := r.Context()
	if err := c.Write(ctx, websocket.MessageText, []byte("worker "+h.worker[0])); err != nil {
		return
	}
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return // closed by the client, by Close, or broken
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// track counts a long-lived connection for Close to wait for; false means
// the handler is already closed.
func (h *handler) track() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.isClosed {
		return false
	}
	h.conns.Add(1)
	return true
}
