package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// outputLog collects a running command's output lines as they come.
type outputLog struct {
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func readLines(r io.Reader) *outputLog {
	l := &outputLog{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, sc.Text())
			l.mu.Unlock()
		}
	}()
	return l
}

// find returns the submatches of the first line matching re, or nil.
func (l *outputLog) find(re *regexp.Regexp) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if m := re.FindStringSubmatch(line); m != nil {
			return m
		}
	}
	return nil
}

// await polls for a line matching re until a deadline.
func (l *outputLog) await(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := l.find(re); m != nil {
			return m
		}
		select {
		case <-l.done:
			if m := l.find(re); m != nil {
				return m
			}
			t.Fatalf("output ended without a line matching %q:\n%s", re, l)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line matching %q within 15 s:\n%s", re, l)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *outputLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

var (
	listenLine = regexp.MustCompile(`listening on http://(\S+) `)
	workerLine = regexp.MustCompile(`^bench: worker (\d+) pid (\d+) on `)
)

func TestServe_killAWorker(t *testing.T) {
	for _, engine := range []string{"fast", "std"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testKillAWorker(t, tinyScenario+"balancer:\n  engine: "+engine+"\n")
		})
	}
}

// testKillAWorker serves the scenario with two workers, SIGKILLs one under light load and
// checks that no request fails, that the worker comes back, and that SIGINT stops everything.
func testKillAWorker(t *testing.T, scenario string) {
	cmd, mark := benchCommand(t, "serve", writeScenario(t, scenario), "--listen", "127.0.0.1:0", "--workers", "2")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout // one log, in order
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := readLines(stdout)
	waited := false
	t.Cleanup(func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
		assertNoProcesses(t, mark)
	})

	addr := out.await(t, listenLine)[1]
	url := "http://" + addr + "/"
	pids := map[string]int{} // worker index → pid
	for _, line := range strings.Split(out.String(), "\n") {
		if m := workerLine.FindStringSubmatch(line); m != nil {
			pids[m[1]], _ = strconv.Atoi(m[2])
		}
	}
	if len(pids) != 2 {
		t.Fatalf("worker lines for %v, want workers 1 and 2:\n%s", pids, out)
	}

	c := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	// fetch returns the X-Worker header of a GET that must succeed.
	fetch := func(when string) string {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", when, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: status %d, want 200", when, resp.StatusCode)
		}
		return resp.Header.Get("X-Worker")
	}
	seen := map[string]bool{}
	for range 6 {
		seen[fetch("before the kill")] = true
	}
	for idx, pid := range pids {
		if w := idx + "/" + strconv.Itoa(pid); !seen[w] {
			t.Errorf("no response from worker %s before the kill; saw %v", w, seen)
		}
	}

	// A crash under light load: every request still succeeds, through the retry or the
	// ejection, while the cluster restarts the worker on its port.
	if err := syscall.Kill(pids["1"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	restarted := regexp.MustCompile(`^bench: worker 1 ready pid (\d+)`)
	deadline := time.Now().Add(15 * time.Second)
	var newPID string
	for n := 0; ; n++ {
		w := fetch("after the kill")
		if newPID == "" {
			if m := out.find(restarted); m != nil {
				newPID = m[1]
			}
		}
		if newPID != "" && w == "1/"+newPID {
			break // the restarted worker is back in the rotation
		}
		if n > 3000 || time.Now().After(deadline) {
			t.Fatalf("restarted worker 1 not answering after %d requests:\n%s", n, out)
		}
		time.Sleep(2 * time.Millisecond) // paces the light load; not synchronisation
	}
	if m := out.find(regexp.MustCompile(`^bench: worker 1 restart pid`)); m == nil {
		t.Errorf("no restart line:\n%s", out)
	}
	// A built-in worker is pinned to a core of its own, and its restart to the same one.
	if runtime.NumCPU() >= 2 {
		if m := out.find(regexp.MustCompile(`^bench: worker 1 pid \d+ on \S+, pinned to core (\d+)$`)); m == nil {
			t.Errorf("worker 1 not said to be pinned:\n%s", out)
		} else if got := allowedCores(t, newPID); got != m[1] {
			t.Errorf("restarted worker 1 may run on cores %q, want core %s as before", got, m[1])
		}
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() {
		<-out.done
		exited <- cmd.Wait()
	}()
	select {
	case err = <-exited:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		err = <-exited
		t.Errorf("bench serve still running 15 s after SIGINT")
	}
	waited = true
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Errorf("exit after SIGINT: %v, want exit status 130\n%s", err, out)
	}
	if m := out.find(regexp.MustCompile(`^bench: stopped: [1-9]\d* restart`)); m == nil {
		t.Errorf("no closing line counting the restart:\n%s", out)
	}
	t.Logf("output:\n%s", out)
}

func TestServe_badInput(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // after the parallel subtests, which a defer would not wait for
	for _, tc := range []struct {
		name     string
		scenario string
		args     []string
		want     string
	}{
		{"unknown key", "target:\n  builtin: cpu\n  costt: 1ms\nload:\n  rates: [10]\n", nil, "tiny.yaml:3:3: target.costt"},
		{"address in use", tinyScenario, []string{"--listen", busy.Addr().String(), "--workers", "1"}, "address already in use"},
		{"bad address", tinyScenario, []string{"--listen", "8080"}, "--listen"},
		{"no workers", tinyScenario, []string{"--workers", "0"}, "--workers"},
		{"running target", "target:\n  url: http://127.0.0.1:9/\nload:\n  rates: [10]\n", nil, "serve starts the workers itself"},
		{"missing command", "target:\n  command: [\"no-such-server-command\"]\nload:\n  rates: [10]\n", []string{"--workers", "1"}, "no-such-server-command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"serve", writeScenario(t, tc.scenario)}, tc.args...)
			stdout, stderr, code := bench(t, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q, want one line naming %q", stderr, tc.want)
			}
		})
	}
}

func TestIsLoopbackHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.1.2.3": true, "::1": true, "localhost": true,
		"": false, "0.0.0.0": false, "::": false, "192.168.1.10": false, "example.com": false,
	} {
		if got := isLoopbackHost(host); got != want {
			t.Errorf("isLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// allowedCores reads the cores process pid may run on, as /proc writes them ("0", "0-3").
func allowedCores(t *testing.T, pid string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no Cpus_allowed_list in /proc/%s/status", pid)
	return ""
}
