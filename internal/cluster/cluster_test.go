package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestStart_ThreeWorkersServeThenStop(t *testing.T) {
	t.Parallel()
	spec, dir := helperSpec(t, "server", envReadyAfter+"=3") // ready only on the 4th probe
	c := startCluster(t, context.Background(), spec, 3)

	ws := c.Workers()
	if got, want := len(ws), 3; got != want {
		t.Fatalf("len(Workers()) = %d, want %d", got, want)
	}
	addrs := map[string]bool{}
	var pids []int
	for i, w := range ws {
		if got, want := w.Index, i+1; got != want {
			t.Errorf("worker %d: Index = %d, want %d", i, got, want)
		}
		if !strings.HasPrefix(w.Addr, "127.0.0.1:") || addrs[w.Addr] {
			t.Errorf("worker %d: Addr = %q, want a distinct 127.0.0.1 address", w.Index, w.Addr)
		}
		addrs[w.Addr] = true
		body, hdr := get(t, w.Addr, "/")
		if got, want := body, fmt.Sprintf("%d %d ", w.Index, w.PID); got != want {
			t.Errorf("worker %d answered %q, want %q", w.Index, got, want)
		}
		if got, want := hdr.Get("X-Worker"), fmt.Sprintf("%d/%d", w.Index, w.PID); got != want {
			t.Errorf("worker %d: X-Worker = %q, want %q", w.Index, got, want)
		}
		pids = append(pids, w.PID)
	}
	if got, want := len(recordedPIDs(t, dir)), 3; got != want {
		t.Errorf("%d helper processes ran, want %d", got, want)
	}

	// Stop is idempotent and safe to call concurrently: every call returns once all are gone.
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := c.Stop(); err != nil {
				t.Errorf("Stop: %v", err)
			}
			for _, pid := range pids {
				if !gone(pid) {
					t.Errorf("pid %d still running after Stop returned", pid)
				}
			}
		})
	}
	wg.Wait()
	waitGone(t, pids...)
	select {
	case e, ok := <-c.Exited():
		if ok {
			t.Errorf("Exited delivered %v for a worker stopped by Stop", e)
		}
	default:
		t.Error("Exited not closed after Stop")
	}
}

func TestStart_PortEnvAndEnv(t *testing.T) {
	t.Parallel()
	spec, _ := helperSpec(t, "server", envPortEnv+"=MY_PORT", envEcho+"=hello", envEcho+"=last-wins")
	spec.PortEnv = "MY_PORT"
	c := startCluster(t, context.Background(), spec, 1)
	w := c.Workers()[0]
	body, _ := get(t, w.Addr, "/")
	if got, want := body, fmt.Sprintf("1 %d last-wins", w.PID); got != want {
		t.Errorf("worker answered %q, want %q", got, want)
	}
}

func TestStart_CommandNotFound(t *testing.T) {
	t.Parallel()
	_, err := Start(context.Background(), Spec{Command: []string{"bench-no-such-command", "x"}}, 2)
	if err == nil {
		t.Fatal("Start succeeded")
	}
	if got, want := err.Error(), `worker command "bench-no-such-command": executable file not found in $PATH`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("error %v does not wrap exec.ErrNotFound", err)
	}
}

