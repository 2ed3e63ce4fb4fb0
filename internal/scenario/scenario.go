// Package scenario reads, defaults and validates bench scenario files (YAML).
//
// Every problem is reported as one line naming the file, the position and the field:
//
//	cpu.yaml:4:9: target.cost: "fast" is not a duration like 2ms
//
// The schema is described in docs/scenario.md; the defaults are listed in defaults.go.
package scenario

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/target"
)

// Scenario is one experiment: which target to run, how many copies of it, behind which
// balancer strategy, under which load. Parse returns it with every default filled in.
type Scenario struct {
	// File is the path the scenario was read from; it prefixes error messages.
	// Empty for a scenario built in code.
	File string
	// Name names the results folder. Parse defaults it to File's base name without extension.
	Name string `yaml:"name"`
	// Description is free text for reports; empty means none.
	Description string `yaml:"description"`
	Target      Target `yaml:"target"`
	// Workers are the worker counts to compare, ascending, without duplicates, each in
	// 1..MaxWorkers. Parse defaults it to DefaultWorkers.
	Workers  []int    `yaml:"workers"`
	Balancer Balancer `yaml:"balancer"`
	Load     LoadSpec `yaml:"load"`
	// Redis is the Redis server the target keeps state in; nil when it uses none. Parse sets it
	// when Target.UsesRedis (DefaultRedisAddr when the file has no redis section).
	Redis *Redis `yaml:"redis"`
	// Restart is how the cluster restarts a worker that exits during a run. Parse defaults it
	// to enabled, DefaultRestartMax within DefaultRestartWithin; the zero value never restarts.
	Restart Restart `yaml:"restart"`
	// Faults are injected into every load step, in file order; nil means none.
	Faults []Fault `yaml:"faults"`
	// SLO, when not nil, is the latency and success objective each step is judged against in
	// the report; nil means no verdict. (load.search has its own SLO: the one it searches under.)
	SLO *SLO `yaml:"slo"`
	// Scale is how the replicas of each worker count come to be; the zero value is local:
	// bench starts the target's processes itself.
	Scale Scale `yaml:"scale"`
}

// Scale says who runs the replicas: bench itself (local, the zero value), Docker Compose, or
// any orchestrator through two commands. At most one of Compose and Command is set.
type Scale struct {
	Compose *Compose      `yaml:"compose"`
	Command *ScaleCommand `yaml:"command"`
}

// Local reports whether bench starts the workers itself (no scale hook).
func (s Scale) Local() bool { return s.Compose == nil && s.Command == nil }

// Compose scales one service of a compose file with `docker-compose up -d --scale`.
type Compose struct {
	// File is the compose file, relative to the scenario file's folder as written; Parse joins
	// the two.
	File string `yaml:"file"`
	// Service is the service scaled.
	Service string `yaml:"service"`
	// Port is the container port each replica publishes on 127.0.0.1, 1..65535.
	Port int `yaml:"port"`
}

// ScaleCommand scales through two commands (argv, no shell) in which {n} stands for the
// replica count: Scale brings the replicas to n, Endpoints prints the ready ones, one per line.
type ScaleCommand struct {
	Scale     []string `yaml:"scale,argv"`
	Endpoints []string `yaml:"endpoints,argv"`
	// Allow lists address prefixes off loopback (CIDR, or one address) the printed endpoints
	// may be in; nil means loopback only.
	Allow []string `yaml:"allow"`
}

