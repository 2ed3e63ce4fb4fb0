package load

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The driver's Transport and net/http's, each a client of the same misbehaving backends: for
// every behaviour both see the same status and body, or both fail, for the request and for the
// next one.
func TestParity_DriverAndNetHTTP(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("0123456789", 1<<20)
	for _, tc := range []struct {
		name, method, reply string
		closeAfter          bool
	}{
		{name: "content-length", reply: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "chunked with trailers", reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3;x\r\nllo\r\n0\r\nT: v\r\n\r\n"},
		{name: "close-delimited", reply: "HTTP/1.1 200 OK\r\n\r\nuntil close", closeAfter: true},
		{name: "HTTP/1.0", reply: "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold", closeAfter: true},
		{name: "204", reply: "HTTP/1.1 204 No Content\r\n\r\n"},
		{name: "304", reply: "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"},
		{name: "HEAD", method: "HEAD", reply: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"},
		{name: "103 then 200", reply: "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{name: "Connection: close", reply: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", closeAfter: true},
		{name: "close mid-body", reply: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", closeAfter: true},
		{name: "10 MB body", reply: "HTTP/1.1 200 OK\r\nContent-Length: " + fmt.Sprint(len(big)) + "\r\n\r\n" + big},
		{name: "20 KB head", reply: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 20<<10) + "\r\nContent-Length: 2\r\n\r\nok"},
		{name: "obs-fold", reply: "HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 2\r\n\r\nok"},
		{name: "length and chunked", reply: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"},
		{name: "body longer than its length", reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"},
		{name: "not HTTP", reply: "SSH-2.0-OpenSSH\r\n\r\n", closeAfter: true},
		{name: "NUL in a header", reply: "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok", closeAfter: true},
		{name: "bare LF chunk line", reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n", closeAfter: true},
		{name: "gzip coding", reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz", closeAfter: true},
		{name: "closes without answering", closeAfter: true},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			url := rawServer(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				for {
					lines, err := readRequestHead(br)
					if err != nil {
						return
					}
					if strings.Contains(lines[0], "/next") {
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext")
						continue
					}
					if _, err := io.WriteString(c, tc.reply); err != nil || tc.closeAfter {
						return
					}
				}
			})
			method := tc.method
			if method == "" {
				method = "GET"
			}
			outcomes := func(rt http.RoundTripper) [2]string {
				var out [2]string
				for i, target := range []string{method + " " + url + "case", "GET " + url + "next"} {
					m, u, _ := strings.Cut(target, " ")
					req, _ := http.NewRequest(m, u, nil)
					resp, err := rt.RoundTrip(req)
					if err != nil {
						out[i] = "error"
						continue
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					out[i] = fmt.Sprintf("%d %q", resp.StatusCode, body)
					if err != nil {
						out[i] = "error"
					}
				}
				return out
			}
			std := &http.Transport{DisableCompression: true}
			defer std.CloseIdleConnections()
			driver := &Transport{Timeout: 10 * time.Second}
			defer driver.Close()
			want, got := outcomes(std), outcomes(driver)
			for i := range got {
				if got[i] != want[i] {
					g, w := got[i], want[i]
					if len(g) > 60 {
						g, w = g[:60]+"…", w[:min(60, len(w))]+"…"
					}
					t.Errorf("request %d: driver %s; net/http %s", i+1, g, w)
				}
			}
		})
	}
}
