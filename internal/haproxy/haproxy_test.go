package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/testserver"
)

func TestConfigText(t *testing.T) {
	t.Parallel()
	backends := []string{"127.0.0.1:9001", "[::1]:9002"}
	tests := []struct {
		name string
		cfg  Config
		want []string // lines the config must contain
		not  []string // and must not
	}{
		{"zero is round-robin, one thread", Config{Backends: backends},
			[]string{"\tbalance roundrobin\n", "\tnbthread 1\n", "\tmaxconn 1000\n", "\tbind fd@3\n", "\tserver w1 127.0.0.1:9001\n", "\tserver w2 [::1]:9002\n",
				"\thttp-reuse always\n", "\toption http-keep-alive\n", "\tmode http\n", "\tmonitor-uri " + ReadyPath + "\n"},
			[]string{"log", "hash-type"}},
		{"least-connections", Config{Backends: backends, Strategy: "least-connections", Threads: 2},
			[]string{"\tbalance leastconn\n", "\tnbthread 2\n"}, nil},
		{"random is one draw", Config{Backends: backends, Strategy: "random"},
			[]string{"\tbalance random(1)\n"}, nil},
		{"p2c is two draws", Config{Backends: backends, Strategy: "p2c"},
			[]string{"\tbalance random(2)\n"}, nil},
		{"cookie-hash default cookie, unbounded", Config{Backends: backends, Strategy: "cookie-hash"},
			[]string{"\tbalance hash req.cook(session)\n", "\thash-type consistent sdbm avalanche\n"},
			[]string{"hash-balance-factor"}},
		{"cookie-hash bounded", Config{Backends: backends, Strategy: "cookie-hash", Cookie: "sid", BoundedLoad: 1.25},
			[]string{"\tbalance hash req.cook(sid)\n", "\thash-balance-factor 125\n"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			text, err := configText(tt.cfg, "fd@3", 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.want {
				if !strings.Contains(text, s) {
					t.Errorf("config lacks %q:\n%s", s, text)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(text, s) {
					t.Errorf("config has %q:\n%s", s, text)
				}
			}
			if got := strings.Count(text, "\tbalance "); got != 1 {
				t.Errorf("%d balance lines, want 1:\n%s", got, text)
			}
		})
	}
}

func TestConfigTextErrors(t *testing.T) {
	t.Parallel()
	ok := []string{"127.0.0.1:9001"}
	tests := []struct {
		name string
		cfg  Config
		want string // in the error
	}{
		{"no backends", Config{}, "backends: none"},
		{"backend without port", Config{Backends: []string{"127.0.0.1"}}, "backends[0]"},
		{"backend injecting config", Config{Backends: []string{"127.0.0.1:1\n\tbalance source #:2"}}, "backends[0]"},
		{"negative threads", Config{Backends: ok, Threads: -1}, "threads:"},
		{"reuseport", Config{Backends: ok, Strategy: "reuseport"}, "strategy: reuseport"},
		{"unknown strategy lists known", Config{Backends: ok, Strategy: "fastest"}, "known: cookie-hash, least-connections, p2c, random, round-robin"},
		{"cookie on round-robin", Config{Backends: ok, Cookie: "sid"}, "cookie: strategy round-robin"},
		{"bound on p2c", Config{Backends: ok, Strategy: "p2c", BoundedLoad: 2}, "bounded_load: strategy p2c"},
		{"bound below 1", Config{Backends: ok, Strategy: "cookie-hash", BoundedLoad: 0.5}, "bounded_load: must be"},
		{"cookie name with a space", Config{Backends: ok, Strategy: "cookie-hash", Cookie: "a b)"}, "cookie:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := configText(tt.cfg, "fd@3", 1000)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestStartNotInstalled(t *testing.T) {
	t.Parallel()
	_, err := Start(context.Background(), Config{Backends: []string{"127.0.0.1:1"}, Binary: "haproxy-not-installed-here"})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("error %v, want ErrNotInstalled", err)
	}
	if got, want := err.Error(), "balancer.engine haproxy: haproxy is not installed (Debian: apt-get install -y haproxy)"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
}

func TestStartRejectsBadConfigBeforeLookingForHAProxy(t *testing.T) {
	t.Parallel()
	_, err := Start(context.Background(), Config{Backends: []string{"127.0.0.1:1"}, Strategy: "reuseport", Binary: "haproxy-not-installed-here"})
	if err == nil || errors.Is(err, ErrNotInstalled) || !strings.HasPrefix(err.Error(), errPrefix+"strategy:") {
		t.Fatalf("error %v, want a strategy error", err)
	}
}

func needHAProxy(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Skip("haproxy is not installed (Debian: apt-get install -y haproxy)")
	}
}

// backends starts n httptest servers that answer with their 1-based index
// in the X-Worker header, and returns their addresses.
func backends(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for i := range n {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-Worker", fmt.Sprint(i+1))
			io.WriteString(w, "ok")
		}))
		t.Cleanup(srv.Close)
		addrs = append(addrs, srv.Listener.Addr().String())
	}
	return addrs
}

func start(t *testing.T, cfg Config) *Proxy {
	t.Helper()
	p, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() }) // before the backends close: cleanups run last-in first-out
	return p
}