// Target is the service under test: a built-in workload (Builtin), the user's own server
// (Command), a service already running (URL or Endpoints), or, with a scale hook, the replicas
// the orchestrator runs (none of them). At most one is set.
type Target struct {
	// Builtin names a workload from Workloads; empty for a command target.
	Builtin target.Workload `yaml:"builtin"`
	// Cost is what one request costs a built-in worker. Zero for a command target.
	Cost time.Duration `yaml:"cost"`
	// Threads is GOMAXPROCS of each built-in worker, 1..MaxThreads. Zero for a command target.
	Threads int `yaml:"threads"`
	// Concurrency caps the requests a built-in worker handles at once; 0 = unlimited.
	Concurrency int `yaml:"concurrency"`
	// Pin is how many cores each worker bench starts is bound to, 0..MaxThreads; 0 leaves
	// placement to the kernel. Parse defaults it to Threads for a built-in worker, 0 for a command.
	Pin int `yaml:"pin"`
	// Command is the user's server, one process per worker (argv, no shell). Nil for a
	// built-in target.
	Command []string `yaml:"command,argv"`
	// PortEnv names the env var carrying the port a command worker must listen on
	// (DefaultPortEnv). Empty for a built-in target, which always reads PORT.
	PortEnv string `yaml:"port_env"`
	// Env is added to each worker's environment; nil means nothing extra.
	Env map[string]string `yaml:"env"`
	// ReadyPath is polled until it answers 2xx before a worker counts as up.
	ReadyPath string `yaml:"ready_path"`
	// ReadyTimeout bounds how long a worker may take to become ready.
	ReadyTimeout time.Duration `yaml:"ready_timeout"`
	// Path is the request path (and query) the load hits; it starts with "/". With URL it is
	// URL's path and query.
	Path string `yaml:"path"`
	// Store is where the session workload keeps its sessions, one of Stores; Parse defaults it
	// to DefaultStore. Empty for every other target.
	Store target.Store
	// Stores lists the stores to compare (target.store given as a list), one cluster each; Store
	// is its first. Nil means just Store.
	Stores []target.Store `yaml:"store"`
	// Slowdown maps a built-in worker's index (1-based, at most the largest of Workers) to a
	// factor in (0, MaxSlowdown] multiplying Cost; a worker not listed runs at factor 1. Nil
	// means all workers alike, and always for a command target.
	Slowdown map[int]float64 `yaml:"slowdown"`
	// Hold is how long each request of a built-in worker also holds the one resource shared by
	// all workers (a token in Redis); 0 = none, and always for a command target. Hold > 0 needs
	// Redis (see UsesRedis).
	Hold time.Duration `yaml:"hold"`
	// LockKey is the Redis list holding the shared resource's token. Parse defaults it to
	// DefaultLockKey when Hold > 0; empty otherwise (and in code, empty means DefaultLockKey).
	LockKey string `yaml:"lock_key"`
	// URL is a service already running, "http://HOST:PORT/path", that the load goes straight
	// to. Empty otherwise.
	URL string `yaml:"url"`
	// Endpoints are replicas already running, each "http://HOST:PORT", the first N behind
	// bench's balancer at worker count N. Nil otherwise.
	Endpoints []string `yaml:"endpoints,replicas"`
}

// Balancer configures the in-process load balancer.
type Balancer struct {
	// Strategy is the first of Strategies, kept for callers that run one strategy. Whoever
	// changes Strategies must set Strategy to Strategies[0] (SetStrategies does both);
	// Validate rejects the two disagreeing.
	Strategy balancer.Strategy
	// Strategies are the strategies to compare, each at the same worker counts and rates, in
	// file order, without duplicates; each is one of the package's Strategies. Parse defaults
	// it to [DefaultStrategy]. Nil is only valid in a scenario built in code, where it means
	// [Strategy].
	Strategies []balancer.Strategy `yaml:"strategy"`
	// Cookie names the cookie the cookie-hash strategy hashes; Parse defaults it to
	// DefaultCookie when a strategy is cookie-hash. Empty when none is.
	Cookie string `yaml:"cookie"`
	// BoundedLoad caps, for cookie-hash, a backend's requests in flight at this factor of the
	// average; 0 = no cap, otherwise at least 1. Zero when no strategy is cookie-hash.
	BoundedLoad float64 `yaml:"bounded_load,factor"`
	// Engine is the proxy implementation, one of Engines; Parse defaults it to DefaultEngine.
	// Strategy reuseport has no proxy hop: the kernel spreads connections, and Engine does not
	// apply to it.
	Engine balancer.Engine `yaml:"engine"`
	// MaxConns bounds each worker's connections from the balancer, idle ones included;
	// requests beyond it queue in the balancer. 0 = no bound; engines fast and std only.
	MaxConns int `yaml:"max_conns"`
}

// SetStrategies sets Strategies to names and Strategy to the first of them (empty for none),
// as a CLI flag overriding the scenario's strategies should. Validate checks the names.
func (b *Balancer) SetStrategies(names []balancer.Strategy) {
	b.Strategies = slices.Clone(names)
	b.Strategy = ""
	if len(names) > 0 {
		b.Strategy = names[0]
	}
}

// ReplaceStrategies is SetStrategies for a flag that replaces the scenario's strategies: the
// cookie-hash settings go with the strategies they belong to. Without cookie-hash among names,
// Cookie and BoundedLoad are cleared (they apply to nothing else); with it, an empty Cookie
// becomes DefaultCookie.
func (b *Balancer) ReplaceStrategies(names []balancer.Strategy) {
	b.SetStrategies(names)
	switch {
	case !slices.Contains(names, cookieHash):
		b.Cookie, b.BoundedLoad = "", 0
	case b.Cookie == "":
		b.Cookie = DefaultCookie
	}
}

