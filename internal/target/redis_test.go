package target

import (
	"bufio"
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
	"sync/atomic"
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
func startRedis(t *testing.T) *redisServer {
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

func tryStartRedis(t *testing.T, bin string) (*redisServer, error) {
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

	c := NewRedisClient(addr, 1)
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx)
		cancel()
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
	if err != nil || rep.kind != ':' || rep.num < 1 || rep.num > 2 {
		t.Errorf("TTL after Set(1.5s) = %v, %v; want integer 1..2", rep, err)
	}
	if rep, err := c.do(ctx, "TTL", "k"); err != nil || rep.num != -1 {
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
	var dials atomic.Int32
	dial := c.dial
	c.dial = func(ctx context.Context) (net.Conn, error) {
		dials.Add(1)
		return dial(ctx)
	}
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
	if got := dials.Load(); got < 1 || got > size {
		t.Errorf("connections dialled = %d, want 1..%d", got, size)
	}
	rep, err := c.do(ctx, "DBSIZE")
	if err != nil || rep.num != goroutines*each {
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

// fakeRedis is a client whose connections are net.Pipes to a goroutine that
// answers each command with the next canned reply.
type fakeRedis struct {
	c     *RedisClient
	dials atomic.Int32
	cmds  chan []string // commands received, in order
}

// newFakeRedis answers the n-th command with replies[n]. A reply ending in
// "\x00" is written without it and then the connection closes; "" closes it
// without answering. The next command then dials again.
func newFakeRedis(t *testing.T, replies ...string) *fakeRedis {
	t.Helper()
	f := &fakeRedis{c: NewRedisClient("fake:6379", 1), cmds: make(chan []string, len(replies))}
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	f.c.dial = func(ctx context.Context) (net.Conn, error) {
		f.dials.Add(1)
		client, server := net.Pipe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer server.Close()
			r := bufio.NewReader(server)
			for {
				cmd, err := readReply(r, 0)
				if err != nil {
					return
				}
				args := make([]string, len(cmd.elems))
				for i, e := range cmd.elems {
					args[i] = e.str
				}
				f.cmds <- args
				mu.Lock()
				reply := replies[next]
				next++
				mu.Unlock()
				last := reply == "" || strings.HasSuffix(reply, "\x00")
				if _, err := io.WriteString(server, strings.TrimSuffix(reply, "\x00")); err != nil || last {
					return
				}
			}
		}()
		return client, nil
	}
	t.Cleanup(func() {
		f.c.Close()
		wg.Wait()
	})
	return f
}

func TestRedisClient_FakeReplies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeRedis(t,
		"$5\r\nhello\r\n",         // GET: bulk
		"$-1\r\n",                 // GET: nil
		"-ERR boom\r\n",           // GET: error reply, connection kept
		":1\r\n",                  // EXISTS
		":0\r\n",                  // EXISTS
		"+OK\r\n",                 // SET
		":7\r\n",                  // GET answered with an integer: wrong type
		"?garbage\r\n",            // PING: protocol error, connection dropped
		"$5\r\nhel\x00",           // GET: truncated bulk, then the pipe closes
		"",                        // GET: the pipe closes unanswered
		"+PONG\r\n",               // PING on a new connection
		"$3\r\nabcXY",             // GET: bulk not followed by CRLF
		"*2\r\n$1\r\na\r\n:2\r\n", // PING answered with an array: wrong type
	)

	if v, ok, err := f.c.Get(ctx, "a"); err != nil || !ok || v != "hello" {
		t.Errorf("bulk: Get = %q, %v, %v; want hello, true", v, ok, err)
	}
	if v, ok, err := f.c.Get(ctx, "b"); err != nil || ok || v != "" {
		t.Errorf("nil: Get = %q, %v, %v; want \"\", false, nil", v, ok, err)
	}
	_, _, err := f.c.Get(ctx, "c")
	var rerr RedisError
	if !errors.As(err, &rerr) || string(rerr) != "ERR boom" || err.Error() != "redis at fake:6379: GET: ERR boom" {
		t.Errorf("error reply: Get = %v, want RedisError \"redis at fake:6379: GET: ERR boom\"", err)
	}
	if ok, err := f.c.Exists(ctx, "d"); err != nil || !ok {
		t.Errorf("Exists :1 = %v, %v; want true", ok, err)
	}
	if ok, err := f.c.Exists(ctx, "e"); err != nil || ok {
		t.Errorf("Exists :0 = %v, %v; want false", ok, err)
	}
	if err := f.c.Set(ctx, "f", "v", 90*time.Second); err != nil {
		t.Errorf("Set: %v", err)
	}
	if _, _, err := f.c.Get(ctx, "g"); err == nil || !strings.Contains(err.Error(), "GET: unexpected reply integer 7") {
		t.Errorf("wrong type: Get = %v, want unexpected reply integer 7", err)
	}
	if got := f.dials.Load(); got != 1 {
		t.Errorf("dials after good replies and an error reply = %d, want 1 (connection reused)", got)
	}
	if err := f.c.Ping(ctx); !errors.Is(err, errProtocol) {
		t.Errorf("garbage: Ping = %v, want a protocol error", err)
	}
	if _, _, err := f.c.Get(ctx, "h"); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: Get = %v, want io.ErrUnexpectedEOF", err)
	}
	if got := f.dials.Load(); got != 2 {
		t.Errorf("dials after a protocol error = %d, want 2 (broken connection dropped)", got)
	}
	if _, _, err := f.c.Get(ctx, "i"); err == nil {
		t.Error("the command whose connection closed unanswered: want an error")
	}
	if err := f.c.Ping(ctx); err != nil {
		t.Errorf("Ping on a fresh connection: %v", err)
	}
	if _, _, err := f.c.Get(ctx, "j"); !errors.Is(err, errProtocol) {
		t.Errorf("bulk without CRLF: Get = %v, want a protocol error", err)
	}
	if err := f.c.Ping(ctx); err == nil || !strings.Contains(err.Error(), "unexpected reply array of 2") {
		t.Errorf("array to PING = %v, want unexpected reply array of 2", err)
	}

	// The commands went out as RESP arrays of bulk strings, SET with EX.
	close(f.cmds)
	var got []string
	for c := range f.cmds {
		got = append(got, strings.Join(c, " "))
	}
	want := []string{"GET a", "GET b", "GET c", "EXISTS d", "EXISTS e", "SET f v EX 90", "GET g", "PING", "GET h", "GET i", "PING", "GET j", "PING"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("commands sent:\n got %q\nwant %q", got, want)
	}
}

func TestRedisClient_Cancel(t *testing.T) {
	t.Parallel()
	c := NewRedisClient("silent:6379", 1)
	var wg sync.WaitGroup
	c.dial = func(ctx context.Context) (net.Conn, error) {
		client, server := net.Pipe()
		wg.Add(1)
		go func() { // reads commands and never answers
			defer wg.Done()
			io.Copy(io.Discard, server)
		}()
		return client, nil
	}
	defer func() {
		c.Close()
		wg.Wait()
	}()

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Ping(ctx) }()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Ping cancelled = %v, want context.Canceled", err)
		}
	case <-time.After(DefaultRedisTimeout / 2):
		t.Fatal("Ping did not return after cancel")
	}

	// A deadline shorter than the client timeout wins.
	ctx, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ping past deadline = %v, want context.DeadlineExceeded", err)
	}
}

