// Package haproxy runs HAProxy as a child process in front of the workers,
// with the strategy names bench's own balancer takes, so that a run can
// compare bench's balancer hop with a proxy tuned by others for years.
//
// HAProxy is used as an outside reference, not a dependency: Start fails
// with ErrNotInstalled when no haproxy binary is found.
//
// The listening socket is created here and handed to HAProxy as an
// inherited file descriptor (`bind fd@3`): a free port picked with
// "127.0.0.1:0" can then never be taken by another process between being
// picked and being bound, and Addr is known before HAProxy starts.
package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/cluster"
)

// ErrNotInstalled is wrapped by the error Start returns when the haproxy
// binary cannot be found.
var ErrNotInstalled = errors.New("haproxy is not installed (Debian: apt-get install -y haproxy)")

// errPrefix names what failed in every error of this package: HAProxy is
// what a scenario's `balancer.engine: haproxy` selects.
const errPrefix = "balancer.engine haproxy: "

// Defaults.
const (
	// DefaultThreads is HAProxy's nbthread when Config.Threads is 0: one
	// thread, like one single-threaded worker, so the comparison with
	// bench's balancer is about the hop rather than about parallelism.
	DefaultThreads = 1
	// MaxConn is HAProxy's maxconn, or less where the file descriptor
	// limit is too low for it (see maxConn): far above what a load
	// generator opens on loopback, so HAProxy never queues connections of
	// its own accord.
	MaxConn = 10000
	// ReadyTimeout bounds how long Start waits for HAProxy to answer.
	ReadyTimeout = 10 * time.Second
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL.
	StopGrace = 2 * time.Second
	// ReadyPath is answered 200 by HAProxy itself (monitor-uri), never
	// forwarded: Start polls it, so readiness costs the workers nothing.
	ReadyPath = "/.bench-haproxy-ready"
)

// Config describes one HAProxy in front of a set of backends.
type Config struct {
	// Backends are the workers' "host:port" addresses, server w1 first.
	// At least one is required.
	Backends []string
	// Listen is the "host:port" HAProxy accepts on; "" or port 0 picks a
	// free port (see Proxy.Addr). "" means "127.0.0.1:0".
	Listen string
	// Strategy is one of bench's balancer strategy names:
	// round-robin (balance roundrobin), least-connections (leastconn),
	// random (random(1)), p2c (random(2): power of two choices) or
	// cookie-hash (balance hash req.cook(Cookie) with consistent hashing).
	// "" means round-robin. reuseport has no proxy to stand for it and
	// is an error.
	Strategy balancer.Strategy
	// Cookie is the cookie cookie-hash hashes; "" means
	// balancer.DefaultCookie. Other strategies take no cookie.
	Cookie string
	// BoundedLoad is cookie-hash's load bound c, HAProxy's
	// hash-balance-factor 100×c; 0 means unbounded, otherwise it must be
	// at least 1. Other strategies take no bound.
	BoundedLoad float64
	// Threads is HAProxy's nbthread; 0 means DefaultThreads.
	Threads int
	// Binary is the haproxy executable, a path or a name looked up in
	// PATH; "" means "haproxy".
	Binary string
}

// balanceLines maps each strategy but cookie-hash (which takes options) to
// HAProxy's balance directive.
var balanceLines = map[balancer.Strategy]string{
	balancer.StrategyRoundRobin:       "balance roundrobin",
	balancer.StrategyLeastConnections: "balance leastconn",
	// HAProxy's bare `balance random` draws twice; random(1) is the plain
	// uniform choice bench's Random makes.
	balancer.StrategyRandom: "balance random(1)",
	balancer.StrategyP2C:    "balance random(2)",
}

