package scenario

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/target"
)

// Defaults applied by Parse to the keys a scenario file leaves out: the constants below, applied
// by setDefaults at the end of this file, the one place they are written down (docs/scenario.md
// points here). An explicit value in the file always wins, and the rules refuse explicit empty
// values instead of silently replacing them with a default.
const (
	// DefaultThreads is the GOMAXPROCS of each built-in worker: one, like Node's single event
	// loop, so that "one process vs a cluster" compares what it means for a Node service.
	DefaultThreads          = 1
	DefaultConcurrency      = 0          // the built-in worker's cap on requests in progress (0 = unlimited)
	DefaultPortEnv          = "PORT"     // the env var that tells a command worker its port
	DefaultBuiltinReadyPath = "/healthz" // polled on a built-in worker until it answers 2xx
	// DefaultCommandReadyPath is polled on a user's command worker: "/" is the one path any
	// HTTP server is likely to answer.
	DefaultCommandReadyPath = "/"
	DefaultReadyTimeout     = 10 * time.Second            // how long a worker may take to become ready
	DefaultPath             = "/"                         // the request path the load hits
	DefaultStrategy         = balancer.StrategyRoundRobin // the balancer's selection strategy
	DefaultDuration         = 10 * time.Second            // how long each measured load step lasts
	DefaultWarmup           = 2 * time.Second             // unmeasured load before each step (JIT, caches, pools)
	DefaultTimeout          = 10 * time.Second            // the load generator's per-request timeout
	DefaultSuccess          = 0.999                       // the success ratio a capacity search step must keep
	DefaultMaxSteps         = 12                          // the most load steps of one capacity search
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
	DefaultRepeat         = 1 // each load step runs once
	// DefaultNoiseThreshold: a step during which other processes used more than 5 % of the
	// machine is measured again. Measured here: a quiet 2-core machine shows 0–2 %; a Go build
	// beside a run 30–90 %, and one CPU-burning process 50 %.
	DefaultNoiseThreshold = 0.05
	DefaultRedisAddr      = "127.0.0.1:6379"      // where an already-running Redis is looked for: its standard port
	DefaultLockKey        = target.DefaultLockKey // the Redis list holding the token of the resource target.hold holds
	// DefaultRestartMax is how many times a worker is restarted within DefaultRestartWithin
	// before the cluster gives up on it (a crash loop, not a crash).
	DefaultRestartMax    = 10
	DefaultRestartWithin = time.Minute // the window DefaultRestartMax counts restarts in
)

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

// The names each key accepts, as the file spells them (the checks and messages work on the
// file's text), in the order of the registries of the packages that implement them: a name
// registered there is accepted here. Callers must not modify them.
var (
	// Workloads lists the built-in workloads target.builtin accepts, the ones `bench worker`
	// implements. A workload added there needs a DefaultCost or an explicit cost.
	Workloads = nameList(target.Workloads)
	// Strategies lists the strategies balancer.strategy accepts.
	Strategies = nameList(balancer.Strategies)
	// Stores lists the session stores target.store accepts.
	Stores = nameList(target.Stores)
	// Engines lists the engines balancer.engine accepts.
	Engines = nameList(balancer.Engines)
)

// nameList returns names (a registry's, or a list of them) as strings.
func nameList[T ~string](registry []T) []string {
	out := make([]string, len(registry))
	for i, n := range registry {
		out[i] = string(n)
	}
	return out
}

// The registry entries the rules single out.
const (
	sessionCookie   = target.SessionCookie        // the cookie the built-in session workload sets
	sessionWorkload = target.WorkloadSession      // keeps per-client state: the one workload with a store
	cookieHash      = balancer.StrategyCookieHash // the one strategy with balancer.cookie and bounded_load
	storeRedis      = target.StoreRedis           // the store that needs a Redis server
)

// Limits on what a scenario may ask for. They catch typos (an extra zero) before they start a
// thousand processes or an all-night run, not real hardware limits.
const (
	MaxWorkers     = 256       // a worker count
	MaxThreads     = 256       // target.threads
	MaxConcurrency = 1_000_000 // target.concurrency
	MaxRate        = 1e6       // an offered rate, in requests per second
	MaxDuration    = time.Hour // every duration in a scenario
	MaxSteps       = 100       // load.search.max_steps
	MaxSlowdown    = 100       // a target.slowdown factor
	// MaxConnections bounds load.connections: past it the descriptors of the generator's and
	// the balancer's sides of each connection approach what a process may open.
	MaxConnections = 4096
	MaxClients     = 100_000 // load.clients
	MaxRepeat      = 20      // load.repeat
	MaxRestarts    = 1000    // restart.max
	// MaxFileSize bounds the size of a scenario file; real ones are a few hundred bytes, and
	// the bound keeps a runaway input from costing YAML parsing time and memory.
	MaxFileSize = 1 << 20
	// maxNodes bounds the YAML nodes the decoder visits, aliases counted each time they are
	// followed, so an alias bomb fails fast with a clear error.
	maxNodes = 10_000
)

