package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/bench-dev/bench/internal/httpwire"
)

// This file is the Transport's HTTP/1.1 framing: writing a request,
// parsing a response head, and reading a response body.

const (
	// writeBufSize holds a request head plus a small body, written in one
	// system call.
	writeBufSize = 8 << 10
	// readBufSize holds a typical response head; a larger one grows the
	// reader, up to httpwire.MaxResponseHead, for that response.
	readBufSize = 16 << 10
	// maxDrain bounds the unread body Close reads to keep the connection;
	// beyond it the connection is closed instead.
	maxDrain = 256 << 10
)

var (
	writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, writeBufSize); return &b }}
	readers   = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}
)

func getReader(r io.Reader) *bufio.Reader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func putReader(br *bufio.Reader) {
	br.Reset(nil)
	readers.Put(br)
}

// Framing errors; they close the connection they happened on.
var (
	errServerClosed  = errors.New("load: transport: server closed the connection before responding")
	errHeadTooLarge  = errors.New("load: transport: response head larger than 10 MiB")
	errBadResponse   = fmt.Errorf("load: transport: %w", httpwire.ErrBadResponse)
	errBadChunk      = errors.New("load: transport: malformed chunked body")
	errSwitching     = errors.New("load: transport: unexpected 101 Switching Protocols")
	errBodyClosed    = errors.New("http: read on closed response body")
	errShortBody     = errors.New("load: transport: request body shorter than its ContentLength")
	errClosedEarly   = errors.New("load: transport: response body closed before its end")
	errInvalidHeader = errors.New("load: transport: invalid request header")
)

// roundTrip sends req with body on c and reads the response head. On
// error c is closed, and stale reports whether no response byte had
// arrived (see isStale).
func (c *tconn) roundTrip(ctx context.Context, req *http.Request, body io.ReadCloser, deadline time.Time) (_ *http.Response, stale bool, _ error) {
	stop := c.arm(ctx, deadline)
	abort := func(err error) (*http.Response, bool, error) {
		if stop != nil {
			stop()
		}
		c.close()
		return nil, isStale(err), err
	}
	closeAfter := req.Close
	if err := c.writeRequest(req, body, &closeAfter); err != nil {
		return abort(err)
	}

	br := getReader(c.rw)
	var pooled *bufio.Reader // the pool's reader under br once br grew
	release := func() {
		if pooled != nil {
			br = pooled
		}
		putReader(br)
	}
	head := req.Method == http.MethodHead
	var h respHead
	var buf []byte
	for {
		var err error
		if buf, err = readRespHead(br, head, &h); err != nil {
			if err == errHeadTooLarge && br.Size() < httpwire.MaxResponseHead {
				// A larger reader reading through this one, which keeps
				// what it holds; the connection closes after this response.
				if pooled == nil {
					pooled = br
				}
				br = bufio.NewReaderSize(br, min(8*br.Size(), httpwire.MaxResponseHead))
				continue
			}
			received := br.Buffered() > 0 || (pooled != nil && pooled.Buffered() > 0)
			release()
			_, stale, err := abort(err)
			return nil, stale && !received, err
		}
		if h.Status == http.StatusSwitchingProtocols {
			release()
			return abort(errSwitching)
		}
		if h.Status >= 200 {
			break
		}
		_, _ = br.Discard(h.N) // 1xx: the final response follows
	}

	r := &response{}
	r.Status = statusText(h.Status, buf[h.Reason:h.ReasonEnd])
	r.StatusCode = h.Status
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	if h.HTTP10 {
		r.Proto, r.ProtoMinor = "HTTP/1.0", 0
	}
	if h.Folded {
		r.Header = unfoldedHeader(buf, &h)
	} else {
		r.Header = buildHeader(buf[h.HdrStart:h.HdrEnd], h.Lines)
	}
	r.ContentLength = h.ContentLength
	if h.Chunked {
		r.TransferEncoding = []string{"chunked"}
	}
	r.Close = h.Close || closeAfter
	r.Request = req
	_, _ = br.Discard(h.N)

	b := &r.body
	*b = respBody{ctx: ctx, c: c, br: br, pooled: pooled, stop: stop, n: h.ContentLength, close: r.Close}
	switch {
	case h.Chunked:
		b.mode = bodyChunked
		b.n = 0
	case h.UntilClose:
		b.mode = bodyUntilEOF
	case h.ContentLength == 0 || head:
		b.done()
		r.Body = http.NoBody
		return &r.Response, false, nil
	}
	r.Body = b
	return &r.Response, false, nil
}

