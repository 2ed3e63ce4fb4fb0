package balancer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/testserver"
)

// engines is what every proxy test runs against.
var engines = []Engine{EngineStd, EngineFast}

// forEngine runs test as a parallel subtest per engine.
func forEngine(t *testing.T, test func(t *testing.T, e Engine)) {
	t.Helper()
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			test(t, e)
		})
	}
}

// backend starts an httptest server answering with h and the header
// X-Worker: index. It is closed when the test ends, after the balancer.
func backend(t *testing.T, index int, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Worker", strconv.Itoa(index))
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

// addrs returns the host:port of each server.
func addrs(srvs ...*httptest.Server) []string {
	var out []string
	for _, s := range srvs {
		out = append(out, s.Listener.Addr().String())
	}
	return out
}

// serve starts b on a free loopback port until the test ends and returns
// its base URL.
func serve(t *testing.T, b *Balancer) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := b.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		waitOrFail(t, b)
	})
	return "http://" + addr
}

// waitOrFail waits for b to stop, failing the test after a deadline.
func waitOrFail(t *testing.T, b *Balancer) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		b.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("balancer did not stop within 10s of its context being cancelled")
	}
}

// client returns a keep-alive HTTP client whose connections are closed
// when the test ends.
func client(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// get fetches url and returns the response with its body read.
func get(t *testing.T, c *http.Client, method, url string, body io.Reader, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, string(b)
}

func TestBalancer_RoundRobin(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		var hits [4]atomic.Int64
		var srvs []*httptest.Server
		for i := range 4 {
			srvs = append(srvs, backend(t, i+1, func(w http.ResponseWriter, r *http.Request) {
				hits[i].Add(1)
				ok(w, r)
			}))
		}
		b := New(addrs(srvs...), nil, WithEngine(e))
		url := serve(t, b)
		c := client(t)
		for i := range 400 {
			resp, body := get(t, c, "GET", url+"/", nil)
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
			}
			// Sequential requests take strict turns.
			if got, want := resp.Header.Get("X-Worker"), strconv.Itoa(i%4+1); got != want {
				t.Fatalf("request %d: answered by worker %s, want %s", i, got, want)
			}
		}
		if got, want := fmt.Sprint(b.Counts()), "[100 100 100 100]"; got != want {
			t.Errorf("Counts() = %s, want %s", got, want)
		}
		for i := range hits {
			if got := hits[i].Load(); got != 100 {
				t.Errorf("backend %d saw %d requests, want 100", i+1, got)
			}
			if got := b.Backends()[i].InFlight(); got != 0 {
				t.Errorf("backend %d: InFlight() = %d after all requests, want 0", i+1, got)
			}
		}
		b.ResetCounts()
		if got, want := fmt.Sprint(b.Counts()), "[0 0 0 0]"; got != want {
			t.Errorf("Counts() after ResetCounts = %s, want %s", got, want)
		}
	})
}

func TestBalancer_PassThrough(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		srv := backend(t, 7, func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Seen-Method", r.Method)
			w.Header().Set("X-Seen-Target", r.RequestURI)
			w.Header().Set("X-Seen-Host", r.Host)
			w.Header().Set("X-Seen-Test", r.Header.Get("X-Test"))
			w.Header().Set("X-Seen-Forwarded-For", r.Header.Get("X-Forwarded-For"))
			w.Header().Set("Set-Cookie", "a=b")
			w.WriteHeader(http.StatusCreated)
			w.Write(append([]byte("echo:"), body...))
		})
		b := New(addrs(srv), nil, WithEngine(e))
		url := serve(t, b)
		resp, body := get(t, client(t), "POST", url+"/path/x?q=1&r=2", strings.NewReader("hello body"),
			"X-Test", "in", "X-Forwarded-For", "10.0.0.1")
		host := strings.TrimPrefix(url, "http://")
		for _, c := range []struct{ name, got, want string }{
			{"status", resp.Status, "201 Created"},
			{"body", body, "echo:hello body"},
			{"X-Worker", resp.Header.Get("X-Worker"), "7"},
			{"method", resp.Header.Get("X-Seen-Method"), "POST"},
			{"target", resp.Header.Get("X-Seen-Target"), "/path/x?q=1&r=2"},
			{"Host kept", resp.Header.Get("X-Seen-Host"), host},
			{"request header", resp.Header.Get("X-Seen-Test"), "in"},
			{"X-Forwarded-For passed", resp.Header.Get("X-Seen-Forwarded-For"), "10.0.0.1"},
			{"response header", resp.Header.Get("Set-Cookie"), "a=b"},
		} {
			if c.got != c.want {
				t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
			}
		}
	})
}

