package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/bench-dev/bench/internal/report"
	"github.com/bench-dev/bench/internal/testserver"
)

// forwardEnv makes the test binary, started as a scenario's target.command, forward every
// connection on 127.0.0.1:$PORT to the address it holds: several bench processes, each with its
// own worker, then all load one shared target.
const forwardEnv = "BENCH_TEST_FORWARD"

// forward relays connections from 127.0.0.1:$PORT to to until the process is stopped.
func forward(to string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", to)
			if err != nil {
				return
			}
			defer u.Close()
			go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite() }()
			io.Copy(c, u)
		}()
	}
}

// sharedWorker starts one built-in worker on a free loopback port, waits until it answers and
// returns its address; it is stopped at cleanup.
func sharedWorker(t *testing.T) string {
	t.Helper()
	addr := testserver.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd, _ := benchCommand(t, "worker", "--workload", "cpu", "--cost", "100us", "--port", port)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shared worker did not answer on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// shardScenario loads target through a forwarder per bench process, at one worker and two rates.
func shardScenario(t *testing.T, target string) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return writeScenario(t, fmt.Sprintf(`name: shards
target:
  command: [%q]
  env:
    %s: %q
  ready_path: /healthz
workers: [1]
load:
  rates: [200, 400]
  duration: 600ms
  warmup: 200ms
`, exe, forwardEnv, target))
}

// mergedHist merges the histograms of step row in dirs, as the test's own reference.
func mergedHist(t *testing.T, row int, dirs ...string) *hdrhistogram.Histogram {
	t.Helper()
	h := hdrhistogram.New(1, 60_000_000, 3)
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(d, fmt.Sprintf("step-%02d-*.hdr", row)))
		if len(files) != 1 {
			t.Fatalf("%s: %d histograms of step %d", d, len(files), row)
		}
		part, err := report.ReadHDR(files[0])
		if err != nil {
			t.Fatal(err)
		}
		h.Merge(part)
	}
	return h
}

// checkMerged compares the merged folder with its shards: counts summed exactly, p99 that of the
// merged histograms, offered the total rate.
func checkMerged(t *testing.T, merged string, shards ...string) {
	t.Helper()
	m, err := report.Load(merged)
	if err != nil {
		t.Fatal(err)
	}
	var parts [][]uint64
	for _, d := range shards {
		res, err := report.Load(d)
		if err != nil {
			t.Fatal(err)
		}
		var reqs []uint64
		for _, st := range res.Steps {
			reqs = append(reqs, st.Requests)
		}
		parts = append(parts, reqs)
	}
	for i, st := range m.Steps {
		var sum uint64
		for _, p := range parts {
			sum += p[i]
		}
		if st.Requests != sum || sum == 0 {
			t.Errorf("merged step %d: %d requests, the shards' sum is %d", i+1, st.Requests, sum)
		}
		if want := time.Duration(mergedHist(t, i+1, shards...).ValueAtQuantile(99)) * time.Microsecond; st.P99 != want {
			t.Errorf("merged step %d: p99 %v, the merged histograms' is %v", i+1, st.P99, want)
		}
		if got := mergedHist(t, i+1, merged); got.TotalCount() != mergedHist(t, i+1, shards...).TotalCount() {
			t.Errorf("merged step %d: its histogram holds %d latencies", i+1, got.TotalCount())
		}
	}
}

