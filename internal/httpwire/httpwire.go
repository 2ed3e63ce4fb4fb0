// Package httpwire holds the byte-level HTTP/1.1 helpers shared by the
// balancer's fast engine and the load generator's Transport. They work on
// the bytes of a read buffer in place and never allocate: both callers run
// them once per header line on hot paths.
package httpwire

import (
	"bufio"
	"bytes"
	"io"
	"unsafe"
)

// MaxContentLength is the largest Content-Length ParseContentLength
// accepts; it keeps the arithmetic callers do on lengths from overflowing.
const MaxContentLength = int64(1) << 62

// ParseContentLength parses a Content-Length value: decimal digits only, no
// sign, no surrounding whitespace (trim it first with TrimOWS). An empty
// value, or one above MaxContentLength, is not ok.
func ParseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n > MaxContentLength {
			return 0, false
		}
	}
	return n, true
}

// TrimOWS trims the optional whitespace (spaces and tabs) HTTP allows around
// header values and list elements. It returns a subslice of b; a nil or
// all-whitespace b gives an empty result.
func TrimOWS[T ~string | ~[]byte](b T) T {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// NextElement splits the first element off a comma-separated header value (RFC 9110 5.6.1), as
// Connection and Transfer-Encoding are written, and trims the optional whitespace around it:
// "close , te" gives "close" and " te". Loop while len(rest) > 0; empty elements come back empty.
func NextElement[T ~string | ~[]byte](v T) (elem, rest T) {
	for i := 0; i < len(v); i++ {
		if v[i] == ',' {
			return TrimOWS(v[:i]), v[i+1:]
		}
	}
	return TrimOWS(v), v[len(v):]
}

// BytesString views b as a string without copying; the string is valid only
// while b is not overwritten. A nil or empty b gives "".
func BytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// EqualFold is strings.EqualFold for ASCII: only the letters A-Z and a-z
// match across case, so it needs no Unicode tables. Two empty strings are
// equal.
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}

// tokenChars marks the bytes allowed in an HTTP token (RFC 9110 5.6.2).
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// IsToken reports whether s is an HTTP token (RFC 9110 5.6.2), as method
// and header names must be. The empty string is not a token.
func IsToken(s string) bool {
	if len(s) == 0 {
		return false
	}
	for i := range len(s) {
		if !tokenChars[s[i]] {
			return false
		}
	}
	return true
}

// NextLine returns the line starting at buf[off] without its LF or CRLF
// line end, and the offset after it; ok is false if no LF follows off yet.
// Bare LF line endings are accepted, as net/http's client does: use it for
// responses, not for requests, where a lenient parser invites smuggling.
func NextLine(buf []byte, off int) (line []byte, next int, ok bool) {
	i := bytes.IndexByte(buf[off:], '\n')
	if i < 0 {
		return nil, 0, false
	}
	line = buf[off : off+i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, off + i + 1, true
}

// MaxChunkLine is the longest chunk-size line ParseChunkLine accepts, its
// CRLF included: net/http refuses lines of 4096 bytes and more before it.
const MaxChunkLine = 4096 + 1

// ParseChunkLine parses a chunk-size line as read, its line end included,
// as net/http's chunked reader (Go 1.24.2 and later) does for requests and
// responses alike: the line ends in CRLF and holds no other CR (a bare LF
// or CR is how CVE-2025-22871's request smuggling worked); trailing spaces
// and tabs, then everything from the first ';' (a chunk extension), are
// dropped; what is left is 1 to 16 hex digits. Sizes above
// MaxContentLength, which no body reaches, are not ok either.
func ParseChunkLine(line []byte) (int64, bool) {
	n := len(line)
	if n < 3 || n > MaxChunkLine || line[n-1] != '\n' || line[n-2] != '\r' {
		return 0, false
	}
	line = line[:n-2]
	if bytes.IndexByte(line, '\r') >= 0 {
		return 0, false
	}
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	if len(line) == 0 || len(line) > 16 {
		return 0, false
	}
	var size uint64
	for _, c := range line {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		size = size<<4 | uint64(d)
	}
	if size > uint64(MaxContentLength) {
		return 0, false
	}
	return int64(size), true
}

// ValidHeaderValue reports whether v may appear in a header value, as
// net/http's server and client check it: no control bytes but tab, so no
// NUL, CR or LF. (Surrounding whitespace is allowed; trim it with TrimOWS.)
func ValidHeaderValue[T ~string | ~[]byte](v T) bool {
	for i := range len(v) {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// TrailerLine says what one line of a chunked body's trailer section is,
// read with its line end: the blank line that ends the section (end), or
// a field line, "Name: value" with a token name and a valid value (ok).
// Lines must end in CRLF and hold no other CR: net/http waits for a CRLF
// CRLF after the last chunk, so a trailer ended by a bare LF never ends
// for it, and a proxy that ended it would disagree with the backend about
// where the next request starts.
func TrailerLine(line []byte) (end, ok bool) {
	n := len(line)
	if n < 2 || line[n-1] != '\n' || line[n-2] != '\r' {
		return false, false
	}
	line = line[:n-2]
	if len(line) == 0 {
		return true, true
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !IsToken(BytesString(line[:colon])) {
		return false, false
	}
	return false, ValidHeaderValue(line[colon+1:])
}

// PeekHead waits until br holds a complete message head, as parse decides, and returns br's
// buffered bytes, head first, valid until the next read from br. parse reports whether buf starts
// with a complete head, or an error for a malformed one. A head that fills br's whole buffer
// without completing is tooLarge; the peer closing before any byte is closed, after some bytes
// io.ErrUnexpectedEOF.
func PeekHead(br *bufio.Reader, parse func(buf []byte) (bool, error), tooLarge, closed error) ([]byte, error) {
	for {
		buf, _ := br.Peek(br.Buffered())
		if len(buf) > 0 {
			complete, err := parse(buf)
			if err != nil {
				return nil, err
			}
			if complete {
				return buf, nil
			}
			if len(buf) >= br.Size() {
				return nil, tooLarge
			}
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
				if len(buf) == 0 {
					err = closed
				}
			}
			return nil, err
		}
	}
}