func TestBalancer_Chunked(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		srv := backend(t, 1, func(w http.ResponseWriter, r *http.Request) {
			in, _ := io.ReadAll(r.Body)
			w.Header().Set("Trailer", "X-Trailer")
			w.Header().Set("X-Request-Chunked", fmt.Sprint(r.ContentLength == -1 && len(r.TransferEncoding) > 0))
			// Flushing between parts makes net/http send them as chunks.
			for _, part := range []string{"one,", "two,", string(in)} {
				io.WriteString(w, part)
				w.(http.Flusher).Flush()
			}
			w.Header().Set("X-Trailer", "done")
		})
		b := New(addrs(srv), nil, WithEngine(e))
		url := serve(t, b)
		c := client(t)
		for i := range 3 { // and the connections survive the chunked exchange
			// An io.Reader of unknown length goes out chunked.
			resp, body := get(t, c, "PUT", url+"/", io.MultiReader(strings.NewReader("three"), strings.NewReader("!")))
			if got, want := body, "one,two,three!"; got != want {
				t.Fatalf("round %d: body = %q, want %q", i, got, want)
			}
			if got := resp.TransferEncoding; len(got) != 1 || got[0] != "chunked" {
				t.Errorf("round %d: TransferEncoding = %v, want [chunked]", i, got)
			}
			if got := resp.Header.Get("X-Request-Chunked"); got != "true" {
				t.Errorf("round %d: backend saw a chunked request: %s, want true", i, got)
			}
			if got := resp.Trailer.Get("X-Trailer"); got != "done" {
				t.Errorf("round %d: trailer X-Trailer = %q, want done", i, got)
			}
		}
	})
}

func TestBalancer_BackendDown(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := ln.Addr().String()
		ln.Close() // nothing listens there now
		b := New([]string{down}, nil, WithEngine(e))
		url := serve(t, b)
		c := client(t)
		// The refused connection ejects the only backend: no other to
		// retry on, so 502; then none is available, so 503. The client
		// connection stays usable after both.
		resp, body := get(t, c, "GET", url+"/", nil)
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("status = %d, want 502", resp.StatusCode)
		}
		if !strings.HasPrefix(body, "bad gateway: ") || !strings.Contains(body, down) || strings.Count(body, "\n") != 1 {
			t.Errorf("body = %q, want one line starting with \"bad gateway: \" naming %s", body, down)
		}
		if b.Backends()[0].Healthy() {
			t.Error("backend still healthy after a refused connection")
		}
		if resp, _ := get(t, c, "GET", url+"/", nil); resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("second request: status = %d, want 503", resp.StatusCode)
		}
		if got := b.Counts()[0]; got != 1 {
			t.Errorf("Counts()[0] = %d, want 1: the failed request counts, the unrouted one not", got)
		}
		if got := b.Backends()[0].InFlight(); got != 0 {
			t.Errorf("InFlight() = %d, want 0", got)
		}
	})
}

