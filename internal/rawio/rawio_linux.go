// Package rawio reads and writes TCP connections with raw system calls,
// keeping Go's netpoller for readiness and deadlines.
//
// Why: net.Conn's Read and Write go through syscall.Syscall, whose
// entersyscall wakes the runtime's sysmon thread out of its deep sleep
// whenever the process was idle, and sysmon then polls every 20 µs for a
// while. A process that idles between requests at ~1 kHz (the balancer's
// fast engine, the load generator's transport) pays that on every request:
// profiled under load, sysmon and its wake-ups were about a third of the
// fast engine's CPU. Reads and writes on a non-blocking socket never block,
// so the runtime need not know about them.
package rawio

import (
	"errors"
	"io"
	"net"
	"syscall"
	"unsafe"
)

// conn is a connection's raw reader/writer.
type conn struct {
	rc          syscall.RawConn
	readFn      func(fd uintptr) bool // built once: a closure per call would allocate
	writeFn     func(fd uintptr) bool
	writeReadFn func(fd uintptr) bool
	peekFn      func(fd uintptr) bool
	peekBuf     [1]byte
	p           []byte // the caller's buffer during a call
	n           int
	errno       syscall.Errno

	// Deferred writes (NewDeferred): bytes written but not yet sent.
	deferred bool
	pend     []byte
	sent     int  // of pend, during a Read that sends it
	sentAll  bool // pend went out in full during that Read
	werrno   syscall.Errno
}

// New returns a reader/writer of c that makes raw system calls on its
// socket, or c itself when c exposes no socket (it does not implement
// syscall.Conn, as a TLS or wrapped connection). Deadlines set on c still
// apply: waiting goes through the netpoller, which enforces them.
//
// Read and Write must not be called concurrently with each other (one
// request/response exchange at a time, as an HTTP/1.1 connection does);
// Close and SetDeadline on c may be called from any goroutine and wake a
// blocked call. New allocates; call it once per connection.
func New(c net.Conn) io.ReadWriter {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	r := &conn{rc: rc}
	r.readFn = r.read
	r.writeFn = r.write
	r.writeReadFn = r.writeRead
	r.peekFn = r.peek
	return r
}

// maxDeferred bounds the bytes a deferred conn holds back: a request or
// response head and a small body. Larger writes go out at once.
const maxDeferred = 8 << 10

// NewDeferred is New with writes deferred to the next Read, for a
// connection that alternates writing a message and reading the answer
// (an HTTP/1.1 client, or a proxy's side of one). Write copies p and
// returns; the next Read sends the pending bytes and then waits for the
// answer in the same netpoller turn. That saves the read a plain
// write-then-read makes right after writing, which finds nothing (the peer
// cannot have answered yet), fails with EAGAIN and costs a system call per
// message. Waiting first is only safe inside one RawConn.Read call: Go
// resets a socket's readiness when a read starts, so an answer that
// arrived between a separate Write and Read would not wake the reader.
//
// Writes beyond maxDeferred bytes go out at once, after the pending ones.
// Flush sends pending bytes without reading: call it before closing the
// connection or handing it to code that writes to it directly. Bytes still
// pending when the connection is closed are lost, as in a bufio.Writer.
// Without a socket (see New) it returns c, and writes go out at once.
func NewDeferred(c net.Conn) io.ReadWriter {
	rw := New(c)
	if r, ok := rw.(*conn); ok {
		r.deferred = true // pend grows with the first messages, then is reused
	}
	return rw
}

// Flush sends the pending bytes of a connection made by NewDeferred; for
// any other io.ReadWriter it does nothing.
func Flush(rw io.ReadWriter) error {
	if r, ok := rw.(*conn); ok && len(r.pend) > 0 {
		return r.flush()
	}
	return nil
}

func (r *conn) flush() error {
	p := r.pend
	r.pend = r.pend[:0]
	_, err := r.write0(p)
	return err
}

// writeRead sends the pending bytes and then returns false, so that the
// RawConn waits for readability before reading. If the socket takes only
// part of them (EAGAIN), or fails, it returns true with sentAll unset: the
// caller finishes the write the ordinary way.
func (r *conn) writeRead(fd uintptr) bool {
	if r.sentAll {
		return r.read(fd)
	}
	if blocked, e := writeAll(fd, r.pend, &r.sent); blocked || e != 0 {
		r.werrno = e
		return true
	}
	r.sentAll = true
	return false // the answer cannot be there yet: wait for it
}

// writeAll writes p[*done:], advancing *done, until all is written, the
// socket's buffer is full (blocked: EAGAIN) or the write fails (errno).
func writeAll(fd uintptr, p []byte, done *int) (blocked bool, errno syscall.Errno) {
	for *done < len(p) {
		rest := p[*done:]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(rest))), uintptr(len(rest)))
		switch e {
		case 0:
			*done += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return true, 0
		default:
			return false, e
		}
	}
	return false, 0
}