// Strategies returns the strategies Start accepts, sorted.
func Strategies() []balancer.Strategy {
	names := []balancer.Strategy{balancer.StrategyCookieHash}
	for name := range balanceLines {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// configText returns the HAProxy configuration for cfg, listening on bind
// (an HAProxy address such as "fd@3") with at most maxconn connections.
// Errors name the Config field.
func configText(cfg Config, bind string, maxconn int) (string, error) {
	if len(cfg.Backends) == 0 {
		return "", errors.New("backends: none given")
	}
	for i, addr := range cfg.Backends {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || port == "" || strings.ContainsAny(addr, " \t\r\n#") {
			return "", fmt.Errorf("backends[%d]: %q is not a host:port", i, addr)
		}
	}
	threads := cfg.Threads
	switch {
	case threads == 0:
		threads = DefaultThreads
	case threads < 0:
		return "", fmt.Errorf("threads: must be positive, got %d", threads)
	}
	strategy := cfg.Strategy
	if strategy == "" {
		strategy = balancer.StrategyRoundRobin
	}

	var balance string
	switch line, ok := balanceLines[strategy]; {
	case ok:
		switch {
		case cfg.Cookie != "":
			return "", fmt.Errorf("cookie: strategy %s takes none (only %s does)", strategy, balancer.StrategyCookieHash)
		case cfg.BoundedLoad != 0:
			return "", fmt.Errorf("bounded_load: strategy %s takes none (only %s does)", strategy, balancer.StrategyCookieHash)
		}
		balance = "\t" + line + "\n"
	case strategy == balancer.StrategyCookieHash:
		cookie := cfg.Cookie
		if cookie == "" {
			cookie = balancer.DefaultCookie
		}
		if !isToken(cookie) {
			return "", fmt.Errorf("cookie: %q is not a valid cookie name", cookie)
		}
		c := cfg.BoundedLoad
		if math.IsNaN(c) || math.IsInf(c, 0) || c < 0 || (c > 0 && c < 1) {
			return "", fmt.Errorf("bounded_load: must be 0 (unbounded) or at least 1, got %v", c)
		}
		// Consistent hashing moves ≈1/N of the keys when a backend goes,
		// like bench's rendezvous hashing; avalanche spreads keys that
		// differ only in their last characters (user-1, user-2, …),
		// which sdbm alone maps to neighbouring points of the ring.
		// Requests without the cookie go round-robin, as in bench.
		balance = "\tbalance hash req.cook(" + cookie + ")\n\thash-type consistent sdbm avalanche\n"
		if c > 0 {
			balance += "\thash-balance-factor " + strconv.Itoa(int(100*c)) + "\n"
		}
	case strategy == balancer.StrategyReusePort:
		return "", errors.New("strategy: reuseport shares one port among the workers: there is no proxy to run")
	default:
		return "", fmt.Errorf("strategy: unknown %q (known: %s)", strategy, join(Strategies()))
	}

	var b strings.Builder
	// No log directive anywhere: logging would cost HAProxy CPU per
	// request that bench's balancer does not spend.
	fmt.Fprintf(&b, `# generated by bench (internal/haproxy)
global
	nbthread %d
	maxconn %d

defaults
	mode http
	option http-keep-alive
	# Reuse idle server connections across client connections, as bench's
	# balancer pools them: otherwise HAProxy would measure connects.
	http-reuse always
	timeout connect 5s
	timeout client 60s
	timeout server 60s
	timeout http-request 10s
	timeout http-keep-alive 60s
	maxconn %d

frontend bench
	bind %s
	monitor-uri %s
	default_backend workers

backend workers
%s`, threads, maxconn, maxconn, bind, ReadyPath, balance)
	for i, addr := range cfg.Backends {
		fmt.Fprintf(&b, "\tserver w%d %s\n", i+1, addr)
	}
	return b.String(), nil
}

// maxConn returns MaxConn, or what the file descriptor limit allows if
// that is less: HAProxy refuses to start when it cannot raise its limit
// to about two descriptors per connection.
func maxConn() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Max >= 2*MaxConn+200 {
		return MaxConn
	}
	// A few hundred descriptors are HAProxy's own (listeners, pollers,
	// pipes per thread).
	return max(64, (int(lim.Max)-200)/2)
}

// isToken reports whether s is a non-empty RFC 7230 token, which is what a
// cookie name is; it also keeps the name from breaking the generated
// config's syntax.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Proxy is one running HAProxy process. Its methods are safe for
// concurrent use.
type Proxy struct {
	addr string
	dir  string // temporary directory holding the config
	cmd  *exec.Cmd
	errs *tail
	done chan struct{} // closed once the process has been reaped

	mu      sync.Mutex
	exited  bool          // reaped or about to be: no more signals or /proc reads by pid
	lastCPU time.Duration // latest CPU reading; the exact total once reaped

	stopOnce sync.Once
	stopErr  error
}

// Start writes the configuration for cfg to a temporary directory, checks
// it with `haproxy -c`, starts `haproxy -db` as a child process and
// returns once HAProxy answers HTTP on its listening address. HAProxy is
// stopped when ctx is done or Stop is called, and is killed by the kernel
// if this process dies (Pdeathsig; docs/design.md, "No orphans").
func Start(ctx context.Context, cfg Config) (*Proxy, error) {
	text, err := configText(cfg, "fd@3", maxConn())
	if err != nil {
		return nil, fmt.Errorf(errPrefix+"%w", err)
	}
	bin := cfg.Binary
	if bin == "" {
		bin = "haproxy"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf(errPrefix+"%w", ErrNotInstalled)
	}

	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf(errPrefix+"listen: %w", err)
	}
	lnFile, err := ln.(*net.TCPListener).File()
	addr := ln.Addr().String()
	// The socket lives on in lnFile (a dup), then in HAProxy alone: once
	// HAProxy exits, the port is free again.
	ln.Close()
	if err != nil {
		return nil, fmt.Errorf(errPrefix+"listen: %w", err)
	}
	defer lnFile.Close()

	dir, err := os.MkdirTemp("", "bench-haproxy-")
	if err != nil {
		return nil, fmt.Errorf(errPrefix+"%w", err)
	}
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf(errPrefix+"%w", err)
	}

	// The check needs the inherited socket too: HAProxy validates fd@3.
	checkCtx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	check := exec.CommandContext(checkCtx, path, "-c", "-f", cfgPath)
	check.ExtraFiles = []*os.File{lnFile}
	out, err := check.CombinedOutput()
	cancel()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf(errPrefix+"%s: config check failed: %w: %s", cfgPath, err, strings.TrimSpace(string(out)))
	}

	p := &Proxy{addr: addr, dir: dir, errs: &tail{max: 4096}, done: make(chan struct{})}
	p.cmd = &exec.Cmd{
		Path:       path,
		Args:       []string{path, "-db", "-f", cfgPath},
		Stderr:     p.errs,
		ExtraFiles: []*os.File{lnFile},
		SysProcAttr: &syscall.SysProcAttr{
			// Its own process group: one kill(-pid) reaches it all, and
			// a terminal's ^C goes to bench, which stops it in order.
			Setpgid:   true,
			Pdeathsig: syscall.SIGKILL,
		},
		WaitDelay: time.Second,
	}
	if err := p.spawn(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf(errPrefix+"starting %s: %w", path, err)
	}
	if err := p.waitReady(ctx); err != nil {
		p.Stop()
		return nil, fmt.Errorf(errPrefix+"%w", err)
	}
	go func() {
		select {
		case <-ctx.Done():
			p.Stop()
		case <-p.done:
		}
	}()
	return p, nil
}