func TestBalancer_NoBackend(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		srv := backend(t, 1, ok)
		for name, b := range map[string]*Balancer{
			"empty pool": New(nil, nil, WithEngine(e)),
			"all down":   New(addrs(srv), nil, WithEngine(e)),
		} {
			for _, be := range b.Backends() {
				be.SetHealthy(false)
			}
			url := serve(t, b)
			resp, body := get(t, client(t), "GET", url+"/", nil)
			if resp.StatusCode != http.StatusServiceUnavailable || body != "no backend available\n" {
				t.Errorf("%s: got %d %q, want 503 \"no backend available\\n\"", name, resp.StatusCode, body)
			}
		}
	})
}

func TestBalancer_LargeBody(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		srv := backend(t, 1, func(w http.ResponseWriter, r *http.Request) {
			// net/http's HTTP/1 server may stop reading the request body
			// once the response starts: read it all first.
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Write(body)
		})
		b := New(addrs(srv), nil, WithEngine(e))
		url := serve(t, b)
		payload := make([]byte, 1<<20)
		rand.Read(payload)
		c := client(t)
		for i := range 2 {
			resp, body := get(t, c, "POST", url+"/", bytes.NewReader(payload))
			if resp.StatusCode != 200 || !bytes.Equal([]byte(body), payload) {
				t.Fatalf("round %d: status %d, echoed %d bytes, equal=%v; want 200 and the same %d bytes",
					i, resp.StatusCode, len(body), bytes.Equal([]byte(body), payload), len(payload))
			}
		}
	})
}

func TestBalancer_KeepAlive(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		var conns atomic.Int64
		srv := httptest.NewUnstartedServer(http.HandlerFunc(ok))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		b := New(addrs(srv), nil, WithEngine(e))
		url := serve(t, b)
		c := client(t)
		const n = 200
		for i := range n {
			method := "GET"
			if i%10 == 9 {
				method = "HEAD" // a body-less response must not desync the connection
			}
			resp, body := get(t, c, method, url+"/", nil)
			if want := map[string]string{"GET": "ok", "HEAD": ""}[method]; resp.StatusCode != 200 || body != want {
				t.Fatalf("%s %d: %d %q", method, i, resp.StatusCode, body)
			}
		}
		if got := conns.Load(); got > 2 {
			t.Errorf("backend saw %d connections for %d sequential requests, want at most 2", got, n)
		}
	})
}

func TestBalancer_InFlight(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		release := make(chan struct{})
		srv := backend(t, 1, func(w http.ResponseWriter, r *http.Request) {
			<-release
			ok(w, r)
		})
		b := New(addrs(srv), nil, WithEngine(e))
		url := serve(t, b)
		be := b.Backends()[0]
		done := make(chan string)
		c := client(t)
		go func() {
			resp, err := c.Get(url + "/")
			if err != nil {
				done <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			done <- string(body)
		}()
		if !poll(func() bool { return be.InFlight() == 1 }) {
			t.Errorf("InFlight() = %d while the backend holds the request, want 1", be.InFlight())
		}
		close(release)
		if got := <-done; got != "ok" {
			t.Errorf("response = %q, want ok", got)
		}
		if !poll(func() bool { return be.InFlight() == 0 }) {
			t.Errorf("InFlight() = %d after the response, want 0", be.InFlight())
		}
	})
}

// poll reports whether cond became true within a few seconds.
func poll(cond func() bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

func TestBalancer_StaleBackendConn(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		srv := backend(t, 1, ok)
		b := New(addrs(srv), nil, WithEngine(e))
		url := serve(t, b)
		c := client(t)
		for i := range 5 {
			resp, body := get(t, c, "GET", url+"/", nil)
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("round %d: %d %q, want 200 ok", i, resp.StatusCode, body)
			}
			// The backend drops its idle connections, as a keep-alive
			// timeout would: the balancer's pooled one is now dead.
			srv.CloseClientConnections()
		}
	})
}

