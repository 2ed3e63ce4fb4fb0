package balancer

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"

	"github.com/bench-dev/bench/internal/httpwire"
	"github.com/bench-dev/bench/internal/rawio"
)

// This file holds the fast engine's HTTP/1.1 framing: parsing just enough of
// a message head to know where the message ends and whether the connection
// stays open, and copying bodies verbatim. Anything the parser is unsure
// about is reported as unsupported, and the connection is handed to net/http
// (the std engine) instead of guessed at: a proxy and a backend that disagree
// on where a request ends is how request smuggling happens.

// parseResult says what a head parser made of the bytes it was given.
type parseResult int

const (
	parseNeedMore    parseResult = iota // no complete head yet
	parseOK                             // a complete head the fast engine handles
	parseUnsupported                    // valid or not, leave it to net/http
)

// Framing errors. They end the connection they happened on.
var (
	errHeadTooLarge   = errors.New("response head larger than 10 MiB")
	errBadResponse    = httpwire.ErrBadResponse
	errBadChunk       = httpwire.ErrBadChunk
	errUnexpected101  = errors.New("unexpected 101 Switching Protocols")
	errBackendClosed  = errors.New("backend closed the connection before responding")
	crlf              = []byte("\r\n")
	http11            = []byte("HTTP/1.1")
	chunkedToken      = []byte("chunked")
	closeToken        = []byte("close")
	keepAliveToken    = []byte("keep-alive")
	headerHost        = []byte("host")
	headerExpect      = []byte("expect")
	headerUpgrade     = []byte("upgrade")
	headerConnection  = []byte("connection")
	headerContentLen  = []byte("content-length")
	headerTransferEnc = []byte("transfer-encoding")
)

// reqHead is what the fast engine needs from a request head.
type reqHead struct {
	n             int    // bytes in the head, blank line included
	method        []byte // e.g. "GET"
	target        []byte // origin-form: "/path?query"
	headers       []byte // the header lines, each ending in CRLF
	contentLength int64  // -1: no Content-Length
	chunked       bool   // Transfer-Encoding: chunked
	close         bool   // Connection: close
	head          bool   // method HEAD: the response has no body
}

// hasBody reports whether a body follows the head.
func (h *reqHead) hasBody() bool { return h.chunked || h.contentLength > 0 }

