package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/bench-dev/bench/internal/scenario"
	"github.com/bench-dev/bench/internal/target"
)

// mainOut runs Main in this process and returns stdout, stderr and the exit code. Only for
// arguments that stop before a worker starts: a worker would be this test binary.
func mainOut(args ...string) (string, string, int) {
	var stdout, stderr bytes.Buffer
	code := Main(args, &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestVersion_flagsAndCommand(t *testing.T) {
	t.Parallel()
	want, _, code := mainOut("version")
	if code != 0 || !strings.HasPrefix(want, "bench ") || !strings.Contains(want, " "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n") {
		t.Fatalf("bench version: exit %d, %q", code, want)
	}
	for _, arg := range []string{"--version", "-version", "-v"} {
		if got, stderr, code := mainOut(arg); code != 0 || got != want {
			t.Errorf("bench %s: exit %d, stdout %q, stderr %q; want %q", arg, code, got, stderr, want)
		}
	}
}

func TestVersion_fromTheBuild(t *testing.T) {
	t.Parallel()
	// The test binary: the version `go version -m` reads from it (the module's, or its commit).
	out, err := exec.Command("go", "version", "-m", benchBin).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	if m := regexp.MustCompile(`(?m)^\tmod\t\S+\t(\S+)`).FindSubmatch(out); m != nil {
		want = string(m[1])
	}
	if want == "(devel)" {
		if m := regexp.MustCompile(`(?m)^\tbuild\tvcs\.revision=(\w{12})`).FindSubmatch(out); m != nil {
			want = string(m[1])
		}
	}
	stdout, _, code := bench(t, "--version")
	if code != 0 || want == "" || !strings.HasPrefix(stdout, "bench "+want) {
		t.Errorf("bench --version = %q (exit %d), want the build's version %q", stdout, code, want)
	}

	// A release build names its version with -ldflags.
	bin := filepath.Join(t.TempDir(), "bench")
	if out, err := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	got, err := exec.Command(bin, "-v").Output()
	if err != nil || !strings.HasPrefix(string(got), "bench v9.8.7 go") {
		t.Errorf("bench -v built with -X main.version=v9.8.7: %q, %v", got, err)
	}
}

func TestUnknownFlagsAndCommands_didYouMean(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "x.yaml", "--worker", "2"}, "run: unknown flag --worker; did you mean --workers?"},
		{[]string{"run", "x.yaml", "-duraton", "5s"}, "unknown flag --duraton; did you mean --duration?"},
		{[]string{"plan", "--rps", "1", "--p99", "1s", "--cores", "4"}, "did you mean --cores-per-machine?"},
		{[]string{"compare", "a", "b", "--fromat", "json"}, "did you mean --format?"},
		{[]string{"rn"}, `unknown command "rn"; did you mean run?`},
		{[]string{"compre"}, "did you mean compare?"},
		{[]string{"help", "plna"}, `help: unknown command "plna"; did you mean plan?`},
		{[]string{"--workers", "2"}, "flags follow the command"},
	} {
		_, stderr, code := mainOut(tc.args...)
		if code != exitBadArgs || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("bench %v: exit %d, stderr %q; want 2 and one line with %q", tc.args, code, stderr, tc.want)
		}
	}
	for _, tc := range []struct {
		typed string
		want  string
	}{{"plna", "plan"}, {"rn", "run"}, {"reprot", "report"}, {"comp", "compare"}, {"abc", ""}} {
		if got := suggest(tc.typed, commandNames()); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.typed, got, tc.want)
		}
	}
	// Nothing close: no guess.
	if _, stderr, _ := mainOut("run", "x.yaml", "--zzzzzz"); strings.Contains(stderr, "did you mean") {
		t.Errorf("a suggestion for --zzzzzz: %q", stderr)
	}
}

func TestFlagValues_sayTheExpectedForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "x.yaml", "--duration", "5"}, `run: --duration: "5" is not a duration like 2ms (units: ns, us, ms, s, m, h)`},
		{[]string{"run", "x.yaml", "--warmup", "1 s"}, `--warmup: "1 s" is not a duration like 2ms`},
		{[]string{"run", "x.yaml", "--procs", "two"}, `--procs: "two" is not a whole number; write it like 4`},
		{[]string{"run", "x.yaml", "--raw=maybe"}, `--raw: "maybe" is not true or false; write it like --raw=false`},
		{[]string{"run", "x.yaml", "--duration"}, "--duration needs a value, e.g. --duration 5s or 500ms"},
		{[]string{"plan", "--rps", "10x", "--p99", "50ms"}, `--rps: "10x" is not a request rate; write it like 500, 1.5k or 10k`},
		{[]string{"plan", "--rps", "1k", "--p99", "50ms", "--headroom", "lots"}, `--headroom: "lots" is not a number`},
		{[]string{"serve", "x.yaml", "--health-interval", "100"}, `--health-interval: "100" is not a duration like 2ms`},
		{[]string{"worker", "--cost", "1"}, `--cost: "1" is not a duration like 2ms`},
		{[]string{"worker", "--workload", "nope"}, `worker: --workload: unknown workload "nope" (known: cpu, sleep, session)`},
		{[]string{"worker", "--store", "disk"}, `--store: unknown store "disk" (known: memory, redis)`},
	} {
		_, stderr, code := mainOut(tc.args...)
		if code != exitBadArgs || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("bench %v: exit %d, stderr %q; want 2 and one line with %q", tc.args, code, stderr, tc.want)
		}
		if strings.Contains(stderr, "parse error") {
			t.Errorf("bench %v: %q still says only \"parse error\"", tc.args, stderr)
		}
	}
}