// rawExchange writes req on a new connection to addr and reads n responses.
func rawExchange(t *testing.T, addr, req string, n int, method string) []*http.Response {
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
	br := bufio.NewReader(conn)
	var out []*http.Response
	for i := range n {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		for err == nil && resp.StatusCode < 200 { // interim, e.g. 100 Continue
			resp, err = http.ReadResponse(br, &http.Request{Method: method})
		}
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", i, err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, resp)
	}
	return out
}

func TestBalancer_RawRequests(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		srv := backend(t, 1, func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %s %s", r.Proto, r.Method, r.URL.Path, body)
		})
		b := New(addrs(srv), nil, WithEngine(e))
		addr := strings.TrimPrefix(serve(t, b), "http://")
		for _, tc := range []struct {
			name, req string
			n         int
			want      []string
		}{
			{"pipelined", "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyzGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
				3, []string{"HTTP/1.1 GET /a ", "HTTP/1.1 POST /b xyz", "HTTP/1.1 GET /c "}},
			{"HTTP/1.0", "GET /old HTTP/1.0\r\nHost: x\r\n\r\n", 1, []string{"HTTP/1.1 GET /old "}},
			{"Expect", "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi", 1, []string{"HTTP/1.1 POST /e hi"}},
			{"chunked with extension", "POST /k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2;x=y\r\nab\r\n0\r\n\r\n", 1, []string{"HTTP/1.1 POST /k ab"}},
			{"fast then net/http on one connection", "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\nConnection: upgrade-me\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n",
				3, []string{"HTTP/1.1 GET /1 ", "HTTP/1.1 GET /2 ", "HTTP/1.1 GET /3 "}},
		} {
			resps := rawExchange(t, addr, tc.req, tc.n, "GET")
			for i, resp := range resps {
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 || string(body) != tc.want[i] {
					t.Errorf("%s: response %d: %d %q, want 200 %q", tc.name, i, resp.StatusCode, body, tc.want[i])
				}
			}
		}
		// A malformed request is net/http's to refuse.
		resps := rawExchange(t, addr, "GET / HTTP/1.1\r\n\r\n", 1, "GET")
		if got := resps[0].StatusCode; got != http.StatusBadRequest {
			t.Errorf("request without Host: status %d, want 400", got)
		}
	})
}

func TestBalancer_Upgrade(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		// A backend that switches to an echo protocol, like a WebSocket.
		srv := backend(t, 1, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Upgrade") != "echo" {
				http.Error(w, "want Upgrade: echo", http.StatusBadRequest)
				return
			}
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			brw.Flush()
			line, _ := brw.ReadString('\n')
			brw.WriteString("echo " + line)
			brw.Flush()
		})
		b := New(addrs(srv), nil, WithEngine(e))
		addr := strings.TrimPrefix(serve(t, b), "http://")
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d, want 101", resp.StatusCode)
		}
		io.WriteString(conn, "ping\n")
		if line, err := br.ReadString('\n'); err != nil || line != "echo ping\n" {
			t.Errorf("after upgrade: got %q, %v; want \"echo ping\\n\"", line, err)
		}
	})
}

func TestServe_Stop(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		srv := backend(t, 1, ok)
		b := New(addrs(srv), nil, WithEngine(e))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		addr, err := b.Serve(ctx, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		// An idle keep-alive client connection, parked between requests.
		idle, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close()
		resps := rawExchangeOn(t, idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resps.StatusCode != 200 {
			t.Fatalf("status %d before stop", resps.StatusCode)
		}

		cancel()
		waitOrFail(t, b)
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Error("still accepting connections after ctx was cancelled")
		}
		idle.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("idle client connection: read %d bytes, err %v; want EOF (closed by shutdown)", n, err)
		}
	})
}

// rawExchangeOn sends req on conn and reads one response, keeping conn open.
func rawExchangeOn(t *testing.T, conn net.Conn, req string) *http.Response {
	t.Helper()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	// Byte at a time, so nothing after the response is consumed.
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 16), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	conn.SetDeadline(time.Time{})
	return resp
}

