package target

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsServer serves Handler(cfg) on loopback and returns the server and the
// handler.
func wsServer(t *testing.T, cfg Config) (*httptest.Server, *handler) {
	t.Helper()
	h, err := Handler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.(io.Closer).Close() // first: ends hijacked connections srv.Close does not know
		srv.Close()
	})
	return srv, h.(*handler)
}

func wsURL(srv *httptest.Server) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + WebSocketPath
}

func TestWebSocket_Echo(t *testing.T) {
	t.Parallel()
	// Concurrency 1 with the only slot taken: the connection must not need
	// a slot, or the test would hang until its deadline.
	srv, h := wsServer(t, Config{Workload: WorkloadSession, Index: 3, Concurrency: 1})
	h.sem <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, resp, err := websocket.Dial(ctx, wsURL(srv), nil)
	if err != nil {
		t.Fatalf("Dial %s: %v", wsURL(srv), err)
	}
	defer c.CloseNow()
	worker := "3/" + strconv.Itoa(os.Getpid())
	if got := resp.Header.Get(WorkerHeader); got != worker {
		t.Errorf("upgrade response %s = %q, want %q", WorkerHeader, got, worker)
	}

	typ, msg, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageText || string(msg) != "worker "+worker {
		t.Fatalf("first message = %v %q, %v; want text %q", typ, msg, err, "worker "+worker)
	}

	for _, m := range []struct {
		typ  websocket.MessageType
		data []byte
	}{
		{websocket.MessageText, []byte("hello")},
		{websocket.MessageText, []byte("")},
		{websocket.MessageBinary, []byte{0, 1, 2, 255}},
		{websocket.MessageText, bytes.Repeat([]byte("ü"), 10000)},
	} {
		if err := c.Write(ctx, m.typ, m.data); err != nil {
			t.Fatalf("Write %v: %v", m.typ, err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != m.typ || !bytes.Equal(got, m.data) {
			t.Errorf("echo of %v %d bytes = %v %d bytes, %v; want the same back", m.typ, len(m.data), typ, len(got), err)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestWebSocket_HandlerClose: closing the handler (what Run does on
// shutdown) ends open connections with 1001 and returns once they are gone.
func TestWebSocket_HandlerClose(t *testing.T) {
	t.Parallel()
	srv, h := wsServer(t, Config{Workload: WorkloadSleep, Index: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, _, err := websocket.Dial(ctx, wsURL(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); err != nil { // the greeting: the server side is up
		t.Fatal(err)
	}

	// The client keeps reading, as the close handshake needs.
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		readErr <- err
	}()
	closed := make(chan error, 1)
	go func() { closed <- h.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("handler Close: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("handler Close did not return")
	}
	if err := <-readErr; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("client Read after handler Close = %v, want close status 1001 going away", err)
	}

	// A closed handler refuses new connections.
	_, resp, err := websocket.Dial(ctx, wsURL(srv), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("Dial after handler Close = %v, %v; want 503", resp, err)
	}
}

func TestWebSocket_NoUpgrade(t *testing.T) {
	t.Parallel()
	srv, _ := wsServer(t, Config{Workload: WorkloadCPU})
	resp, body := get(t, srv.Client(), srv.URL+WebSocketPath)
	if got, want := resp.StatusCode, http.StatusUpgradeRequired; got != want {
		t.Errorf("GET %s without Upgrade = %d %q, want %d", WebSocketPath, got, body, want)
	}
}
