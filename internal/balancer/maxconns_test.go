package balancer

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/testserver"
)

// oneConnServer is Python's plain http.server: one thread, HTTP/1.1 keep-alive, so it serves one
// connection at a time until the client closes it.
const oneConnServer = `
import sys
from http.server import HTTPServer, BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
`

// startPython runs oneConnServer on a free loopback port until the test ends and returns its
// address once it accepts connections.
func startPython(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: the one-connection server test needs it")
	}
	addr := testserver.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(py, "-c", oneConnServer, port)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			// This connection is the server's first; closing it frees the server for the next.
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("python http.server on %s: not accepting after 10s (port taken?): %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Python's single-threaded http.server behind either engine with WithMaxConns(1) and active
// health checks: every request of several concurrent clients succeeds, queued in the balancer,
// and the probes never eject the worker.
func TestBalancer_MaxConnsOneConnectionServer(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		addr := startPython(t)
		var mu sync.Mutex
		var events []string
		b := New([]string{addr}, nil, WithEngine(e), WithMaxConns(1),
			WithHealthCheck("/healthz", 20*time.Millisecond, 2*time.Second),
			WithOnHealth(func(ev HealthEvent) {
				mu.Lock()
				events = append(events, ev.String())
				mu.Unlock()
			}))
		url := serve(t, b)
		c := client(t)
		const clients, each = 4, 6
		var wg sync.WaitGroup
		errs := make(chan string, clients*each)
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range each {
					path := fmt.Sprintf("/c%d/r%d", i, j)
					resp, err := c.Get(url + path)
					if err != nil {
						errs <- err.Error()
						continue
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(body) != path {
						errs <- fmt.Sprintf("%s: %d %q", path, resp.StatusCode, body)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		var failed []string
		for e := range errs {
			failed = append(failed, e)
		}
		if len(failed) > 0 {
			t.Errorf("%d of %d requests failed, e.g. %s", len(failed), clients*each, failed[0])
		}
		mu.Lock()
		defer mu.Unlock()
		if len(events) > 0 {
			t.Errorf("health events: %s", strings.Join(events, "; "))
		}
	})
}

// Under maxConns a get waits for a connection to come back, and gives up with its context.
func TestUpstreamPool_MaxConns(t *testing.T) {
	t.Parallel()
	addr := testserver.Raw(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	p := &upstreamPool{addr: addr, maxIdle: 4, idleTimeout: time.Hour, maxConns: 1, queueWait: time.Hour, dialer: new(net.Dialer)}
	a, _, err := p.get(context.Background(), true, false)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *upConn)
	go func() {
		uc, _, err := p.get(context.Background(), true, false)
		if err != nil {
			t.Error(err)
		}
		got <- uc
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, _, err := p.get(ctx, true, false); err != context.DeadlineExceeded {
		t.Errorf("a get with every connection busy returned %v, want to wait until its context ends", err)
	}
	p.put(a)
	if uc := <-got; uc != a {
		t.Errorf("the waiting get got %p, want the connection put back, %p", uc, a)
	}
	// A fresh connection replaces the idle one rather than exceed the limit.
	p.put(a)
	f, reused, err := p.get(context.Background(), true, true)
	if err != nil || reused || f == a {
		t.Fatalf("fresh get = %p, reused %v, %v; want a new connection", f, reused, err)
	}
	if p.open != 1 || len(p.idle) != 0 {
		t.Errorf("open %d, idle %d; want 1 and 0", p.open, len(p.idle))
	}
	f.close()
	if p.open != 0 {
		t.Errorf("open %d after close, want 0", p.open)
	}
}

// A request that waits longer than the queue timeout for a connection at the limit is a 503 from
// the balancer; the one holding the connection is not disturbed.
func TestFast_MaxConnsQueueTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	holding := make(chan struct{}, 1)
	addr := scripted(t, func(c net.Conn, _ int, r *http.Request) bool {
		if r.URL.Path == "/hold" {
			holding <- struct{}{}
			<-release
		}
		io.WriteString(c, okReply(r.URL.Path))
		return true
	})
	b := New([]string{addr}, nil, WithEngine(EngineFast), WithMaxConns(1))
	b.pool[0].pool.queueWait = 50 * time.Millisecond
	front := strings.TrimPrefix(serve(t, b), "http://")
	held := make(chan string, 1)
	hc := client(t)
	go func() {
		resp, err := hc.Get("http://" + front + "/hold")
		if err != nil {
			held <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		held <- fmt.Sprint(resp.StatusCode, " ", string(body))
	}()
	waitFor(t, holding)
	resp, body := roundTrip(t, front, "GET /queued HTTP/1.1\r\nHost: x\r\n\r\n")
	close(release)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "queue timeout") {
		t.Errorf("a request queued past the timeout: %d %q, want 503 naming the queue timeout", resp.StatusCode, body)
	}
	if got := <-held; got != "200 /hold" {
		t.Errorf("the request holding the connection: %s, want 200 /hold", got)
	}
}
