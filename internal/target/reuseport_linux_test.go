package target

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// holdSharedPort binds a socket exclusively to a free loopback port, then sets SO_REUSEPORT
// on it, and keeps it (bound, not listening) until the test ends: nothing without
// SO_REUSEPORT can take the port meanwhile, while the workers under test can join it.
func holdSharedPort(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
}

// Not parallel: Run changes GOMAXPROCS for the whole process.
func TestRun_ReusePortSharesAddr(t *testing.T) {
	addr := holdSharedPort(t)
	// A listener without SO_REUSEPORT must not get in: that is what makes sharing opt-in.
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("plain listen on held %s succeeded", addr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 2)
	// Same GOMAXPROCS as now, so the two Runs' save-and-restore cannot leave it changed.
	threads := runtime.GOMAXPROCS(0)
	for i := 1; i <= 2; i++ {
		cfg := Config{Workload: WorkloadSleep, Index: i, Threads: threads, Addr: addr, ReusePort: true}
		go func() { done <- Run(ctx, cfg) }()
	}

	// Fresh connections: the kernel picks a listener per connection, by a hash of its ports.
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	pid := strconv.Itoa(os.Getpid())
	seen := map[string]bool{}
	const tries = 500
	for try := 0; len(seen) < 2; try++ {
		if try == tries {
			t.Fatalf("after %d requests over fresh connections only %v answered, want 1/%s and 2/%s", tries, seen, pid, pid)
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned while serving: %v", err)
		default:
		}
		resp, err := c.Get("http://" + addr + HealthPath)
		if err != nil {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("GET: %v", err)
			}
			time.Sleep(5 * time.Millisecond) // not listening yet; poll interval, not synchronisation
			continue
		}
		resp.Body.Close()
		w := resp.Header.Get(WorkerHeader)
		if w != "1/"+pid && w != "2/"+pid {
			t.Fatalf("%s = %q, want 1/%s or 2/%s", WorkerHeader, w, pid, pid)
		}
		seen[w] = true
	}

	cancel()
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after cancel = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
}
