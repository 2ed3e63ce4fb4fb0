package load

import (
	"bufio"
	"bytes"
	"context"
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

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/bench-dev/bench/internal/testserver"
)

// connServer serves h on loopback and counts the connections it accepted.
func connServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// newTestTransport returns a Transport closed at cleanup.
func newTestTransport(t *testing.T, timeout time.Duration) (*Transport, *http.Client) {
	t.Helper()
	tr := &Transport{Timeout: timeout}
	t.Cleanup(func() { tr.Close() })
	return tr, &http.Client{Transport: tr}
}

// get requests url and returns the status code and the body read to its
// end.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// rawServer accepts loopback connections and hands each to serve on its
// own goroutine; all are closed and waited for at cleanup.
func rawServer(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	return "http://" + testserver.Raw(t, serve) + "/"
}

// readRequestHead reads one request head from br and returns its lines.
func readRequestHead(br *bufio.Reader) ([]string, error) {
	var lines []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return lines, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return lines, nil
		}
		lines = append(lines, line)
	}
}

func TestTransport_ReusesConnections(t *testing.T) {
	t.Parallel()
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	_, c := newTestTransport(t, 0)

	for i := range 20 {
		if code, body := get(t, c, srv.URL); code != 200 || body != "hello" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 sequential requests used %d connections, want 1", n)
	}

	// Concurrent requests: no more connections than requests at once.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				resp, err := c.Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if n := conns.Load(); n > 5 {
		t.Errorf("4 concurrent clients used %d connections, want <= 4", n)
	}
}

func TestTransport_BoundsIdleConnections(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var inside sync.WaitGroup
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			inside.Done()
			<-release
		}
	})
	tr := &Transport{MaxIdleConnsPerHost: 2}
	defer tr.Close()
	c := &http.Client{Transport: tr}

	// Four requests at once need four connections; two stay idle after.
	inside.Add(4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(srv.URL + "/wait")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	inside.Wait()
	close(release)
	wg.Wait()
	if n := conns.Load(); n != 4 {
		t.Fatalf("4 concurrent requests used %d connections, want 4", n)
	}
	tr.mu.Lock()
	open := len(tr.conns)
	tr.mu.Unlock()
	if open != 2 {
		t.Errorf("%d connections open after the requests, want MaxIdleConnsPerHost = 2", open)
	}
}

func TestTransport_ChunkedBodies(t *testing.T) {
	t.Parallel()
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		for i := range 5 {
			fmt.Fprintf(w, "part %d;", i)
			w.(http.Flusher).Flush() // each part its own chunk
		}
		w.Header().Set("X-Sum", "5")
	})
	tr, c := newTestTransport(t, 0)

	for range 3 {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.TransferEncoding; len(got) != 1 || got[0] != "chunked" || resp.ContentLength != -1 {
			t.Errorf("TransferEncoding, ContentLength = %v, %d; want [chunked], -1", got, resp.ContentLength)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(b), "part 0;part 1;part 2;part 3;part 4;"; got != want {
			t.Errorf("body = %q, want %q", got, want)
		}
	}
	// Closed unread, a chunked body is drained: the connection stays.
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	get(t, c, srv.URL)
	if n := conns.Load(); n != 1 {
		t.Errorf("used %d connections, want 1", n)
	}
	_ = tr
}

func TestTransport_DiscardsContentLengthBodies(t *testing.T) {
	t.Parallel()
	small := strings.Repeat("s", 100<<10)
	large := strings.Repeat("l", maxDrain+1)
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		body := small
		if r.URL.Path == "/large" {
			body = large
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		io.WriteString(w, body)
	})
	_, c := newTestTransport(t, 0)

	// Unread bodies up to maxDrain are drained on Close, keeping the
	// connection; larger ones close it.
	for _, tc := range []struct {
		path      string
		wantConns int64
	}{
		{"/small", 1},
		{"/small", 1},
		{"/large", 1}, // closed after this one
		{"/small", 2},
	} {
		resp, err := c.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ContentLength <= 0 {
			t.Errorf("%s: ContentLength = %d", tc.path, resp.ContentLength)
		}
		resp.Body.Close()
		if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
			t.Errorf("%s: Read after Close succeeded", tc.path)
		}
		if n := conns.Load(); n != tc.wantConns {
			t.Errorf("%s: %d connections so far, want %d", tc.path, n, tc.wantConns)
		}
	}

	// io.Copy to io.Discard (what vegeta does) reads it all.
	resp, err := c.Get(srv.URL + "/large")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != int64(len(large)) {
		t.Errorf("io.Copy = %d, %v; want %d, nil", n, err, len(large))
	}
}

