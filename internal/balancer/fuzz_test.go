package balancer

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The fuzz targets here compare the fast engine's framing with net/http's: wherever the engine
// takes a message, net/http must take the same one, ending at the same byte. A proxy may refuse
// more than net/http (the engine hands such requests to net/http, or answers 400 or 502), never
// less: where the two disagree on where a message ends, a second one hides in the first.

// frameSeeds are messages both targets start from; testdata/fuzz holds more.
var requestSeeds = []string{
	"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\nT: 1\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: b\r\n\n",
}

// fastRequestLength returns how many bytes of data the fast engine takes as one request whose
// head h parseRequest parsed, or false if it refuses the body or data ends first.
func fastRequestLength(data []byte, h *reqHead) (int, bool) {
	rest := data[h.n:]
	switch {
	case h.chunked:
		src := bytes.NewReader(rest)
		from := &side{br: bufio.NewReaderSize(src, 16)}
		to := &side{bw: bufio.NewWriter(io.Discard)}
		if copyChunked(to, from) != nil {
			return 0, false
		}
		return h.n + len(rest) - src.Len() - from.br.Buffered(), true
	case h.contentLength > int64(len(rest)):
		return 0, false
	case h.contentLength > 0:
		return h.n + int(h.contentLength), true
	}
	return h.n, true
}

func FuzzRequestFraming(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h reqHead
		if parseRequest(data, &h) != parseOK {
			return // net/http's to answer
		}
		n, ok := fastRequestLength(data, &h)
		if !ok {
			return
		}
		src := bytes.NewReader(data)
		br := bufio.NewReader(src)
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("the fast engine takes a request of %d bytes from %q; net/http refuses it: %v", n, data, err)
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			t.Fatalf("the fast engine takes a request of %d bytes from %q; net/http refuses its body: %v", n, data, err)
		}
		if goN := len(data) - src.Len() - br.Buffered(); goN != n {
			t.Fatalf("%q: the fast engine's request ends after %d bytes, net/http's after %d", data, n, goN)
		}
	})
}

var responseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
	"HTTP/1.0 200 OK\r\n\r\nuntil close",
	"HTTP/1.1 204 No Content\r\nX-A: b\r\n c\r\n\r\n",
	"HTTP/1.1 200 OK\nContent-Length: 1\n\nx",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 x\r\nhi\r\n0\r\n\r\n",
}

// fastForward returns what the fast engine sends a client for the response to a GET in data: the
// head as writeResponseHead writes it and the body bytes as copied. ok is false if it refuses the
// response, data ends first, or the response is interim (1xx).
func fastForward(data []byte) (out []byte, ok bool) {
	c := &clientConn{}
	var buf bytes.Buffer
	c.bw = bufio.NewWriter(&buf)
	from := &side{br: bufio.NewReaderSize(bytes.NewReader(data), 64)}
	for from.br.Size() < maxResponseHead {
		resp, err := readResponseHead(from.br, false, &c.rh)
		if err == errHeadTooLarge {
			from.br = bufio.NewReaderSize(from.br, 8*from.br.Size())
			continue
		}
		if err != nil || c.rh.Status < 200 {
			return nil, false
		}
		_ = c.writeResponseHead(resp[:c.rh.N], false)
		_, _ = from.br.Discard(c.rh.N)
		break
	}
	c.side.br = from.br
	switch {
	case c.rh.Chunked:
		err := copyChunked(&c.side, from)
		ok = err == nil
	case c.rh.UntilClose:
		ok = copyUntilEOF(&c.side, from) == nil
	case c.rh.ContentLength > 0:
		ok = copyBody(&c.side, from, c.rh.ContentLength) == nil
	default:
		ok = true
	}
	c.bw.Flush()
	return buf.Bytes(), ok
}

// readAll reads a response to a GET from data with net/http and returns it with its body.
func readAll(data []byte) (*http.Response, []byte, error) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), &http.Request{Method: "GET"})
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func FuzzResponseFraming(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, ok := fastForward(data)
		if !ok {
			return
		}
		direct, directBody, err := readAll(data)
		if err != nil {
			t.Fatalf("the fast engine forwards %q; net/http refuses it: %v", data, err)
		}
		via, viaBody, err := readAll(out)
		if err != nil {
			t.Fatalf("the fast engine forwards %q as %q, which net/http refuses: %v", data, out, err)
		}
		if via.StatusCode != direct.StatusCode || !bytes.Equal(viaBody, directBody) || via.ContentLength != direct.ContentLength && via.ContentLength >= 0 && direct.ContentLength >= 0 {
			t.Fatalf("%q forwarded as %q: a client reads %d %q, net/http reads %d %q", data, out, via.StatusCode, viaBody, direct.StatusCode, directBody)
		}
		for name, vals := range direct.Header {
			if got := via.Header[name]; strings.Join(got, "\n") != strings.Join(vals, "\n") {
				t.Fatalf("%q forwarded as %q: header %s %q, net/http reads %q", data, out, name, got, vals)
			}
		}
	})
}
