package cluster

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary doubles as every child process the tests need: TestMain runs a helper
// instead of the tests when helperEnv names a mode.
const (
	helperEnv = "BENCH_CLUSTER_HELPER" // server | never-ready | exit1 | sleeper | parent
	pidDirEnv = "BENCH_CLUSTER_PIDDIR" // every helper records its pid here, for cleanup
)

// Knobs of the server helper, all optional.
const (
	envPortEnv    = "HELPER_PORT_ENV"    // variable holding the port (default PORT)
	envEcho       = "HELPER_ECHO"        // echoed in every "/" answer
	envExitIndex  = "HELPER_EXIT_INDEX"  // the worker with this index exits 4 at once
	envIgnoreTerm = "HELPER_IGNORE_TERM" // ignore SIGTERM
	envSpawn      = "HELPER_SPAWN"       // start a sleeper grandchild in our process group
	envReadyAfter = "HELPER_READY_AFTER" // answer /healthz 503 this many times first
	envExitAfter  = "HELPER_EXIT_AFTER"  // with envExitIndex: wait until this many pids are recorded
	envExitIf     = "HELPER_EXIT_IF"     // exit 5 at once if this file exists (a broken restart)
	envHangIf     = "HELPER_HANG_IF"     // answer /healthz 503 forever if this file exists at start
	envAnonymous  = "HELPER_ANONYMOUS"   // send no X-Worker header
	envSilentIdx  = "HELPER_SILENT_IDX"  // the worker with this index never listens
	// ReusePortEnv=1 (set by a SharedPort cluster) makes the server listen with SO_REUSEPORT.
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	// Orphans of the tests (a killed parent's workers, a worker's grandchild) are re-parented
	// to this process instead of init, so the pid-dir cleanup can reap them: init in a
	// container may never do it.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "PR_SET_CHILD_SUBREAPER:", err)
	}
	os.Exit(m.Run())
}

func runHelper(mode string) int {
	if dir := os.Getenv(pidDirEnv); dir != "" {
		pid := strconv.Itoa(os.Getpid())
		os.WriteFile(filepath.Join(dir, pid), []byte(mode), 0o644)
	}
	switch mode {
	case "server":
		return helperServer(false)
	case "never-ready":
		return helperServer(true)
	case "exit1":
		for i := 1; i <= 8; i++ {
			fmt.Fprintf(os.Stderr, "exit1 line %d\n", i)
		}
		fmt.Fprintf(os.Stderr, "exit1 pid %d\n", os.Getpid())
		return 1
	case "sleeper":
		signal.Ignore(syscall.SIGTERM)
		for {
			time.Sleep(time.Hour) // blocks until killed; nothing waits on it
		}
	case "parent":
		return helperParent()
	}
	fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
	return 2
}

func helperServer(neverReady bool) int {
	index := os.Getenv(IndexEnv)
	pid := os.Getpid()
	fmt.Fprintf(os.Stderr, "helper server %s pid %d starting\n", index, pid)
	if os.Getenv(envExitIndex) == index {
		// Exit only once the other workers run, so the test sees Start stop live processes.
		want, _ := strconv.Atoi(os.Getenv(envExitAfter))
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			if entries, _ := os.ReadDir(os.Getenv(pidDirEnv)); len(entries) >= want {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Fprintf(os.Stderr, "worker %s refusing to start\n", index)
		return 4
	}
	if f := os.Getenv(envExitIf); f != "" {
		if _, err := os.Stat(f); err == nil {
			fmt.Fprintf(os.Stderr, "worker %s: %s exists, exiting\n", index, filepath.Base(f))
			return 5
		}
	}
	if f := os.Getenv(envHangIf); f != "" {
		if _, err := os.Stat(f); err == nil {
			neverReady = true
		}
	}
	if os.Getenv(envIgnoreTerm) != "" {
		signal.Ignore(syscall.SIGTERM)
	}
	grandchild := 0
	if os.Getenv(envSpawn) != "" {
		exe, _ := os.Executable()
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), helperEnv+"=sleeper")
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		grandchild = cmd.Process.Pid
	}
	readyAfter, _ := strconv.ParseInt(os.Getenv(envReadyAfter), 10, 64)
	var probes atomic.Int64

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if neverReady || probes.Add(1) <= readyAfter {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %d %s", index, pid, os.Getenv(envEcho))
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		fmt.Fprintf(os.Stderr, "exiting with %d\n", code)
		os.Exit(code)
	})
	mux.HandleFunc("/burn", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		start, _ := SelfCPU()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			if now, _ := SelfCPU(); now-start >= time.Duration(ms)*time.Millisecond {
				break
			}
		}
	})
	mux.HandleFunc("/grandchild", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, grandchild)
	})

	var h http.Handler = mux
	if os.Getenv(envAnonymous) == "" {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(WorkerHeader, fmt.Sprintf("%s/%d", index, pid))
			mux.ServeHTTP(w, r)
		})
	}
	if os.Getenv(envSilentIdx) == index {
		fmt.Fprintf(os.Stderr, "worker %s not listening\n", index)
		for {
			time.Sleep(time.Hour) // alive but never listening, until killed
		}
	}

	port := os.Getenv(cmp.Or(os.Getenv(envPortEnv), "PORT"))
	var lc net.ListenConfig
	if os.Getenv(ReusePortEnv) == "1" {
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	fmt.Fprintln(os.Stderr, http.Serve(ln, h))
	return 3
}