func TestTransport_ConnectionClose(t *testing.T) {
	t.Parallel()
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, "ok")
	})
	_, c := newTestTransport(t, 0)

	for range 3 {
		if code, body := get(t, c, srv.URL+"/close"); code != 200 || body != "ok" {
			t.Fatalf("got %d %q", code, body)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("3 responses with Connection: close used %d connections, want 3", n)
	}

	// The client asking for close: Request.Close and the header alike.
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Close = true
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	req, _ = http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Connection", "close")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	get(t, c, srv.URL)
	if n := conns.Load(); n != 6 {
		t.Errorf("used %d connections, want 6 (none reused after a close)", n)
	}
}

func TestTransport_RetriesStaleConnections(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	_, c := newTestTransport(t, 0)

	get(t, c, srv.URL)
	srv.CloseClientConnections() // the server drops the idle connection

	// A GET goes again on a new connection; the server sees it once.
	if code, body := get(t, c, srv.URL); code != 200 || body != "ok" {
		t.Fatalf("GET on a stale connection: %d %q", code, body)
	}
	if n, r := conns.Load(), requests.Load(); n != 2 || r != 2 {
		t.Errorf("connections, requests = %d, %d; want 2, 2", n, r)
	}

	// A POST is not repeated, with GetBody or not: not idempotent.
	for _, body := range []io.Reader{io.NopCloser(strings.NewReader("once")), bytes.NewReader([]byte("once"))} {
		get(t, c, srv.URL) // a fresh pooled connection
		srv.CloseClientConnections()
		before := requests.Load()
		req, _ := http.NewRequest(http.MethodPost, srv.URL, body)
		if _, err := c.Do(req); err == nil {
			t.Errorf("POST (%T) on a stale connection succeeded; want an error, not a silent resend", body)
		}
		if r := requests.Load(); r != before {
			t.Errorf("server saw %d more requests, want none", r-before)
		}
	}
	// The pool holds no more stale connections: the next request works.
	get(t, c, srv.URL)
}

func TestTransport_Timeout(t *testing.T) {
	t.Parallel()
	hung := make(chan struct{})
	srv, _ := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "hello")
			w.(http.Flusher).Flush()
		}
		select { // a target that does not answer (in full)
		case <-r.Context().Done():
		case <-hung:
		}
	})
	defer close(hung)

	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"Transport.Timeout", func() error {
			_, c := newTestTransport(t, 100*time.Millisecond)
			_, err := c.Get(srv.URL)
			return err
		}},
		{"Transport.Timeout while reading the body", func() error {
			_, c := newTestTransport(t, 100*time.Millisecond)
			resp, err := c.Get(srv.URL + "/body")
			if err != nil {
				return fmt.Errorf("head: %w", err)
			}
			defer resp.Body.Close()
			_, err = io.ReadAll(resp.Body)
			return err
		}},
		{"http.Client.Timeout", func() error {
			tr, _ := newTestTransport(t, 0)
			_, err := (&http.Client{Transport: tr, Timeout: 100 * time.Millisecond}).Get(srv.URL)
			return err
		}},
		{"context deadline", func() error {
			_, c := newTestTransport(t, 0)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			_, err := c.Do(req)
			return err
		}},
	} {
		began := time.Now()
		err := tc.do()
		took := time.Since(began)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: err = %v, want a deadline error", tc.name, err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%s: err = %v, want a net.Error with Timeout()", tc.name, err)
		}
		if took > 3*time.Second {
			t.Errorf("%s: returned after %v, want soon after 100ms", tc.name, took)
		}
	}
}

func TestTransport_CancelClosesTheConnection(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	gone := make(chan struct{}, 1)
	srv, _ := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // set when the client's connection closes
		gone <- struct{}{}
	})
	_, c := newTestTransport(t, 0)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-arrived
		cancel()
	}()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	began := time.Now()
	_, err := c.Do(req)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("returned after %v, want promptly", took)
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Error("the server did not see the connection close")
	}
}

func TestTransport_CloseCutsRequestsInFlight(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	srv, _ := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	tr := &Transport{}
	c := &http.Client{Transport: tr}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Get(srv.URL)
		errc <- err
	}()
	<-arrived
	tr.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("a request cut by Close succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not cut the request in flight")
	}
	if _, err := c.Get(srv.URL); !errors.Is(err, ErrTransportClosed) {
		t.Errorf("after Close: err = %v, want ErrTransportClosed", err)
	}
}

