package scenario

import (
	"time"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/target"
)

// Defaults applied by Parse to the keys a scenario file leaves out. This block is the one place
// they are written down; docs/scenario.md points here. An explicit value in the file always wins, and
// Parse rejects explicit empty values instead of silently replacing them with a default.
//
//	name                  the file's base name without its extension ("cpu" for cpu.yaml)
//	target.threads        DefaultThreads (built-in targets only)
//	target.concurrency    DefaultConcurrency (built-in targets only)
//	target.cost           DefaultCost[workload] (built-in targets only)
//	target.port_env       DefaultPortEnv (command targets only)
//	target.ready_path     DefaultBuiltinReadyPath or DefaultCommandReadyPath
//	target.ready_timeout  DefaultReadyTimeout
//	target.path           DefaultPath
//	target.store          DefaultStore (session workload only)
//	target.slowdown       none: every worker at factor 1
//	target.hold           0: no shared resource
//	target.lock_key       DefaultLockKey when target.hold > 0, else none
//	target.url            none; with it target.path is the URL's path and query
//	target.endpoints      none
//	workers               DefaultWorkers; [1] with target.url and no scale hook;
//	                      [1, len(target.endpoints)] with target.endpoints
//	scale                 local: bench starts the processes
//	balancer.strategy     DefaultStrategy
//	balancer.cookie       DefaultCookie (when a strategy is cookie-hash)
//	balancer.bounded_load 0: no bound
//	balancer.engine       DefaultEngine
//	balancer.max_conns    0: no bound
//	load.requests         none: GET target.path (load.targets reads them from a file instead)
//	load.requests[].method GET; .weight 1 (a target of load.targets has weight 1)
//	load.duration         DefaultDuration
//	load.warmup           DefaultWarmup
//	load.timeout          DefaultTimeout
//	load.clients          DefaultSessionClients for the session workload, 0 (none) otherwise
//	load.connections      DefaultConnections
//	load.repeat           DefaultRepeat
//	load.noise_threshold  DefaultNoiseThreshold
//	load.search.success   DefaultSuccess
//	load.search.max_steps DefaultMaxSteps
//	redis                 none; with target.store redis or target.hold > 0:
//	                      {start: false, addr: DefaultRedisAddr}
//	redis.start           false
//	redis.addr            DefaultRedisAddr, or "" (a free port) when start is true
//	restart               enabled, max DefaultRestartMax, within DefaultRestartWithin
//	restart.enabled       true (restart: false disables)
//	faults                none
//	slo                   none
const (
	// DefaultThreads is the GOMAXPROCS of each built-in worker: one, like Node's single event
	// loop, so that "one process vs a cluster" compares what it means for a Node service.
	DefaultThreads = 1
	// DefaultConcurrency is the built-in worker's cap on requests in progress; 0 = unlimited.
	DefaultConcurrency = 0
	// DefaultPortEnv names the env var that tells a command worker its port.
	DefaultPortEnv = "PORT"
	// DefaultBuiltinReadyPath is polled on a built-in worker until it answers 2xx.
	DefaultBuiltinReadyPath = "/healthz"
	// DefaultCommandReadyPath is polled on a user's command worker: "/" is the one path any
	// HTTP server is likely to answer.
	DefaultCommandReadyPath = "/"
	// DefaultReadyTimeout bounds how long a worker may take to become ready.
	DefaultReadyTimeout = 10 * time.Second
	// DefaultPath is the request path the load hits.
	DefaultPath = "/"
	// DefaultStrategy is the balancer's selection strategy.
	DefaultStrategy = balancer.StrategyRoundRobin
	// DefaultDuration is how long each measured load step lasts.
	DefaultDuration = 10 * time.Second
	// DefaultWarmup is the unmeasured load sent before each step (JIT, caches, connection pools).
	DefaultWarmup = 2 * time.Second
	// DefaultTimeout is the per-request timeout of the load generator.
	DefaultTimeout = 10 * time.Second
	// DefaultSuccess is the success ratio (a fraction) a capacity search step must keep.
	DefaultSuccess = 0.999
	// DefaultMaxSteps bounds the number of load steps of one capacity search.
	DefaultMaxSteps = 12
	// DefaultStore keeps the session workload's sessions in each worker's memory: the
	// well-known "in-memory sessions break across workers", measured.
	DefaultStore = target.StoreMemory
	// DefaultCookie is the cookie the cookie-hash strategy hashes: the one the built-in session
	// workload sets.
	DefaultCookie = sessionCookie
	// DefaultEngine is the balancer's proxy implementation: bench's own HTTP/1.1 engine, whose
	// CPU per request is the smallest (docs/findings.md, "The harness's cost").
	DefaultEngine = balancer.EngineFast
	// DefaultConnections is load.connections: the most connections the generator opens to the
	// balancer. A request that comes due while all are busy waits for one, inside its latency
	// (load.DefaultConnections says why there is a bound).
	DefaultConnections = 256
	// DefaultSessionClients is load.clients for the session workload: enough clients that a
	// session is rarely reused back to back, few enough to stay well within one process.
	DefaultSessionClients = 1000
	// DefaultRepeat runs each load step once.
	DefaultRepeat = 1
	// DefaultNoiseThreshold: a step during which other processes used more than 5 % of the
	// machine is measured again. Measured here: a quiet 2-core machine shows 0–2 %; a Go build
	// beside a run 30–90 %, and one CPU-burning process 50 %.
	DefaultNoiseThreshold = 0.05
	// DefaultRedisAddr is where an already-running Redis is looked for: its standard port.
	DefaultRedisAddr = "127.0.0.1:6379"
	// DefaultLockKey is the Redis list holding the token of the resource target.hold holds.
	DefaultLockKey = target.DefaultLockKey
	// DefaultRestartMax is how many times a worker is restarted within DefaultRestartWithin
	// before the cluster gives up on it (a crash loop, not a crash).
	DefaultRestartMax = 10
	// DefaultRestartWithin is the window DefaultRestartMax counts restarts in.
	DefaultRestartWithin = time.Minute
)