// writeRequest writes req's head and body to c in as few system calls as
// the body allows: one for a head and a body that fit writeBufSize. It
// closes body, and sets *closeAfter if req asks the server to close.
func (c *tconn) writeRequest(req *http.Request, body io.ReadCloser, closeAfter *bool) error {
	hasBody := body != nil && body != http.NoBody
	if hasBody {
		defer body.Close()
	}
	// A head too large for the pooled buffer grows a copy; the pool keeps
	// the original.
	bp := writeBufs.Get().(*[]byte)
	defer writeBufs.Put(bp)
	b := (*bp)[:0]

	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !httpwire.IsToken(method) {
		return fmt.Errorf("%w: method %q", errInvalidHeader, method)
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !validHeaderValue(host) || bytesIndexAny(host, " /?#") {
		return fmt.Errorf("%w: host %q", errInvalidHeader, host)
	}
	b = append(b, method...)
	b = append(b, ' ')
	b = appendRequestURI(b, req.URL)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	for k, vs := range req.Header {
		if skipHeader(k) {
			continue
		}
		if !httpwire.IsToken(k) {
			return fmt.Errorf("%w: name %q", errInvalidHeader, k)
		}
		for _, v := range vs {
			if !validHeaderValue(v) {
				return fmt.Errorf("%w: %s value %q", errInvalidHeader, k, v)
			}
			if len(k) == len("Connection") && httpwire.EqualFold(k, "Connection") && hasCloseToken(v) {
				*closeAfter = true
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if req.Close {
		b = append(b, "Connection: close\r\n"...)
	}
	cl := req.ContentLength
	chunked := hasBody && (cl <= 0 || (len(req.TransferEncoding) > 0 && req.TransferEncoding[0] == "chunked"))
	switch {
	case chunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case hasBody:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, cl, 10)
		b = append(b, "\r\n"...)
	case method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
		b = append(b, "Content-Length: 0\r\n"...)
	}
	b = append(b, "\r\n"...)

	switch {
	case !hasBody:
	case chunked:
		return c.writeChunked(b, body)
	case cl <= int64(cap(b)-len(b)):
		// Head and body in one write.
		n := len(b)
		b = b[:n+int(cl)]
		if _, err := io.ReadFull(body, b[n:]); err != nil {
			return fmt.Errorf("%w: %w", errShortBody, err)
		}
	default:
		if _, err := c.rw.Write(b); err != nil {
			return err
		}
		for cl > 0 {
			b = b[:min(int64(cap(b)), cl)]
			if _, err := io.ReadFull(body, b); err != nil {
				return fmt.Errorf("%w: %w", errShortBody, err)
			}
			if _, err := c.rw.Write(b); err != nil {
				return err
			}
			cl -= int64(len(b))
		}
		return nil
	}
	_, err := c.rw.Write(b)
	return err
}

// writeChunked writes the head in b followed by body in chunks, using
// b's capacity as the buffer.
func (c *tconn) writeChunked(b []byte, body io.Reader) error {
	const room = 16 // chunk-size line before, CRLF after
	for {
		if cap(b)-len(b) < 2*room+1 {
			if _, err := c.rw.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
		start := len(b) + room
		n, err := body.Read(b[start : cap(b)-room])
		if n > 0 {
			b = strconv.AppendInt(b, int64(n), 16)
			b = append(b, "\r\n"...)
			b = append(b, b[start:start+n]...) // moves the data down behind its size line
			b = append(b, "\r\n"...)
		}
		if err == io.EOF {
			b = append(b, "0\r\n\r\n"...)
			_, err := c.rw.Write(b)
			return err
		}
		if err != nil {
			return fmt.Errorf("load: transport: reading request body: %w", err)
		}
	}
}

// appendRequestURI appends u's origin-form request target, as
// u.RequestURI() returns it, without allocating in the common case.
func appendRequestURI(b []byte, u *url.URL) []byte {
	if u.Opaque != "" {
		return append(b, u.RequestURI()...)
	}
	p := u.EscapedPath() // u.Path itself unless it needs escaping
	if p == "" {
		p = "/"
	}
	b = append(b, p...)
	if u.ForceQuery || u.RawQuery != "" {
		b = append(b, '?')
		b = append(b, u.RawQuery...)
	}
	return b
}

// skipHeader reports whether a request header is one the Transport writes
// itself from the request's fields.
func skipHeader(k string) bool {
	switch len(k) {
	case len("Host"):
		return httpwire.EqualFold(k, "Host")
	case len("Content-Length"):
		return httpwire.EqualFold(k, "Content-Length")
	case len("Transfer-Encoding"):
		return httpwire.EqualFold(k, "Transfer-Encoding")
	}
	return false
}

// hasCloseToken reports whether a Connection header value holds "close".
func hasCloseToken(v string) bool {
	for len(v) > 0 {
		var opt string
		opt, v = httpwire.NextElement(v)
		if httpwire.EqualFold(opt, "close") {
			return true
		}
	}
	return false
}

// respHead is what the Transport needs from a response head; the
// balancer's fast engine parses the same way.
type respHead = httpwire.ResponseHead

// readRespHead reads a response head from br into h and returns the
// buffered bytes, head first; they are valid until the next read from br.
// Like net/http's client it accepts bare LF line endings and obs-fold.
func readRespHead(br *bufio.Reader, head bool, h *respHead) ([]byte, error) {
	buf, err := httpwire.PeekHead(br, func(buf []byte) (bool, error) { return httpwire.ParseResponseHead(buf, head, h) },
		errHeadTooLarge, errServerClosed)
	if err == httpwire.ErrBadResponse {
		err = errBadResponse
	}
	return buf, err
}

// buildHeader makes the http.Header of the header lines in block
// (validated by parseRespHead), with a fixed number of allocations: the
// map, one backing array for the values, and one string holding every name
// and value. Names are canonicalised as textproto does.
func buildHeader(block []byte, lines int) http.Header {
	h := make(http.Header, lines)
	if lines == 0 {
		return h
	}
	cp := make([]byte, len(block))
	copy(cp, block)
	for b := cp; len(b) > 0; {
		i := bytes.IndexByte(b, '\n')
		canonicalize(b[:bytes.IndexByte(b[:i], ':')])
		b = b[i+1:]
	}
	s := unsafe.String(unsafe.SliceData(cp), len(cp)) // cp is not written again
	vals := make([]string, lines)
	k := 0
	for len(s) > 0 {
		i := indexByte(s, '\n')
		line := s[:i]
		s = s[i+1:]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		colon := indexByte(line, ':')
		name, value := line[:colon], httpwire.TrimOWS(line[colon+1:])
		if old, ok := h[name]; ok {
			h[name] = append(old, value) // a repeated name: its own array
			continue
		}
		vals[k] = value
		h[name] = vals[k : k+1 : k+1]
		k++
	}
	return h
}

// unfoldedHeader is buildHeader for a head with obs-fold lines: the lines
// are joined as net/http's client joins them (httpwire.WriteHead), then
// built as usual. Such heads are rare; this allocates more.
func unfoldedHeader(buf []byte, h *respHead) http.Header {
	var flat []byte
	httpwire.WriteHead(buf[:h.N], h, "", func(p []byte) { flat = append(flat, p...) })
	var fh respHead
	if complete, err := httpwire.ParseResponseHead(flat, false, &fh); !complete || err != nil {
		return http.Header{} // cannot happen: WriteHead writes what ParseResponseHead took
	}
	return buildHeader(flat[fh.HdrStart:fh.HdrEnd], fh.Lines)
}

// canonicalize rewrites a header name in place as
// textproto.CanonicalMIMEHeaderKey would: upper case first and after each
// hyphen, lower case elsewhere.
func canonicalize(name []byte) {
	upper := true
	for i, c := range name {
		switch {
		case upper && 'a' <= c && c <= 'z':
			name[i] = c - ('a' - 'A')
		case !upper && 'A' <= c && c <= 'Z':
			name[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
}

// statusTexts holds "200 OK" and the like, so a standard status line costs
// no allocation.
var statusTexts = func() (t [600]string) {
	for code := 100; code < len(t); code++ {
		if s := http.StatusText(code); s != "" {
			t[code] = strconv.Itoa(code) + " " + s
		}
	}
	return t
}()

// statusText returns Response.Status: code and reason phrase.
func statusText(code int, reason []byte) string {
	if code < len(statusTexts) && statusTexts[code] != "" && string(reason) == http.StatusText(code) {
		return statusTexts[code]
	}
	return strconv.Itoa(code) + " " + string(reason)
}

// response is a Response and its Body in one allocation.
type response struct {
	http.Response
	body respBody
}

// How a response body is delimited.
const (
	bodyLength   = iota // Content-Length bytes
	bodyChunked         // chunked transfer coding
	bodyUntilEOF        // until the server closes
)

// respBody reads a response body from its connection and, at its end,
// returns the connection to its pool. Not safe for concurrent use.
type respBody struct {
	ctx     context.Context
	c       *tconn
	br      *bufio.Reader
	stop    func() bool   // stops watching ctx; nil if it cannot be done
	pooled  *bufio.Reader // the pool's reader under br, when br grew for a large head
	mode    int
	n       int64 // bytes left in the body (bodyLength) or chunk (bodyChunked)
	inChunk bool  // chunk data started: a CRLF follows it
	close   bool  // close the connection at the end
	err     error // io.EOF once complete, or the error that ended it
	closed  bool
}

// Read reads the body like any io.Reader.
func (b *respBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errBodyClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	buf, err := b.peek()
	if err != nil {
		return 0, err
	}
	n := copy(p, buf)
	b.consume(n)
	if b.mode == bodyLength && b.n == 0 {
		b.done() // release the connection without waiting for another Read
		return n, io.EOF
	}
	return n, nil
}

// WriteTo writes the rest of the body to w straight from the read buffer:
// io.Copy(io.Discard, body), as vegeta discards bodies, copies nothing.
func (b *respBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if b.closed {
			return total, errBodyClosed
		}
		buf, err := b.peek()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		n, werr := w.Write(buf)
		b.consume(n)
		total += int64(n)
		if werr != nil {
			return total, werr
		}
	}
}

// Close ends the body. An unread rest of up to maxDrain bytes is read so
// the connection can carry another request; a longer one, or a body that
// runs until the server closes, closes the connection.
func (b *respBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.err != nil {
		return nil
	}
	if b.mode == bodyUntilEOF || (b.mode == bodyLength && b.n > maxDrain) {
		b.fail(errClosedEarly)
		return nil
	}
	for drained := 0; drained <= maxDrain; {
		buf, err := b.peek()
		if err != nil {
			return nil // done or failed: the connection is pooled or closed
		}
		b.consume(len(buf))
		drained += len(buf)
	}
	b.fail(errClosedEarly)
	return nil
}

// peek returns body bytes available in the read buffer, reading more if
// there are none; io.EOF at the end of the body.
func (b *respBody) peek() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	br := b.br
	switch b.mode {
	case bodyLength:
		if b.n == 0 {
			b.done()
			return nil, io.EOF
		}
	case bodyChunked:
		if b.n == 0 {
			end, err := b.nextChunk()
			if err != nil {
				return nil, b.fail(err)
			}
			if end {
				b.done()
				return nil, io.EOF
			}
		}
	}
	if br.Buffered() == 0 {
		if _, err := br.Peek(1); err != nil {
			if err == io.EOF {
				if b.mode == bodyUntilEOF {
					b.done()
					return nil, io.EOF
				}
				err = io.ErrUnexpectedEOF
			}
			return nil, b.fail(err)
		}
	}
	k := br.Buffered()
	if b.mode != bodyUntilEOF && int64(k) > b.n {
		k = int(b.n)
	}
	buf, _ := br.Peek(k)
	return buf, nil
}

func (b *respBody) consume(n int) {
	_, _ = b.br.Discard(n)
	if b.mode != bodyUntilEOF {
		b.n -= int64(n)
	}
}

// nextChunk reads up to the next chunk's data, and reports the last chunk
// (its trailers read too). Chunk lines and trailers are held to
// net/http's rules (httpwire.ParseChunkLine, httpwire.TrailerLine): a
// response the driver takes is one net/http's client would take too.
func (b *respBody) nextChunk() (end bool, err error) {
	br := b.br
	if b.inChunk {
		crlf, err := br.Peek(2)
		if err != nil || crlf[0] != '\r' || crlf[1] != '\n' {
			if err == nil || err == io.EOF {
				err = errBadChunk
			}
			return false, err
		}
		_, _ = br.Discard(2)
		b.inChunk = false
	}
	line, err := readLine(br)
	if err != nil {
		return false, err
	}
	size, ok := httpwire.ParseChunkLine(line)
	if !ok {
		return false, errBadChunk
	}
	if size > 0 {
		b.n, b.inChunk = size, true
		return false, nil
	}
	for { // trailers, up to an empty line
		line, err := readLine(br)
		if err != nil {
			return false, err
		}
		end, ok := httpwire.TrailerLine(line)
		if !ok {
			return false, errBadChunk
		}
		if end {
			return true, nil
		}
	}
}

// readLine reads a line, its line end included; valid until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case err == io.EOF:
		return nil, io.ErrUnexpectedEOF
	case err == bufio.ErrBufferFull:
		return nil, errBadChunk
	case err != nil:
		return nil, err
	}
	return line, nil
}

// done ends a body read to its end: the connection goes back to its pool
// unless it must close, or bytes beyond the response arrived.
func (b *respBody) done() {
	br, c := b.br, b.c
	b.br, b.c, b.err = nil, nil, io.EOF
	// A reader that grew may hold bytes in the one beneath it.
	reuse := !b.close && br.Buffered() == 0 && b.pooled == nil
	if b.pooled != nil {
		br, b.pooled = b.pooled, nil
	}
	putReader(br)
	if b.stop != nil && !b.stop() {
		reuse = false // the context fired: its deadline is on the connection
	}
	if reuse {
		c.put()
	} else {
		c.close()
	}
}

// fail ends a body on err: the connection is closed. It returns the error
// the caller sees (see Transport.mapError).
func (b *respBody) fail(err error) error {
	br, c := b.br, b.c
	b.br, b.c = nil, nil
	if b.pooled != nil {
		br, b.pooled = b.pooled, nil
	}
	putReader(br)
	if b.stop != nil {
		b.stop()
	}
	c.close()
	b.err = c.t.mapError(b.ctx, c, err)
	return b.err
}

// validHeaderValue reports whether v can be sent as a header value: no
// control bytes but tab, so no CR or LF to split the request with.
func validHeaderValue(v string) bool {
	for i := range len(v) {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func bytesIndexAny(s, chars string) bool {
	for i := range len(s) {
		if indexByte(chars, s[i]) >= 0 {
			return true
		}
	}
	return false
}

func indexByte(s string, c byte) int { return strings.IndexByte(s, c) }
