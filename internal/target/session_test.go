package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/testserver"
)

// sessionServer serves a session workload handler on loopback for the test.
func sessionServer(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	cfg.Workload = WorkloadSession
	h, err := Handler(cfg)
	if err != nil {
		t.Fatalf("Handler(%+v): %v", cfg, err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		if err := h.(io.Closer).Close(); err != nil {
			t.Errorf("handler Close: %v", err)
		}
	})
	return srv
}

var setCookieRE = regexp.MustCompile(`^session=([0-9a-f]{32}); Path=/; HttpOnly$`)

// sessionReply is what one session request came back with.
type sessionReply struct {
	status int
	state  string // X-Session
	id     string // id from Set-Cookie; "" when none was set
	worker string // X-Worker
	body   string
}

// sessionDo sends method path to srv with the session cookie id ("" = none).
func sessionDo(t *testing.T, srv *httptest.Server, method, path, id string) sessionReply {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		req.Header.Set("Cookie", SessionCookie+"="+id)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	rep := sessionReply{status: resp.StatusCode, state: resp.Header.Get(SessionHeader), worker: resp.Header.Get(WorkerHeader), body: string(body)}
	if sc := resp.Header.Values("Set-Cookie"); len(sc) > 0 {
		m := setCookieRE.FindStringSubmatch(sc[0])
		if len(sc) != 1 || m == nil {
			t.Fatalf("%s %s: Set-Cookie = %q, want one %s", method, path, sc, setCookieRE)
		}
		rep.id = m[1]
	}
	return rep
}

// login POSTs LoginPath and returns the new session id.
func login(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	rep := sessionDo(t, srv, http.MethodPost, LoginPath, "")
	if rep.status != http.StatusOK || rep.state != SessionNew || rep.id == "" {
		t.Fatalf("POST %s = %d %s=%q id=%q, want 200 new with a cookie", LoginPath, rep.status, SessionHeader, rep.state, rep.id)
	}
	return rep.id
}

// want checks one reply's status, X-Session and whether a cookie was set.
func (r sessionReply) want(t *testing.T, what, state string, cookie bool) {
	t.Helper()
	if r.status != http.StatusOK || r.state != state || (r.id != "") != cookie || r.body != "ok\n" {
		t.Errorf("%s = %d %s=%q cookie=%q body=%q; want 200 %s=%q cookie set=%v", what, r.status, SessionHeader, r.state, r.id, r.body, SessionHeader, state, cookie)
	}
}

func TestSession_Memory(t *testing.T) {
	t.Parallel()
	srv := sessionServer(t, Config{Index: 1})

	id := login(t, srv)
	sessionDo(t, srv, http.MethodGet, "/", id).want(t, "GET / with the login cookie", SessionHit, false)
	sessionDo(t, srv, http.MethodPost, "/any/path?x=1", id).want(t, "POST /any/path with the login cookie", SessionHit, false)

	// No cookie: the first request logs in.
	first := sessionDo(t, srv, http.MethodGet, "/", "")
	first.want(t, "GET / without a cookie", SessionNew, true)
	sessionDo(t, srv, http.MethodGet, "/", first.id).want(t, "GET / with the first request's cookie", SessionHit, false)

	// Unknown but well-formed id: a miss; the worker stores the session
	// under the same id, so the client carries on with its cookie.
	unknown := strings.Repeat("ab", 16)
	sessionDo(t, srv, http.MethodGet, "/", unknown).want(t, "GET / with an unknown id", SessionMiss, false)
	sessionDo(t, srv, http.MethodGet, "/", unknown).want(t, "GET / with the unknown id again", SessionHit, false)

	// Malformed ids are no cookie at all, never looked up.
	for _, bad := range []string{"xyz", strings.Repeat("AB", 16), strings.Repeat("a", 33), id[:31] + "g"} {
		sessionDo(t, srv, http.MethodGet, "/", bad).want(t, "GET / with cookie "+bad, SessionNew, true)
	}

	// POST /login always starts a new session, even with a valid cookie.
	again := sessionDo(t, srv, http.MethodPost, LoginPath, id)
	again.want(t, "POST /login with a valid cookie", SessionNew, true)
	if again.id == id {
		t.Errorf("second login re-used id %s", id)
	}
	// GET /login is an ordinary request.
	sessionDo(t, srv, http.MethodGet, LoginPath, id).want(t, "GET /login with a valid cookie", SessionHit, false)

	// Health checks stay outside the session protocol.
	if rep := sessionDo(t, srv, http.MethodGet, HealthPath, ""); rep.state != "" || rep.id != "" {
		t.Errorf("GET %s: %s=%q cookie=%q, want neither", HealthPath, SessionHeader, rep.state, rep.id)
	}
}

// TestSession_MemoryTwoWorkers is the bug of in-memory sessions: a session
// created by one worker is unknown to the next.
func TestSession_MemoryTwoWorkers(t *testing.T) {
	t.Parallel()
	w1 := sessionServer(t, Config{Index: 1})
	w2 := sessionServer(t, Config{Index: 2})

	id := login(t, w1)
	sessionDo(t, w1, http.MethodGet, "/", id).want(t, "worker 1, own session", SessionHit, false)
	sessionDo(t, w2, http.MethodGet, "/", id).want(t, "worker 2, worker 1's session", SessionMiss, false)
}

