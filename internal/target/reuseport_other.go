//go:build !linux

package target

import (
	"context"
	"errors"
	"net"
	"runtime"
)

// listenReusePort fails: outside Linux SO_REUSEPORT either does not exist or
// does not spread connections over the listeners (BSD gives them all to the
// newest), so sharing a port would not balance anything.
func listenReusePort(context.Context, string) (net.Listener, error) {
	return nil, errors.New("reuseport: not supported on " + runtime.GOOS)
}