func TestStart_BadArguments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		spec Spec
		n    int
		want string
	}{
		{"no command", Spec{}, 1, "spec.Command is empty"},
		{"zero workers", Spec{Command: []string{"true"}}, 0, "want at least 1"},
	} {
		_, err := Start(context.Background(), tc.spec, tc.n)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestStart_ExitsAtOnce(t *testing.T) {
	t.Parallel()
	spec, dir := helperSpec(t, "exit1")
	_, err := Start(context.Background(), spec, 2)
	if err == nil {
		t.Fatal("Start succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	// exit1 prints 8 numbered lines, then its pid: the tail keeps the last 5 lines.
	re := regexp.MustCompile(`^worker [12] \("` + regexp.QuoteMeta(testExe(t)) + `"\) exited with status 1 before it was ready; ` +
		`stderr: exit1 line 5 \| exit1 line 6 \| exit1 line 7 \| exit1 line 8 \| exit1 pid \d+$`)
	if !re.MatchString(msg) {
		t.Errorf("error = %q, want it to match %s", msg, re)
	}
	var ee *ExitError
	if !errors.As(err, &ee) || !ee.BeforeReady || ee.State.ExitCode() != 1 {
		t.Errorf("error %#v is not an *ExitError with BeforeReady and status 1", err)
	}
	waitGone(t, recordedPIDs(t, dir)...)
}

func TestStart_FailureStopsTheOthers(t *testing.T) {
	t.Parallel()
	spec, dir := helperSpec(t, "server", envExitIndex+"=2", envExitAfter+"=3")
	_, err := Start(context.Background(), spec, 3)
	if err == nil {
		t.Fatal("Start succeeded")
	}
	if want := `worker 2 (`; !strings.HasPrefix(err.Error(), want) ||
		!strings.HasSuffix(err.Error(), "exited with status 4 before it was ready; stderr: helper server 2 pid "+
			strconv.Itoa(err.(*ExitError).Worker.PID)+" starting | worker 2 refusing to start") {
		t.Errorf("error = %q, want worker 2's exit with its stderr", err)
	}
	pids := recordedPIDs(t, dir)
	if got, want := len(pids), 3; got != want {
		t.Fatalf("%d helpers ran, want %d", got, want)
	}
	for _, pid := range pids {
		if !gone(pid) {
			t.Errorf("pid %d still running after Start failed", pid)
		}
	}
}

func TestStart_NeverReady(t *testing.T) {
	t.Parallel()
	spec, dir := helperSpec(t, "never-ready")
	spec.ReadyTimeout = time.Second
	_, err := Start(context.Background(), spec, 2)
	if err == nil {
		t.Fatal("Start succeeded")
	}
	// On a loaded machine a helper may not even listen within the timeout.
	re := regexp.MustCompile(`^worker [12] \("` + regexp.QuoteMeta(testExe(t)) + `"\) not ready on 127\.0\.0\.1:\d+/healthz after 1s ` +
		`\(last: (503 Service Unavailable|connection refused)\)(; stderr: helper server [12] pid \d+ starting)?$`)
	if !re.MatchString(err.Error()) {
		t.Errorf("error = %q, want it to match %s", err, re)
	}
	if !errors.Is(err, ErrNotReady) {
		t.Errorf("error %v does not wrap ErrNotReady", err)
	}
	for _, pid := range recordedPIDs(t, dir) {
		if !gone(pid) {
			t.Errorf("pid %d still running after Start failed", pid)
		}
	}
}

func TestStart_CancelledWhileWaitingForReady(t *testing.T) {
	t.Parallel()
	spec, dir := helperSpec(t, "never-ready")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once both workers are running, while Start is still polling them.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			if entries, _ := os.ReadDir(dir); len(entries) >= 2 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	_, err := Start(ctx, spec, 2)
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Start error = %v, want context.Canceled", err)
	}
	for _, pid := range recordedPIDs(t, dir) {
		if !gone(pid) {
			t.Errorf("pid %d still running after Start failed", pid)
		}
	}
}

func TestCluster_ContextCancelStops(t *testing.T) {
	t.Parallel()
	spec, _ := helperSpec(t, "server")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := startCluster(t, ctx, spec, 2)
	ws := c.Workers()
	assertAlive(t, ws[0].PID, ws[1].PID)

	cancel()
	waitDone(t, c)
	waitGone(t, ws[0].PID, ws[1].PID)
	if err := c.Stop(); err != nil {
		t.Errorf("Stop after cancel: %v", err)
	}
}

func TestStop_KillsAfterGrace(t *testing.T) {
	t.Parallel()
	spec, _ := helperSpec(t, "server", envIgnoreTerm+"=1")
	spec.Grace = 100 * time.Millisecond
	c := startCluster(t, context.Background(), spec, 2)
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, w := range c.Workers() {
		if !gone(w.PID) {
			t.Errorf("worker %d ignoring SIGTERM still runs after Stop", w.Index)
		}
	}
}

func TestStop_KillsTheWholeProcessGroup(t *testing.T) {
	t.Parallel()
	spec, dir := helperSpec(t, "server", envSpawn+"=1")
	c := startCluster(t, context.Background(), spec, 1)
	body, _ := get(t, c.Workers()[0].Addr, "/grandchild")
	grandchild, err := strconv.Atoi(body)
	if err != nil || grandchild == 0 {
		t.Fatalf("no grandchild pid: %q", body)
	}
	// Recorded here too, in case it dies before it records itself: cleanup must reap it.
	os.WriteFile(filepath.Join(dir, body), []byte("grandchild"), 0o644)
	assertAlive(t, grandchild)
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// The grandchild ignores SIGTERM and is not our child: only the group sweep kills it.
	waitGone(t, grandchild)
}

func TestCluster_ExitedReportsUnexpectedExit(t *testing.T) {
	t.Parallel()
	spec, _ := helperSpec(t, "server")
	c := startCluster(t, context.Background(), spec, 2)
	w := c.Workers()[1]

	// The worker dies mid-request, so the request's own error says nothing.
	client := &http.Client{Timeout: 5 * time.Second}
	if resp, err := client.Get("http://" + w.Addr + "/exit?code=3"); err == nil {
		resp.Body.Close()
	}
	var e *ExitError
	select {
	case e = <-c.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("no exit reported")
	}
	if got, want := e.Worker, w; got != want {
		t.Errorf("exited worker = %+v, want %+v", got, want)
	}
	if got, want := e.Error(), fmt.Sprintf("worker 2 (%q) exited with status 3; stderr: helper server 2 pid %d starting | exiting with 3", testExe(t), w.PID); got != want {
		t.Errorf("exit error = %q, want %q", got, want)
	}
	assertAlive(t, c.Workers()[0].PID)

	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if e, ok := <-c.Exited(); ok {
		t.Errorf("Exited delivered %v after Stop", e)
	}
}

// A Go runtime thread that exits takes the children it forked with it (Pdeathsig,
// golang/go#27505). Here the caller's own thread dies right after Start: the workers must not.
func TestStart_WorkersOutliveTheCallersThread(t *testing.T) {
	t.Parallel()
	spec, _ := helperSpec(t, "server")
	type result struct {
		c   *Cluster
		tid int
		err error
	}
	res := make(chan result, 1)
	offMainThread(func() {
		// Never unlocked: the thread is destroyed with this goroutine.
		c, err := Start(context.Background(), spec, 2)
		res <- result{c, syscall.Gettid(), err}
	})
	r := <-res
	if r.err != nil {
		t.Fatalf("Start: %v", r.err)
	}
	t.Cleanup(func() { r.c.Stop() })

	task := filepath.Join("/proc/self/task", strconv.Itoa(r.tid))
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := os.Stat(task); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d still exists", r.tid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, w := range r.c.Workers() {
		get(t, w.Addr, "/") // a SIGKILLed worker cannot answer
		assertAlive(t, w.PID)
	}
}

// offMainThread runs fn on a new goroutine locked to a thread other than the main one: the
// main thread is never destroyed when its goroutine exits locked, only parked. A goroutine that
// finds itself on the main thread keeps it locked while a nested one runs fn, so that one
// cannot land there too.
func offMainThread(fn func()) {
	go func() {
		runtime.LockOSThread()
		if syscall.Gettid() != os.Getpid() {
			fn()
			return
		}
		done := make(chan struct{})
		offMainThread(func() {
			defer close(done)
			fn()
		})
		<-done
		runtime.UnlockOSThread()
	}()
}

// startParent runs the test binary in parent mode and returns it with its workers' pids.
func startParent(t *testing.T) (*exec.Cmd, <-chan error, *bufio.Reader, []int) {
	t.Helper()
	dir := t.TempDir()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	parent := exec.Command(testExe(t))
	parent.Env = append(os.Environ(), helperEnv+"=parent", pidDirEnv+"="+dir)
	parent.Stdout = w
	parent.Stderr = os.Stderr
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan error, 1)
	reaped := make(chan struct{})
	go func() {
		exited <- parent.Wait()
		close(reaped)
	}()
	t.Cleanup(func() {
		parent.Process.Kill()
		<-reaped
		killRecorded(t, dir)
	})

	r.SetReadDeadline(time.Now().Add(15 * time.Second))
	out := bufio.NewReader(r)
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the parent's pids: %v (got %q)", err, line)
	}
	var a, b int
	if _, err := fmt.Sscanf(line, "pids %d %d\n", &a, &b); err != nil {
		t.Fatalf("parent printed %q: %v", line, err)
	}
	assertAlive(t, a, b)
	return parent, exited, out, []int{a, b}
}

