package balancer

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"
)

// This file runs the same backend behaviours through the fast engine, the std engine and plain
// net/http (httputil.ReverseProxy behind net/http's server, with net/http's Transport), and
// checks that a client sees the same from all three: status, body, and what its next request
// gets.

// parityCase is one backend behaviour: how the backend answers the case's request (the next
// request, GET /next, always gets "HTTP/1.1 200 OK" with body "next"), and the request.
type parityCase struct {
	name  string
	req   string                                 // the client's request, Host x
	reply func(c net.Conn, r *http.Request) bool // false: close the connection after it
	head  bool                                   // the request is HEAD
}

func replyWith(s string) func(net.Conn, *http.Request) bool {
	return func(c net.Conn, _ *http.Request) bool { io.WriteString(c, s); return true }
}

func replyThenClose(s string) func(net.Conn, *http.Request) bool {
	return func(c net.Conn, _ *http.Request) bool { io.WriteString(c, s); return false }
}

var parityCases = func() []parityCase {
	const get = "GET /case HTTP/1.1\r\nHost: x\r\n\r\n"
	big := strings.Repeat("0123456789", 1<<20) // 10 MB
	var many strings.Builder
	for i := range 100 {
		fmt.Fprintf(&many, "X-H%d: %d\r\n", i, i)
	}
	return []parityCase{
		{name: "content-length", req: get, reply: replyWith("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")},
		{name: "chunked", req: get, reply: replyWith("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3;x=y\r\nllo\r\n0\r\n\r\n")},
		{name: "chunked with trailers", req: get, reply: replyWith("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: T\r\n\r\n5\r\nhello\r\n0\r\nT: v\r\n\r\n")},
		{name: "close-delimited", req: get, reply: replyThenClose("HTTP/1.1 200 OK\r\n\r\nuntil close")},
		{name: "HTTP/1.0", req: get, reply: replyThenClose("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold")},
		{name: "204", req: get, reply: replyWith("HTTP/1.1 204 No Content\r\n\r\n")},
		{name: "304", req: get, reply: replyWith("HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n")},
		{name: "HEAD", req: "HEAD /case HTTP/1.1\r\nHost: x\r\n\r\n", head: true, reply: replyWith("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")},
		{name: "100 then 200", req: get, reply: replyWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")},
		{name: "103 then 200", req: get, reply: replyWith("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")},
		{name: "backend Connection: close", req: get, reply: replyThenClose("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")},
		{name: "close mid-body", req: get, reply: replyThenClose("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")},
		{name: "10 MB body", req: get, reply: replyWith("HTTP/1.1 200 OK\r\nContent-Length: " + fmt.Sprint(len(big)) + "\r\n\r\n" + big)},
		{name: "trickled body", req: get, reply: func(c net.Conn, _ *http.Request) bool {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
			for _, part := range []string{"1\r\na\r\n", "1\r", "\nb\r\n", "0\r\n", "\r\n"} {
				io.WriteString(c, part)
			}
			return true
		}},
		{name: "many headers", req: get, reply: replyWith("HTTP/1.1 200 OK\r\n" + many.String() + "Content-Length: 2\r\n\r\nok")},
		{name: "20 KB head", req: get, reply: replyWith("HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 20<<10) + "\r\nContent-Length: 2\r\n\r\nok")},
		{name: "obs-fold", req: get, reply: replyWith("HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 2\r\n\r\nok")},
		{name: "length and chunked", req: get, reply: replyWith("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")},
		{name: "not HTTP", req: get, reply: replyThenClose("SSH-2.0-OpenSSH\r\n\r\n")},
		{name: "NUL in a header", req: get, reply: replyThenClose("HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok")},
		{name: "two lengths", req: get, reply: replyThenClose("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok")},
		{name: "bad chunk", req: get, reply: replyThenClose("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 x\r\nok\r\n0\r\n\r\n")},
		{name: "closes without answering", req: get, reply: replyThenClose("")},
		{name: "POST with length", req: "POST /case HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody", reply: echoBody},
		{name: "POST chunked", req: "POST /case HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nbo\r\n2\r\ndy\r\n0\r\n\r\n", reply: echoBody},
		{name: "early 413", req: "POST /case HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n" + strings.Repeat("u", 300000), reply: func(c net.Conn, _ *http.Request) bool {
			io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 9\r\n\r\ntoo large")
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c)
			return false
		}},
		{name: "body longer than its length", req: get, reply: replyWith("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")},
		{name: "stray response", req: get, reply: replyWith("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray")},
		// The second request, pipelined, is the one whose response the client reads second.
		{name: "pipelined", req: get + "GET /next HTTP/1.1\r\nHost: x\r\n\r\n", reply: replyWith("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")},
		{name: "refused upgrade", req: "GET /case HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
			reply: replyWith("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno")},
	}
}()

func echoBody(c net.Conn, r *http.Request) bool {
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body)+len(r.Method)+1, r.Method+" "+string(body))
	return true
}