// TestSession_Seq: a client that counts its requests detects a worker that
// holds an older state of its session, as round-robin over memory stores
// produces: alternating workers miss every time.
func TestSession_Seq(t *testing.T) {
	t.Parallel()
	w1 := sessionServer(t, Config{Index: 1})
	w2 := sessionServer(t, Config{Index: 2})
	do := func(srv *httptest.Server, id string, seq int) string {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		if id != "" {
			req.Header.Set("Cookie", SessionCookie+"="+id)
		}
		req.Header.Set(SessionSeqHeader, fmt.Sprint(seq))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get(SessionHeader)
	}
	id := strings.Repeat("cd", 16)
	for i, tc := range []struct {
		srv  *httptest.Server
		want string
	}{
		{w1, SessionNew},  // the client starts its session with an id of its own
		{w1, SessionHit},  // w1 holds seq 1
		{w2, SessionMiss}, // w2 never saw it
		{w1, SessionMiss}, // w1 holds seq 2, the client is at 4: state lost
		{w1, SessionHit},
		{w1, SessionHit},
	} {
		if got := do(tc.srv, id, i+1); got != tc.want {
			t.Errorf("request %d: %s = %q, want %q", i+1, SessionHeader, got, tc.want)
		}
	}
	if got := do(w1, "", 1); got != SessionNew {
		t.Errorf("no cookie: %s = %q, want %q", SessionHeader, got, SessionNew)
	}
}

// TestSession_RedisTwoWorkers is the fix: two workers sharing one real Redis
// see each other's sessions.
func TestSession_RedisTwoWorkers(t *testing.T) {
	t.Parallel()
	redis := startRedis(t)
	w1 := sessionServer(t, Config{Index: 1, Store: StoreRedis, RedisAddr: redis.Addr, SessionTTL: time.Minute})
	w2 := sessionServer(t, Config{Index: 2, Store: StoreRedis, RedisAddr: redis.Addr, SessionTTL: time.Minute})

	id := login(t, w1)
	r2 := sessionDo(t, w2, http.MethodGet, "/", id)
	r2.want(t, "worker 2, worker 1's session", SessionHit, false)
	sessionDo(t, w1, http.MethodGet, "/", id).want(t, "worker 1, own session", SessionHit, false)
	if r2.worker == "" || !strings.HasPrefix(r2.worker, "2/") {
		t.Errorf("worker 2 answered with %s %q, want 2/<pid>", WorkerHeader, r2.worker)
	}

	first := sessionDo(t, w2, http.MethodGet, "/", "")
	first.want(t, "worker 2, no cookie", SessionNew, true)
	sessionDo(t, w1, http.MethodGet, "/", first.id).want(t, "worker 1, worker 2's session", SessionHit, false)

	unknown := strings.Repeat("0f", 16)
	sessionDo(t, w1, http.MethodGet, "/", unknown).want(t, "worker 1, unknown id", SessionMiss, false)
	sessionDo(t, w2, http.MethodGet, "/", unknown).want(t, "worker 2, the session worker 1's miss stored", SessionHit, false)

	// The session's state (its request count: login, w2, w1) is in Redis
	// under its prefix, with the TTL.
	c := NewRedisClient(redis.Addr, 1)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	state, ok, err := c.Get(ctx, redisSessionPrefix+id)
	if err != nil || !ok || state != "3" {
		t.Errorf("GET %s%s = %q, %v, %v; want \"3\"", redisSessionPrefix, id, state, ok, err)
	}
	if rep, err := c.do(ctx, "TTL", redisSessionPrefix+id); err != nil || rep.(int64) < 1 || rep.(int64) > 60 {
		t.Errorf("TTL of the session = %v, %v; want 1..60 s", rep, err)
	}
}

// TestSession_RedisDown: a store that fails mid-run answers 503 naming
// Redis, which the load side counts as a failed request.
func TestSession_RedisDown(t *testing.T) {
	t.Parallel()
	redis := startRedis(t)
	srv := sessionServer(t, Config{Index: 1, Store: StoreRedis, RedisAddr: redis.Addr})
	id := login(t, srv)
	redis.Stop()

	for _, cookie := range []string{id, ""} { // lookup fails; create fails
		rep := sessionDo(t, srv, http.MethodGet, "/", cookie)
		if rep.status != http.StatusServiceUnavailable || rep.id != "" || !strings.Contains(rep.body, "session store: redis at "+redis.Addr) {
			t.Errorf("GET / (cookie %q) with Redis stopped = %d cookie=%q %q, want 503 naming redis at %s, no cookie",
				cookie, rep.status, rep.id, rep.body, redis.Addr)
		}
	}
}

