package scenario

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/target"
)

// designExample is a scenario with every section and comments, as a user writes one.
const designExample = `name: cpu                    # default: the file's base name
description: CPU-bound handler, one process vs a cluster
target:
  builtin: cpu               # built-in workload run by ` + "`bench worker`" + `
  cost: 2ms                  # cpu: CPU burned per request; sleep: time waited
  threads: 1                 # GOMAXPROCS of each built-in worker (1 = like Node's single event loop)
  # -- or the user's own server, one process per worker:
  # command: ["node", "server.mjs"]
  # port_env: PORT           # env var carrying the port the worker must listen on (default PORT)
  # env: {NODE_ENV: production}
  # ready_path: /healthz     # polled until 2xx before the worker counts as up (default /)
  # ready_timeout: 10s
  path: /                    # the path the load hits
workers: [1, 2, 4]           # counts to compare; "auto" = one per core
balancer:
  strategy: round-robin
load:
  rates: [200, 400, 800]     # offered requests/s, one step each (open loop, fixed rate)
  # search: {p99: 50ms}      # or: find the highest rate that keeps p99 under the SLO, per N
  duration: 10s
  warmup: 2s
`

func TestParse(t *testing.T) {
	t.Parallel()
	cpus := runtime.NumCPU()
	for _, tc := range []struct {
		name string
		file string
		in   string
		want *Scenario
	}{
		{ // happy: the full example
			name: "design example",
			file: "scenarios/whatever.yaml",
			in:   designExample,
			want: &Scenario{
				File:        "scenarios/whatever.yaml",
				Name:        "cpu",
				Description: "CPU-bound handler, one process vs a cluster",
				Target: Target{Builtin: "cpu", Cost: 2 * time.Millisecond, Threads: 1, Pin: 1, ReadyPath: "/healthz",
					ReadyTimeout: 10 * time.Second, Path: "/"},
				Workers:  []int{1, 2, 4},
				Balancer: Balancer{Strategy: "round-robin", Strategies: []balancer.Strategy{"round-robin"}, Engine: "fast"},
				Load: LoadSpec{Rates: []float64{200, 400, 800}, Duration: 10 * time.Second, Warmup: 2 * time.Second,
					Timeout: 10 * time.Second, Connections: DefaultConnections, Repeat: 1, NoiseThreshold: DefaultNoiseThreshold},
				Restart: Restart{Enabled: true, Max: 10, Within: time.Minute},
			},
		},
		{ // happy: a command target with everything set, a search, worker multipliers
			name: "command and search",
			file: "node.yml",
			in: `
target:
  command: [node, server.mjs, --port-from-env, 8000]
  port_env: HTTP_PORT
  env: {NODE_ENV: production, UV_THREADPOOL_SIZE: 4, DEBUG: false, EMPTY: ""}
  ready_path: /ready?deep=1
  ready_timeout: 30s
  path: /api/items?id=7
workers: [1, auto, 2x, 1]
load:
  search: {p99: 50ms, success: 99.5%, max_steps: 20}
  duration: 5s
  warmup: 0
  timeout: 1s
`,
			want: &Scenario{
				File: "node.yml",
				Name: "node",
				Target: Target{Command: []string{"node", "server.mjs", "--port-from-env", "8000"}, PortEnv: "HTTP_PORT",
					Env:       map[string]string{"NODE_ENV": "production", "UV_THREADPOOL_SIZE": "4", "DEBUG": "false", "EMPTY": ""},
					ReadyPath: "/ready?deep=1", ReadyTimeout: 30 * time.Second, Path: "/api/items?id=7"},
				Workers:  normalizeWorkers([]int{1, cpus, 2 * cpus}),
				Balancer: Balancer{Strategy: "round-robin", Strategies: []balancer.Strategy{"round-robin"}, Engine: "fast"},
				Load: LoadSpec{Search: &Search{P99: 50 * time.Millisecond, Success: 0.995, MaxSteps: 20},
					Duration: 5 * time.Second, Warmup: 0, Timeout: time.Second, Connections: DefaultConnections, Repeat: 1, NoiseThreshold: DefaultNoiseThreshold},
				Restart: Restart{Enabled: true, Max: 10, Within: time.Minute},
			},
		},
		{ // happy: a single worker count, fractional rates
			name: "single count",
			file: "x.yaml",
			in:   "target: {builtin: sleep}\nworkers: 3\nload: {rates: [0.5, 100.25, 1e6]}\n",
			want: &Scenario{
				File: "x.yaml", Name: "x",
				Target: Target{Builtin: "sleep", Cost: 10 * time.Millisecond, Threads: 1, Pin: 1, ReadyPath: "/healthz",
					ReadyTimeout: 10 * time.Second, Path: "/"},
				Workers:  []int{3},
				Balancer: Balancer{Strategy: "round-robin", Strategies: []balancer.Strategy{"round-robin"}, Engine: "fast"},
				Load: LoadSpec{Rates: []float64{0.5, 100.25, 1e6}, Duration: 10 * time.Second, Warmup: 2 * time.Second,
					Timeout: 10 * time.Second, Connections: DefaultConnections, Repeat: 1, NoiseThreshold: DefaultNoiseThreshold},
				Restart: Restart{Enabled: true, Max: 10, Within: time.Minute},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tc.file, []byte(tc.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, tc.want)
				if got.Load.Search != nil && tc.want.Load.Search != nil {
					t.Errorf("search: got %+v, want %+v", *got.Load.Search, *tc.want.Load.Search)
				}
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate after Parse: %v", err)
			}
		})
	}
}

