package httpwire

import (
	"bytes"
	"errors"
)

// Framing errors of a response; they end the connection they happened on.
var (
	ErrBadResponse = errors.New("malformed response head")
	ErrBadChunk    = errors.New("malformed chunked body")
)

// MaxResponseHead bounds a response head, as the default
// MaxResponseHeaderBytes of net/http's Transport does.
const MaxResponseHead = 10 << 20

// ResponseHead is what a client or a proxy needs from a response head:
// where it ends, its status, and how its body is framed. Offsets are into
// the buffer ParseResponseHead was given.
type ResponseHead struct {
	N                 int // bytes in the head, blank line included
	Status            int // e.g. 200
	Reason, ReasonEnd int // the reason phrase
	HdrStart, HdrEnd  int // the header lines, each with its line end
	Lines             int // header lines, continuation lines not counted
	HTTP10            bool
	// ContentLength is the body's length: the header's value, 0 for a 1xx,
	// 204 or 304 response, -1 when unknown (chunked, until close). After a
	// HEAD request the header's value is kept, though no body follows.
	ContentLength int64
	Chunked       bool // the final transfer coding is chunked
	UntilClose    bool // the body runs until the server closes
	Close         bool // the connection is not reusable after this response
	// DropLength is set when a Content-Length came with chunked; RFC 9112
	// 6.3 has a proxy remove it before forwarding.
	DropLength bool
	// Folded is set when a header value continues on a line starting with
	// a space or tab (obs-fold, RFC 9112 5.2): net/http's client joins the
	// lines with a space, and so must whoever reads or forwards the head.
	Folded bool
}

// ParseResponseHead parses the response head at the start of buf into h,
// for a request whose method was HEAD if head is set, and reports whether
// it is complete. It accepts what net/http's http.ReadResponse accepts of
// HTTP/1.0 and 1.1, bare LF line ends and obs-fold included (and refuses
// what it refuses: a Transfer-Encoding other than one "chunked"), with one
// exception kept on purpose: a folded Content-Length, Transfer-Encoding or
// Connection header, or an empty continuation line, is ErrBadResponse,
// since the framing must not depend on unfolding. Header values with control bytes other than tab are
// ErrBadResponse, as for net/http.
func ParseResponseHead(buf []byte, head bool, h *ResponseHead) (complete bool, err error) {
	*h = ResponseHead{ContentLength: -1}
	line, next, ok := NextLine(buf, 0)
	if !ok {
		return false, nil
	}
	// "HTTP/1.1 200 OK": version, space, three digits, then space or end.
	if len(line) < 12 || (len(line) > 12 && line[12] != ' ') || line[8] != ' ' {
		return false, ErrBadResponse
	}
	keepAlive := true
	switch string(line[:8]) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		h.HTTP10, keepAlive = true, false
	default:
		return false, ErrBadResponse
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return false, ErrBadResponse
		}
		h.Status = h.Status*10 + int(c-'0')
	}
	if h.Status < 100 {
		return false, ErrBadResponse
	}
	h.Reason, h.ReasonEnd = min(13, len(line)), len(line)
	h.HdrStart = next
	var sawCoding, framing bool
	for {
		line, n, ok := NextLine(buf, next)
		if !ok {
			return false, nil
		}
		if len(line) == 0 {
			h.HdrEnd = next
			next = n
			break
		}
		next = n
		if line[0] == ' ' || line[0] == '\t' {
			// An empty continuation leaves net/http a trailing space no
			// rewritten head can carry: refused too.
			if h.Lines == 0 || framing || !ValidHeaderValue(line) || len(TrimOWS(line)) == 0 {
				return false, ErrBadResponse
			}
			h.Folded = true
			continue
		}
		h.Lines++
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !IsToken(BytesString(line[:colon])) {
			return false, ErrBadResponse
		}
		name, value := line[:colon], TrimOWS(line[colon+1:])
		if !ValidHeaderValue(value) {
			return false, ErrBadResponse
		}
		framing = false
		switch len(name) {
		case len("Connection"):
			if EqualFold(BytesString(name), "Connection") {
				framing = true
				for v := value; len(v) > 0; {
					var opt []byte
					opt, v = NextElement(v)
					h.Close = h.Close || EqualFold(BytesString(opt), "close")
					keepAlive = keepAlive || EqualFold(BytesString(opt), "keep-alive")
				}
			}
		case len("Content-Length"):
			if EqualFold(BytesString(name), "Content-Length") {
				framing = true
				n, ok := ParseContentLength(value)
				if !ok || (h.ContentLength >= 0 && h.ContentLength != n) {
					return false, ErrBadResponse
				}
				h.ContentLength = n
			}
		case len("Transfer-Encoding"):
			if EqualFold(BytesString(name), "Transfer-Encoding") {
				framing = true
				// As net/http's client: ignored from HTTP/1.0, else one
				// header saying exactly chunked.
				if h.HTTP10 {
					break
				}
				if sawCoding || !EqualFold(BytesString(value), "chunked") {
					return false, ErrBadResponse
				}
				sawCoding, h.Chunked = true, true
			}
		}
	}
	h.N = next
	h.Close = h.Close || !keepAlive
	switch {
	case h.Status < 200 || h.Status == 204 || h.Status == 304:
		h.Chunked, h.ContentLength = false, 0
	case head:
		h.Chunked = false
	case h.Chunked:
		h.DropLength = h.ContentLength >= 0
		h.ContentLength = -1
	case h.ContentLength < 0:
		h.UntilClose, h.Close, h.ContentLength = true, true, -1
	}
	return true, nil
}

// WriteHead writes the head h describes (buf[:h.N]) through write, piece
// by piece, as a proxy must forward it: obs-fold line breaks replaced by a
// space, as net/http's client reads them, Content-Length dropped when
// DropLength is set, and extra (complete header lines, or nothing) added
// before the blank line. It is for the rare heads that cannot go out
// verbatim; line ends become CRLF.
func WriteHead(buf []byte, h *ResponseHead, extra string, write func(p []byte)) {
	write(buf[:h.HdrStart]) // the status line
	open := false           // a header line went out without its line end
	for off := h.HdrStart; off < h.HdrEnd; {
		line, next, _ := NextLine(buf, off)
		off = next
		if line[0] == ' ' || line[0] == '\t' {
			// A continuation; ParseResponseHead allows none after a
			// framing header, so none follows a dropped line.
			write(space)
			write(TrimOWS(line))
			continue
		}
		if open {
			write(crlf)
			open = false
		}
		name, _, _ := bytes.Cut(line, colon)
		if h.DropLength && EqualFold(BytesString(name), "Content-Length") {
			continue
		}
		write(TrimOWS(line))
		open = true
	}
	if open {
		write(crlf)
	}
	if extra != "" {
		write([]byte(extra))
	}
	write(crlf)
}

var (
	crlf  = []byte("\r\n")
	space = []byte(" ")
	colon = []byte(":")
)