func TestSession_RedisStartupFails(t *testing.T) {
	t.Parallel()
	addr := testserver.FreeAddr(t) // nobody listens
	_, err := Handler(Config{Workload: WorkloadSession, Store: StoreRedis, RedisAddr: addr})
	if got, want := fmt.Sprint(err), "target: store redis: redis at "+addr+": connection refused"; got != want {
		t.Errorf("Handler with Redis down = %q, want %q", got, want)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Handler with Redis down = %v, want errors.Is ECONNREFUSED", err)
	}
	// Other workloads never touch Redis.
	if _, err := Handler(Config{Workload: WorkloadCPU, Store: StoreRedis, RedisAddr: addr}); err != nil {
		t.Errorf("cpu workload with an unreachable redis store: %v, want no error", err)
	}
}

// Not parallel: Run changes GOMAXPROCS for the whole process.
func TestRun_RedisStartupFails(t *testing.T) {
	redisAddr, addr := testserver.FreeAddr(t), testserver.FreeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Run(ctx, Config{Workload: WorkloadSession, Store: StoreRedis, RedisAddr: redisAddr, Addr: addr})
	if err == nil || !strings.Contains(err.Error(), "redis at "+redisAddr+": connection refused") {
		t.Fatalf("Run with Redis down = %v, want the refused PING", err)
	}
	// It failed before opening its port.
	if c, err := (&http.Client{Timeout: time.Second}).Get("http://" + addr + HealthPath); err == nil {
		c.Body.Close()
		t.Errorf("GET %s answered after Run failed, want nothing listening", addr)
	}
}

func TestSession_CPUCost(t *testing.T) {
	t.Parallel()
	h, err := Handler(Config{Workload: WorkloadSession, Cost: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer h.(io.Closer).Close()
	if got, want := h.(*handler).iters, Calibrate().Iters(2*time.Millisecond); got != want || got == 0 {
		t.Errorf("session workload iters = %d, want %d (the cpu workload's burn for the cost)", got, want)
	}
}

func TestSession_RequestQueuedGivesUp(t *testing.T) {
	t.Parallel()
	h, err := Handler(Config{Workload: WorkloadSession, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer h.(io.Closer).Close()
	h.(*handler).sem <- struct{}{} // the only slot is busy

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
	if got, want := rec.Code, http.StatusServiceUnavailable; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
}

func TestMemoryStore_Expiry(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	s := newMemoryStore(time.Minute)
	s.now = func() time.Time { return now }
	ctx := context.Background()

	s.put(ctx, "a", 7)
	if seq, ok, _ := s.get(ctx, "a"); !ok || seq != 7 {
		t.Fatalf("get right after put = %d, %v; want 7, true", seq, ok)
	}
	now = now.Add(time.Minute - time.Nanosecond)
	if _, ok, _ := s.get(ctx, "a"); !ok {
		t.Error("get just before the TTL = false, want true")
	}
	now = now.Add(time.Nanosecond)
	if _, ok, _ := s.get(ctx, "a"); ok {
		t.Error("get at the TTL = true, want expired")
	}

	// Expired sessions nobody looks up again are swept as the map grows.
	for range memorySweepMin {
		s.put(ctx, newSessionID(), 1)
	}
	now = now.Add(2 * time.Minute)
	s.put(ctx, "fresh", 1) // reaches sweepAt: drops the 1024 expired
	if got := len(s.sessions); got != 1 {
		t.Errorf("sessions kept after the sweep = %d, want 1 (only the fresh one)", got)
	}
	if got, want := s.sweepAt, memorySweepMin; got != want {
		t.Errorf("next sweep at %d sessions, want %d", got, want)
	}
}

func TestNewSessionID(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for range 100 {
		id := newSessionID()
		if !validSessionID(id) {
			t.Fatalf("newSessionID() = %q, not 32 lowercase hex digits", id)
		}
		if seen[id] {
			t.Fatalf("newSessionID() repeated %q", id)
		}
		seen[id] = true
	}
}

// BenchmarkSession measures the session workload's own cost per request with
// cost 0: a memory-store hit, and a login (new id, map insert, Set-Cookie).
func BenchmarkSession(b *testing.B) {
	h, err := Handler(Config{Workload: WorkloadSession, Index: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer h.(io.Closer).Close()
	w := &discardWriter{h: make(http.Header)}
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, LoginPath, nil))
	m := setCookieRE.FindStringSubmatch(w.h.Get("Set-Cookie"))
	if m == nil {
		b.Fatalf("login Set-Cookie = %q", w.h.Get("Set-Cookie"))
	}
	for _, bc := range []struct {
		name string
		r    *http.Request
	}{
		{"hit", httptest.NewRequest(http.MethodGet, "/", nil)},
		{"login", httptest.NewRequest(http.MethodPost, LoginPath, nil)},
	} {
		if bc.name == "hit" {
			bc.r.Header.Set("Cookie", SessionCookie+"="+m[1])
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, bc.r)
			}
			if got := w.h.Get(SessionHeader); got == "" {
				b.Fatalf("%s missing", SessionHeader)
			}
		})
	}
}
