//go:build !linux

package balancer

import (
	"io"
	"net"
)

// newRawIO returns c: raw system calls are only used on Linux (see
// rawio_linux.go).
func newRawIO(c net.Conn) io.ReadWriter { return c }
