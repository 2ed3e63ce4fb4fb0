package target

import (
	"context"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenReusePort listens on addr with SO_REUSEPORT set before bind, so that
// it joins the other listeners of the same user on addr instead of failing
// with EADDRINUSE; the kernel then hashes each new connection to one of them.
func listenReusePort(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		if err != nil {
			return err
		}
		if serr != nil {
			return &net.OpError{Op: "setsockopt", Net: "tcp", Err: serr}
		}
		return nil
	}}
	return lc.Listen(ctx, "tcp", addr)
}