// validTarget reports whether net/http takes the origin-form target t as url.ParseRequestURI
// does: no control characters, and every '%' in the path (before the first '?') starts an escape
// of two hex digits. A target that is not valid goes to net/http, which answers 400.
func validTarget(t []byte) bool {
	inPath := true
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c < ' ' || c == 0x7f:
			return false
		case c == '?':
			inPath = false
		case c == '%' && inPath:
			if i+2 >= len(t) || !isHex(t[i+1]) || !isHex(t[i+2]) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// parseRequest parses the request head at the start of buf into h. Only
// origin-form HTTP/1.1 requests with strict CRLF line endings and
// unambiguous framing are parseOK; HTTP/1.0, Upgrade, Expect, Connection
// options naming other headers, conflicting or invalid Content-Length,
// Transfer-Encoding other than exactly "chunked" (or together with
// Content-Length), folded or malformed header lines and a missing Host are
// parseUnsupported.
func parseRequest(buf []byte, h *reqHead) parseResult {
	*h = reqHead{contentLength: -1}
	line, next, res := nextLine(buf, 0)
	if res != parseOK {
		return res
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || !isToken(line[:sp]) {
		return parseUnsupported
	}
	h.method = line[:sp]
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp <= 0 || rest[0] != '/' {
		return parseUnsupported // absolute-form, authority-form, "*", or no version
	}
	h.target = rest[:sp]
	if !validTarget(h.target) || !bytes.Equal(rest[sp+1:], http11) {
		return parseUnsupported
	}
	h.head = string(h.method) == "HEAD"

	start := next
	host := false
	for {
		line, n, res := nextLine(buf, next)
		if res != parseOK {
			return res
		}
		next = n
		if len(line) == 0 {
			break
		}
		name, value, ok := splitHeader(line)
		if !ok || !httpwire.ValidHeaderValue(value) {
			return parseUnsupported // net/http refuses NUL and other controls
		}
		switch len(name) {
		case len(headerHost):
			if bytes.EqualFold(name, headerHost) {
				if host {
					return parseUnsupported // net/http refuses a second Host
				}
				host = true
			}
		case len(headerExpect): // also 6: other headers of that length pass
			if bytes.EqualFold(name, headerExpect) {
				return parseUnsupported
			}
		case len(headerUpgrade):
			if bytes.EqualFold(name, headerUpgrade) {
				return parseUnsupported
			}
		case len(headerConnection):
			if bytes.EqualFold(name, headerConnection) {
				close, ok := connectionOptions(value)
				if !ok {
					return parseUnsupported
				}
				h.close = h.close || close
			}
		case len(headerContentLen):
			if bytes.EqualFold(name, headerContentLen) {
				n, ok := httpwire.ParseContentLength(value)
				if !ok || (h.contentLength >= 0 && h.contentLength != n) {
					return parseUnsupported
				}
				h.contentLength = n
			}
		case len(headerTransferEnc):
			if bytes.EqualFold(name, headerTransferEnc) {
				if h.chunked || !bytes.EqualFold(value, chunkedToken) {
					return parseUnsupported
				}
				h.chunked = true
			}
		}
	}
	if !host || (h.chunked && h.contentLength >= 0) {
		return parseUnsupported
	}
	h.headers = buf[start:next]
	h.n = next
	return parseOK
}

// nextLine returns the CRLF-terminated line starting at buf[off] without its
// CRLF, and the offset after it. A bare LF or CR is parseUnsupported.
func nextLine(buf []byte, off int) (line []byte, next int, res parseResult) {
	i := bytes.IndexByte(buf[off:], '\n')
	if i < 0 {
		return nil, 0, parseNeedMore
	}
	if i == 0 || buf[off+i-1] != '\r' {
		return nil, 0, parseUnsupported
	}
	line = buf[off : off+i-1]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, 0, parseUnsupported
	}
	return line, off + i + 1, parseOK
}

// splitHeader splits "Name: value" into its name and its value without
// surrounding whitespace. A name that is not a token (empty, containing
// whitespace, or a folded continuation line) is not ok.
func splitHeader(line []byte) (name, value []byte, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !isToken(line[:colon]) {
		return nil, nil, false
	}
	return line[:colon], httpwire.TrimOWS(line[colon+1:]), true
}

// connectionOptions reads a Connection header value. close reports the
// "close" option; ok is false for any option other than close and
// keep-alive, because those name hop-by-hop headers that a verbatim copy
// would forward.
func connectionOptions(v []byte) (close, ok bool) {
	for len(v) > 0 {
		var opt []byte
		opt, v = httpwire.NextElement(v)
		switch {
		case len(opt) == 0:
		case bytes.EqualFold(opt, closeToken):
			close = true
		case bytes.EqualFold(opt, keepAliveToken):
		default:
			return false, false
		}
	}
	return close, true
}

// isToken is httpwire.IsToken for bytes; hashing.go calls it too.
func isToken(b []byte) bool { return httpwire.IsToken(httpwire.BytesString(b)) }

// respHead is what the fast engine needs from a response head; the
// driver's transport parses the same way.
type respHead = httpwire.ResponseHead

// rawHead serves Request.Header from the header lines of a request head
// still in the connection's read buffer.
type rawHead struct {
	lines []byte // header lines, each ending in CRLF, validated by parseRequest
}

// get returns the first value of the named header, pointing into the read
// buffer (see Request).
func (h *rawHead) get(name string) string {
	b := h.lines
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		line := b[:i-1]
		b = b[i+1:]
		colon := bytes.IndexByte(line, ':')
		if colon == len(name) && httpwire.EqualFold(httpwire.BytesString(line[:colon]), name) {
			return httpwire.BytesString(httpwire.TrimOWS(line[colon+1:]))
		}
	}
	return ""
}

// bytesString is httpwire.BytesString; fast.go and tests call it.
func bytesString(b []byte) string { return httpwire.BytesString(b) }

// methodString returns method as a string, without allocating for the
// common methods: a Selector may keep those.
func methodString(m []byte) string {
	switch string(m) { // compiled without a conversion
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "HEAD":
		return "HEAD"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "PATCH":
		return "PATCH"
	case "OPTIONS":
		return "OPTIONS"
	}
	return httpwire.BytesString(m)
}