// parityBackend answers the case's request as tc says and GET /next normally.
func parityBackend(t *testing.T, tc parityCase) string {
	return scripted(t, func(c net.Conn, _ int, r *http.Request) bool {
		if r.URL.Path == "/next" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext")
			return true
		}
		return tc.reply(c, r)
	})
}

// outcome is what a client sees of one request: status and body, or that it failed, and where
// the body failed.
type outcome struct {
	status int
	body   string
	err    bool
}

func (o outcome) String() string {
	if o.err && o.status == 0 {
		return "error"
	}
	s := fmt.Sprintf("%d %q", o.status, o.body)
	if len(o.body) > 40 {
		s = fmt.Sprintf("%d (%d bytes)", o.status, len(o.body))
	}
	if o.err {
		s += " then error"
	}
	return s
}

// viaProxy sends tc's request, then GET /next, through the proxy at addr the way an HTTP/1.1
// client does: the next request on the same connection unless the first response closed it.
func viaProxy(t *testing.T, addr string, tc parityCase) [2]outcome {
	var out [2]outcome
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { conn.Close() }()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(conn, tc.req) // a large body may not fit the socket buffers
	br := bufio.NewReader(conn)
	method := "GET"
	if tc.head {
		method = "HEAD"
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	for err == nil && resp.StatusCode < 200 {
		resp, err = http.ReadResponse(br, &http.Request{Method: method})
	}
	reconnect := true
	if err != nil {
		out[0].err = true
	} else {
		b, err := io.ReadAll(resp.Body)
		out[0] = outcome{status: resp.StatusCode, body: string(b), err: err != nil}
		reconnect = resp.Close || err != nil
	}
	if reconnect {
		conn.Close()
		if conn, err = net.Dial("tcp", addr); err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		br = bufio.NewReader(conn)
	}
	io.WriteString(conn, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err = http.ReadResponse(br, nil); err != nil {
		out[1].err = true
	} else {
		b, err := io.ReadAll(resp.Body)
		out[1] = outcome{status: resp.StatusCode, body: string(b), err: err != nil}
	}
	return out
}

// netHTTPProxy is the reference: httputil.ReverseProxy to addr behind net/http's server.
func netHTTPProxy(t *testing.T, addr string) string {
	target, _ := url.Parse("http://" + addr)
	rp := httputil.NewSingleHostReverseProxy(target)
	tr := &http.Transport{DisableCompression: true}
	rp.Transport = tr
	rp.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewUnstartedServer(rp)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	return srv.Listener.Addr().String()
}

// same reports whether a proxy's outcome matches the reference's: a 502 the proxy made up may
// say what it likes in its body, and a failed exchange is one however far it got (net/http's
// server drops a response it had buffered when the backend fails mid-body; the fast engine has
// sent the head and part of the body by then).
func same(got, want outcome) bool {
	if got.status == http.StatusBadGateway && want.status == http.StatusBadGateway {
		return true
	}
	if got.err && want.err {
		return true
	}
	return got == want
}

func TestParity_Proxies(t *testing.T) {
	t.Parallel()
	for _, tc := range parityCases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			want := viaProxy(t, netHTTPProxy(t, parityBackend(t, tc)), tc)
			for _, e := range engines {
				b := New([]string{parityBackend(t, tc)}, nil, WithEngine(e))
				got := viaProxy(t, strings.TrimPrefix(serve(t, b), "http://"), tc)
				for i := range got {
					if !same(got[i], want[i]) {
						t.Errorf("%s, request %d: %v; net/http: %v", e, i+1, got[i], want[i])
					}
				}
			}
		})
	}
}