func TestTransport_StatusCodes(t *testing.T) {
	t.Parallel()
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/boom":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/odd":
			w.WriteHeader(299)
		}
	})
	_, c := newTestTransport(t, 0)

	for _, tc := range []struct {
		path, status string
		code         int
		body         string
	}{
		{"/missing", "404 Not Found", 404, "404 page not found\n"},
		{"/boom", "500 Internal Server Error", 500, "boom\n"},
		{"/empty", "204 No Content", 204, ""},
		{"/odd", "299 status code 299", 299, ""},
		{"/", "200 OK", 200, ""},
	} {
		resp, err := c.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Status != tc.status || string(b) != tc.body || resp.Proto != "HTTP/1.1" {
			t.Errorf("%s: %q %d %q %s; want %q %d %q", tc.path, resp.Status, resp.StatusCode, b, resp.Proto, tc.status, tc.code, tc.body)
		}
	}
	// HEAD: no body, whatever the Content-Length says.
	resp, err := c.Head(srv.URL + "/missing")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); len(b) != 0 || resp.StatusCode != 404 {
		t.Errorf("HEAD: %d %q", resp.StatusCode, b)
	}
	resp.Body.Close()
	get(t, c, srv.URL)
	if n := conns.Load(); n != 1 {
		t.Errorf("used %d connections, want 1: error statuses keep the connection", n)
	}
}

func TestTransport_SendsRequests(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, uri, host, body string
		header                  http.Header
		length                  int64
		te                      []string
	}
	got := make(chan seen, 1)
	srv, _ := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Host, string(b), r.Header, r.ContentLength, r.TransferEncoding}
	})
	_, c := newTestTransport(t, 0)
	big := strings.Repeat("b", 3*writeBufSize+7)

	for _, tc := range []struct {
		name    string
		req     func() *http.Request
		want    seen
		chunked bool
	}{
		{"get with query and headers", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, srv.URL+"/a%20b/c?x=1&y=2", nil)
			r.Header.Set("Cookie", "session=abc")
			r.Header.Add("X-Multi", "1")
			r.Header.Add("X-Multi", "2")
			return r
		}, seen{method: "GET", uri: "/a%20b/c?x=1&y=2", length: 0,
			header: http.Header{"Cookie": {"session=abc"}, "X-Multi": {"1", "2"}}}, false},
		{"host header", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			r.Host = "example.test"
			return r
		}, seen{method: "GET", uri: "/", host: "example.test"}, false},
		{"small body", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL+"/post", strings.NewReader("hello"))
			return r
		}, seen{method: "POST", uri: "/post", body: "hello", length: 5}, false},
		{"body larger than the buffer", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPut, srv.URL+"/put", strings.NewReader(big))
			return r
		}, seen{method: "PUT", uri: "/put", body: big, length: int64(len(big))}, false},
		{"body of unknown length", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL+"/chunked", io.MultiReader(strings.NewReader("he"), strings.NewReader(big)))
			return r
		}, seen{method: "POST", uri: "/chunked", body: "he" + big, length: -1}, true},
		{"empty post", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL+"/empty", nil)
			return r
		}, seen{method: "POST", uri: "/empty", length: 0}, false},
	} {
		req := tc.req()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		s := <-got
		if tc.want.host == "" {
			tc.want.host = req.URL.Host
		}
		if s.method != tc.want.method || s.uri != tc.want.uri || s.host != tc.want.host || s.body != tc.want.body || s.length != tc.want.length {
			t.Errorf("%s: server saw %s %s host %q length %d body of %d bytes; want %s %s host %q length %d body of %d bytes",
				tc.name, s.method, s.uri, s.host, s.length, len(s.body), tc.want.method, tc.want.uri, tc.want.host, tc.want.length, len(tc.want.body))
		}
		if chunked := len(s.te) == 1 && s.te[0] == "chunked"; chunked != tc.chunked {
			t.Errorf("%s: Transfer-Encoding %v, want chunked %v", tc.name, s.te, tc.chunked)
		}
		for k, v := range tc.want.header {
			if g := s.header[k]; strings.Join(g, ",") != strings.Join(v, ",") {
				t.Errorf("%s: header %s = %v, want %v", tc.name, k, g, v)
			}
		}
	}

	// Header values that would split the request are refused.
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("X-Evil", "a\r\nX-Injected: 1")
	if _, err := c.Do(req); err == nil {
		t.Error("a header value with CRLF was sent")
	}
}