func TestMerge_twoShardProcessesOneTarget(t *testing.T) {
	target := sharedWorker(t)
	sc := shardScenario(t, target)
	dirs := []string{t.TempDir(), t.TempDir()}
	// Both wait for one start, given once as RFC 3339 and once as Unix seconds.
	start := time.Now().Add(3 * time.Second)
	starts := []string{start.UTC().Format(time.RFC3339Nano), strconv.FormatFloat(float64(start.UnixNano())/1e9, 'f', 3, 64)}
	cmds := make([]*exec.Cmd, 2)
	outs := make([]strings.Builder, 2)
	var marks []string
	for i := range cmds {
		var mark string
		cmds[i], mark = benchCommand(t, "run", sc, "--shard", fmt.Sprintf("%d/2", i+1), "--start-at", starts[i], "--out", dirs[i], "--quiet")
		marks = append(marks, mark)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("shard %d/2: %v\n%s", i+1, err, outs[i].String())
		}
		assertNoProcesses(t, marks[i])
	}
	for i, d := range dirs {
		s, err := report.ReadShard(d)
		if err != nil || s.Shard != i+1 || s.Shards != 2 || s.StartAt == "" {
			t.Errorf("%s: shard.json %+v, %v", d, s, err)
		}
		res, err := report.Load(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range res.Steps {
			// Each generator sends half the schedule: its own rate is half the offered one.
			if st.Sent < 0.4*st.Offered || st.Sent > 0.6*st.Offered {
				t.Errorf("shard %d at %v rps sent %v rps, want about half", i+1, st.Offered, st.Sent)
			}
		}
	}

	merged := filepath.Join(t.TempDir(), "merged")
	stdout, stderr, code := bench(t, "merge", dirs[0], dirs[1], "--out", merged)
	if code != 0 {
		t.Fatalf("merge: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if lastLine(stdout) != merged || !strings.Contains(stdout, "p99") {
		t.Errorf("merge printed:\n%s", stdout)
	}
	for _, f := range []string{"summary.csv", "throughput.png", "latency.svg"} {
		if _, err := os.Stat(filepath.Join(merged, f)); err != nil {
			t.Errorf("merge wrote no %s: %v", f, err)
		}
	}
	checkMerged(t, merged, dirs...)
	m, _ := report.Load(merged)
	for _, st := range m.Steps {
		// Together the shards offered the full rate, each over its own window.
		if st.Sent < 0.85*st.Offered || st.Sent > 1.15*st.Offered {
			t.Errorf("merged step at %v rps: sent %v rps", st.Offered, st.Sent)
		}
	}
}

func TestMerge_badInput(t *testing.T) {
	notShard := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"merge", notShard}, "at least 2"},
		{[]string{"merge", notShard, filepath.Join(notShard, "nothing")}, "no such results folder"},
		{[]string{"merge", notShard, notShard}, "no shard.json"},
	} {
		_, stderr, code := mainOut(c.args...)
		if code != exitBadArgs || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line saying %q", c.args, code, stderr, c.want)
		}
	}
}

func TestRun_shardFlagsBeforeAnyWorker(t *testing.T) {
	fixed := writeScenario(t, tinyScenario)
	search := writeScenario(t, `name: s
target:
  builtin: cpu
  cost: 1ms
workers: [1]
load:
  search:
    p99: 20ms
  duration: 1s
`)
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	far := strconv.FormatInt(time.Now().Add(2*time.Hour).Unix(), 10)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", fixed, "--shard", "3/2"}, "1 ≤ I ≤ K"},
		{[]string{"run", fixed, "--shard", "0/2"}, "1 ≤ I ≤ K"},
		{[]string{"run", fixed, "--shard", "two"}, "want I/K"},
		{[]string{"run", search, "--shard", "1/2"}, "cannot be split"},
		{[]string{"run", fixed, "--start-at", past}, "in the past"},
		{[]string{"run", fixed, "--start-at", far}, "more than the 1h0m0s"},
		{[]string{"run", fixed, "--start-at", "noon"}, "RFC 3339"},
	} {
		_, stderr, code := mainOut(c.args...)
		if code != exitBadArgs || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line saying %q", c.args[2:], code, stderr, c.want)
		}
	}
}

func TestParseStartAt(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-01-01T12:00:30Z":      now.Add(30 * time.Second),
		"2026-01-01T13:00:30+01:00": now.Add(30 * time.Second),
		"1767268830.5":              now.Add(30*time.Second + 500*time.Millisecond),
		"2026-01-01T11:59:59.5Z":    now.Add(-500 * time.Millisecond), // within the second allowed
	} {
		got, err := parseStartAt(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseStartAt(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}