func TestRates_acceptThousands(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]float64{"10k": 10000, "1.5k": 1500, "2K": 2000, "3M": 3e6, "250": 250, " 7k ": 7000} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"k", "10kk", "ten", "1 k", "NaN", "Inf", ""} {
		if got, err := parseRate(in); err == nil {
			t.Errorf("parseRate(%q) = %v, want an error", in, got)
		}
	}

	// bench run --rates 1k,2.5k: the scenario gets 1000 and 2500 rps.
	sc, err := scenario.Load(writeScenario(t, tinyScenario))
	if err != nil {
		t.Fatal(err)
	}
	if err := (runFlags{rates: "1k,2.5k", format: "table"}).apply(sc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sc.Load.Rates, []float64{1000, 2500}) {
		t.Errorf("--rates 1k,2.5k gave %v", sc.Load.Rates)
	}
	if err := (runFlags{rates: "1k,zz", format: "table"}).apply(sc); err == nil || !strings.Contains(err.Error(), `"zz"`) {
		t.Errorf("--rates 1k,zz: %v, want an error naming zz", err)
	}

	// bench plan --rps 10k plans for 10000 rps.
	dir := linearRun().write(t)
	stdout, stderr, code := mainOut("plan", "--rps", "10k", "--p99", "50ms", "--from", dir, "--headroom", "0")
	if code != 0 || !strings.Contains(stdout, "Plan: 10000 rps") {
		t.Errorf("plan --rps 10k: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestHelp_clean(t *testing.T) {
	t.Parallel()
	for _, name := range commandNames() {
		stdout, _, code := mainOut("help", name)
		if code != 0 || !strings.HasPrefix(stdout, "Usage: bench "+name) {
			t.Errorf("bench help %s: exit %d\n%s", name, code, stdout)
			continue
		}
		for _, bad := range []string{"(default -", "(default 0)", "(default \"\")", "parse error"} {
			if strings.Contains(stdout, bad) {
				t.Errorf("bench help %s shows %q:\n%s", name, bad, stdout)
			}
		}
		for _, line := range strings.Split(stdout, "\n") {
			if strings.Count(line, "(default") > 1 {
				t.Errorf("bench help %s says the default twice: %q", name, line)
			}
		}
		if strings.HasSuffix(strings.TrimSpace(stdout), "Flags:") {
			t.Errorf("bench help %s ends with an empty Flags: heading", name)
		}
		if regexp.MustCompile(`\n  -[a-z]`).MatchString(stdout) {
			t.Errorf("bench help %s writes a flag with one dash; the examples write --name:\n%s", name, stdout)
		}
	}
	stdout, _, _ := mainOut("help", "run")
	for _, want := range []string{"--warmup duration\n", "--force\n", "--rates string\n", "130", "(default 256; replaces load.connections)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("bench help run lacks %q:\n%s", want, stdout)
		}
	}
	if stdout, _, _ := mainOut("help", "init"); strings.Contains(stdout, "Flags:") {
		t.Errorf("bench help init has a Flags: heading but init has no flags:\n%s", stdout)
	}
	if stdout, _, _ := mainOut("help", "serve"); !strings.Contains(stdout, "number of workers (default one per core)\n") {
		t.Errorf("bench help serve: --workers' default is not said once, in words:\n%s", stdout)
	}
	stdout, _, _ = mainOut("help")
	for _, want := range []string{"130 interrupted by Ctrl-C", "2 bad input", "99 ", "1 a failed run"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("bench help lacks the exit code %q:\n%s", want, stdout)
		}
	}
}