// get sends one request through p and returns the X-Worker header.
func get(t *testing.T, client *http.Client, p *Proxy, cookie string) string {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+p.Addr()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", "theme=dark; session="+cookie)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %s", resp.Status)
	}
	return resp.Header.Get("X-Worker")
}

func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{Proxy: nil}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

func TestRoundRobinSpreadsRequests(t *testing.T) {
	t.Parallel()
	needHAProxy(t)
	p := start(t, Config{Backends: backends(t, 2)})
	client := newClient(t)
	counts := map[string]int{}
	for range 20 {
		counts[get(t, client, p, "")]++
	}
	// HAProxy's roundrobin alternates exactly over two equal servers.
	if counts["1"] != 10 || counts["2"] != 10 {
		t.Errorf("requests per worker %v, want 10 each", counts)
	}
}

func TestCookieHashKeepsASessionOnOneBackend(t *testing.T) {
	t.Parallel()
	needHAProxy(t)
	p := start(t, Config{Backends: backends(t, 2), Strategy: "cookie-hash", BoundedLoad: 1.25})
	client := newClient(t)
	used := map[string]int{}
	for s := range 20 {
		session := fmt.Sprintf("user-%d", s)
		first := get(t, client, p, session)
		for range 4 {
			if got := get(t, client, p, session); got != first {
				t.Fatalf("session %s went to worker %s, then to worker %s", session, first, got)
			}
		}
		used[first]++
	}
	// Sticky must not mean "everything on one worker".
	if len(used) != 2 {
		t.Errorf("20 sessions landed on workers %v, want both used", used)
	}
	// Without the cookie: round-robin, as bench's cookie-hash does.
	noCookie := map[string]int{}
	for range 10 {
		noCookie[get(t, client, p, "")]++
	}
	if len(noCookie) != 2 {
		t.Errorf("requests without the cookie went to %v, want both workers", noCookie)
	}
}

func TestEveryStrategyServes(t *testing.T) {
	t.Parallel()
	needHAProxy(t)
	addrs := backends(t, 2)
	for _, s := range Strategies() {
		t.Run(string(s), func(t *testing.T) {
			t.Parallel()
			p := start(t, Config{Backends: addrs, Strategy: s, Threads: 2})
			client := newClient(t)
			if w := get(t, client, p, "abc"); w != "1" && w != "2" {
				t.Errorf("X-Worker %q, want 1 or 2", w)
			}
		})
	}
}

func TestStopLeavesNoProcess(t *testing.T) {
	t.Parallel()
	needHAProxy(t)
	p := start(t, Config{Backends: backends(t, 1)})
	get(t, newClient(t), p, "")
	pid := p.PID()
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("kill(%d, 0) after Stop: %v, want ESRCH", pid, err)
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts after Stop", p.Addr())
	}
	if _, err := os.Stat(p.dir); !os.IsNotExist(err) {
		t.Errorf("config directory %s after Stop: %v, want it removed", p.dir, err)
	}
	if p.CPU() <= 0 {
		t.Errorf("CPU() = %v after a run, want > 0", p.CPU())
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestContextEndStopsHAProxy(t *testing.T) {
	t.Parallel()
	needHAProxy(t)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, Config{Backends: backends(t, 1)})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	cancel()
	select {
	case <-p.Done():
	case <-time.After(StopGrace + 5*time.Second):
		t.Fatal("HAProxy still running after its context ended")
	}
	if err := syscall.Kill(p.PID(), 0); err != syscall.ESRCH {
		t.Errorf("kill(pid, 0): %v, want ESRCH", err)
	}
}

func TestStopReportsAnEarlyExit(t *testing.T) {
	t.Parallel()
	needHAProxy(t)
	p := start(t, Config{Backends: backends(t, 1)})
	syscall.Kill(p.PID(), syscall.SIGKILL)
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("HAProxy not reaped after SIGKILL")
	}
	if err := p.Stop(); err == nil || !strings.Contains(err.Error(), "exited before Stop") {
		t.Errorf("Stop: %v, want an early-exit error", err)
	}
}

func TestExplicitListenAddress(t *testing.T) {
	t.Parallel()
	needHAProxy(t)
	addr := testserver.FreeAddr(t)
	p, err := Start(context.Background(), Config{Backends: backends(t, 1), Listen: addr})
	if err != nil {
		// Another process may have taken the port meanwhile; that is not
		// what this test is about.
		t.Skipf("port %s: %v", addr, err)
	}
	t.Cleanup(func() { p.Stop() })
	if p.Addr() != addr {
		t.Errorf("Addr() = %s, want %s", p.Addr(), addr)
	}
	get(t, newClient(t), p, "")
}

func TestConfigCheckFailureNamesTheFile(t *testing.T) {
	t.Parallel()
	needHAProxy(t)
	// A host name that does not resolve passes configText but not HAProxy.
	_, err := Start(context.Background(), Config{Backends: []string{"no-such-host.invalid:80"}})
	if err == nil || !strings.Contains(err.Error(), "config check failed") || !strings.Contains(err.Error(), "haproxy.cfg") {
		t.Fatalf("error %v, want a config check failure naming haproxy.cfg", err)
	}
}
