package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/testserver"
)

// redisServer is a redis-server child process started for one test.
type redisServer struct {
	Addr string
	cmd  *exec.Cmd
	done chan error // receives cmd.Wait's result
	log  string     // its log file
	stop sync.Once
}

// startRedis starts a private redis-server on a free loopback port, without
// persistence, and stops it when the test ends. It skips the test when
// redis-server is not installed.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed (apt-get install redis-server); skipping the test against a real Redis")
	}
	var lastErr error
	// The free port can be taken between finding and binding it: retry.
	for range 3 {
		s, err := tryStartRedis(t, bin)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}

func tryStartRedis(t testing.TB, bin string) (*redisServer, error) {
	addr := testserver.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	s := &redisServer{Addr: addr, done: make(chan error, 1), log: filepath.Join(dir, "redis.log")}
	s.cmd = exec.Command(bin,
		"--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", s.log)
	childDiesWithTest(s.cmd)

	// Start and wait on one locked OS thread: the parent-death signal is
	// tied to the thread that forked the child (golang/go#27505).
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.done <- s.cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	t.Cleanup(s.Stop)

	deadline := time.Now().Add(5 * time.Second)
	for {
		// A client per attempt: go-redis stops dialing after a pool's worth
		// of refused dials and probes again only a second later.
		c := NewRedisClient(addr, 1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx)
		cancel()
		c.Close()
		if err == nil {
			return s, nil
		}
		select {
		case werr := <-s.done:
			s.done <- werr // for Stop
			logText, _ := os.ReadFile(s.log)
			return nil, fmt.Errorf("redis-server on %s exited (%v): %s", addr, werr, logText)
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("redis-server on %s: no PONG after 5s: %w", addr, err)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not synchronisation
	}
}

// Stop ends the server (SIGTERM, SIGKILL after 5 s) and waits for it.
// It is idempotent.
func (s *redisServer) Stop() {
	s.stop.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	})
}