// helperParent is a harness in miniature: it starts two server workers, prints their pids,
// and stops them when told to by SIGTERM or SIGINT.
func helperParent() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	exe, _ := os.Executable()
	c, err := Start(ctx, Spec{
		Command:   []string{exe},
		Env:       []string{helperEnv + "=server"},
		ReadyPath: "/healthz",
	}, 2)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	ws := c.Workers()
	fmt.Printf("pids %d %d\n", ws[0].PID, ws[1].PID)
	<-ctx.Done()
	if err := c.Stop(); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("stopped")
	return 0
}

// --- test-side helpers ---

func testExe(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// helperSpec returns a Spec running the test binary in mode. Every helper it starts (and
// their own children) records its pid in a fresh directory, and the test's cleanup SIGKILLs
// whatever is left of them, so a failing test leaves no process behind.
func helperSpec(t *testing.T, mode string, env ...string) (Spec, string) {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { killRecorded(t, dir) })
	return Spec{
		Command:   []string{testExe(t)},
		Env:       append([]string{helperEnv + "=" + mode, pidDirEnv + "=" + dir}, env...),
		ReadyPath: "/healthz",
	}, dir
}

// killRecorded SIGKILLs every helper recorded in dir that still runs and reaps those that
// ended up as this process's children. Call it after the Cluster that started them stopped,
// so it never reaps a child a Cluster still waits for.
func killRecorded(t *testing.T, dir string) {
	t.Helper()
	for _, pid := range recordedPIDs(t, dir) {
		if !gone(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		// ECHILD when it is not ours; otherwise it is dead or dying of SIGKILL.
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(pid, &ws, 0, nil)
			if err != syscall.EINTR {
				break
			}
		}
	}
}

// recordedPIDs returns the pids of the helpers that recorded themselves in dir.
func recordedPIDs(t *testing.T, dir string) []int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Errorf("reading pid dir: %v", err)
		return nil
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// startCluster starts a cluster that is stopped when the test ends, whatever happens.
func startCluster(t *testing.T, ctx context.Context, spec Spec, n int) *Cluster {
	t.Helper()
	c, err := Start(ctx, spec, n)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

// gone reports whether pid no longer runs. A zombie counts as gone: an orphan is reaped by
// init, whenever init gets round to it.
func gone(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(data)
	rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(rest) == 0 || rest[0] == "Z" || rest[0] == "X"
}

// waitGone polls until every pid is gone, failing the test after a few seconds.
func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var alive []int
		for _, pid := range pids {
			if !gone(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v still running", alive)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not synchronisation
	}
}

func assertAlive(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		if gone(pid) {
			t.Fatalf("process %d is not running", pid)
		}
	}
}

// get fetches http://addr+path and returns the body.
func get(t *testing.T, addr, path string) (string, http.Header) {
	t.Helper()
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text())
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s%s: %s %s", addr, path, resp.Status, b.String())
	}
	return b.String(), resp.Header
}

// waitDone waits for c to finish stopping, failing the test after a deadline.
func waitDone(t *testing.T, c *Cluster) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("cluster did not stop")
	}
}
