package httpwire

import (
	"strings"
	"testing"
)

func TestParseResponseHead(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, head string
		head_      bool // the request was HEAD
		status     int
		cl         int64
		chunked    bool
		untilClose bool
		close      bool
		drop       bool
		folded     bool
		wantErr    bool
	}{
		{name: "length", head: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", status: 200, cl: 2},
		{name: "no reason", head: "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", status: 404, cl: 0},
		{name: "chunked wins over length", head: "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: Chunked\r\n\r\n", status: 200, cl: -1, chunked: true, drop: true},
		{name: "coding ignored from HTTP/1.0", head: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", status: 200, cl: 1, close: true},
		{name: "other coding", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", wantErr: true},
		{name: "coding list", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", wantErr: true},
		{name: "two codings", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", wantErr: true},
		{name: "empty coding", head: "HTTP/1.1 200\nTransfer-Encoding:\n\n", wantErr: true},
		{name: "no framing", head: "HTTP/1.1 200 OK\r\n\r\n", status: 200, cl: -1, untilClose: true, close: true},
		{name: "204", head: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", status: 204, cl: 0},
		{name: "304", head: "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", status: 304, cl: 0},
		{name: "HEAD", head: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", head_: true, status: 200, cl: 5},
		{name: "HEAD chunked", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", head_: true, status: 200, cl: -1},
		{name: "103", head: "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", status: 103, cl: 0},
		{name: "close", head: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", status: 200, cl: 0, close: true},
		{name: "HTTP/1.0", head: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200, cl: 0, close: true},
		{name: "HTTP/1.0 keep-alive", head: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", status: 200, cl: 0},
		{name: "LF only", head: "HTTP/1.1 200 OK\nContent-Length: 1\n\n", status: 200, cl: 1},
		{name: "obs-fold", head: "HTTP/1.1 200 OK\r\nX-A: b\r\n  c\r\nContent-Length: 1\r\n\r\n", status: 200, cl: 1, folded: true},
		{name: "bad version", head: "HTTP/2.0 200 OK\r\n\r\n", wantErr: true},
		{name: "bad status", head: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: true},
		{name: "two lengths", head: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", wantErr: true},
		{name: "garbage header", head: "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", wantErr: true},
		{name: "NUL in a value", head: "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n", wantErr: true},
		{name: "CR in a value", head: "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", wantErr: true},
		{name: "fold first", head: "HTTP/1.1 200 OK\r\n c\r\n\r\n", wantErr: true},
		{name: "folded length", head: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 2\r\n\r\n", wantErr: true},
	} {
		var h ResponseHead
		complete, err := ParseResponseHead([]byte(tc.head+"BODY"), tc.head_, &h)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%s: no error, want one", tc.name)
			}
			continue
		}
		if err != nil || !complete {
			t.Errorf("%s: ParseResponseHead = %v, %v; want complete", tc.name, complete, err)
			continue
		}
		if h.N != len(tc.head) || h.Status != tc.status || h.ContentLength != tc.cl || h.Chunked != tc.chunked ||
			h.UntilClose != tc.untilClose || h.Close != tc.close || h.DropLength != tc.drop || h.Folded != tc.folded {
			t.Errorf("%s: got %+v, want {n %d, status %d, cl %d, chunked %v, untilClose %v, close %v, drop %v, folded %v}",
				tc.name, h, len(tc.head), tc.status, tc.cl, tc.chunked, tc.untilClose, tc.close, tc.drop, tc.folded)
		}
	}
	// An incomplete head asks for more.
	var h ResponseHead
	if complete, err := ParseResponseHead([]byte("HTTP/1.1 200 OK\r\nContent-Le"), false, &h); complete || err != nil {
		t.Errorf("incomplete head: %v, %v; want incomplete", complete, err)
	}
}

func TestWriteHead(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, extra, want string }{
		{"fold", "HTTP/1.1 200 OK\r\nX-A: b \r\n \t c\r\nX-B: d\r\n\r\n", "", "HTTP/1.1 200 OK\r\nX-A: b c\r\nX-B: d\r\n\r\n"},
		{"drop length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"extra, bare LF", "HTTP/1.1 413 Too Large\nContent-Length: 0\n\n", "Connection: close\r\n", "HTTP/1.1 413 Too Large\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
		{"no headers", "HTTP/1.1 204 No Content\r\n\r\n", "Connection: close\r\n", "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"},
	} {
		var h ResponseHead
		if complete, err := ParseResponseHead([]byte(tc.in), false, &h); !complete || err != nil {
			t.Fatalf("%s: %v, %v", tc.name, complete, err)
		}
		var out strings.Builder
		WriteHead([]byte(tc.in), &h, tc.extra, func(p []byte) { out.Write(p) })
		if out.String() != tc.want {
			t.Errorf("%s: wrote %q, want %q", tc.name, out.String(), tc.want)
		}
	}
}