func TestRedisClient_RealServer(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := NewRedisClient(srv.Addr, 2)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if got, want := c.Addr(), srv.Addr; got != want {
		t.Errorf("Addr() = %q, want %q", got, want)
	}

	// happy: set, then get and exists see it
	if err := c.Set(ctx, "k", "v\r\nwith CRLF and ünïcode", 0); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if v, ok, err := c.Get(ctx, "k"); err != nil || !ok || v != "v\r\nwith CRLF and ünïcode" {
		t.Errorf("Get(k) = %q, %v, %v; want the value set", v, ok, err)
	}
	if ok, err := c.Exists(ctx, "k"); err != nil || !ok {
		t.Errorf("Exists(k) = %v, %v; want true", ok, err)
	}
	// an empty value is a value, not a nil
	if err := c.Set(ctx, "empty", "", 0); err != nil {
		t.Fatalf("Set(empty): %v", err)
	}
	if v, ok, err := c.Get(ctx, "empty"); err != nil || !ok || v != "" {
		t.Errorf("Get(empty) = %q, %v, %v; want \"\", true", v, ok, err)
	}

	// sad: missing key
	if v, ok, err := c.Get(ctx, "missing"); err != nil || ok || v != "" {
		t.Errorf("Get(missing) = %q, %v, %v; want \"\", false, nil", v, ok, err)
	}
	if ok, err := c.Exists(ctx, "missing"); err != nil || ok {
		t.Errorf("Exists(missing) = %v, %v; want false", ok, err)
	}

	// TTL: SET ... EX rounds up to whole seconds
	if err := c.Set(ctx, "ttl", "x", 1500*time.Millisecond); err != nil {
		t.Fatalf("Set with ttl: %v", err)
	}
	rep, err := c.do(ctx, "TTL", "ttl")
	if n, ok := rep.(int64); err != nil || !ok || n < 1 || n > 2 {
		t.Errorf("TTL after Set(1.5s) = %v, %v; want integer 1..2", rep, err)
	}
	if rep, err := c.do(ctx, "TTL", "k"); err != nil || rep != int64(-1) {
		t.Errorf("TTL after Set(0) = %v, %v; want -1 (no expiry)", rep, err)
	}

	// sad: an error reply is a RedisError and leaves the connection usable
	_, err = c.do(ctx, "NOSUCHCOMMAND")
	var rerr RedisError
	if !errors.As(err, &rerr) || !strings.Contains(err.Error(), "unknown command") || !strings.Contains(err.Error(), srv.Addr) {
		t.Errorf("unknown command: %v, want a RedisError naming the address", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping after error reply: %v", err)
	}
	// sad: wrong type of reply for the method
	if err := c.Set(ctx, "list", "x", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.do(ctx, "DEL", "list"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.do(ctx, "RPUSH", "list", "a"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, "list"); !errors.As(err, &rerr) || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("GET on a list = %v, want WRONGTYPE RedisError", err)
	}

	// Close: later commands fail clearly
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Ping(ctx); !errors.Is(err, ErrRedisClosed) {
		t.Errorf("Ping after Close = %v, want ErrRedisClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

// TestRedisClient_Pool runs many commands at once through a pool of 3 and
// checks that they all succeed and Redis never saw more than 3 connections.
func TestRedisClient_Pool(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	const size, goroutines, each = 3, 20, 25
	c := NewRedisClient(srv.Addr, size)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := fmt.Sprintf("k%d-%d", g, i)
				if err := c.Set(ctx, key, key, time.Minute); err != nil {
					errs <- err
					return
				}
				if v, ok, err := c.Get(ctx, key); err != nil || !ok || v != key {
					errs <- fmt.Errorf("Get(%s) = %q, %v, %v", key, v, ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Every connection dialled stays in the pool (no command failed): the
	// pool's total is every connection there ever was.
	if got := c.c.PoolStats().TotalConns; got < 1 || got > size {
		t.Errorf("connections dialled = %d, want 1..%d", got, size)
	}
	rep, err := c.do(ctx, "DBSIZE")
	if err != nil || rep != int64(goroutines*each) {
		t.Errorf("DBSIZE = %v, %v; want %d", rep, err, goroutines*each)
	}
}

func TestRedisClient_ServerGone(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := NewRedisClient(srv.Addr, 1)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	// The pooled connection is dead: the first command fails on it and
	// drops it, the next one fails to dial. Both must name the address.
	for i := range 2 {
		err := c.Ping(ctx)
		if err == nil || !strings.HasPrefix(err.Error(), "redis at "+srv.Addr+": ") {
			t.Errorf("Ping %d after the server stopped = %v, want an error starting \"redis at %s: \"", i, err, srv.Addr)
		}
	}
	if err := c.Ping(ctx); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Ping with no server = %v, want ECONNREFUSED", err)
	}
}

func TestRedisClient_Refused(t *testing.T) {
	t.Parallel()
	addr := testserver.FreeAddr(t)
	c := NewRedisClient(addr, 0)
	defer c.Close()
	err := c.Ping(context.Background())
	if got, want := fmt.Sprint(err), "redis at "+addr+": connection refused"; got != want {
		t.Errorf("Ping = %q, want %q", got, want)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Ping = %v, want errors.Is ECONNREFUSED", err)
	}
}

// A server that accepts and never answers: the context's deadline, shorter
// than DefaultRedisTimeout, ends the command and says so.
func TestRedisClient_Deadline(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var conns []net.Conn
	var mu sync.Mutex
	wg.Go(func() {
		for {
			cn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, cn)
			mu.Unlock()
			wg.Go(func() { io.Copy(io.Discard, cn) })
		}
	})
	c := NewRedisClient(ln.Addr().String(), 1)
	t.Cleanup(func() {
		c.Close()
		ln.Close()
		mu.Lock()
		for _, cn := range conns {
			cn.Close()
		}
		mu.Unlock()
		wg.Wait()
	})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Ping(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(fmt.Sprint(err), "redis at "+ln.Addr().String()+": PING: ") {
		t.Errorf("Ping past deadline = %v, want context.DeadlineExceeded naming the address and PING", err)
	}
	// Not a timing assertion on the deadline itself: only that the client did
	// not wait out its own DefaultRedisTimeout instead.
	if waited := time.Since(start); waited >= DefaultRedisTimeout {
		t.Errorf("Ping returned after %v, the client's timeout, not the context's deadline", waited)
	}
}
