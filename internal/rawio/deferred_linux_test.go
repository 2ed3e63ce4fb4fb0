//go:build linux

package rawio

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// A deferred connection holds small writes until the next Read, sends them there and reads the
// answer; Flush sends them without reading; a write past the limit goes out at once, in order.
func TestNewDeferred(t *testing.T) {
	t.Parallel()
	client, server := pair(t)
	rw := NewDeferred(client)

	if _, err := rw.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	// Nothing is sent until the client reads.
	_ = server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 64)
	if n, err := server.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("server read %q, %v before the client read: want nothing yet", buf[:n], err)
	}
	_ = server.SetReadDeadline(time.Time{})
	go func() {
		b := make([]byte, 4)
		if _, err := io.ReadFull(server, b); err == nil {
			_, _ = server.Write(append([]byte("pong:"), b...))
		}
	}()
	if n, err := io.ReadAtLeast(rw, buf, len("pong:ping")); err != nil || string(buf[:n]) != "pong:ping" {
		t.Fatalf("read %q, %v; want pong:ping", buf[:n], err)
	}

	// Flush sends without reading.
	if _, err := rw.Write([]byte("flushed")); err != nil {
		t.Fatal(err)
	}
	if err := Flush(rw); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(server, buf[:7]); err != nil || string(buf[:7]) != "flushed" {
		t.Fatalf("server read %q, %v after Flush", buf[:7], err)
	}

	// A small write, then one past the limit: both go out at once, in order.
	big := bytes.Repeat([]byte("x"), maxDeferred+1)
	_, _ = rw.Write([]byte("a"))
	done := make(chan error, 1)
	go func() {
		got := make([]byte, 1+len(big))
		_, err := io.ReadFull(server, got)
		if err == nil && (got[0] != 'a' || !bytes.Equal(got[1:], big)) {
			err = errors.New("bytes out of order")
		}
		done <- err
	}()
	if _, err := rw.Write(big); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A deferred write whose answer never comes still honours the read deadline.
func TestNewDeferred_Deadline(t *testing.T) {
	t.Parallel()
	client, server := pair(t)
	rw := NewDeferred(client)
	_, _ = rw.Write([]byte("hello"))
	_ = client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := rw.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(server, got); err != nil || string(got) != "hello" {
		t.Fatalf("server read %q, %v: the pending write must have gone out", got, err)
	}
}

// A Read that fails before it could send (a read deadline already past, as the balancer's shutdown
// sets on idle connections) keeps the pending bytes, and Flush still sends them.
func TestNewDeferred_FailedReadKeepsPending(t *testing.T) {
	t.Parallel()
	client, server := pair(t)
	rw := NewDeferred(client)
	_, _ = rw.Write([]byte("last response"))
	_ = client.SetReadDeadline(time.Unix(1, 0))
	if _, err := rw.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if err := Flush(rw); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("last response"))
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(server, got); err != nil || string(got) != "last response" {
		t.Fatalf("server read %q, %v: the pending bytes were lost", got, err)
	}
}