// given reports whether a scenario file writes a field.
type given func(field string) bool

// unless calls set when the file leaves field out.
func (g given) unless(field string, set func()) {
	if !g(field) {
		set()
	}
}

// setDefaults fills in what the file leaves out, as the table at the top of this file says.
// Defaults that depend on another field read its final value.
func (s *Scenario) setDefaults(g given) {
	g.unless("name", func() { s.Name = defaultName(s.File) })
	t := &s.Target
	switch {
	case t.Builtin != "":
		g.unless("target.cost", func() { t.Cost = DefaultCost[t.Builtin] })
		g.unless("target.threads", func() { t.Threads = DefaultThreads })
		g.unless("target.concurrency", func() { t.Concurrency = DefaultConcurrency })
		g.unless("target.pin", func() { t.Pin = min(max(t.Threads, 0), MaxThreads) })
		if t.Builtin == sessionWorkload {
			g.unless("target.store", func() { t.Store = DefaultStore })
		}
		if t.Hold > 0 {
			g.unless("target.lock_key", func() { t.LockKey = DefaultLockKey })
		}
	case t.Command != nil:
		g.unless("target.port_env", func() { t.PortEnv = DefaultPortEnv })
	}
	g.unless("target.ready_path", func() {
		t.ReadyPath = DefaultCommandReadyPath
		if t.Builtin != "" {
			t.ReadyPath = DefaultBuiltinReadyPath
		}
	})
	g.unless("target.ready_timeout", func() { t.ReadyTimeout = DefaultReadyTimeout })
	g.unless("target.path", func() {
		t.Path = DefaultPath
		if t.URL != "" {
			t.Path = urlPath(t.URL)
		}
	})
	g.unless("workers", func() {
		switch {
		case t.URL != "" && s.Scale.Local():
			s.Workers = []int{1}
		case t.Endpoints != nil:
			s.Workers = normalizeWorkers([]int{1, len(t.Endpoints)})
		default:
			s.Workers = slices.Clone(DefaultWorkers)
		}
	})
	b := &s.Balancer
	g.unless("balancer.strategy", func() { b.SetStrategies([]balancer.Strategy{DefaultStrategy}) })
	if slices.Contains(b.Strategies, cookieHash) {
		g.unless("balancer.cookie", func() { b.Cookie = DefaultCookie })
	}
	g.unless("balancer.engine", func() { b.Engine = DefaultEngine })
	s.Load.setDefaults(g, t.Builtin == sessionWorkload)
	if s.Redis == nil && t.UsesRedis() {
		s.Redis = &Redis{Addr: DefaultRedisAddr}
	} else if s.Redis != nil && !s.Redis.Start {
		g.unless("redis.addr", func() { s.Redis.Addr = DefaultRedisAddr })
	}
	r := &s.Restart
	g.unless("restart.enabled", func() { r.Enabled = true })
	if r.Enabled {
		g.unless("restart.max", func() { r.Max = DefaultRestartMax })
		g.unless("restart.within", func() { r.Within = DefaultRestartWithin })
	}
}

// setDefaults fills in what the load section leaves out; session says whether the target is the
// session workload, whose simulated clients are on by default.
func (l *LoadSpec) setDefaults(g given, session bool) {
	g.unless("load.duration", func() { l.Duration = DefaultDuration })
	g.unless("load.warmup", func() { l.Warmup = DefaultWarmup })
	g.unless("load.timeout", func() { l.Timeout = DefaultTimeout })
	if session {
		g.unless("load.clients", func() { l.Clients = DefaultSessionClients })
	}
	g.unless("load.connections", func() { l.Connections = DefaultConnections })
	g.unless("load.repeat", func() { l.Repeat = DefaultRepeat })
	g.unless("load.noise_threshold", func() { l.NoiseThreshold = DefaultNoiseThreshold })
	if l.Search != nil {
		g.unless("load.search.success", func() { l.Search.Success = DefaultSuccess })
		g.unless("load.search.max_steps", func() { l.Search.MaxSteps = DefaultMaxSteps })
	}
	if !g("load.requests") {
		return // none, or a targets file's, which are complete
	}
	for i := range l.Requests {
		r, field := &l.Requests[i], fmt.Sprintf("load.requests[%d]", i)
		g.unless(field+".method", func() { r.Method = http.MethodGet })
		g.unless(field+".weight", func() { r.Weight = 1 })
	}
}