func TestServe_Errors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var wg sync.WaitGroup
	for _, tc := range []struct {
		name    string
		b       *Balancer
		addr    string
		wantErr string
	}{
		{"port in use", New(nil, nil), busy, "listen on " + busy},
		{"unknown engine", New(nil, nil, WithEngine("turbo")), "127.0.0.1:0", `engine: unknown "turbo"`},
	} {
		_, err := tc.b.Serve(ctx, tc.addr)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: Serve error = %v, want one containing %q", tc.name, err, tc.wantErr)
		}
		wg.Add(1)
		go func() { defer wg.Done(); tc.b.Wait() }() // nothing to wait for
	}
	wg.Wait()
}

func TestNew_Defaults(t *testing.T) {
	t.Parallel()
	b := New([]string{"http://127.0.0.1:1", "127.0.0.1:2"}, nil)
	if got := b.Engine(); got != DefaultEngine {
		t.Errorf("Engine() = %q, want %q", got, DefaultEngine)
	}
	for i, want := range []string{"127.0.0.1:1", "127.0.0.1:2"} {
		be := b.Backends()[i]
		if be.Addr != want || be.Index != i+1 || !be.Available() {
			t.Errorf("backend %d = {Index %d, Addr %q, Available %v}, want {%d, %q, true}", i, be.Index, be.Addr, be.Available(), i+1, want)
		}
	}
}

func TestServe_Shutdown(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		for _, tc := range []struct {
			name     string
			timeout  time.Duration
			release  bool // the backend answers once shutdown has begun
			wantBody string
		}{
			{"graceful: the request in progress finishes", time.Minute, true, "ok"},
			{"timeout: the request in progress is cut", 100 * time.Millisecond, false, ""},
		} {
			started, release := make(chan struct{}, 1), make(chan struct{})
			srv := backend(t, 1, func(w http.ResponseWriter, r *http.Request) {
				started <- struct{}{}
				<-release
				ok(w, r)
			})
			t.Cleanup(func() { close(release) })
			b := New(addrs(srv), nil, WithEngine(e), WithShutdownTimeout(tc.timeout))
			ctx, cancel := context.WithCancel(context.Background())
			addr, err := b.Serve(ctx, "127.0.0.1:0")
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			got := make(chan string, 1)
			c := client(t)
			go func() {
				resp, err := c.Get("http://" + addr + "/")
				if err != nil {
					got <- ""
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got <- string(body)
			}()
			<-started
			cancel()
			// Shutdown has begun once the listener refuses connections.
			if !poll(func() bool {
				c, err := net.Dial("tcp", addr)
				if err == nil {
					c.Close()
				}
				return err != nil
			}) {
				t.Fatalf("%s: still accepting connections after cancel", tc.name)
			}
			if tc.release {
				release <- struct{}{}
			}
			waitOrFail(t, b)
			if body := <-got; body != tc.wantBody {
				t.Errorf("%s: client got %q, want %q", tc.name, body, tc.wantBody)
			}
		}
	})
}

// rawBackend is a backend that answers every request head with reply, then
// closes the connection if closeAfter is set: for responses net/http's
// server would not send.
func rawBackend(t *testing.T, reply string, closeAfter bool) string {
	t.Helper()
	return testserver.Raw(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			// Request heads only: these tests send no bodies.
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if line == "\r\n" {
					break
				}
			}
			if _, err := io.WriteString(c, reply); err != nil || closeAfter {
				return
			}
		}
	})
}

