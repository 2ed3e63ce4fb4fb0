package balancer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/bench-dev/bench/internal/testserver"
)

// This file measures what the balancer costs the workers end to end, the
// way bench uses it: two single-threaded worker processes burning CPU per
// request, the balancer in its own process, a closed-loop generator of
// keep-alive connections here. It compares one worker driven directly, two
// driven directly, and two behind each engine (and HAProxy with one thread,
// when installed), in one run:
//
//	go test -run '^$' -bench Scaling ./internal/balancer
//
// BENCH_SCALING_DURATION (default 3s) sets each measurement window,
// BENCH_SCALING_CONNS (default 16) the generator's connections,
// BENCH_SCALING_COST (default 2ms) the CPU each request costs a worker.

// helperEnv makes the test binary act as a helper process (see TestMain).
const helperEnv = "BALANCER_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "worker":
		os.Exit(workerMain())
	case "balancer":
		os.Exit(balancerMain())
	}
	os.Exit(m.Run())
}

// workerMain is a minimal stand-in for `bench worker --workload cpu`: one
// request at a time, each burning HELPER_COST of thread CPU time. It serves
// until its stdin closes.
func workerMain() int {
	cost, err := time.ParseDuration(os.Getenv("HELPER_COST"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker: HELPER_COST:", err)
		return 2
	}
	index := os.Getenv("HELPER_INDEX")
	var mu sync.Mutex // one request at a time, like one event loop
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		burn(cost)
		mu.Unlock()
		w.Header().Set("X-Worker", index)
		w.Write([]byte("ok"))
	})
	return serveHelper(h)
}

// balancerMain serves a Balancer over HELPER_BACKENDS with HELPER_ENGINE
// until its stdin closes.
func balancerMain() int {
	b := New(strings.Split(os.Getenv("HELPER_BACKENDS"), ","), nil, WithEngine(Engine(os.Getenv("HELPER_ENGINE"))))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := b.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(addr)
	// BENCH_SCALING_PROFILE=DIR writes DIR/balancer-ENGINE.pprof, the
	// balancer process's CPU profile under load.
	if dir := os.Getenv("BENCH_SCALING_PROFILE"); dir != "" {
		f, err := os.Create(filepath.Join(dir, "balancer-"+os.Getenv("HELPER_ENGINE")+".pprof"))
		if err == nil {
			pprof.StartCPUProfile(f)
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	io.Copy(io.Discard, os.Stdin)
	cancel()
	b.Wait()
	return 0
}

func serveHelper(h http.Handler) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr())
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	io.Copy(io.Discard, os.Stdin) // the parent closes stdin, or dies
	srv.Close()
	return 0
}

// burn spins until the calling thread has used d of CPU time, so time the
// thread spends preempted does not count.
func burn(d time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	x := 1
	for threadCPU()-start < d {
		for i := range 2000 {
			x = x*31 + i
		}
	}
	burnSink.Store(int64(x))
}

var burnSink atomic.Int64

func threadCPU() time.Duration {
	const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID
	var ts syscall.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// helper is a child process: a copy of the test binary or HAProxy.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
}

// startHelper starts the test binary as a helper of the given kind and
// reads the address it prints.
func startHelper(b *testing.B, kind string, env ...string) *helper {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + kind}, env...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin}
	b.Cleanup(h.stop)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("%s helper: reading its address: %v", kind, err)
	}
	h.addr = strings.TrimSpace(line)
	return h
}