// strategies returns Strategies, or [Strategy] for a scenario built in code without them.
func (b *Balancer) strategies() []balancer.Strategy {
	if b.Strategies == nil {
		return []balancer.Strategy{b.Strategy}
	}
	return b.Strategies
}

// LoadSpec describes the load offered at each worker count: either fixed Rates or a Search for the
// highest rate that keeps the latency SLO, never both. (It is the Scenario.Load field; the type
// cannot be called Load because the package's Load function reads a file.)
type LoadSpec struct {
	// Rates are the offered request rates (requests/s), one load step each, in file order.
	// Nil when Search is set.
	Rates []float64 `yaml:"rates"`
	// Search, when not nil, asks for a capacity search instead of fixed rates.
	Search *Search `yaml:"search"`
	// Requests is the request mix the load sends instead of GET Target.Path: load.requests, or
	// the targets of load.targets. Nil means GET Target.Path.
	Requests []Request `yaml:"requests"`
	// Targets is the vegeta targets file Parse read Requests from (load.targets, relative to
	// the scenario file's folder); empty when the file has no load.targets.
	Targets string `yaml:"targets"`
	// Duration is the length of each measured step.
	Duration time.Duration `yaml:"duration"`
	// Warmup is unmeasured load sent before each step; 0 = none.
	Warmup time.Duration `yaml:"warmup"`
	// Timeout is the per-request timeout.
	Timeout time.Duration `yaml:"timeout"`
	// Clients is the number of simulated clients, each keeping its own cookies, 0..MaxClients;
	// 0 = none. Parse defaults it to DefaultSessionClients for the session workload.
	Clients int `yaml:"clients"`
	// Connections bounds the connections the generator keeps to the balancer, 1..MaxConnections;
	// Parse defaults it to DefaultConnections; 0 leaves the choice to package load (the same).
	Connections int `yaml:"connections"`
	// Repeat is how many times each step (rate, or whole search) is run, 1..MaxRepeat; Parse
	// defaults it to DefaultRepeat.
	Repeat int `yaml:"repeat"`
	// NoiseThreshold is the share of the machine other processes may use during a step before
	// it is measured again, in (0, 1]; Parse defaults it to DefaultNoiseThreshold, and 0 (a
	// scenario built in code) means the default too.
	NoiseThreshold float64 `yaml:"noise_threshold,share"`
}

// Search is a capacity search: the highest rate whose p99 latency stays under P99 while at
// least Success of the requests succeed.
type Search struct {
	// P99 is the latency SLO; required.
	P99 time.Duration `yaml:"p99"`
	// Success is the fraction of requests that must succeed, in (0, 1]; DefaultSuccess.
	Success float64 `yaml:"success,share"`
	// MaxSteps bounds the number of steps of the search, 1..MaxSteps; DefaultMaxSteps.
	MaxSteps int `yaml:"max_steps"`
	// Interleave lets the worker counts' searches take turns, a step each, once each has
	// bracketed its capacity; docs/scenario.md says where it applies.
	Interleave bool `yaml:"interleave"`
}

// Redis is a Redis server on loopback, for targets that keep state in one.
type Redis struct {
	// Start asks bench to start its own redis-server for the run; false means one is already
	// running at Addr.
	Start bool `yaml:"start"`
	// Addr is the server's host:port, the host on loopback (127.0.0.0/8, ::1 or localhost).
	// Parse defaults it to DefaultRedisAddr when Start is false; with Start, empty means "pick
	// a free port".
	Addr string `yaml:"addr"`
}

// Restart is the cluster's policy for a worker that exits during a run, like a process
// manager's: restart it, up to Max times within any window of Within, then give up.
type Restart struct {
	// Enabled turns restarts on; false means a worker that exits stays down (Max and Within
	// are then zero).
	Enabled bool `yaml:"enabled"`
	// Max is the number of restarts allowed within Within, 1..MaxRestarts when Enabled.
	Max int `yaml:"max"`
	// Within is the sliding window Max counts restarts in, (0, MaxDuration] when Enabled.
	Within time.Duration `yaml:"within"`
}

// Fault is a failure injected into a worker during every load step: a SIGKILL (Kill) or a
// SIGSTOP followed by a SIGCONT For later (Stop). Exactly one of Kill and Stop is set. A worker
// index above the worker count being measured does not apply at that count.
type Fault struct {
	// At is when the fault strikes, measured from the start of the step, warmup included;
	// it is before the step ends (load.warmup + load.duration).
	At time.Duration `yaml:"at"`
	// Kill is the 1-based index of the worker to SIGKILL; 0 when the fault is a Stop.
	Kill int `yaml:"kill"`
	// Stop is the 1-based index of the worker to SIGSTOP; 0 when the fault is a Kill.
	Stop int `yaml:"stop"`
	// For is how long a stopped worker stays stopped before its SIGCONT; At + For is at most
	// the end of the step. Zero for a Kill.
	For time.Duration `yaml:"for"`
}

