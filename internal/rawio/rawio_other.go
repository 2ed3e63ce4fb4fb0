//go:build !linux

// Package rawio reads and writes TCP connections with raw system calls on
// Linux (see rawio_linux.go for why); elsewhere it is a no-op.
package rawio

import (
	"io"
	"net"
)

// New returns c: raw system calls are only used on Linux.
func New(c net.Conn) io.ReadWriter { return c }

// NewDeferred returns c: writes are not deferred without raw system calls.
func NewDeferred(c net.Conn) io.ReadWriter { return c }

// Flush does nothing: nothing is deferred.
func Flush(rw io.ReadWriter) error { return nil }