func TestTransport_HeadersInVegetaResults(t *testing.T) {
	t.Parallel()
	var seqs, cookies atomic.Int64
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Vegeta-Seq") != "" {
			seqs.Add(1)
		}
		if r.Header.Get("Cookie") == "session=s1" {
			cookies.Add(1)
		}
		h := w.Header()
		h["x-worker"] = []string{"2/4242"} // not canonical on the wire: the client canonicalises
		h.Set("X-Session", "s1")
		h.Add("Set-Cookie", "a=1")
		h.Add("Set-Cookie", "b=2")
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
		}
	})
	ac := newAttackClient(time.Second, DefaultConnections, false)
	defer ac.close()
	atk := newAttacker(ac, 2, 2)
	tgt := vegeta.NewStaticTargeter(
		vegeta.Target{Method: http.MethodGet, URL: srv.URL + "/", Header: http.Header{"Cookie": {"session=s1"}}},
		vegeta.Target{Method: http.MethodGet, URL: srv.URL + "/missing"},
	)
	var n, ok, missing int
	for r := range atk.Attack(tgt, vegeta.ConstantPacer{Freq: 200, Per: time.Second}, 100*time.Millisecond, "") {
		n++
		if got := r.Headers.Get("X-Worker"); got != "2/4242" {
			t.Errorf("result %d: X-Worker = %q (headers %v)", r.Seq, got, r.Headers)
		}
		if got := r.Headers.Get("X-Session"); got != "s1" {
			t.Errorf("result %d: X-Session = %q", r.Seq, got)
		}
		if got := r.Headers.Values("Set-Cookie"); len(got) != 2 || got[0] != "a=1" || got[1] != "b=2" {
			t.Errorf("result %d: Set-Cookie = %v", r.Seq, got)
		}
		switch {
		case r.Code == 200 && r.Error == "":
			ok++
		case r.Code == 404 && r.Error == "404 Not Found":
			missing++
		default:
			t.Errorf("result %d: code %d error %q", r.Seq, r.Code, r.Error)
		}
	}
	if n == 0 || ok == 0 || missing == 0 || int64(n) != seqs.Load() || int64(ok) != cookies.Load() {
		t.Errorf("%d results (%d ok, %d 404), server saw %d X-Vegeta-Seq and %d cookies", n, ok, missing, seqs.Load(), cookies.Load())
	}
	if c := conns.Load(); c > 2 {
		t.Errorf("2 workers used %d connections", c)
	}
}

func TestTransport_RawResponses(t *testing.T) {
	t.Parallel()
	// Each case answers every request on a connection with resp, then
	// closes it if closeAfter.
	for _, tc := range []struct {
		name       string
		resp       string
		closeAfter bool
		wantBody   string
		wantErr    bool
		reused     bool // a second request reuses the connection
	}{
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\nX-A: b\n\nhi", false, "hi", false, true},
		{"interim 100", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", false, "hi", false, true},
		{"body until close", "HTTP/1.1 200 OK\r\n\r\nuntil the end", true, "until the end", false, false},
		{"HTTP/1.0 without keep-alive", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", true, "hi", false, false},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi", false, "hi", false, true},
		{"chunked with extensions and trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nhi\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\n", false, "hi!", false, true},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhi", true, "", true, false},
		{"malformed status", "HTTP/1.1 2x0 OK\r\n\r\n", true, "", true, false},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nhi", true, "", true, false},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", true, "", true, false},
		{"switching protocols", "HTTP/1.1 101 Switching Protocols\r\n\r\n", true, "", true, false},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 2\r\n\r\nhi", false, "hi", false, true},
		{"20 KiB head", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("h", 20<<10) + "\r\nContent-Length: 2\r\n\r\nhi", false, "hi", false, false},
		{"NUL in a header value", "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nhi", true, "", true, false},
		// Chunk framing as strict as net/http's client.
		{"16-digit chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000002\r\nhi\r\n0\r\n\r\n", false, "hi", false, true},
		{"bare LF chunk line", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nhi\r\n0\r\n\r\n", true, "", true, false},
		{"junk after chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 x\r\nhi\r\n0\r\n\r\n", true, "", true, false},
		{"bare LF after chunk data", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\n0\r\n\r\n", true, "", true, false},
		{"malformed trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nno colon\r\n\r\n", true, "", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var accepted atomic.Int64
			url := rawServer(t, func(c net.Conn) {
				accepted.Add(1)
				br := bufio.NewReader(c)
				for {
					if _, err := readRequestHead(br); err != nil {
						return
					}
					if _, err := io.WriteString(c, tc.resp); err != nil || tc.closeAfter {
						return
					}
				}
			})
			_, c := newTestTransport(t, 5*time.Second)
			for i := range 2 {
				resp, err := c.Get(url)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				if (err != nil) != tc.wantErr {
					t.Fatalf("request %d: err = %v, want error %v", i, err, tc.wantErr)
				}
				if err == nil && string(body) != tc.wantBody {
					t.Errorf("request %d: body %q, want %q", i, body, tc.wantBody)
				}
			}
			if want := map[bool]int64{true: 1, false: 2}[tc.reused]; accepted.Load() != want {
				t.Errorf("2 requests used %d connections, want %d", accepted.Load(), want)
			}
		})
	}
}

// The driver reads headers as net/http's client does: a folded value joined with a space, a head
// far beyond its read buffer whole.
func TestTransport_HeadersAsNetHTTP(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("h", 1<<20)
	url := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			lines, err := readRequestHead(br)
			if err != nil {
				return
			}
			if strings.Contains(lines[0], "/big") {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+big+"\r\nContent-Length: 2\r\n\r\nhi")
				continue
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nX-A: b \r\n\t c\r\nX-B: d\r\nContent-Length: 2\r\n\r\nhi")
		}
	})
	_, c := newTestTransport(t, 5*time.Second)
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := resp.Header.Get("X-A"); got != "b c" || resp.Header.Get("X-B") != "d" {
		t.Errorf("folded X-A = %q, X-B = %q; want \"b c\", \"d\"", got, resp.Header.Get("X-B"))
	}
	resp, err = c.Get(url + "big")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(resp.Header.Get("X-Big")) != len(big) || string(body) != "hi" {
		t.Errorf("1 MiB head: header %d bytes, body %q", len(resp.Header.Get("X-Big")), body)
	}
}

