package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pair returns both ends of a loopback TCP connection, closed at cleanup.
func pair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

func TestNew_ReadsAndWrites(t *testing.T) {
	t.Parallel()
	client, server := pair(t)
	rw := New(client)
	if rw == io.ReadWriter(client) && isLinux {
		t.Fatal("New returned the connection itself for a TCP connection")
	}

	if _, err := rw.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(server, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("server read %q, %v", buf, err)
	}
	server.Write([]byte("pong"))
	if _, err := io.ReadFull(rw, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("client read %q, %v", buf, err)
	}
	if n, err := rw.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v", n, err)
	}

	// More than the socket buffers hold: Write waits for the reader.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(server, int64(len(big))))
		got <- b
	}()
	if n, err := rw.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(big))
	}
	if b := <-got; !bytes.Equal(b, big) {
		t.Errorf("server read %d bytes, not what was written", len(b))
	}

	// The peer closing reads as io.EOF.
	server.Close()
	if _, err := rw.Read(buf); err != io.EOF {
		t.Errorf("Read after the peer closed = %v, want io.EOF", err)
	}
}

func TestNew_HonoursDeadlines(t *testing.T) {
	t.Parallel()
	client, _ := pair(t)
	rw := New(client)
	client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	began := time.Now()
	_, err := rw.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read = %v, want os.ErrDeadlineExceeded", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Read returned after %v", took)
	}

	// Close from another goroutine wakes a blocked Read.
	client.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := rw.Read(make([]byte, 1))
		errc <- err
	}()
	client.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the blocked Read")
	}
}

func TestNew_OtherConnections(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe() // no socket to call on
	defer a.Close()
	defer b.Close()
	if rw := New(a); rw != io.ReadWriter(a) {
		t.Errorf("New(pipe) = %T, want the pipe itself", rw)
	}
}

// eventually polls f until it returns want or five seconds pass, and returns its last answer:
// bytes written on loopback reach the peer's socket within the writer's system call on Linux, but
// nothing promises that.
func eventually(f func() error, want error) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := f()
		if errors.Is(err, want) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

func TestIdle(t *testing.T) {
	t.Parallel()
	if !isLinux {
		t.Skip("Idle peeks only on Linux")
	}
	client, server := pair(t)
	rw := New(client)
	if err := Idle(rw); err != nil {
		t.Fatalf("Idle on a quiet connection = %v, want nil", err)
	}
	if err := IdleConn(client); err != nil {
		t.Fatalf("IdleConn on a quiet connection = %v, want nil", err)
	}
	server.Write([]byte("x"))
	if err := eventually(func() error { return Idle(rw) }, ErrPending); err != ErrPending {
		t.Fatalf("Idle with a byte waiting = %v, want ErrPending", err)
	}
	if err := IdleConn(client); err != ErrPending {
		t.Fatalf("IdleConn with a byte waiting = %v, want ErrPending", err)
	}
	buf := make([]byte, 4)
	if n, err := rw.Read(buf); n != 1 || err != nil || buf[0] != 'x' {
		t.Fatalf("Read after Idle = %d %q, %v; want the byte Idle left in place", n, buf[:n], err)
	}
	server.Close()
	if err := eventually(func() error { return Idle(rw) }, io.EOF); err != io.EOF {
		t.Errorf("Idle after the peer closed = %v, want io.EOF", err)
	}
	if err := IdleConn(client); err != io.EOF {
		t.Errorf("IdleConn after the peer closed = %v, want io.EOF", err)
	}
	client.Close()
	if err := Idle(rw); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Idle on a closed connection = %v, want net.ErrClosed", err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := Idle(New(a)); err != nil {
		t.Errorf("Idle without a socket = %v, want nil", err)
	}
}

func BenchmarkIdle(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	rw := New(c)
	b.ReportAllocs()
	for b.Loop() {
		if err := Idle(rw); err != nil {
			b.Fatal(err)
		}
	}
}