// startHAProxy starts HAProxy with one thread balancing round-robin over
// backends, or returns nil if it is not installed.
func startHAProxy(b *testing.B, backends []string) *helper {
	b.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		return nil
	}
	addr := testserver.FreeAddr(b) // HAProxy binds it next; a race another process is unlikely to win here
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `global
	nbthread 1
	maxconn 4096
defaults
	mode http
	timeout connect 5s
	timeout client 30s
	timeout server 30s
	http-reuse always
frontend fe
	bind %s
	default_backend be
backend be
	balance roundrobin
`, addr)
	for i, be := range backends {
		fmt.Fprintf(&cfg, "\tserver w%d %s\n", i+1, be)
	}
	path := filepath.Join(b.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	h := &helper{cmd: cmd, addr: addr}
	b.Cleanup(h.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return h
		}
		if time.Now().After(deadline) {
			b.Fatalf("haproxy did not listen on %s within 10s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop ends the helper: stdin closed (the test binary's signal to exit),
// then SIGKILL if it is still there a few seconds later.
func (h *helper) stop() {
	if h.stdin != nil {
		h.stdin.Close()
	} else {
		h.cmd.Process.Signal(syscall.SIGTERM)
	}
	done := make(chan struct{})
	go func() {
		h.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		h.cmd.Process.Kill()
		<-done
	}
}

// procCPU returns the user+system CPU time pid has used, from /proc.
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields overall, in clock ticks (100 per second).
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// measurement is one closed-loop run.
type measurement struct {
	name     string
	rps      float64
	errors   int64
	proxyCPU time.Duration // CPU of the proxy process per request; 0 if none
	genCPU   time.Duration // CPU of this process (the generator) per request
}

// drive keeps conns keep-alive connections busy, spread over addrs, for
// warmup then window, and measures completed requests in the window.
func drive(b *testing.B, name string, addrs []string, proxyPID int, conns int, warmup, window time.Duration) measurement {
	b.Helper()
	var done, failed atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	var clients []*rawClient
	for i := range conns {
		c, err := dialRaw(addrs[i%len(addrs)])
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Bounded in time by stop and the deadline below.
			c.conn.SetDeadline(time.Now().Add(warmup + window + 10*time.Second))
			for !stop.Load() {
				if code, err := c.do(); err != nil || code != 200 {
					if !stop.Load() {
						failed.Add(1)
					}
					return
				}
				done.Add(1)
			}
		}()
	}
	time.Sleep(warmup) // pacing the measurement window, not synchronisation
	n0, f0, g0, p0, t0 := done.Load(), failed.Load(), selfCPU(), proxyCPUOf(proxyPID), time.Now()
	time.Sleep(window)
	n1, f1, g1, p1, t1 := done.Load(), failed.Load(), selfCPU(), proxyCPUOf(proxyPID), time.Now()
	stop.Store(true)
	for _, c := range clients {
		c.conn.SetDeadline(time.Now()) // unblock a read in progress
	}
	wg.Wait()
	for _, c := range clients {
		c.conn.Close()
	}
	n := n1 - n0
	m := measurement{name: name, rps: float64(n) / t1.Sub(t0).Seconds(), errors: f1 - f0}
	if n > 0 {
		m.genCPU = (g1 - g0) / time.Duration(n)
		m.proxyCPU = (p1 - p0) / time.Duration(n)
	}
	return m
}

func proxyCPUOf(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	return procCPU(pid)
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// BenchmarkScaling reports, in one run, the throughput of two 2 ms CPU
// workers driven directly and through each proxy as a multiple of one
// worker driven directly, and each proxy's CPU per request. Configurations
// take turns, BENCH_SCALING_ROUNDS times (default 1), so that a slow spell
// of a shared machine does not land on one of them only.
func BenchmarkScaling(b *testing.B) {
	window := envDuration("BENCH_SCALING_DURATION", 3*time.Second)
	warmup := window / 6
	conns := envInt("BENCH_SCALING_CONNS", 16)
	rounds := envInt("BENCH_SCALING_ROUNDS", 1)
	cost := envDuration("BENCH_SCALING_COST", 2*time.Millisecond)
	for range b.N { // one run takes seconds: b.N stays 1
		var workers []string
		for i := range 2 {
			w := startHelper(b, "worker", "GOMAXPROCS=1", "HELPER_COST="+cost.String(), "HELPER_INDEX="+strconv.Itoa(i+1))
			workers = append(workers, w.addr)
		}
		type config struct {
			name  string
			addrs []string
			pid   int
		}
		configs := []config{
			{name: "direct 1 worker", addrs: workers[:1]},
			{name: "direct 2 workers", addrs: workers},
		}
		if hp := startHAProxy(b, workers); hp != nil {
			configs = append(configs, config{"haproxy (1 thread)", []string{hp.addr}, hp.cmd.Process.Pid})
		}
		for _, e := range engines {
			bal := startHelper(b, "balancer", "HELPER_ENGINE="+string(e), "HELPER_BACKENDS="+strings.Join(workers, ","))
			configs = append(configs, config{"balancer " + string(e), []string{bal.addr}, bal.cmd.Process.Pid})
		}
		// As bench runs it: the balancer inside the generator's process.
		// Its CPU is then in the generator's column.
		for _, e := range engines {
			bal := New(workers, nil, WithEngine(e))
			ctx, cancel := context.WithCancel(context.Background())
			addr, err := bal.Serve(ctx, "127.0.0.1:0")
			if err != nil {
				cancel()
				b.Fatal(err)
			}
			b.Cleanup(func() {
				cancel()
				bal.Wait()
			})
			configs = append(configs, config{"in-process " + string(e), []string{addr}, 0})
		}
		sums := make([]measurement, len(configs))
		for range rounds {
			for i, c := range configs {
				m := drive(b, c.name, c.addrs, c.pid, conns, warmup, window)
				sums[i].name = m.name
				sums[i].rps += m.rps / float64(rounds)
				sums[i].errors += m.errors
				sums[i].proxyCPU += m.proxyCPU / time.Duration(rounds)
				sums[i].genCPU += m.genCPU / time.Duration(rounds)
			}
		}
		base := sums[0].rps
		var report strings.Builder
		fmt.Fprintf(&report, "\n%d round(s) of %s, %d connections, %s per request\n", rounds, window, conns, cost)
		fmt.Fprintf(&report, "%-20s %9s %7s %13s %11s %6s\n", "", "req/s", "×1 dir", "proxy CPU/req", "gen CPU/req", "errors")
		for _, m := range sums {
			fmt.Fprintf(&report, "%-20s %9.0f %7.2f %13s %11s %6d\n", m.name, m.rps, m.rps/base,
				m.proxyCPU.Round(100*time.Nanosecond), m.genCPU.Round(100*time.Nanosecond), m.errors)
			key := strings.NewReplacer(" ", "_", "(", "", ")", "").Replace(m.name)
			b.ReportMetric(m.rps/base, "x_"+key)
			if m.errors > 0 {
				b.Errorf("%s: %d failed requests", m.name, m.errors)
			}
		}
		// Printed, not logged: go test cuts a benchmark's log at 10 lines.
		fmt.Print(report.String())
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
