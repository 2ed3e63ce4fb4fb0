package target

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/testserver"
)

// lockLen returns LLEN key: the number of tokens in the list.
func lockLen(t *testing.T, addr, key string) int64 {
	t.Helper()
	c := NewRedisClient(addr, 1)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rep, err := c.do(ctx, "LLEN", key)
	n, ok := rep.(int64)
	if err != nil || !ok {
		t.Fatalf("LLEN %s = %v, %v", key, rep, err)
	}
	return n
}

// closeHandler closes a handler made by Handler when the test ends.
func closeHandler(t *testing.T, h http.Handler) {
	t.Cleanup(func() {
		if err := h.(interface{ Close() error }).Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

func TestResetLock_OneToken(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := NewRedisClient(srv.Addr, 1)
	t.Cleanup(func() { c.Close() })

	// A list left over from an earlier run with extra tokens, and a key
	// holding another type: both end up as one token.
	for _, key := range []string{"k1", "k2"} {
		if key == "k1" {
			if _, err := c.do(ctx, "RPUSH", key, "a", "b", "c"); err != nil {
				t.Fatal(err)
			}
		} else if err := c.Set(ctx, key, "a string", 0); err != nil {
			t.Fatal(err)
		}
		for range 2 { // idempotent
			if err := ResetLock(ctx, srv.Addr, key); err != nil {
				t.Fatalf("ResetLock(%s): %v", key, err)
			}
			if n := lockLen(t, srv.Addr, key); n != 1 {
				t.Errorf("after ResetLock(%s): LLEN = %d, want 1", key, n)
			}
		}
	}
	// Empty key means the default.
	if err := ResetLock(ctx, srv.Addr, ""); err != nil {
		t.Fatalf("ResetLock(default): %v", err)
	}
	if n := lockLen(t, srv.Addr, DefaultLockKey); n != 1 {
		t.Errorf("LLEN %s = %d, want 1", DefaultLockKey, n)
	}
	// Bad input: not loopback, nobody listening.
	if err := ResetLock(ctx, "10.0.0.1:6379", "k"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("ResetLock(non-loopback) = %v, want a loopback error", err)
	}
	if err := ResetLock(ctx, testserver.FreeAddr(t), "k"); err == nil {
		t.Error("ResetLock(nobody listening) = nil, want an error")
	}
}

// The resource is shared across handlers (workers): 6 requests over 3
// handlers, each holding it 20 ms, take at least 120 ms in all, although each
// handler has room to serve its 2 at once.
func TestHandler_HoldSerializesAcrossWorkers(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	const (
		key      = "test:lock"
		hold     = 20 * time.Millisecond
		handlers = 3
		requests = 6
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ResetLock(ctx, srv.Addr, key); err != nil {
		t.Fatal(err)
	}
	var urls []string
	for i := range handlers {
		s := newServer(t, Config{Workload: WorkloadSleep, Index: i + 1, RedisAddr: srv.Addr, Hold: hold, LockKey: key})
		urls = append(urls, s.URL)
	}

	start := time.Now()
	var wg sync.WaitGroup
	codes := make([]int, requests)
	errs := make([]error, requests)
	for i := range requests {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, urls[i%handlers]+"/", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i := range requests {
		if errs[i] != nil || codes[i] != http.StatusOK {
			t.Errorf("request %d: status %d, error %v; want 200", i, codes[i], errs[i])
		}
	}
	// A lower bound, not a performance assertion: overlapping holds would
	// mean the lock does not lock.
	if least := requests * hold; elapsed < least {
		t.Errorf("%d requests holding %s each took %s; want ≥ %s (serialized)", requests, hold, elapsed, least)
	}
	if n := lockLen(t, srv.Addr, key); n != 1 {
		t.Errorf("after the requests: %d tokens, want 1 (each request gives it back)", n)
	}
}

// With the token taken elsewhere, a request waits until its deadline, then
// gets 503; the token (given back meanwhile) is not duplicated.
func TestHandler_HoldTimeout(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	const key = "test:timeout"
	h, err := Handler(Config{Workload: WorkloadSleep, RedisAddr: srv.Addr, Hold: time.Millisecond, LockKey: key})
	if err != nil {
		t.Fatal(err)
	}
	closeHandler(t, h)
	// No ResetLock: the list is empty, as if another worker held the token.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d without a token, want 503", rec.Code)
	}
	if n := lockLen(t, srv.Addr, key); n != 0 {
		t.Errorf("after a timed-out request: %d tokens, want 0 (it never had one to give back)", n)
	}

	// The direct error says what happened.
	l := h.(*handler).lock
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if err := l.run(ctx2); !errors.Is(err, ErrLockTimeout) {
		t.Errorf("run without a token = %v, want ErrLockTimeout", err)
	}
}

func TestHandler_HoldNeedsRedis(t *testing.T) {
	t.Parallel()
	// Hold 0: no Redis needed, even at an address nobody listens on.
	h, err := Handler(Config{Workload: WorkloadSleep, RedisAddr: testserver.FreeAddr(t)})
	if err != nil {
		t.Fatalf("Handler without hold: %v", err)
	}
	closeHandler(t, h)

	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"nobody listening", Config{RedisAddr: testserver.FreeAddr(t), Hold: time.Millisecond}, "target: hold:"},
		{"not loopback", Config{RedisAddr: "10.1.2.3:6379", Hold: time.Millisecond}, "loopback"},
		{"negative", Config{Hold: -time.Millisecond}, "target: hold: must not be negative"},
	} {
		if h, err := Handler(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			if h != nil {
				closeHandler(t, h)
			}
			t.Errorf("%s: Handler = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
