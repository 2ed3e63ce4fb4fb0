package balancer

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/testserver"
)

// This file drives both engines with raw loopback backends that misbehave in the ways real
// servers do, and checks that every client gets its own response.

// scripted starts a raw loopback backend that reads requests with http.ReadRequest and hands each
// to answer with its connection's number (1, 2, … in accept order); answer writes whatever it
// likes to c and returns false to end the connection, which is then closed. A body answer does
// not read is discarded.
func scripted(t *testing.T, answer func(c net.Conn, conn int, r *http.Request) bool) string {
	t.Helper()
	var conns atomic.Int32
	return testserver.Raw(t, func(c net.Conn) {
		n := int(conns.Add(1))
		br := bufio.NewReader(c)
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if !answer(c, n, r) {
				return
			}
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				return
			}
		}
	})
}

// okReply is a complete response with body.
func okReply(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// roundTrip sends req on a new connection to addr and returns the response with its body read.
func roundTrip(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: %v", strings.SplitN(req, "\r\n", 2)[0], err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%q: body: %v", strings.SplitN(req, "\r\n", 2)[0], err)
	}
	return resp, string(body)
}

// waitFor waits for the backend's signal on c, and fails the test if it does not come.
func waitFor(t *testing.T, c <-chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend did not answer")
	}
}

// A backend that sends something after a complete response — another response, a byte, or a
// close without saying so — must not make the next client, on another connection, read it. It
// sends it once the client has its response, when the balancer has put the connection back in
// its pool. The requests are POSTs, which are never sent twice.
//
// Fast engine only: net/http's Transport notices such bytes in its connection's read loop, which
// runs concurrently with the next request taking the connection from the pool. When the request
// comes as soon as here, it often wins: the std engine hands the stray response to the next
// client, or answers it 502.
func TestFast_AfterTheResponse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		after func(c net.Conn) bool
	}{
		{"stray response", func(c net.Conn) bool { io.WriteString(c, okReply("stray")); return true }},
		{"stray byte", func(c net.Conn) bool { io.WriteString(c, "x"); return true }},
		{"close", func(c net.Conn) bool { c.Close(); return false }},
	} {
		received := make(chan struct{}, 1)
		written := make(chan struct{}, 8)
		addr := scripted(t, func(c net.Conn, _ int, r *http.Request) bool {
			body, _ := io.ReadAll(r.Body)
			io.WriteString(c, okReply(string(body)))
			select {
			case <-received:
			case <-time.After(5 * time.Second):
			}
			keep := tc.after(c)
			written <- struct{}{}
			return keep
		})
		b := New([]string{addr}, nil, WithEngine(EngineFast))
		front := strings.TrimPrefix(serve(t, b), "http://")
		for i := range 5 {
			want := fmt.Sprintf("client %d", i)
			resp, body := roundTrip(t, front, fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(want), want))
			if resp.StatusCode != 200 || body != want {
				t.Errorf("%s: %s got %d %q", tc.name, want, resp.StatusCode, body)
			}
			if resp.StatusCode == 200 {
				received <- struct{}{}
				waitFor(t, written)
			}
		}
	}
}

// A body longer than its Content-Length leaves bytes behind on the backend connection — in the
// kernel, when the body went by splice — which must not reach the next client.
func TestBalancer_BodyLongerThanContentLength(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		const size = 4 * spliceMin
		written := make(chan struct{}, 1)
		addr := scripted(t, func(c net.Conn, _ int, r *http.Request) bool {
			if r.URL.Path == "/big" {
				io.WriteString(c, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%sHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra",
					size, strings.Repeat("b", size)))
				written <- struct{}{}
				return true
			}
			body, _ := io.ReadAll(r.Body)
			io.WriteString(c, okReply(r.Method+" "+string(body)))
			return true
		})
		b := New([]string{addr}, nil, WithEngine(e))
		front := strings.TrimPrefix(serve(t, b), "http://")
		for i := range 3 {
			resp, body := roundTrip(t, front, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp.StatusCode != 200 || len(body) != size {
				t.Fatalf("round %d: /big: %d, %d bytes; want 200, %d", i, resp.StatusCode, len(body), size)
			}
			waitFor(t, written)
			resp, body = roundTrip(t, front, "POST /next HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody")
			if resp.StatusCode != 200 || body != "POST body" {
				t.Errorf("round %d: the POST after it got %d %q, want 200 \"POST body\"", i, resp.StatusCode, body)
			}
		}
	})
}

// A backend that closes its idle connections, as a keep-alive timeout does, or that honours a
// client's Connection: close without saying so: POSTs, which are never sent twice, still all
// succeed, each executed once.
func TestBalancer_ClosedBackendConnections(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		for _, tc := range []struct {
			name  string
			close func(r *http.Request) bool
			hdr   func(i int) string
		}{
			{"keep-alive timeout", func(*http.Request) bool { return true }, func(int) string { return "" }},
			{"client's Connection: close", func(r *http.Request) bool { return r.Close },
				func(i int) string {
					if i%2 == 0 {
						return "Connection: close\r\n"
					}
					return ""
				}},
		} {
			var mu sync.Mutex
			seen := map[string]int{}
			closed := make(chan struct{}, 1)
			addr := scripted(t, func(c net.Conn, _ int, r *http.Request) bool {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				seen[string(body)]++
				mu.Unlock()
				io.WriteString(c, okReply(string(body)))
				if tc.close(r) {
					c.Close()
					closed <- struct{}{}
					return false
				}
				closed <- struct{}{}
				return true
			})
			b := New([]string{addr}, nil, WithEngine(e))
			front := strings.TrimPrefix(serve(t, b), "http://")
			for i := range 6 {
				want := fmt.Sprintf("post-%d", i)
				resp, body := roundTrip(t, front, fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s", tc.hdr(i), len(want), want))
				if resp.StatusCode != 200 || body != want {
					t.Errorf("%s: POST %d: %d %q, want 200 %q", tc.name, i, resp.StatusCode, body, want)
				}
				if resp.StatusCode == 200 {
					waitFor(t, closed)
				}
			}
			mu.Lock()
			for body, n := range seen {
				if n != 1 {
					t.Errorf("%s: the backend executed %q %d times, want once", tc.name, body, n)
				}
			}
			mu.Unlock()
		}
	})
}

