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
	"io"
	"net"
	"syscall"
	"unsafe"
)

// conn is a connection's raw reader/writer.
type conn struct {
	rc      syscall.RawConn
	readFn  func(fd uintptr) bool // built once: a closure per call would allocate
	writeFn func(fd uintptr) bool
	p       []byte // the caller's buffer during a call
	n       int
	errno   syscall.Errno
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
	return r
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
	for r.n < len(r.p) {
		rest := r.p[r.n:]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(rest))), uintptr(len(rest)))
		switch e {
		case 0:
			r.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // socket buffer full: wait until writable
		default:
			r.errno = e
			return true
		}
	}
	return true
}

// Read reads into p like net.Conn's Read: io.EOF once the peer closed its
// side, a *net.OpError wrapping the errno on a socket error, and the
// netpoller's error (os.ErrDeadlineExceeded, net.ErrClosed) otherwise.
func (r *conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.p, r.n, r.errno = p, 0, 0
	err := r.rc.Read(r.readFn)
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

// Write writes all of p like net.Conn's Write.
func (r *conn) Write(p []byte) (int, error) {
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