func TestReadReply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    string // redisReply.String(); "" when an error is wanted
		wantErr error
	}{
		// happy
		{"+OK\r\n", `simple string "OK"`, nil},
		{"-ERR x y\r\n", `error "ERR x y"`, nil},
		{":-42\r\n", "integer -42", nil},
		{"$0\r\n\r\n", `bulk string ""`, nil},
		{"$4\r\na\r\nb\r\n", `bulk string "a\r\nb"`, nil},
		{"$-1\r\n", "nil bulk string", nil},
		{"*-1\r\n", "nil array", nil},
		{"*0\r\n", "array of 0", nil},
		{"*2\r\n+a\r\n*1\r\n:1\r\n", "array of 2", nil},
		// sad
		{"", "", io.ErrUnexpectedEOF},
		{"+OK\n", "", errProtocol},
		{"\r\n", "", errProtocol},
		{"!x\r\n", "", errProtocol},
		{":12a\r\n", "", errProtocol},
		{"$-2\r\n", "", errProtocol},
		{"$999999999999\r\n", "", errProtocol},
		{"$3\r\nab", "", io.ErrUnexpectedEOF},
		{"*3\r\n+a\r\n", "", io.ErrUnexpectedEOF},
		{"*100000000\r\n", "", errProtocol},
		{strings.Repeat("*1\r\n", redisMaxDepth+1) + ":1\r\n", "", errProtocol},
	} {
		rep, err := readReply(bufio.NewReader(strings.NewReader(tc.in)), 0)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("readReply(%q) = %v, %v; want error %v", tc.in, rep, err, tc.wantErr)
			}
			continue
		}
		if err != nil || rep.String() != tc.want {
			t.Errorf("readReply(%q) = %v, %v; want %s", tc.in, rep, err, tc.want)
		}
	}
}

func TestWriteCommand(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	w := bufio.NewWriter(&b)
	writeCommand(w, []string{"SET", "k", "", "a\r\nb"})
	w.Flush()
	if got, want := b.String(), "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n$4\r\na\r\nb\r\n"; got != want {
		t.Errorf("writeCommand = %q, want %q", got, want)
	}
	// What we write, we read back: the fake server relies on it.
	rep, err := readReply(bufio.NewReader(strings.NewReader(b.String())), 0)
	if err != nil || len(rep.elems) != 4 || rep.elems[3].str != "a\r\nb" {
		t.Errorf("readReply(writeCommand) = %v, %v", rep, err)
	}
}