func (r *conn) read(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(r.p))), uintptr(len(r.p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait for the netpoller, then again
		}
		r.n, r.errno = int(n), e
		return true
	}
}

func (r *conn) write(fd uintptr) bool {
	blocked, e := writeAll(fd, r.p, &r.n)
	if blocked {
		return false // socket buffer full: wait until writable
	}
	r.errno = e
	return true
}

// Read reads into p like net.Conn's Read: io.EOF once the peer closed its
// side, a *net.OpError wrapping the errno on a socket error, and the
// netpoller's error (os.ErrDeadlineExceeded, net.ErrClosed) otherwise.
func (r *conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	fn, sending := r.readFn, len(r.pend) > 0
	if sending {
		r.sent, r.sentAll, r.werrno = 0, false, 0
		fn = r.writeReadFn
	}
	r.p, r.n, r.errno = p, 0, 0
	err := r.rc.Read(fn)
	if sending {
		switch {
		case r.sentAll: // sent; err and the rest are the read's
			r.pend = r.pend[:0]
		case err != nil:
			// The wait failed (a deadline, a close) before anything was
			// sent: keep it for Flush, as a bufio.Writer would.
			r.pend = append(r.pend[:0], r.pend[r.sent:]...)
		case r.werrno != 0:
			r.pend = r.pend[:0]
			err = &net.OpError{Op: "write", Net: "tcp", Err: r.werrno}
		default:
			// The socket took only part: the rest goes the ordinary way,
			// which waits for writability, then the read.
			rest := r.pend[r.sent:]
			r.pend = r.pend[:0]
			if _, err = r.write0(rest); err == nil {
				r.p, r.n, r.errno = p, 0, 0
				err = r.rc.Read(r.readFn)
			}
		}
	}
	n, errno := r.n, r.errno
	r.p = nil
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: errno}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p like net.Conn's Write; on a deferred connection
// (NewDeferred) small writes are held until the next Read or Flush.
func (r *conn) Write(p []byte) (int, error) {
	if r.deferred {
		if len(r.pend)+len(p) <= maxDeferred {
			r.pend = append(r.pend, p...)
			return len(p), nil
		}
		if err := Flush(r); err != nil {
			return 0, err
		}
	}
	return r.write0(p)
}

// write0 writes all of p now.
func (r *conn) write0(p []byte) (int, error) {
	r.p, r.n, r.errno = p, 0, 0
	err := r.rc.Write(r.writeFn)
	n, errno := r.n, r.errno
	r.p = nil
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, &net.OpError{Op: "write", Net: "tcp", Err: errno}
	}
	return n, nil
}

// ErrPending is Idle's answer for a connection with bytes waiting to be read.
var ErrPending = errors.New("unread bytes on an idle connection")

// Idle checks with one non-blocking system call (recv with MSG_PEEK and
// MSG_DONTWAIT) that the socket under rw has nothing to read and its peer
// has not closed it: what a pooled keep-alive connection must show before
// it carries another request. It returns nil if so; ErrPending when bytes
// are waiting (a response nobody asked for), io.EOF when the peer closed,
// a *net.OpError for a socket error such as a reset, or the netpoller's
// error for a closed connection. Nothing is consumed. For an rw without a
// socket (see New) it returns nil: it cannot tell.
func Idle(rw io.ReadWriter) error {
	r, ok := rw.(*conn)
	if !ok {
		return nil
	}
	r.n, r.errno = 0, 0
	if err := r.rc.Read(r.peekFn); err != nil {
		return err
	}
	return peeked(r.n, r.errno)
}

// peeked turns what a one-byte MSG_PEEK|MSG_DONTWAIT recv returned into Idle's answer.
func peeked(n int, errno syscall.Errno) error {
	switch {
	case errno == syscall.EAGAIN:
		return nil
	case errno != 0:
		return &net.OpError{Op: "read", Net: "tcp", Err: errno}
	case n == 0:
		return io.EOF
	}
	return ErrPending
}

// peek is Idle's one system call; it never waits for the netpoller.
func (r *conn) peek(fd uintptr) bool {
	r.n, r.errno = peekByte(fd, &r.peekBuf)
	return true
}

// peekByte is recv(fd, b, 1, MSG_PEEK|MSG_DONTWAIT), retried on EINTR: it consumes nothing and
// never waits.
func peekByte(fd uintptr, b *[1]byte) (int, syscall.Errno) {
	for {
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		if e != syscall.EINTR {
			return int(n), e
		}
	}
}

// IdleConn is Idle for a connection another goroutine may be using: it
// peeks with RawConn.Control, which takes none of the connection's locks,
// so it neither waits for nor disturbs a Read or Write in progress. It
// allocates; it is for a watchdog, not for every request. For a connection
// without a socket it returns nil.
func IdleConn(c net.Conn) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var buf [1]byte
	var n int
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) { n, errno = peekByte(fd, &buf) }); err != nil {
		return err
	}
	return peeked(n, errno)
}