// side is one end of a proxied exchange: a connection and its buffers.
type side struct {
	conn net.Conn
	rw   io.ReadWriter // conn's raw reader/writer under br and bw (rawio)
	br   *bufio.Reader
	bw   *bufio.Writer
	// chained is set when br reads through another buffer (upConn.grow),
	// which may hold bytes: the kernel must not copy past them.
	chained bool
}

// flush sends everything written to s: bw's buffer and what rawio holds
// back (rawio.NewDeferred). Needed before writing to conn directly.
func (s *side) flush() error {
	if err := s.bw.Flush(); err != nil {
		return err
	}
	return rawio.Flush(s.rw)
}

// spliceMin is the remaining body size above which copyBody hands the copy
// to the kernel (splice(2) between the two TCP sockets) instead of moving it
// through user-space buffers.
const spliceMin = 64 << 10

// copyBody copies exactly n body bytes from src to dst. It flushes dst
// before every read that may block, so bytes a slow sender trickles out
// reach the receiver as they come rather than when a buffer fills.
func copyBody(dst, src *side, n int64) error {
	for n > 0 {
		if src.br.Buffered() == 0 {
			if err := dst.flush(); err != nil {
				return err
			}
			if n >= spliceMin && !src.chained && src.conn != nil && dst.conn != nil {
				// Both buffers are empty: let the kernel move the rest.
				_, err := io.CopyN(dst.conn, src.conn, n)
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
			if _, err := src.br.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := min(int64(src.br.Buffered()), n)
		b, _ := src.br.Peek(int(k))
		if _, err := dst.bw.Write(b); err != nil {
			return err
		}
		_, _ = src.br.Discard(int(k))
		n -= k
	}
	return nil
}

// copyChunked copies a chunked body, trailers included, from src to dst
// verbatim, parsing the chunk sizes to find where it ends. It is as strict
// as net/http (httpwire.ParseChunkLine, httpwire.TrailerLine): a line it
// refuses is not copied, so the receiver never sees the end of a body the
// balancer and net/http would split differently.
func copyChunked(dst, src *side) error {
	for {
		line, err := readLine(dst, src)
		if err != nil {
			return err
		}
		size, ok := httpwire.ParseChunkLine(line)
		if !ok {
			return errBadChunk
		}
		if _, err := dst.bw.Write(line); err != nil {
			return err
		}
		if size == 0 {
			break
		}
		if err := copyBody(dst, src, size); err != nil {
			return err
		}
		end, err := src.br.Peek(2)
		if err != nil || !bytes.Equal(end, crlf) {
			return errBadChunk
		}
		if _, err := dst.bw.Write(end); err != nil {
			return err
		}
		_, _ = src.br.Discard(2)
	}
	// Trailer section: header lines up to an empty line.
	for {
		line, err := readLine(dst, src)
		if err != nil {
			return err
		}
		end, ok := httpwire.TrailerLine(line)
		if !ok {
			return errBadChunk
		}
		if _, err := dst.bw.Write(line); err != nil {
			return err
		}
		if end {
			return nil
		}
	}
}

// readLine reads one line, LF included, from src, flushing dst first if the
// read may block. The line is valid until the next read from src.
func readLine(dst, src *side) ([]byte, error) {
	if src.br.Buffered() == 0 {
		if err := dst.flush(); err != nil {
			return nil, err
		}
	}
	line, err := src.br.ReadSlice('\n')
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err == bufio.ErrBufferFull {
			err = errBadChunk
		}
		return nil, err
	}
	return line, nil
}

// copyUntilEOF copies a body delimited by the sender closing the connection.
func copyUntilEOF(dst, src *side) error {
	for {
		if src.br.Buffered() == 0 {
			if err := dst.flush(); err != nil {
				return err
			}
			if _, err := src.br.Peek(1); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
		b, _ := src.br.Peek(src.br.Buffered())
		if _, err := dst.bw.Write(b); err != nil {
			return err
		}
		_, _ = src.br.Discard(len(b))
	}
}

// readResponseHead reads a response head from br into h and returns the
// buffered bytes, head first; they are valid until the next read from br.
// Backends are trusted more than clients: bare LF line endings are
// accepted, as net/http's client does.
func readResponseHead(br *bufio.Reader, head bool, h *respHead) ([]byte, error) {
	return httpwire.PeekHead(br, func(buf []byte) (bool, error) {
		return httpwire.ParseResponseHead(buf, head, h)
	}, errHeadTooLarge, errBackendClosed)
}
