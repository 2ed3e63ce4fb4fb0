// Package testserver holds loopback servers for tests of several packages.
package testserver

import (
	"net"
	"sync"
	"testing"
)

// Raw accepts loopback TCP connections and hands each to serve on its own goroutine; at the
// test's cleanup the listener and every connection are closed and the goroutines waited for.
// It returns the listener's address, host:port.
func Raw(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// FreeAddr returns a loopback address, host:port, that nothing listened on a moment ago: for a
// server the test starts next, or for a connection that must be refused. Another process may take
// the port meanwhile; a test that binds it should say so if that fails.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