func TestTransport_Fallback(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tls") }))
	defer srv.Close()

	_, c := newTestTransport(t, time.Second)
	if _, err := c.Get(srv.URL); !errors.Is(err, ErrUnsupported) {
		t.Errorf("https without Fallback: err = %v, want ErrUnsupported", err)
	}
	tr := &Transport{Timeout: time.Second, Fallback: srv.Client().Transport}
	defer tr.Close()
	if code, body := get(t, &http.Client{Transport: tr}, srv.URL); code != 200 || body != "tls" {
		t.Errorf("https through Fallback: %d %q", code, body)
	}
}

func TestBuildHeader(t *testing.T) {
	t.Parallel()
	block := "content-length: 3\r\nX-WORKER:  1/2 \r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\nx-a-b:\r\n"
	h := buildHeader([]byte(block), 5)
	want := http.Header{"Content-Length": {"3"}, "X-Worker": {"1/2"}, "Set-Cookie": {"a=1", "b=2"}, "X-A-B": {""}}
	if len(h) != len(want) {
		t.Errorf("got %v, want %v", h, want)
	}
	for k, v := range want {
		if strings.Join(h[k], "|") != strings.Join(v, "|") || len(h[k]) != len(v) {
			t.Errorf("%s = %q, want %q", k, h[k], v)
		}
	}
	// Appending to one value must not overwrite the next.
	h["Content-Length"] = append(h["Content-Length"], "x")
	if h.Get("X-Worker") != "1/2" {
		t.Errorf("append to one header changed another: %v", h)
	}
}

func TestTransport_Allocations(t *testing.T) {
	// Not parallel: AllocsPerRun counts the whole process. The server
	// allocates nothing per request, so what is counted is ours.
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Worker: 1/1\r\nDate: now\r\n\r\nok")
	url := rawServer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		n := 0
		for {
			k, err := c.Read(buf[n:])
			if err != nil {
				return
			}
			n += k
			if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
				n = copy(buf, buf[i+4:n])
				if _, err := c.Write(resp); err != nil {
					return
				}
			}
		}
	})
	tr := &Transport{Timeout: time.Second}
	defer tr.Close()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Vegeta-Seq", "1")
	rt := func() {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Worker") != "1/1" {
			t.Fatalf("headers %v", resp.Header)
		}
	}
	rt()
	// The response with its body, the header map, one string holding the
	// header text, one array of values.
	if n := testing.AllocsPerRun(200, rt); n > 5 {
		t.Errorf("%v allocations per round trip, want <= 5", n)
	}
}