func TestParent_KilledTakesWorkersWithIt(t *testing.T) {
	t.Parallel()
	parent, exited, _, pids := startParent(t)
	if err := parent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	waitGone(t, pids...)
}

func TestParent_StopsWorkersOnSignal(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			parent, exited, out, pids := startParent(t)
			if err := parent.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				// Status 0 means the parent caught the signal and stopped its cluster, rather
				// than dying of it (which Pdeathsig alone would also clean up after).
				if err != nil {
					t.Fatalf("parent: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("parent did not exit")
			}
			if line, _ := out.ReadString('\n'); line != "stopped\n" {
				t.Errorf("parent printed %q, want %q", line, "stopped\n")
			}
			waitGone(t, pids...)
		})
	}
}

func TestCoresOf(t *testing.T) {
	for _, c := range []struct {
		index, per  int
		cores, want []int
	}{
		{1, 1, []int{0, 1}, []int{0}},
		{2, 1, []int{0, 1}, []int{1}},
		{3, 1, []int{0, 1}, []int{0}}, // past the last core: from the first again
		{2, 2, []int{0, 1, 2, 3, 4, 5}, []int{2, 3}},
		{4, 2, []int{0, 1, 2, 3, 4, 5}, []int{0, 1}},
		{2, 2, []int{1, 3, 5}, []int{5, 1}}, // the cores bench may use, not 0..n-1
		{1, 1, nil, nil},                    // nothing to deal: not pinned
	} {
		if got := coresOf(c.index, c.per, c.cores); !slices.Equal(got, c.want) {
			t.Errorf("coresOf(%d, %d, %v) = %v, want %v", c.index, c.per, c.cores, got, c.want)
		}
	}
}

