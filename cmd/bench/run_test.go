package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// benchBin is a bench binary built once for the tests that run it as a user would.
var benchBin string

func TestMain(m *testing.M) {
	if to := os.Getenv(forwardEnv); to != "" {
		os.Exit(forward(to))
	}
	dir, err := os.MkdirTemp("", "bench-test-")
	if err != nil {
		panic(err)
	}
	benchBin = filepath.Join(dir, "bench")
	out, err := exec.Command("go", "build", "-o", benchBin, ".").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + ": " + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// bench runs the built binary and returns stdout, stderr and the exit code.
func bench(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd, mark := benchCommand(t, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	assertNoProcesses(t, mark)
	return stdout.String(), stderr.String(), code
}

var marks atomic.Int64

// benchCommand returns a command running the built binary with a mark in its environment, which
// every process it starts inherits: how a test finds what bench left behind.
func benchCommand(t *testing.T, args ...string) (*exec.Cmd, string) {
	if len(args) > 1 && args[0] == "run" && !slices.Contains(args, "-h") && !slices.ContainsFunc(args, func(a string) bool {
		return strings.HasPrefix(a, "--noise-threshold")
	}) {
		// Other tests share the machine: a step they disturb is not measured again here.
		args = append(args, "--noise-threshold", "100%")
	}
	cmd := exec.Command(benchBin, args...)
	mark := fmt.Sprintf("BENCH_TEST_MARK=%d-%d", os.Getpid(), marks.Add(1))
	cmd.Env = append(os.Environ(), mark)
	// A test binary killed by its timeout runs no cleanup: the parent-death signal takes bench
	// (and through its own, bench's workers) down with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, mark
}

// assertNoProcesses fails when a process carrying mark is still alive after a grace period.
func assertNoProcesses(t *testing.T, mark string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := markedProcesses(mark)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Errorf("bench processes left behind: %v", pids)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func markedProcesses(mark string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		environ, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(environ, []byte("\x00"+mark+"\x00")) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(stat), ") Z ") {
			continue // a zombie is dead already
		}
		pids = append(pids, pid)
	}
	return pids
}

func writeScenario(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const tinyScenario = `name: tiny
target:
  builtin: cpu
  cost: 200us
workers: [1, 2]
load:
  rates: [100, 200]
  duration: 1s
  warmup: 200ms
`

func TestRun_endToEnd(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := bench(t, "run", writeScenario(t, tinyScenario), "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if got, want := lines[len(lines)-1], out; got != want {
		t.Errorf("last line = %q, want the results folder %q", got, want)
	}
	for _, want := range []string{"throughput", "p99", "linear rps", "single process", "2 workers (1 machine)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}

	f, err := os.Open(filepath.Join(out, "summary.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(recs), 1+4; got != want {
		t.Fatalf("summary.csv has %d records, want %d (header + 2 workers × 2 rates)", got, want)
	}
	col := map[string]int{}
	for i, name := range recs[0] {
		col[name] = i
	}
	for _, name := range []string{"workers", "strategy", "offered_rps", "throughput_rps", "success_ratio",
		"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "linear_rps", "speedup", "efficiency"} {
		if _, ok := col[name]; !ok {
			t.Errorf("summary.csv lacks column %q", name)
		}
	}
	num := func(rec []string, name string) float64 {
		v, err := strconv.ParseFloat(rec[col[name]], 64)
		if err != nil {
			t.Fatalf("%s = %q: %v", name, rec[col[name]], err)
		}
		return v
	}
	wantWorkers := []float64{1, 1, 2, 2}
	wantRates := []float64{100, 200, 100, 200}
	var capacity1 float64
	for i, rec := range recs[1:] {
		if got := num(rec, "workers"); got != wantWorkers[i] {
			t.Errorf("row %d workers = %v, want %v", i, got, wantWorkers[i])
		}
		if got := num(rec, "offered_rps"); got != wantRates[i] {
			t.Errorf("row %d offered_rps = %v, want %v", i, got, wantRates[i])
		}
		if got := num(rec, "success_ratio"); got < 0.99 {
			t.Errorf("row %d success_ratio = %v, want ≥ 0.99", i, got)
		}
		// 200 µs of CPU per request: these rates are far below capacity, so all is served.
		if got, offered := num(rec, "throughput_rps"), num(rec, "offered_rps"); got < 0.9*offered || got > 1.1*offered {
			t.Errorf("row %d throughput_rps = %v, want ≈ %v", i, got, offered)
		}
		if p50, p99 := num(rec, "p50_ms"), num(rec, "p99_ms"); p50 <= 0 || p99 < p50 {
			t.Errorf("row %d p50 = %v ms, p99 = %v ms", i, p50, p99)
		}
		shares := strings.Fields(rec[col["share"]])
		if got, want := len(shares), int(wantWorkers[i]); got != want {
			t.Errorf("row %d share %q has %d workers, want %d", i, rec[col["share"]], got, want)
		}
		if wantWorkers[i] == 1 {
			capacity1 = num(rec, "capacity_rps")
		} else if got, want := num(rec, "linear_rps"), 2*capacity1; math.Abs(got-want) > 0.15 { // both rounded to 0.1
			t.Errorf("row %d linear_rps = %v, want 2 × %v", i, got, capacity1)
		}
		checkStepFiles(t, out, i+1, uint64(num(rec, "requests")), num(rec, "p99_ms"))
	}
}

// checkStepFiles checks the files `bench run` wrote for summary.csv's data row `row`: the raw results
// decode with vegeta's own decoder, one per request counted, and the histogram decodes to the p99
// the row holds.
func checkStepFiles(t *testing.T, dir string, row int, requests uint64, p99ms float64) {
	t.Helper()
	prefix := filepath.Join(dir, fmt.Sprintf("step-%02d-", row))
	bins, _ := filepath.Glob(prefix + "*.bin")
	hdrs, _ := filepath.Glob(prefix + "*.hdr")
	if len(bins) != 1 || len(hdrs) != 1 {
		t.Fatalf("row %d: raw files %v, histograms %v; want one of each", row, bins, hdrs)
	}
	f, err := os.Open(bins[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := vegeta.NewDecoder(f)
	var n uint64
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("%s: result %d: %v", bins[0], n, err)
		}
		if r.Code != 200 || !strings.HasPrefix(r.URL, "http://127.0.0.1:") {
			t.Errorf("%s: result %d: %d %s", bins[0], n, r.Code, r.URL)
		}
		n++
	}
	if n != requests {
		t.Errorf("%s holds %d results, summary.csv counts %d requests", filepath.Base(bins[0]), n, requests)
	}

	data, err := os.ReadFile(hdrs[0])
	if err != nil {
		t.Fatal(err)
	}
	h, err := hdrhistogram.Decode(bytes.TrimSpace(data))
	if err != nil {
		t.Fatalf("%s: %v", hdrs[0], err)
	}
	if got := uint64(h.TotalCount()); got != requests {
		t.Errorf("%s counts %d latencies, summary.csv %d requests", filepath.Base(hdrs[0]), got, requests)
	}
	// summary.csv keeps the p99 in ms to the µs, the histogram's unit: the two agree within the
	// histogram's precision (the width of the p99's bucket).
	p99 := h.ValueAtQuantile(99)
	csvMicros := int64(math.Round(p99ms * 1000))
	if !h.ValuesAreEquivalent(p99, csvMicros) {
		t.Errorf("%s: p99 %d µs, summary.csv p99_ms %v", filepath.Base(hdrs[0]), p99, p99ms)
	}
}

func TestRun_badInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		scenario string
		args     []string
		want     string
	}{
		{"unknown key", "target:\n  builtin: cpu\n  costt: 1ms\nload:\n  rates: [10]\n", nil, "tiny.yaml:3:3: target.costt"},
		{"bad duration", "target:\n  builtin: cpu\n  cost: fast\nload:\n  rates: [10]\n", nil, "tiny.yaml:3:9: target.cost"},
		{"bad flag value", tinyScenario, []string{"--workers", "0"}, "--workers"},
		{"unknown flag", tinyScenario, []string{"--wrokers", "2"}, "wrokers"},
		{"too many connections", tinyScenario, []string{"--connections", "100000"}, "--connections: must be between 1 and 4096"},
		{"unknown engine", tinyScenario, []string{"--engine", "nginx"}, `--engine: unknown engine "nginx" (known: fast, std, l4, haproxy)`},
		{"unknown strategy", tinyScenario, []string{"--strategy", "round-robin,rr"}, `--strategy: unknown strategy "rr" (known: round-robin,`},
		{"duration too long", tinyScenario, []string{"--duration", "2h"}, "--duration: must be at most 1h, got 2h0m0s"},
		{"negative warmup", tinyScenario, []string{"--warmup", "-1s"}, "--warmup: must not be negative, got -1s"},
		{"misspelt strategy", tinyScenario, []string{"--strategy", "p2"}, `--strategy: unknown strategy "p2"; did you mean "p2c"?`},
		{"missing command", "target:\n  command: [\"no-such-server-command\"]\nworkers: [1]\nload:\n  rates: [10]\n  duration: 1s\n", nil, "no-such-server-command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"run", writeScenario(t, tc.scenario), "--out", t.TempDir()}, tc.args...)
			stdout, stderr, code := bench(t, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			last := strings.TrimSpace(stderr)
			if i := strings.LastIndex(last, "\n"); i >= 0 {
				last = last[i+1:]
			}
			if !strings.Contains(last, tc.want) {
				t.Errorf("last stderr line %q does not name %q", last, tc.want)
			}
		})
	}
}

// A bad value reads the same from a flag as from the file: one rule, the scenario's, checks
// both. A flag that does not parse adds where to read more.
func TestRun_valueFromFileOrFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ field, flag, value string }{
		{"balancer.engine", "engine", "nginx"},
		{"balancer.engine", "engine", "fats"},
		{"balancer.strategy", "strategy", "rr"},
		{"load.duration", "duration", "5"},
		{"load.duration", "duration", "2h"},
		{"load.warmup", "warmup", "1 s"},
	} {
		t.Run(tc.flag+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			section, key, _ := strings.Cut(tc.field, ".")
			line := "  " + key + ": " + tc.value
			file := regexp.MustCompile(`(?m)^  `+key+`: .*$`).ReplaceAllLiteralString(tinyScenario, line)
			if file == tinyScenario {
				file = strings.Replace(tinyScenario, "load:", section+":\n"+line+"\nload:", 1)
			}
			fromFile := badInputLine(t, "run", writeScenario(t, file), "--out", t.TempDir())
			fromFlag := badInputLine(t, "run", writeScenario(t, tinyScenario), "--out", t.TempDir(), "--"+tc.flag, tc.value)
			_, fileMsg, ok1 := strings.Cut(fromFile, tc.field+": ")
			_, flagMsg, ok2 := strings.Cut(fromFlag, "--"+tc.flag+": ")
			if !ok1 || !ok2 || !strings.HasPrefix(flagMsg, fileMsg) {
				t.Errorf("the file and the flag word it differently:\nfile: %s\nflag: %s", fromFile, fromFlag)
			}
		})
	}
}