func TestBalancer_OddResponses(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		for _, tc := range []struct {
			name       string
			reply      string
			closeAfter bool
			wantStatus int
			wantBody   string // prefix
			want1xx    bool
		}{
			{name: "early hints", reply: "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
				wantStatus: 200, wantBody: "ok", want1xx: true},
			{name: "body until close", reply: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstreamed till close", closeAfter: true,
				wantStatus: 200, wantBody: "streamed till close"},
			{name: "HTTP/1.0 backend", reply: "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold", closeAfter: true,
				wantStatus: 200, wantBody: "old"},
			{name: "not HTTP", reply: "SSH-2.0-OpenSSH\r\n\r\n", closeAfter: true, wantStatus: 502, wantBody: "bad gateway: "},
			{name: "closes without answering", reply: "", closeAfter: true, wantStatus: 502, wantBody: "bad gateway: "},
			{name: "cut mid-head", reply: "HTTP/1.1 200 OK\r\nContent-Le", closeAfter: true, wantStatus: 502, wantBody: "bad gateway: "},
		} {
			b := New([]string{rawBackend(t, tc.reply, tc.closeAfter)}, nil, WithEngine(e))
			addr := strings.TrimPrefix(serve(t, b), "http://")
			for round := range 2 { // the client connection is usable again, or reopened
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				br := bufio.NewReader(conn)
				resp, err := http.ReadResponse(br, nil)
				saw1xx := false
				for err == nil && resp.StatusCode < 200 {
					saw1xx = true
					resp, err = http.ReadResponse(br, nil)
				}
				if err != nil {
					conn.Close()
					t.Fatalf("%s: round %d: %v", tc.name, round, err)
				}
				body, err := io.ReadAll(resp.Body)
				conn.Close()
				if err != nil || resp.StatusCode != tc.wantStatus || !strings.HasPrefix(string(body), tc.wantBody) {
					t.Errorf("%s: round %d: got %d %q (%v), want %d %q…", tc.name, round, resp.StatusCode, body, err, tc.wantStatus, tc.wantBody)
				}
				if saw1xx != tc.want1xx {
					t.Errorf("%s: round %d: client saw a 1xx response: %v, want %v", tc.name, round, saw1xx, tc.want1xx)
				}
			}
		}
	})
}

func TestBalancer_HeadShapes(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		srv := backend(t, 1, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "cookie %d bytes", len(r.Header.Get("Cookie")))
		})
		b := New(addrs(srv), nil, WithEngine(e))
		addr := strings.TrimPrefix(serve(t, b), "http://")

		// A head larger than the fast engine's read buffer goes to net/http.
		big := strings.Repeat("c", 20<<10)
		resps := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nCookie: "+big+"\r\n\r\n", 1, "GET")
		if body, _ := io.ReadAll(resps[0].Body); string(body) != "cookie 20480 bytes" {
			t.Errorf("20 KiB head: got %d %q, want the cookie passed on", resps[0].StatusCode, body)
		}

		// A head that arrives in pieces.
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		for _, part := range []string{"GET / HT", "TP/1.1\r\nHo", "st: x\r\nCookie: 12345\r", "\n\r\n"} {
			if _, err := io.WriteString(conn, part); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		if body, _ := io.ReadAll(resp.Body); string(body) != "cookie 5 bytes" {
			t.Errorf("head in pieces: got %d %q", resp.StatusCode, body)
		}
	})
}

// A streamed response reaches the client as the backend sends it, not when it ends: the fast
// engine holds a response back only until it waits for the next request (rawio.NewDeferred), and
// must send what it has whenever it waits for the backend instead.
func TestBalancer_StreamsResponses(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		seen := make(chan struct{})
		srv := backend(t, 1, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "first;")
			w.(http.Flusher).Flush()
			select { // the rest only once the client has the first part
			case <-seen:
			case <-time.After(5 * time.Second):
				io.WriteString(w, "timeout;")
			}
			io.WriteString(w, "second")
		})
		b := New(addrs(srv), nil, WithEngine(e))
		url := serve(t, b)
		resp, err := client(t).Get(url + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		first := make([]byte, len("first;"))
		if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first;" {
			t.Fatalf("first part %q, %v", first, err)
		}
		close(seen)
		rest, _ := io.ReadAll(resp.Body)
		if string(rest) != "second" {
			t.Errorf("rest = %q, want second: the first part reached the client only when the response ended", rest)
		}
	})
}