// SLO is a service level objective a step meets or misses: a p99 latency bound, a minimum
// success ratio, or both. A zero field is not checked; at least one is set.
type SLO struct {
	// P99 is the highest acceptable 99th percentile latency; 0 = not checked.
	P99 time.Duration `yaml:"p99"`
	// Success is the lowest acceptable fraction of successful requests, in (0, 1];
	// 0 = not checked.
	Success float64 `yaml:"success,share"`
}

// Load reads the scenario file at path and parses it with Parse. A file that cannot be read
// gives an *Error "PATH: cannot read: ..." that unwraps to the underlying error.
func Load(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, readError(path, err)
	}
	defer f.Close()
	// Read one byte past the limit so that Parse can tell a too-large file, without reading
	// all of a huge one (or of /dev/zero) into memory.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, readError(path, err)
	}
	return Parse(path, data)
}

func readError(path string, err error) error {
	return &Error{File: path, Msg: "cannot read: " + pathCause(err).Error(), Err: err}
}

// pathCause drops the path of an *fs.PathError: the message names the path already.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse parses a scenario from data; file names it in errors, gives the default Name and the
// folder load.targets is relative to (Parse reads that file: a problem in it is an *Error at its
// own line). It decodes the file (decode.go), fills in the defaults (defaults.go) and checks the
// rules Validate checks (rules.go). The error, if any, is one *Error at a line and column: the
// first problem of shape (an unknown key, a value of the wrong kind, a required key missing),
// or else the first broken rule in file order. Parse never panics, whatever data holds.
func Parse(file string, data []byte) (*Scenario, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{File: file, Msg: fmt.Sprintf("file too large: more than %d bytes; a scenario is a few hundred", MaxFileSize)}
	}
	root, err := decodeRoot(file, data)
	if err != nil {
		return nil, err
	}
	d := &decoder{file: file, nodes: map[string]located{"": {root, root}}}
	s := &Scenario{File: file}
	if err := d.section(root, "", s); err != nil {
		return nil, err
	}
	s.setDefaults(d.given)
	ps := s.problems(d.given)
	if len(ps) == 0 {
		return s, nil
	}
	errs := make([]*Error, len(ps))
	for i, p := range ps {
		errs[i] = p.error(file, d.nodes)
	}
	return nil, slices.MinFunc(errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// defaultName returns file's base name without its extension, or "scenario" when that is
// empty (no file name, stdin, or a file named ".yaml").
func defaultName(file string) string {
	if file == "" || file == "-" {
		return "scenario"
	}
	base := filepath.Base(file)
	name := strings.TrimSuffix(base, filepath.Ext(base))
	if name == "" || name == "." || name == string(filepath.Separator) {
		return "scenario"
	}
	return name
}

// Spawned reports whether bench starts the target's processes itself (builtin or command).
func (t Target) Spawned() bool { return t.Builtin != "" || t.Command != nil }

// RemoteHosts returns the hosts off loopback that target.url and target.endpoints name, in file
// order without duplicates: load (or bench's balancer) goes there only because the scenario
// says so, and bench prints them at start.
func (t Target) RemoteHosts() []string {
	var hosts []string
	for _, u := range append([]string{t.URL}, t.Endpoints...) {
		if h := urlHost(u); h != "" && !isLoopbackHost(h) && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// stores returns Stores, or [Store] for a scenario built in code without them.
func (t Target) stores() []target.Store {
	if len(t.Stores) > 0 {
		return t.Stores
	}
	return []target.Store{t.Store}
}

// StoreList returns the session stores to compare: Stores, or [Store]; nil for other workloads.
func (t Target) StoreList() []target.Store {
	if t.Builtin != sessionWorkload {
		return nil
	}
	return t.stores()
}

// UsesRedis reports whether the built-in target needs the Redis server of Scenario.Redis: a
// session store of it is Redis, or it holds the shared resource (Hold > 0). False for a
// command target, which may still use one of its own accord.
func (t Target) UsesRedis() bool {
	return t.redisStore() || t.Builtin != "" && t.Hold > 0
}

// redisStore reports whether a session store of the target is Redis.
func (t Target) redisStore() bool {
	return t.Builtin == sessionWorkload && slices.Contains(t.stores(), storeRedis)
}

// redisReason says what in the target needs Redis, for error messages.
func (t Target) redisReason() string {
	if t.redisStore() {
		return "target.store redis"
	}
	return "target.hold"
}