// spawn starts the process from a goroutine that keeps its OS thread
// locked until the process is reaped: Pdeathsig fires when the thread that
// forked the child exits (golang/go#27505), and the Go runtime retires
// idle threads at will.
func (p *Proxy) spawn() error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := p.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.wait()
		close(p.done)
	}()
	return <-started
}

// wait blocks until HAProxy exits and reaps it.
func (p *Proxy) wait() {
	pid := p.cmd.Process.Pid
	var info unix.Siginfo
	for {
		// WNOWAIT leaves a zombie: until the reap below neither the pid
		// nor the process group id can be reused, so signals sent
		// meanwhile cannot hit a stranger.
		if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != unix.EINTR {
			break
		}
	}
	p.mu.Lock()
	p.exited = true
	syscall.Kill(-pid, syscall.SIGKILL) // anything left in its group
	p.mu.Unlock()
	p.cmd.Wait()
	if st := p.cmd.ProcessState; st != nil {
		p.mu.Lock()
		p.lastCPU = max(p.lastCPU, st.UserTime()+st.SystemTime())
		p.mu.Unlock()
	}
}

// waitReady polls ReadyPath until HAProxy answers 200. The socket accepts
// connections from the start (it was listening before HAProxy started), so
// only an HTTP answer shows that HAProxy serves.
func (p *Proxy) waitReady(ctx context.Context) error {
	client := &http.Client{
		Timeout:   500 * time.Millisecond,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
	url := "http://" + p.addr + ReadyPath
	deadline := time.Now().Add(ReadyTimeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %s", ReadyPath, resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready on %s within %v: %w%s", p.addr, ReadyTimeout, err, p.errs.suffix())
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited before serving on %s (%v)%s", p.addr, p.cmd.ProcessState, p.errs.suffix())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond): // polling interval
		}
	}
}

// Addr returns the "host:port" HAProxy accepts on.
func (p *Proxy) Addr() string { return p.addr }

// PID returns HAProxy's process id.
func (p *Proxy) PID() int { return p.cmd.Process.Pid }

// CPU returns the user+system CPU time HAProxy has used so far, from
// /proc/PID/stat while it runs (10 ms resolution) and exactly once it has
// exited.
func (p *Proxy) CPU() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.exited {
		if d, err := cluster.ProcCPU(p.cmd.Process.Pid); err == nil {
			p.lastCPU = max(p.lastCPU, d)
		}
	}
	return p.lastCPU
}

// Stop ends HAProxy: SIGTERM to its process group, SIGKILL after
// StopGrace, then waits for it to be reaped and removes its config. It
// returns an error if HAProxy had exited by itself before being stopped.
// It is idempotent; later calls return the first call's result.
func (p *Proxy) Stop() error {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		unexpected := p.exited
		if !p.exited {
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		}
		p.mu.Unlock()
		select {
		case <-p.done:
		case <-time.After(StopGrace):
			p.mu.Lock()
			if !p.exited {
				syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			}
			p.mu.Unlock()
			<-p.done
		}
		if unexpected {
			p.stopErr = fmt.Errorf(errPrefix+"pid %d exited before Stop (%v)%s", p.cmd.Process.Pid, p.cmd.ProcessState, p.errs.suffix())
		}
		if err := os.RemoveAll(p.dir); err != nil && p.stopErr == nil {
			p.stopErr = fmt.Errorf(errPrefix+"%w", err)
		}
	})
	return p.stopErr
}

// Done is closed once HAProxy has exited, stopped or not.
func (p *Proxy) Done() <-chan struct{} { return p.done }

// tail keeps the last max bytes written to it: HAProxy's stderr, for error
// messages.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

// suffix returns ": <stderr>" or "" when HAProxy printed nothing.
func (t *tail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := strings.TrimSpace(string(t.buf)); s != "" {
		return ": " + s
	}
	return ""
}

// join lists strategies for a message: "a, b, c".
func join(names []balancer.Strategy) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = string(n)
	}
	return strings.Join(parts, ", ")
}