// sessionCookie is the cookie the built-in session workload sets.
const sessionCookie = target.SessionCookie

// DefaultWorkers are the worker counts compared when a scenario names none: the smallest
// cluster against a single process. Callers must not modify it.
var DefaultWorkers = []int{1, 2}

// DefaultCost is the per-request cost of each built-in workload when target.cost is unset:
// CPU burned for cpu, time waited for sleep. A workload missing here needs an explicit cost.
// Callers must not modify it.
var DefaultCost = map[target.Workload]time.Duration{
	target.WorkloadCPU:     1 * time.Millisecond,
	target.WorkloadSleep:   10 * time.Millisecond,
	target.WorkloadSession: 1 * time.Millisecond,
}

// The names each key accepts, in the registries' order, as the file spells them: the checks and
// messages work on the file's text. The registries are the packages that implement the names
// (target.Workloads, target.Stores, balancer.Strategies, balancer.Engines); a name registered
// there is accepted here. Callers must not modify them.
var (
	// Workloads lists the built-in workloads target.builtin accepts, the ones `bench worker`
	// implements. A workload added there needs a DefaultCost or an explicit cost.
	Workloads = names(target.Workloads)
	// Strategies lists the strategies balancer.strategy accepts.
	Strategies = names(balancer.Strategies)
	// Stores lists the session stores target.store accepts: in each worker's memory, or in a
	// Redis shared by all workers.
	Stores = names(target.Stores)
	// Engines lists the engines balancer.engine accepts: bench's own HTTP/1.1 proxy (fast),
	// net/http/httputil's ReverseProxy (std), a connection balancer (l4), or an HAProxy
	// process (haproxy).
	Engines = names(balancer.Engines)
)

// names returns a registry's names as strings.
func names[T ~string](registry []T) []string {
	out := make([]string, len(registry))
	for i, n := range registry {
		out[i] = string(n)
	}
	return out
}

// typed converts a checked name to its registry's type, passing err through:
// t.Builtin, err = typed[target.Workload](w.checked(...)).
func typed[T ~string](name string, err error) (T, error) { return T(name), err }

// typedList converts checked names to their registry's type, passing err through; nil stays nil.
func typedList[T ~string](names []string, err error) ([]T, error) {
	if names == nil {
		return nil, err
	}
	out := make([]T, len(names))
	for i, n := range names {
		out[i] = T(n)
	}
	return out, err
}

// sessionWorkload is the workload that keeps per-client state, the only one with a store.
const sessionWorkload = target.WorkloadSession

// The strategies the schema treats specially.
const (
	// cookieHash is the one strategy that takes balancer.cookie and balancer.bounded_load.
	cookieHash = balancer.StrategyCookieHash
)

// storeRedis is the store that needs a Redis server.
const storeRedis = target.StoreRedis

// Limits on what a scenario may ask for. They catch typos (an extra zero) before they start a
// thousand processes or an all-night run, not real hardware limits.
const (
	// MaxWorkers bounds a worker count.
	MaxWorkers = 256
	// MaxThreads bounds target.threads.
	MaxThreads = 256
	// MaxConcurrency bounds target.concurrency.
	MaxConcurrency = 1_000_000
	// MaxRate bounds an offered rate, in requests per second.
	MaxRate = 1e6
	// MaxDuration bounds every duration in a scenario.
	MaxDuration = time.Hour
	// MaxSteps bounds load.search.max_steps.
	MaxSteps = 100
	// MaxSlowdown bounds a target.slowdown factor.
	MaxSlowdown = 100
	// MaxConnections bounds load.connections: past it the descriptors of the generator's and
	// the balancer's sides of each connection approach what a process may open.
	MaxConnections = 4096
	// MaxClients bounds load.clients.
	MaxClients = 100_000
	// MaxRepeat bounds load.repeat.
	MaxRepeat = 20
	// MaxRestarts bounds restart.max.
	MaxRestarts = 1000
	// MaxFileSize bounds the size of a scenario file; real ones are a few hundred bytes, and
	// the bound keeps a runaway input from costing YAML parsing time and memory.
	MaxFileSize = 1 << 20
	// maxNodes bounds the YAML nodes the walker visits, aliases counted each time they are
	// followed, so an alias bomb fails fast with a clear error.
	maxNodes = 10_000
)