func TestParse_anchorsAndFlowStyle(t *testing.T) {
	t.Parallel()
	in := `{target: {builtin: sleep, cost: &d 5ms, concurrency: 64, threads: 2, env: {GODEBUG: "madvdontneed=1"}},
 workers: auto, load: {search: {p99: *d, success: 0.99}, timeout: *d}}`
	s, err := Parse("flow.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Load.Search.P99, 5*time.Millisecond; got != want {
		t.Errorf("p99 via alias = %v, want %v", got, want)
	}
	if got, want := s.Load.Timeout, 5*time.Millisecond; got != want {
		t.Errorf("timeout via alias = %v, want %v", got, want)
	}
	if got, want := s.Load.Search.Success, 0.99; got != want {
		t.Errorf("success = %v, want %v", got, want)
	}
	if got, want := s.Workers, []int{runtime.NumCPU()}; !reflect.DeepEqual(got, want) {
		t.Errorf("workers = %v, want %v", got, want)
	}
	if got, want := s.Target.Concurrency, 64; got != want {
		t.Errorf("concurrency = %v, want %v", got, want)
	}
	if got, want := s.Target.Env["GODEBUG"], "madvdontneed=1"; got != want {
		t.Errorf("env GODEBUG = %q, want %q", got, want)
	}
}

