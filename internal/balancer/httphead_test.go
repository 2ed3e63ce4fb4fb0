package balancer

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	t.Parallel()
	const host = "Host: x\r\n"
	for _, tc := range []struct {
		name, head string
		want       parseResult
		cl         int64
		chunked    bool
		close      bool
	}{
		// happy
		{name: "GET", head: "GET /a?b HTTP/1.1\r\n" + host + "\r\n", want: parseOK, cl: -1},
		{name: "POST", head: "POST / HTTP/1.1\r\n" + host + "Content-Length:  12 \r\n\r\n", want: parseOK, cl: 12},
		{name: "same length twice", head: "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\ncontent-length: 3\r\n\r\n", want: parseOK, cl: 3},
		{name: "chunked", head: "POST / HTTP/1.1\r\n" + host + "transfer-encoding: Chunked\r\n\r\n", want: parseOK, cl: -1, chunked: true},
		{name: "close", head: "GET / HTTP/1.1\r\n" + host + "Connection: keep-alive, Close\r\n\r\n", want: parseOK, cl: -1, close: true},
		{name: "other headers", head: "GET / HTTP/1.1\r\n" + host + "Cookie: a=b\r\nX-Empty:\r\nTE: trailers\r\n\r\n", want: parseOK, cl: -1},
		// not yet complete
		{name: "empty", head: "", want: parseNeedMore},
		{name: "request line only", head: "GET / HTTP/1.1\r\n", want: parseNeedMore},
		{name: "half a header", head: "GET / HTTP/1.1\r\nHo", want: parseNeedMore},
		// for net/http
		{name: "HTTP/1.0", head: "GET / HTTP/1.0\r\n" + host + "\r\n", want: parseUnsupported},
		{name: "HTTP/2 preface", head: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", want: parseUnsupported},
		{name: "absolute-form", head: "GET http://x/ HTTP/1.1\r\n" + host + "\r\n", want: parseUnsupported},
		{name: "asterisk", head: "OPTIONS * HTTP/1.1\r\n" + host + "\r\n", want: parseUnsupported},
		{name: "no version", head: "GET /\r\n" + host + "\r\n", want: parseUnsupported},
		{name: "bad escape", head: "GET /% HTTP/1.1\r\n" + host + "\r\n", want: parseUnsupported},
		{name: "short escape", head: "GET /a%4 HTTP/1.1\r\n" + host + "\r\n", want: parseUnsupported},
		{name: "non-hex escape", head: "GET /%zz?q HTTP/1.1\r\n" + host + "\r\n", want: parseUnsupported},
		{name: "control in target", head: "GET /a\tb HTTP/1.1\r\n" + host + "\r\n", want: parseUnsupported},
		{name: "escapes", head: "GET /%41%e2?q=%zz HTTP/1.1\r\n" + host + "\r\n", want: parseOK, cl: -1},
		{name: "no Host", head: "GET / HTTP/1.1\r\n\r\n", want: parseUnsupported},
		{name: "two Hosts", head: "GET / HTTP/1.1\r\n" + host + host + "\r\n", want: parseUnsupported},
		{name: "Upgrade", head: "GET / HTTP/1.1\r\n" + host + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n", want: parseUnsupported},
		{name: "Upgrade alone", head: "GET / HTTP/1.1\r\n" + host + "Upgrade: h2c\r\n\r\n", want: parseUnsupported},
		{name: "Expect", head: "POST / HTTP/1.1\r\n" + host + "Content-Length: 1\r\nExpect: 100-continue\r\n\r\n", want: parseUnsupported},
		{name: "Connection naming a header", head: "GET / HTTP/1.1\r\n" + host + "Connection: X-Secret\r\nX-Secret: 1\r\n\r\n", want: parseUnsupported},
		// smuggling-shaped framing
		{name: "CL and TE", head: "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", want: parseUnsupported},
		{name: "two lengths", head: "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 4\r\n\r\n", want: parseUnsupported},
		{name: "signed length", head: "POST / HTTP/1.1\r\n" + host + "Content-Length: +3\r\n\r\n", want: parseUnsupported},
		{name: "empty length", head: "POST / HTTP/1.1\r\n" + host + "Content-Length: \r\n\r\n", want: parseUnsupported},
		{name: "huge length", head: "POST / HTTP/1.1\r\n" + host + "Content-Length: 99999999999999999999\r\n\r\n", want: parseUnsupported},
		{name: "TE list", head: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n", want: parseUnsupported},
		{name: "TE twice", head: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", want: parseUnsupported},
		{name: "space before colon", head: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding : chunked\r\n\r\n", want: parseUnsupported},
		{name: "folded line", head: "GET / HTTP/1.1\r\n" + host + "X-A: 1\r\n 2\r\n\r\n", want: parseUnsupported},
		{name: "bare LF", head: "GET / HTTP/1.1\n" + host + "\r\n", want: parseUnsupported},
		{name: "bare CR", head: "GET / HTTP/1.1\r\n" + host + "X-A: 1\r2\r\n\r\n", want: parseUnsupported},
		{name: "leading blank line", head: "\r\nGET / HTTP/1.1\r\n" + host + "\r\n", want: parseUnsupported},
	} {
		var h reqHead
		buf := []byte(tc.head + "NEXT")
		if tc.want == parseNeedMore {
			buf = []byte(tc.head)
		}
		got := parseRequest(buf, &h)
		if got != tc.want {
			t.Errorf("%s: parseRequest = %v, want %v", tc.name, got, tc.want)
			continue
		}
		if got != parseOK {
			continue
		}
		if h.n != len(tc.head) || h.contentLength != tc.cl || h.chunked != tc.chunked || h.close != tc.close {
			t.Errorf("%s: got {n %d, cl %d, chunked %v, close %v}, want {%d, %d, %v, %v}",
				tc.name, h.n, h.contentLength, h.chunked, h.close, len(tc.head), tc.cl, tc.chunked, tc.close)
		}
	}
}

// pipe returns a side reading from src and one writing into dst.
func pipe(src string, dst *bytes.Buffer) (from, to *side) {
	return &side{br: bufio.NewReaderSize(strings.NewReader(src), 16)}, &side{bw: bufio.NewWriterSize(dst, 16)}
}

func TestCopyChunked(t *testing.T) {
	t.Parallel()
	body := "4;x=y\r\nWiki\r\n00000005\r\npedia\r\n0\r\nTrailer: t\r\n\r\n"
	var out bytes.Buffer
	from, to := pipe(body+"NEXT", &out)
	if err := copyChunked(to, from); err != nil {
		t.Fatal(err)
	}
	to.bw.Flush()
	if got := out.String(); got != body {
		t.Errorf("copied %q, want %q verbatim", got, body)
	}
	if rest, _ := io.ReadAll(from.br); string(rest) != "NEXT" {
		t.Errorf("left %q unread, want NEXT", rest)
	}

	for name, bad := range map[string]string{
		"no CRLF after data":        "3\r\nabcX\r\n0\r\n\r\n",
		"bad size":                  "g\r\n",
		"truncated":                 "5\r\nab",
		"no last chunk":             "1\r\na\r\n",
		"bare LF size line":         "1\na\r\n0\r\n\r\n",
		"junk after size":           "1 x\r\na\r\n0\r\n\r\n",
		"bare CR last chunk":        "0\r\r\n\r\n",
		"bare LF after data":        "1\r\na\n0\r\n\r\n",
		"trailer ending in bare LF": "0\r\nA: b\r\n\n",
		"trailer line with bare LF": "0\r\nA: b\n\r\n",
		"malformed trailer":         "0\r\nno colon\r\n\r\n",
		"NUL in trailer":            "0\r\nA: \x00\r\n\r\n",
	} {
		var out bytes.Buffer
		from, to := pipe(bad, &out)
		if err := copyChunked(to, from); err == nil {
			t.Errorf("%s: no error, want one", name)
		}
	}
}

func TestCopyBody(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	from, to := pipe("0123456789abcdefghijNEXT", &out)
	if err := copyBody(to, from, 20); err != nil {
		t.Fatal(err)
	}
	to.bw.Flush()
	if got := out.String(); got != "0123456789abcdefghij" {
		t.Errorf("copied %q", got)
	}
	from, to = pipe("short", &out)
	if err := copyBody(to, from, 10); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short body: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestRawHeadGet(t *testing.T) {
	t.Parallel()
	h := rawHead{lines: []byte("Host: x\r\nX-Forwarded-For:\t1.2.3.4 \r\nx-forwarded-for: 5.6.7.8\r\n\r\n")}
	for name, want := range map[string]string{"host": "x", "X-FORWARDED-FOR": "1.2.3.4", "X-Forwarded": "", "Hos": ""} {
		if got := h.get(name); got != want {
			t.Errorf("get(%q) = %q, want %q", name, got, want)
		}
	}
}
