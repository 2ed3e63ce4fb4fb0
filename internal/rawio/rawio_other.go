//go:build !linux

// Package rawio reads and writes TCP connections with raw system calls on
// Linux (see rawio_linux.go for why); elsewhere it is a no-op.
package rawio

import (
	"errors"
	"io"
	"net"
)

// New returns c: raw system calls are only used on Linux.
func New(c net.Conn) io.ReadWriter { return c }

// NewDeferred returns c: writes are not deferred without raw system calls.
func NewDeferred(c net.Conn) io.ReadWriter { return c }

// Flush does nothing: nothing is deferred.
func Flush(rw io.ReadWriter) error { return nil }

// ErrPending is Idle's answer for a connection with bytes waiting to be read.
var ErrPending = errors.New("unread bytes on an idle connection")

// Idle returns nil: without raw system calls it cannot peek without
// blocking.
func Idle(rw io.ReadWriter) error { return nil }

// IdleConn returns nil: without raw system calls it cannot peek without
// blocking.
func IdleConn(c net.Conn) error { return nil }
