package balancer

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// shortLimits are clientLimits a test can wait for.
var shortLimits = clientLimits{headerTimeout: 200 * time.Millisecond, idleTimeout: 300 * time.Millisecond, tick: 20 * time.Millisecond, maxConns: DefaultMaxClientConns}

// closedByPeer reports whether the balancer closes conn, reading and dropping what it sends, within
// ten seconds.
func closedByPeer(conn net.Conn) bool {
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, conn)
	return err == nil // EOF
}

// Connections that send an incomplete head, nothing, or nothing more after a response are closed
// after the header read and idle timeouts, by both engines.
func TestBalancer_ClientTimeouts(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		b := New(addrs(backend(t, 1, ok)), nil, WithEngine(e))
		b.limits = shortLimits
		addr := strings.TrimPrefix(serve(t, b), "http://")
		for name, send := range map[string]string{
			"incomplete head":       "GET / HTTP/1.1\r\nHo",
			"nothing":               "",
			"idle after a response": "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		} {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(conn, send)
			if !closedByPeer(conn) {
				t.Errorf("%s: the connection is still open after 10s", name)
			}
			conn.Close()
		}
	})
}

// A client that leaves while the backend has not answered frees the backend connection and the
// request's in-flight count, in both engines.
func TestBalancer_ClientLeaves(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		gone := make(chan struct{}, 1)
		addr := scripted(t, func(c net.Conn, _ int, r *http.Request) bool {
			// Never answers; returns when the balancer closes the connection.
			io.Copy(io.Discard, c)
			gone <- struct{}{}
			return false
		})
		b := New([]string{addr}, nil, WithEngine(e))
		b.limits = shortLimits
		front := strings.TrimPrefix(serve(t, b), "http://")
		conn, err := net.Dial("tcp", front)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "GET /stall HTTP/1.1\r\nHost: x\r\n\r\n")
		be := b.Backends()[0]
		if !poll(func() bool { return be.InFlight() == 1 }) {
			t.Fatal("the request never reached the backend")
		}
		conn.Close()
		waitFor(t, gone)
		if !poll(func() bool { return be.InFlight() == 0 }) {
			t.Errorf("in flight = %d after the client left, want 0", be.InFlight())
		}
	})
}

// Beyond its connection limit the fast engine accepts no more until one closes.
func TestFast_MaxClientConns(t *testing.T) {
	t.Parallel()
	b := New(addrs(backend(t, 1, ok)), nil, WithEngine(EngineFast))
	b.limits = shortLimits
	b.limits.idleTimeout = time.Hour
	b.limits.maxConns = 2
	addr := strings.TrimPrefix(serve(t, b), "http://")
	var conns []net.Conn
	for range 3 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		conns = append(conns, conn)
	}
	for i, conn := range conns[:2] {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d under the limit: %v", i, err)
		}
	}
	third := bufio.NewReader(conns[2])
	conns[2].SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := third.Peek(1); err == nil {
		t.Fatal("the connection over the limit was answered while two were open")
	}
	conns[0].Close()
	conns[2].SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(third, nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("the connection over the limit, once one closed: %v", err)
	}
}

// Response heads larger than the fast engine's read buffer pass, as through net/http, with a body
// large enough for the kernel to copy; one beyond net/http's limit is a 502 from both.
func TestBalancer_LargeResponseHeads(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		body := strings.Repeat("b", 4*spliceMin)
		addr := scripted(t, func(c net.Conn, _ int, r *http.Request) bool {
			size, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
			io.WriteString(c, fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Big: %s\r\nContent-Length: %d\r\n\r\n%s", strings.Repeat("h", size), len(body), body))
			return true
		})
		b := New([]string{addr}, nil, WithEngine(e))
		front := strings.TrimPrefix(serve(t, b), "http://")
		for _, size := range []int{20 << 10, 1 << 20} {
			resp, got := roundTrip(t, front, fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", size))
			if resp.StatusCode != 200 || len(resp.Header.Get("X-Big")) != size || got != body {
				t.Errorf("%d-byte header: %d, header %d bytes, body %d bytes; want 200 and both whole", size, resp.StatusCode, len(resp.Header.Get("X-Big")), len(got))
			}
		}
		if resp, _ := roundTrip(t, front, fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", 11<<20)); resp.StatusCode != 502 {
			t.Errorf("11 MiB header: %d, want 502", resp.StatusCode)
		}
	})
}