// badInputLine runs bench with args, wants exit 2 and returns the last line of stderr.
func badInputLine(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := bench(t, args...)
	if code != 2 {
		t.Errorf("%v: exit %d, want 2\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
	}
	return lastLine(stderr)
}

// A problem in the scenario's targets file is reported at the targets file's line, exit 2.
func TestRun_badTargetsFile(t *testing.T) {
	t.Parallel()
	path := writeScenario(t, "target:\n  builtin: cpu\nworkers: [1]\nload:\n  rates: [10]\n  targets: targets.txt\n")
	targets := filepath.Join(filepath.Dir(path), "targets.txt")
	if err := os.WriteFile(targets, []byte("POST http://localhost/a\nContent-Type: text/plain\nno colon here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := bench(t, "run", path, "--out", t.TempDir())
	if code != 2 {
		t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if want := "bench: " + targets + ":3: bad header: no colon here\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
}

func TestRun_interrupt(t *testing.T) {
	out := t.TempDir()
	sc := writeScenario(t, strings.Replace(tinyScenario, "duration: 1s", "duration: 30s", 1))
	cmd, mark := benchCommand(t, "run", sc, "--out", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); assertNoProcesses(t, mark) })
	// Interrupt once the worker is up: bench and one worker carry the mark.
	deadline := time.Now().Add(10 * time.Second)
	for len(markedProcesses(mark)) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Errorf("exit = %v, want exit status 130 after SIGINT\nstderr:\n%s", err, stderr.String())
	}
	assertNoProcesses(t, mark)
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"help", "run"}, {"run", "-h"}, {"worker", "-h"}, {"version"}, {"help", "init"}, {"init", "-h"}} {
		stdout, stderr, code := bench(t, args...)
		if code != 0 || stdout == "" {
			t.Errorf("bench %v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	// Examples of every command that has some, and the SLO's exit code.
	stdout, _, _ := bench(t, "help")
	for _, want := range []string{"bench init ", "bench run ", "--slo ", "bench report ", "bench compare ", "bench plan ", "bench serve ", "99"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("bench help lacks %q:\n%s", want, stdout)
		}
	}
	stdout, _, _ = bench(t, "run", "-h")
	for _, want := range []string{"--format", "--slo", "--quiet", "--raw", "99", "Examples:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("bench run -h lacks %q", want)
		}
	}
	if _, _, code := bench(t, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}
