package load

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/testserver"
)

// FuzzResponseFraming sends each input as a server's whole answer (then closes) to a GET from the
// driver's Transport, and compares what the driver reads with what net/http reads from the same
// bytes: whenever the driver takes a response, net/http takes the same status, headers and body.
func FuzzResponseFraming(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x\r\nhi\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\nX-A: b\r\n c\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 1\n\nx",
	} {
		f.Add([]byte(s))
	}
	var mu sync.Mutex
	answers := map[string][]byte{}
	addr := testserver.Raw(f, func(c net.Conn) {
		lines, err := readRequestHead(bufio.NewReader(c))
		if err != nil || len(lines) == 0 {
			return
		}
		path := strings.Fields(lines[0])[1]
		mu.Lock()
		answer := answers[path]
		mu.Unlock()
		c.Write(answer)
	})
	tr := &Transport{Timeout: 5 * time.Second}
	f.Cleanup(func() { tr.Close() })
	var next atomic.Int64
	f.Fuzz(func(t *testing.T, data []byte) {
		path := "/" + strconv.FormatInt(next.Add(1), 10)
		mu.Lock()
		answers[path] = data
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(answers, path)
			mu.Unlock()
		}()
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Close = true // one connection per input: the server closes after answering
		got, err := tr.RoundTrip(req)
		if err != nil {
			return
		}
		gotBody, err := io.ReadAll(got.Body)
		got.Body.Close()
		if err != nil {
			return
		}
		br := bufio.NewReader(bytes.NewReader(data))
		want, err := http.ReadResponse(br, req)
		for err == nil && want.StatusCode < 200 { // net/http's Transport skips 1xx, as the driver does
			want, err = http.ReadResponse(br, req)
		}
		if err != nil {
			t.Fatalf("the driver reads %q as %d %q; net/http refuses it: %v", data, got.StatusCode, gotBody, err)
		}
		wantBody, err := io.ReadAll(want.Body)
		if err != nil {
			t.Fatalf("the driver reads %q as %d %q; net/http refuses the body: %v", data, got.StatusCode, gotBody, err)
		}
		if got.StatusCode != want.StatusCode || !bytes.Equal(gotBody, wantBody) {
			t.Fatalf("%q: the driver reads %d %q, net/http %d %q", data, got.StatusCode, gotBody, want.StatusCode, wantBody)
		}
		for name, vals := range want.Header {
			if g := got.Header[name]; strings.Join(g, "\n") != strings.Join(vals, "\n") {
				t.Fatalf("%q: the driver reads header %s %q, net/http %q", data, name, g, vals)
			}
		}
	})
}
