package balancer

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// rawClient is a keep-alive HTTP/1.1 client that sends one fixed request
// and reads responses with the fast engine's parser: it allocates nothing,
// so a benchmark's allocs/op are the server side's.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
	req  []byte
	rh   respHead
	out  side // only br is used, as the source of copyBody
	sink side // discards bodies
}

func dialRaw(addr string) (*rawClient, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 16<<10)
	return &rawClient{
		conn: conn,
		br:   br,
		req:  []byte("GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n"),
		out:  side{br: br},
		sink: side{bw: bufio.NewWriterSize(discard{}, 4<<10)},
	}, nil
}

// do sends the request and reads the whole response; it returns the
// status code.
func (c *rawClient) do() (int, error) {
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, err
	}
	buf, err := readResponseHead(c.br, false, &c.rh)
	if err != nil {
		return 0, err
	}
	_ = buf
	_, _ = c.br.Discard(c.rh.N)
	switch {
	case c.rh.Chunked:
		err = copyChunked(&c.sink, &c.out)
	case c.rh.ContentLength > 0:
		err = copyBody(&c.sink, &c.out, c.rh.ContentLength)
	}
	return c.rh.Status, err
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkProxy measures one keep-alive request at a time from a raw
// client to an httptest backend answering "ok": directly, and through each
// engine. The engines' own cost is their figures minus direct's.
func BenchmarkProxy(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	backendAddr := srv.Listener.Addr().String()

	for _, name := range []string{"direct", string(EngineStd), string(EngineFast)} {
		b.Run(name, func(b *testing.B) {
			addr := backendAddr
			if name != "direct" {
				bal := New([]string{backendAddr}, nil, WithEngine(Engine(name)))
				ctx, cancel := context.WithCancel(context.Background())
				defer func() {
					cancel()
					bal.Wait()
				}()
				var err error
				if addr, err = bal.Serve(ctx, "127.0.0.1:0"); err != nil {
					b.Fatal(err)
				}
			}
			c, err := dialRaw(addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.conn.Close()
			b.ReportAllocs()
			for b.Loop() {
				if code, err := c.do(); err != nil || code != 200 {
					b.Fatalf("status %d, error %v", code, err)
				}
			}
		})
	}
}