// previous writes what a run leaves in dir: summary.csv and a step file, and a file of the user's.
func previous(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{"summary.csv", "step-09-w4-round-robin-800rps.bin", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("old\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRun_outRefusesAPreviousRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	previous(t, dir)
	_, stderr, code := mainOut("run", writeScenario(t, tinyScenario), "--out", dir)
	if code != exitBadArgs || !strings.Contains(stderr, "holds a previous run") || !strings.Contains(stderr, "--force") {
		t.Errorf("exit %d, stderr %q; want 2 naming the previous run and --force", code, stderr)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "summary.csv")); string(data) != "old\n" {
		t.Errorf("the previous summary.csv was touched: %q", data)
	}
	// Only the step files make a run too.
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "step-01-w1-round-robin-100rps.hdr"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := mainOut("run", writeScenario(t, tinyScenario), "--out", dir); code != exitBadArgs {
		t.Errorf("a folder with step files: exit %d, stderr %q; want 2", code, stderr)
	}
}

func TestRun_outForceReplacesThePreviousRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	previous(t, dir)
	stdout, stderr, code := bench(t, "run", writeScenario(t, sloScenario), "--slo", "p99=10s", "--out", dir, "--force", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "step-09-w4-round-robin-800rps.bin")); !os.IsNotExist(err) {
		t.Errorf("the previous run's step file is still there (%v)", err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "summary.csv")); err != nil || !strings.HasPrefix(string(data), "workers,") {
		t.Errorf("summary.csv is not the new run's: %q, %v", data, err)
	}
	if steps, _ := filepath.Glob(filepath.Join(dir, "step-01-*")); len(steps) != 2 {
		t.Errorf("new step files %v, want a .bin and a .hdr", steps)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Errorf("--force deleted a file that is not the run's: %v", err)
	}
}

func TestRun_badListenBeforeAnyWorker(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct{ addr, want string }{
		{busy.Addr().String(), "address already in use"},
		{"0.0.0.0:8080", `"0.0.0.0" is not a loopback address`},
		{"192.0.2.1:80", "is not a loopback address"},
		{"127.0.0.1", "want HOST:PORT"},
		{"127.0.0.1:99999", "not a number in 0-65535"},
	} {
		out := t.TempDir()
		stdout, stderr, code := bench(t, "run", writeScenario(t, tinyScenario), "--out", out, "--listen", tc.addr)
		// One line and nothing else: the scenario's first progress line, printed as the workers
		// start, never came.
		if code != exitBadArgs || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--listen") || !strings.Contains(stderr, tc.want) {
			t.Errorf("--listen %s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant 2 and one line with %q", tc.addr, code, stdout, stderr, tc.want)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("--listen %s: the results folder holds %d files", tc.addr, len(entries))
		}
	}
}

// --strategy replaces the scenario's strategies with their settings: sessions.yaml compares
// round-robin and cookie-hash (whose cookie the scenario defaults); --strategy p2c measures p2c
// alone, without a cookie that applies to nothing, and --strategy cookie-hash keeps a cookie.
func TestRunFlags_strategyReplacesItsSettings(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		flag, cookie string
	}{{"p2c", ""}, {"p2c,round-robin", ""}, {"cookie-hash", scenario.DefaultCookie}} {
		sc, err := scenario.Load("../../scenarios/sessions.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := (runFlags{strategy: c.flag, format: "table"}).apply(sc); err != nil {
			t.Errorf("sessions.yaml --strategy %s: %v", c.flag, err)
			continue
		}
		if sc.Balancer.Cookie != c.cookie {
			t.Errorf("sessions.yaml --strategy %s: cookie %q, want %q", c.flag, sc.Balancer.Cookie, c.cookie)
		}
	}
}

// --interleave sets load.search.interleave either way, and leaves it as the file says when not given.
func TestRunFlags_interleave(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		set, value, want bool
	}{{false, false, true}, {true, false, false}, {true, true, true}} { // cpu.yaml says true
		sc, err := scenario.Load("../../scenarios/cpu.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := (runFlags{interleave: c.value, interleaveSet: c.set, format: "table"}).apply(sc); err != nil {
			t.Fatal(err)
		}
		if sc.Load.Search.Interleave != c.want {
			t.Errorf("cpu.yaml, --interleave given %v as %v: Interleave %v, want %v", c.set, c.value, sc.Load.Search.Interleave, c.want)
		}
	}
}

// `bench worker -h` lists every registered workload and store, each with what it does: the help
// is written from the registries, so a new one cannot be missing from it.
func TestWorker_helpListsRegistries(t *testing.T) {
	t.Parallel()
	stdout, _, code := mainOut("worker", "-h")
	if code != 0 {
		t.Fatalf("bench worker -h: exit %d", code)
	}
	usage := func(flag string) string {
		_, rest, ok := strings.Cut(stdout, "\n  --"+flag+" name\n")
		if !ok {
			t.Fatalf("bench worker -h has no --%s name:\n%s", flag, stdout)
		}
		line, _, _ := strings.Cut(rest, "\n")
		return line
	}
	workload, store := usage("workload"), usage("store")
	for _, w := range target.Workloads {
		if !strings.Contains(workload, " "+string(w)+" (") {
			t.Errorf("--workload's help does not list %s with what it does: %q", w, workload)
		}
	}
	for _, s := range target.Stores {
		if !strings.Contains(store, " "+string(s)+" (") {
			t.Errorf("--store's help does not list %s with what it does: %q", s, store)
		}
	}
}