// TestParse_defaults pins every default of defaults.go, so that changing one is a decision.
func TestParse_defaults(t *testing.T) {
	t.Parallel()
	builtin := func(workload string) *Scenario {
		t.Helper()
		s, err := Parse("dir/my-scenario.yaml", []byte("target: {builtin: "+workload+"}\nload: {rates: [100]}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cpu := builtin("cpu")
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"name", cpu.Name, "my-scenario"},
		{"description", cpu.Description, ""},
		{"target.threads", cpu.Target.Threads, 1},
		{"target.concurrency", cpu.Target.Concurrency, 0},
		{"target.cost (cpu)", cpu.Target.Cost, time.Millisecond},
		{"target.cost (sleep)", builtin("sleep").Target.Cost, 10 * time.Millisecond},
		{"target.port_env (builtin)", cpu.Target.PortEnv, ""},
		{"target.ready_path (builtin)", cpu.Target.ReadyPath, "/healthz"},
		{"target.ready_timeout", cpu.Target.ReadyTimeout, 10 * time.Second},
		{"target.path", cpu.Target.Path, "/"},
		{"target.env", cpu.Target.Env, map[string]string(nil)},
		{"workers", cpu.Workers, []int{1, 2}},
		{"balancer.strategy", cpu.Balancer.Strategy, balancer.StrategyRoundRobin},
		{"load.duration", cpu.Load.Duration, 10 * time.Second},
		{"load.warmup", cpu.Load.Warmup, 2 * time.Second},
		{"load.timeout", cpu.Load.Timeout, 10 * time.Second},
		{"load.search", cpu.Load.Search, (*Search)(nil)},
		{"target.store (cpu)", cpu.Target.Store, target.Store("")},
		{"target.slowdown", cpu.Target.Slowdown, map[int]float64(nil)},
		{"balancer.strategy (list)", cpu.Balancer.Strategies, []balancer.Strategy{"round-robin"}},
		{"balancer.cookie (no cookie-hash)", cpu.Balancer.Cookie, ""},
		{"balancer.bounded_load", cpu.Balancer.BoundedLoad, 0.0},
		{"balancer.engine", cpu.Balancer.Engine, balancer.EngineFast},
		{"load.clients (cpu)", cpu.Load.Clients, 0},
		{"load.connections", cpu.Load.Connections, DefaultConnections},
		{"load.repeat", cpu.Load.Repeat, 1},
		{"redis (cpu)", cpu.Redis, (*Redis)(nil)},
		{"restart", cpu.Restart, Restart{Enabled: true, Max: 10, Within: time.Minute}},
		{"faults", cpu.Faults, []Fault(nil)},
		{"slo", cpu.SLO, (*SLO)(nil)},
		{"target.cost (session)", builtin("session").Target.Cost, time.Millisecond},
		{"target.store (session)", builtin("session").Target.Store, target.StoreMemory},
		{"load.clients (session)", builtin("session").Load.Clients, 1000},
		{"redis (session, memory store)", builtin("session").Redis, (*Redis)(nil)},
		{"redis (session, redis store)", builtin("session, store: redis").Redis, &Redis{Addr: "127.0.0.1:6379"}},
		{"balancer.cookie (cookie-hash)", parseOK(t, "target: {builtin: cpu}\nbalancer: {strategy: cookie-hash}\nload: {rates: [1]}\n").Balancer.Cookie, "session"},
		{"redis.addr (start)", parseOK(t, "target: {command: [x]}\nredis: {start: true}\nload: {rates: [1]}\n").Redis, &Redis{Start: true}},
		{"redis.addr (running)", parseOK(t, "target: {command: [x]}\nredis: {}\nload: {rates: [1]}\n").Redis, &Redis{Addr: "127.0.0.1:6379"}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}

	cmd, err := Parse("cmd.yaml", []byte("target: {command: [./server]}\nload: {search: {p99: 20ms}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"target.port_env (command)", cmd.Target.PortEnv, "PORT"},
		{"target.ready_path (command)", cmd.Target.ReadyPath, "/"},
		{"target.threads (command)", cmd.Target.Threads, 0},
		{"target.cost (command)", cmd.Target.Cost, time.Duration(0)},
		{"load.search.success", cmd.Load.Search.Success, 0.999},
		{"load.search.max_steps", cmd.Load.Search.MaxSteps, 12},
		{"load.rates", cmd.Load.Rates, []float64(nil)},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}

	// The default workers must be a copy: a caller appending to them cannot change the next Parse.
	cpu.Workers[0] = 99
	if got := builtin("cpu").Workers; !reflect.DeepEqual(got, []int{1, 2}) {
		t.Errorf("default workers changed by a caller: %v", got)
	}
}

// parseOK parses in, failing the test on an error.
func parseOK(t *testing.T, in string) *Scenario {
	t.Helper()
	s, err := Parse("ok.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDefaultName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ file, want string }{
		{"cpu.yaml", "cpu"},
		{"a/b/sleep.yml", "sleep"},
		{"x.scenario.yaml", "x.scenario"},
		{"noext", "noext"},
		{".yaml", "scenario"},
		{"", "scenario"},
		{"-", "scenario"},
	} {
		if got := defaultName(tc.file); got != tc.want {
			t.Errorf("defaultName(%q) = %q, want %q", tc.file, got, tc.want)
		}
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(designExample), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(good)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := s.File, good; got != want {
		t.Errorf("File = %q, want %q", got, want)
	}

	// sad: missing file, one line, no repeated path, unwraps to fs.ErrNotExist
	missing := filepath.Join(dir, "missing.yaml")
	_, err = Load(missing)
	if got, want := err.Error(), missing+": cannot read: no such file or directory"; got != want {
		t.Errorf("Load(missing) = %q, want %q", got, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) error does not unwrap to fs.ErrNotExist: %v", err)
	}

	// sad: a directory
	_, err = Load(dir)
	if err == nil || !strings.HasPrefix(err.Error(), dir+": cannot read: ") {
		t.Errorf("Load(dir) = %v, want %q prefix", err, dir+": cannot read: ")
	}

	// sad: bad content carries the path and the position
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("target: {builtin: cpu, cost: fast}\nload: {rates: [1]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	if got, want := err.Error(), bad+`:1:30: target.cost: "fast" is not a duration like 2ms (units: ns, us, ms, s, m, h)`; got != want {
		t.Errorf("Load(bad) =\n %q, want\n %q", got, want)
	}

	// sad: too large, without reading all of it
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("# padding\n", MaxFileSize/10+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(big)
	if err == nil || !strings.HasPrefix(err.Error(), big+": file too large") {
		t.Errorf("Load(big) = %v, want file too large", err)
	}
}