// TestStart_Pin starts three workers pinned to one core each on a machine of two or more: every
// thread of each is allowed only its core, dealt round, and bench's own threads keep all theirs.
// Not parallel: it reads the affinity of every thread of the test process.
func TestStart_Pin(t *testing.T) {
	all, err := pinnable(1)
	if err != nil || len(all) < 2 {
		t.Skipf("needs two cores to pin to (%v, %v)", all, err)
	}
	spec, _ := helperSpec(t, "server")
	spec.Pin = 1
	c := startCluster(t, context.Background(), spec, 3)
	for _, w := range c.Workers() {
		want := []int{all[(w.Index-1)%len(all)]}
		if got := c.Cores(w.Index); !slices.Equal(got, want) {
			t.Errorf("Cores(%d) = %v, want %v", w.Index, got, want)
		}
		for tid, got := range allowed(t, w.PID) {
			if !slices.Equal(got, want) {
				t.Errorf("worker %d, thread %d: allowed cores %v, want %v", w.Index, tid, got, want)
			}
		}
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	// The threads that started the workers were pinned only for the fork.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var pinned []int
		for tid, got := range allowed(t, os.Getpid()) {
			if len(got) < len(all) {
				pinned = append(pinned, tid)
			}
		}
		if len(pinned) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads %v of the test process (pid %d) are still pinned after Stop", pinned, os.Getpid())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// allowed reads the cores each thread of pid may run on, by thread id.
func allowed(t *testing.T, pid int) map[int][]int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]int{}
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &set); err != nil {
			continue // the thread ended meanwhile
		}
		out[tid] = coresIn(&set)
	}
	return out
}