// After a request with Connection: close the fast engine closes its backend connection too, even
// when the backend keeps it open: the backend may close it at any moment.
func TestFast_ClientCloseEndsBackendConnection(t *testing.T) {
	t.Parallel()
	conns := make(chan int, 4)
	addr := scripted(t, func(c net.Conn, conn int, r *http.Request) bool {
		io.WriteString(c, okReply("ok"))
		conns <- conn
		return true
	})
	b := New([]string{addr}, nil, WithEngine(EngineFast))
	front := strings.TrimPrefix(serve(t, b), "http://")
	roundTrip(t, front, "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\na")
	roundTrip(t, front, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nb")
	if first, second := <-conns, <-conns; first == second {
		t.Errorf("the request after a Connection: close one went on the same backend connection (%d)", first)
	}
}

// A backend that answers 413 before reading a large upload: the client gets the 413. A polite
// backend (nginx, Go) says Connection: close and drains the body; an abrupt one closes at once,
// which resets the connection: sending the body fails before the response is read. net/http's
// Transport races that write error against the response (the std engine answers 502 about one
// time in two), so the abrupt backend runs through the fast engine only.
func TestBalancer_EarlyResponse(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) { earlyResponse(t, e, 2<<20, true) })
}

func TestFast_EarlyResponseAfterSendFailed(t *testing.T) {
	t.Parallel()
	earlyResponse(t, EngineFast, 32<<20, false)
}

func earlyResponse(t *testing.T, e Engine, size int, polite bool) {
	addr := scripted(t, func(c net.Conn, _ int, r *http.Request) bool {
		if !polite {
			io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\n\r\ntoo large")
			return false
		}
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 9\r\n\r\ntoo large")
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
		return false
	})
	b := New([]string{addr}, nil, WithEngine(e))
	front := strings.TrimPrefix(serve(t, b), "http://")
	for round := range 2 {
		conn, err := net.Dial("tcp", front)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			io.WriteString(conn, fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size))
			conn.Write(make([]byte, size)) // may fail once the balancer closes
		}()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
		}
		conn.Close()
		<-sent
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		// After the abrupt backend the client's body is unread: the connection must close.
		if resp.StatusCode != 413 || string(body) != "too large" || (!polite && !resp.Close) {
			t.Errorf("round %d: %d %q (close %v), want 413 \"too large\" and the connection closed", round, resp.StatusCode, body, resp.Close)
		}
	}
}

// Requests framed in ways net/http (1.24.2 and later) refuses are refused by both engines (the
// fast one with 400), and the backend never gets a complete request from them: where a proxy and a server disagree on
// where a request ends, a second request can be smuggled in its body.
func TestBalancer_StrictRequestFraming(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		var mu sync.Mutex
		var got []string
		addr := scripted(t, func(c net.Conn, _ int, r *http.Request) bool {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return false
			}
			mu.Lock()
			got = append(got, fmt.Sprintf("%s %s %q cl=%v", r.Method, r.URL.Path, body, r.Header["Content-Length"]))
			mu.Unlock()
			io.WriteString(c, okReply("ok"))
			return true
		})
		b := New([]string{addr}, nil, WithEngine(e))
		front := strings.TrimPrefix(serve(t, b), "http://")
		const head = "POST /bad HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		for name, req := range map[string]string{
			"bare LF chunk line":        head + "1\na\r\n0\r\n\r\n",
			"junk after chunk size":     head + "1 x\r\na\r\n0\r\n\r\n",
			"bare CR last chunk":        head + "1\r\na\r\n0\r\r\n\r\n",
			"malformed trailer":         head + "1\r\na\r\n0\r\nno colon\r\n\r\n",
			"trailer ending in bare LF": head + "1\r\na\r\n0\r\nA: b\r\n\n",
			"NUL in a header value":     "POST /bad HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\nContent-Length: 1\r\n\r\na",
			"CR in a header value":      "POST /bad HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\nContent-Length: 1\r\n\r\na",
		} {
			conn, err := net.Dial("tcp", front)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(conn, req)
			if strings.HasSuffix(req, "\n\n") {
				// net/http waits for CRLF CRLF; the client gives up.
				conn.(*net.TCPConn).CloseWrite()
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			conn.Close()
			// The std engine finds a bad body only while ReverseProxy sends it: 502.
			if err == nil && resp.StatusCode != 400 && (e == EngineFast || resp.StatusCode != 502) {
				t.Errorf("%s: %d, want 400 or the connection closed", name, resp.StatusCode)
			}
		}
		// A well-framed request on a new connection gets through, and is all the backend got.
		resp, body := roundTrip(t, front, "POST /good HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n000000000000000A\r\n0123456789\r\n0\r\nA: b\r\n\r\n")
		if resp.StatusCode != 200 || body != "ok" {
			t.Errorf("chunked with a 16-digit size and a Content-Length: %d %q, want 200 ok", resp.StatusCode, body)
		}
		mu.Lock()
		defer mu.Unlock()
		if want := []string{`POST /good "0123456789" cl=[]`}; !slices.Equal(got, want) {
			t.Errorf("the backend got %q, want %q", got, want)
		}
	})
}
