package scenario

import (
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Validate checks the whole scenario, as Parse does, after callers (CLI flags) changed fields.
// It returns an *Error for the first problem, with File set and no position:
// "FILE: field: problem". Validate does not fill in defaults: a zero field is checked as zero.
func (s *Scenario) Validate() error {
	if field, msg := s.problem(); msg != "" {
		return &Error{File: s.File, Field: field, Msg: msg}
	}
	return nil
}

// problem returns the field and message of the first problem in s, or "" for none.
func (s *Scenario) problem() (field, msg string) {
	if msg := checkName(s.Name); msg != "" {
		return "name", msg
	}
	if !s.Target.Spawned() && s.Target.URL == "" && s.Target.Endpoints == nil && s.Scale.Local() {
		return "target", "set " + fmt.Sprintf(targetKindsHelp, strings.Join(Workloads, ", "))
	}
	if field, msg := s.Target.problem(); msg != "" {
		return field, msg
	}
	if len(s.Workers) == 0 {
		return "workers", "empty; list worker counts like [1, 2, 4]"
	}
	for i, n := range s.Workers {
		if msg := checkWorkers(n); msg != "" {
			return fmt.Sprintf("workers[%d]", i), msg
		}
		if i > 0 && n <= s.Workers[i-1] {
			return "workers", fmt.Sprintf("must be ascending without duplicates, got %v", s.Workers)
		}
	}
	maxWorkers := s.Workers[len(s.Workers)-1]
	for _, i := range slices.Sorted(maps.Keys(s.Target.Slowdown)) {
		if msg := checkWorkerIndex(i, maxWorkers); msg != "" {
			return "target.slowdown." + strconv.Itoa(i), msg
		}
	}
	if field, msg := s.Balancer.problem(&s.Target); msg != "" {
		return field, msg
	}
	if field, msg := s.Load.problem(); msg != "" {
		return field, msg
	}
	if field, msg := s.redisProblem(); msg != "" {
		return field, msg
	}
	if field, msg := s.Restart.problem(); msg != "" {
		return field, msg
	}
	if field, msg := s.remoteProblem(); msg != "" {
		return field, msg
	}
	for i, f := range s.Faults {
		if field, msg := f.problem(maxWorkers, s.Load.stepEnd()); msg != "" {
			return fmt.Sprintf("faults[%d]%s", i, field), msg
		}
	}
	if s.Faults != nil && len(s.Faults) == 0 {
		return "faults", "empty list; remove the key for no faults"
	}
	if s.SLO != nil {
		if field, msg := s.SLO.problem(); msg != "" {
			return "slo" + field, msg
		}
	}
	return "", ""
}

func (t *Target) problem() (field, msg string) {
	switch {
	case t.Builtin != "" && t.Command != nil:
		return "target", "set builtin or command, not both"
	case t.Spawned() && (t.URL != "" || t.Endpoints != nil):
		return "target", "set one of builtin, command, url or endpoints"
	case !t.Spawned():
		return t.remoteTargetProblem()
	}
	if t.Builtin != "" {
		if msg := checkWorkload(string(t.Builtin)); msg != "" {
			return "target.builtin", msg
		}
		if msg := checkDuration(t.Cost, false); msg != "" {
			return "target.cost", msg
		}
		if msg := checkThreads(t.Threads); msg != "" {
			return "target.threads", msg
		}
		if msg := checkConcurrency(t.Concurrency); msg != "" {
			return "target.concurrency", msg
		}
		if t.PortEnv != "" {
			return "target.port_env", notForBuiltin
		}
		if t.Builtin == sessionWorkload {
			for _, store := range t.stores() {
				if msg := checkStore(string(store)); msg != "" {
					return "target.store", msg
				}
			}
		} else if t.Store != "" || len(t.Stores) > 0 {
			return "target.store", notForSession
		}
		if msg := checkDuration(t.Hold, true); msg != "" {
			return "target.hold", msg
		}
		if t.LockKey != "" {
			if t.Hold == 0 {
				return "target.lock_key", notWithoutHold
			}
			if msg := checkLockKey(t.LockKey); msg != "" {
				return "target.lock_key", msg
			}
		}
		for _, i := range slices.Sorted(maps.Keys(t.Slowdown)) {
			field := "target.slowdown." + strconv.Itoa(i)
			if msg := checkWorkerIndex(i, unknownWorkers); msg != "" {
				return field, msg
			}
			if msg := checkSlowdown(t.Slowdown[i]); msg != "" {
				return field, msg
			}
		}
	} else {
		if len(t.Command) == 0 {
			return "target.command", "empty; give the program and its arguments, like [node, server.mjs]"
		}
		for i, arg := range t.Command {
			if arg == "" {
				return fmt.Sprintf("target.command[%d]", i), "empty argument"
			}
		}
		switch {
		case t.Cost != 0:
			return "target.cost", notForCommand
		case t.Threads != 0:
			return "target.threads", notForCommand
		case t.Concurrency != 0:
			return "target.concurrency", notForCommand
		case len(t.Slowdown) != 0:
			return "target.slowdown", notForCommand
		case t.Hold != 0:
			return "target.hold", notForCommand
		case t.LockKey != "":
			return "target.lock_key", notForCommand
		case t.Store != "":
			return "target.store", notForSession
		}
		if msg := checkEnvName(t.PortEnv); msg != "" {
			return "target.port_env", msg
		}
	}
	for _, k := range slices.Sorted(maps.Keys(t.Env)) {
		if msg := t.checkEnvKey(k); msg != "" {
			return "target.env." + fieldKey(k), msg
		}
	}
	return t.pathsProblem()
}

func (l *LoadSpec) problem() (field, msg string) {
	switch {
	case l.Rates != nil && l.Search != nil:
		return "load", "set rates or search, not both"
	case l.Rates == nil && l.Search == nil:
		return "load", "set rates (like [200, 400]) or search (like {p99: 50ms})"
	}
	if l.Rates != nil {
		if len(l.Rates) == 0 {
			return "load.rates", "empty; list offered rates like [200, 400]"
		}
		for i, r := range l.Rates {
			if msg := checkRate(r); msg != "" {
				return fmt.Sprintf("load.rates[%d]", i), msg
			}
			if j := slices.Index(l.Rates[:i], r); j >= 0 {
				return fmt.Sprintf("load.rates[%d]", i), fmt.Sprintf("duplicate rate %g (also load.rates[%d])", r, j)
			}
		}
	}
	if s := l.Search; s != nil {
		if msg := checkDuration(s.P99, false); msg != "" {
			return "load.search.p99", msg
		}
		if msg := checkSuccess(s.Success); msg != "" {
			return "load.search.success", msg
		}
		if msg := checkMaxSteps(s.MaxSteps); msg != "" {
			return "load.search.max_steps", msg
		}
	}
	if msg := checkDuration(l.Duration, false); msg != "" {
		return "load.duration", msg
	}
	if msg := checkDuration(l.Warmup, true); msg != "" {
		return "load.warmup", msg
	}
	if msg := checkDuration(l.Timeout, false); msg != "" {
		return "load.timeout", msg
	}
	if msg := checkClients(l.Clients, true); msg != "" {
		return "load.clients", msg
	}
	if msg := checkRepeat(l.Repeat); msg != "" {
		return "load.repeat", msg
	}
	if msg := checkConnections(l.Connections, true); msg != "" {
		return "load.connections", msg
	}
	if l.NoiseThreshold != 0 {
		if msg := checkSuccess(l.NoiseThreshold); msg != "" {
			return "load.noise_threshold", msg
		}
	}
	return l.requestsProblem()
}

// stepEnd is when a load step ends, counted from its start: warmup, then the measured part.
func (l *LoadSpec) stepEnd() time.Duration { return l.Warmup + l.Duration }

func (b *Balancer) problem(t *Target) (field, msg string) {
	if b.Strategies != nil {
		if len(b.Strategies) == 0 {
			return "balancer.strategy", "empty; name a strategy or list several"
		}
		if b.Strategy != b.Strategies[0] {
			return "balancer.strategy", fmt.Sprintf("Strategy %s differs from Strategies[0] %s; set both (Balancer.SetStrategies)",
				quote(string(b.Strategy)), quote(string(b.Strategies[0])))
		}
	}
	names := b.strategies()
	for i, name := range names {
		field := "balancer.strategy"
		if len(names) > 1 {
			field = fmt.Sprintf("balancer.strategy[%d]", i)
		}
		if msg := checkStrategy(string(name)); msg != "" {
			return field, msg
		}
		if j := slices.Index(names[:i], name); j >= 0 {
			return field, fmt.Sprintf("duplicate strategy %s (also balancer.strategy[%d])", quote(string(name)), j)
		}
	}
	if slices.Contains(names, cookieHash) {
		if msg := checkCookie(b.Cookie); msg != "" {
			return "balancer.cookie", msg
		}
		if msg := t.checkHashedCookie(b.Cookie); msg != "" {
			return "balancer.cookie", msg
		}
		if msg := checkBoundedLoad(b.BoundedLoad); msg != "" {
			return "balancer.bounded_load", msg
		}
	} else {
		if b.Cookie != "" {
			return "balancer.cookie", notForCookieHash
		}
		if b.BoundedLoad != 0 {
			return "balancer.bounded_load", notForCookieHash
		}
	}
	if msg := checkEngine(string(b.Engine)); msg != "" {
		return "balancer.engine", msg
	}
	if msg := checkMaxConns(b.MaxConns); msg != "" {
		return "balancer.max_conns", msg
	}
	if b.MaxConns > 0 && !b.Engine.Queues() {
		return "balancer.max_conns", fmt.Sprintf("engine %s does not queue requests; use engine fast or std", b.Engine)
	}
	return "", ""
}

// checkMaxConns accepts a bound on each worker's connections from the balancer; 0 = no bound.
func checkMaxConns(n int) string {
	if n < 0 || n > MaxConnections {
		return fmt.Sprintf("must be between 0 (no bound) and %d, got %d", MaxConnections, n)
	}
	return ""
}

// redisProblem checks the Redis section against the target that uses it.
func (s *Scenario) redisProblem() (field, msg string) {
	usesRedis := s.Target.UsesRedis()
	switch r := s.Redis; {
	case r == nil && usesRedis:
		return "redis", "missing; " + s.Target.redisReason() + " needs a Redis server (redis.addr or redis.start)"
	case r == nil:
		return "", ""
	case s.Target.Builtin != "" && !usesRedis:
		return "redis", notForRedis
	case r.Start && r.Addr == "":
		// bench picks a free port.
		return "", ""
	}
	if msg := checkRedisAddr(s.Redis.Addr, s.Redis.Start); msg != "" {
		return "redis.addr", msg
	}
	return "", ""
}

func (r *Restart) problem() (field, msg string) {
	if !r.Enabled {
		switch {
		case r.Max != 0:
			return "restart.max", notWhenDisabled
		case r.Within != 0:
			return "restart.within", notWhenDisabled
		}
		return "", ""
	}
	if msg := checkRestartMax(r.Max); msg != "" {
		return "restart.max", msg
	}
	if msg := checkDuration(r.Within, false); msg != "" {
		return "restart.within", msg
	}
	return "", ""
}

// problem checks one fault against the largest worker count and the end of a step. The
// field it returns is relative to the fault: ".kill", or "" for the fault as a whole.
func (f *Fault) problem(maxWorkers int, stepEnd time.Duration) (field, msg string) {
	if msg := checkDuration(f.At, true); msg != "" {
		return ".at", msg
	}
	switch {
	case f.Kill != 0 && f.Stop != 0:
		return "", "set kill or stop, not both"
	case f.Kill == 0 && f.Stop == 0:
		return "", faultAction
	case f.Kill != 0:
		if msg := checkWorkerIndex(f.Kill, maxWorkers); msg != "" {
			return ".kill", msg
		}
		if f.For != 0 {
			return ".for", notForKill
		}
	default:
		if msg := checkWorkerIndex(f.Stop, maxWorkers); msg != "" {
			return ".stop", msg
		}
		if msg := checkDuration(f.For, false); msg != "" {
			return ".for", msg
		}
	}
	if msg := checkFaultAt(f.At, stepEnd); msg != "" {
		return ".at", msg
	}
	if msg := checkFaultFor(f.At, f.For, stepEnd); msg != "" {
		return ".for", msg
	}
	return "", ""
}

// problem checks an SLO; the field it returns is relative to the SLO (".p99"), "" for all of it.
func (o *SLO) problem() (field, msg string) {
	if o.P99 == 0 && o.Success == 0 {
		return "", sloEmpty
	}
	if o.P99 != 0 {
		if msg := checkDuration(o.P99, false); msg != "" {
			return ".p99", msg
		}
	}
	if o.Success != 0 {
		if msg := checkSuccess(o.Success); msg != "" {
			return ".success", msg
		}
	}
	return "", ""
}

const (
	notForBuiltin    = "only applies to command targets (the built-in worker always reads PORT)"
	notForCommand    = "only applies to builtin targets"
	notForSession    = "only applies to the session workload (builtin: session)"
	notForCookieHash = "only applies to strategy cookie-hash"
	notForRedis      = "only applies with target.store redis, target.hold or a command target"
	notWithoutHold   = "only applies with target.hold (the shared resource's Redis key)"
	notForKill       = "only applies to stop (how long the worker stays stopped)"
	notWhenDisabled  = "only applies when restart is enabled"
	faultAction      = "set one action: kill: WORKER (SIGKILL) or stop: WORKER with for: DURATION (SIGSTOP, then SIGCONT)"
	sloEmpty         = "empty; set p99 (like 50ms), success (like 99.9%), or both"
	// workerIndexEnv is set by the cluster for every worker (see the contract).
	workerIndexEnv = "BENCH_WORKER_INDEX"
)

// The check functions below return "" for a good value, or what is wrong with it. Parse and
// Validate share them so that a file and a flag get the same verdict.

func checkName(s string) string {
	switch {
	case s == "":
		return "empty"
	case s == "." || s == "..":
		return fmt.Sprintf("%q cannot name a results folder", s)
	case strings.ContainsAny(s, `/\`):
		return fmt.Sprintf("%s names a results folder, so it cannot contain / or \\", quote(s))
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Sprintf("%s contains control characters", quote(s))
	case len(s) > 100:
		return fmt.Sprintf("too long (%d bytes, at most 100)", len(s))
	}
	return ""
}

func checkWorkload(s string) string {
	if slices.Contains(Workloads, s) {
		return ""
	}
	return fmt.Sprintf("unknown workload %s%s (built-ins: %s)", quote(s), didYouMean(s, Workloads), strings.Join(Workloads, ", "))
}

func checkStrategy(s string) string {
	return checkOneOf("strategy", s, Strategies)
}

func checkStore(s string) string {
	return checkOneOf("store", s, Stores)
}

func checkEngine(s string) string {
	return checkOneOf("engine", s, Engines)
}

// checkOneOf accepts s when it is one of known, and otherwise names what it is and the options.
func checkOneOf(what, s string, known []string) string {
	if slices.Contains(known, s) {
		return ""
	}
	return fmt.Sprintf("unknown %s %s%s (known: %s)", what, quote(s), didYouMean(s, known), strings.Join(known, ", "))
}

// unknownWorkers, as checkWorkerIndex's maxWorkers, checks the lower bound alone: where the
// worker counts are not known yet (the walker reads workers after target) or are checked later.
const unknownWorkers = math.MaxInt

// checkWorkerIndex accepts a 1-based worker index up to the largest worker count.
func checkWorkerIndex(i, maxWorkers int) string {
	switch {
	case i < 1:
		return fmt.Sprintf("must be a worker index ≥ 1, got %d", i)
	case i > maxWorkers:
		return fmt.Sprintf("worker %d never runs: the largest worker count is %d", i, maxWorkers)
	}
	return ""
}

func checkSlowdown(f float64) string {
	// Written so that NaN fails too.
	if !(f > 0 && f <= MaxSlowdown) {
		return fmt.Sprintf("must be a factor in (0, %d] (3 = three times slower), got %g", MaxSlowdown, f)
	}
	return ""
}

// checkCookie accepts a cookie name: an HTTP token (RFC 6265 via RFC 7230).
func checkCookie(s string) string {
	if s == "" {
		return "empty"
	}
	for _, r := range s {
		if !(r < 0x7f && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r))) {
			return fmt.Sprintf("%s is not a cookie name (letters, digits and !#$%%&'*+-.^_`|~)", quote(s))
		}
	}
	return ""
}

// checkHashedCookie refuses to hash a cookie the built-in session workload never sets: every
// request would fall back to round-robin and the comparison would measure nothing.
func (t *Target) checkHashedCookie(cookie string) string {
	if t.Builtin == sessionWorkload && cookie != sessionCookie {
		return fmt.Sprintf("the session workload sets cookie %q, so hashing %s would find none", sessionCookie, quote(cookie))
	}
	return ""
}

func checkBoundedLoad(c float64) string {
	// Below 1 no backend could take its share of the average. Written so that NaN fails too.
	if c != 0 && !(c >= 1 && c <= math.MaxFloat64) {
		return fmt.Sprintf("must be 0 (no bound) or a factor ≥ 1 of the average load, like 1.25; got %g", c)
	}
	return ""
}

// checkConnections accepts a bound on the generator's connections; zeroOK admits 0 (the default),
// which a file may not write.
func checkConnections(n int, zeroOK bool) string {
	if n == 0 && zeroOK {
		return ""
	}
	if n < 1 || n > MaxConnections {
		return fmt.Sprintf("must be between 1 and %d, got %d", MaxConnections, n)
	}
	return ""
}

// checkClients accepts a number of simulated clients; zeroOK admits 0 (none), which a file
// says by leaving the key out.
func checkClients(n int, zeroOK bool) string {
	if n == 0 && zeroOK {
		return ""
	}
	if n < 1 || n > MaxClients {
		return fmt.Sprintf("must be between 1 and %d, got %d", MaxClients, n)
	}
	return ""
}

func checkRepeat(n int) string {
	if n < 1 || n > MaxRepeat {
		return fmt.Sprintf("must be between 1 and %d, got %d", MaxRepeat, n)
	}
	return ""
}

func checkRestartMax(n int) string {
	if n < 1 || n > MaxRestarts {
		return fmt.Sprintf("must be between 1 and %d restarts, got %d (restart: false disables restarts)", MaxRestarts, n)
	}
	return ""
}

// checkRedisAddr accepts host:port on loopback: bench only ever talks to this machine.
// start says whether bench starts the server, which changes what the message suggests.
func checkRedisAddr(addr string, start bool) string {
	if addr == "" {
		if start {
			return "empty; remove the key to let bench pick a free port"
		}
		return "empty; set the host:port of a running Redis, or start: true"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%s is not host:port like 127.0.0.1:6379", quote(addr))
	}
	if !strings.EqualFold(host, "localhost") {
		ip, err := netip.ParseAddr(host)
		if err != nil || ip.Zone() != "" || !ip.Unmap().IsLoopback() {
			return fmt.Sprintf("host %s is not on loopback (127.0.0.0/8, ::1 or localhost): bench only talks to this machine", quote(host))
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port[0] < '0' || port[0] > '9' {
		hint := ""
		if start {
			hint = "; remove addr to let bench pick a free port"
		}
		return fmt.Sprintf("port %s must be a number in 1..65535%s", quote(port), hint)
	}
	return ""
}

// checkFaultAt accepts a fault time within a step that ends at end.
func checkFaultAt(at, end time.Duration) string {
	switch {
	case at > end:
		return fmt.Sprintf("fault at %v is after the step ends at %v (load.warmup + load.duration)", at, end)
	case at == end:
		return fmt.Sprintf("fault at %v is when the step ends (load.warmup + load.duration); it must come before", at)
	}
	return ""
}

// checkFaultFor accepts a stop that ends (SIGCONT) by the end of the step, so that no step
// starts with a worker still stopped.
func checkFaultFor(at, d, end time.Duration) string {
	if d > end-at {
		return fmt.Sprintf("a stop from %v for %v lasts past the step's end at %v (load.warmup + load.duration)", at, d, end)
	}
	return ""
}

func checkDuration(d time.Duration, zeroOK bool) string {
	switch {
	case d < 0:
		return fmt.Sprintf("must not be negative, got %v", d)
	case d == 0 && !zeroOK:
		return "must be positive, got 0"
	case d > MaxDuration:
		return fmt.Sprintf("must be at most 1h, got %v", d)
	}
	return ""
}

func checkWorkers(n int) string {
	if n < 1 || n > MaxWorkers {
		return fmt.Sprintf("must be between 1 and %d workers, got %d", MaxWorkers, n)
	}
	return ""
}

func checkThreads(n int) string {
	if n < 1 || n > MaxThreads {
		return fmt.Sprintf("must be between 1 and %d, got %d", MaxThreads, n)
	}
	return ""
}

func checkConcurrency(n int) string {
	switch {
	case n < 0:
		return fmt.Sprintf("must not be negative (0 = unlimited), got %d", n)
	case n > MaxConcurrency:
		return fmt.Sprintf("must be at most %d (0 = unlimited), got %d", MaxConcurrency, n)
	}
	return ""
}

func checkRate(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return fmt.Sprintf("must be a finite number of requests/s, got %g", r)
	case r <= 0:
		return fmt.Sprintf("must be positive (requests/s), got %g", r)
	case r > MaxRate:
		return fmt.Sprintf("must be at most %g requests/s, got %g", MaxRate, r)
	}
	return ""
}

func checkSuccess(f float64) string {
	// Written so that NaN fails too.
	if !(f > 0 && f <= 1) {
		return fmt.Sprintf("must be a fraction in (0, 1] like 0.999 or a percentage like \"99.9%%\", got %g", f)
	}
	return ""
}

func checkMaxSteps(n int) string {
	if n < 1 || n > MaxSteps {
		return fmt.Sprintf("must be between 1 and %d, got %d", MaxSteps, n)
	}
	return ""
}

// checkEnvName accepts the names a POSIX shell accepts, so that a user's server can read them.
func checkEnvName(s string) string {
	if s == "" {
		return "empty"
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return fmt.Sprintf("%s is not an environment variable name (letters, digits, _; not starting with a digit)", quote(s))
		}
	}
	return ""
}

// checkEnvKey also refuses the variables bench sets itself for every worker: the user's value
// would be overwritten or, worse, win and break the port or thread settings.
func (t *Target) checkEnvKey(k string) string {
	if msg := checkEnvName(k); msg != "" {
		return msg
	}
	portEnv := t.PortEnv
	if t.Builtin != "" {
		portEnv = DefaultPortEnv
	}
	switch {
	case k == portEnv:
		return "is set by bench to each worker's port"
	case k == workerIndexEnv:
		return "is set by bench to each worker's index"
	case k == "GOMAXPROCS" && t.Builtin != "":
		return "is set by bench; use target.threads instead"
	}
	return ""
}

// checkLockKey accepts a Redis key that also survives a worker's command line: printable, no
// spaces.
func checkLockKey(s string) string {
	switch {
	case s == "":
		return "empty; remove the key for the default " + quote(DefaultLockKey)
	case len(s) > 200:
		return fmt.Sprintf("%d bytes; keep a Redis key under 200", len(s))
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Sprintf("%s must not contain spaces or control characters", quote(s))
	}
	return ""
}

func checkPath(s string) string {
	switch {
	case s == "":
		return "empty"
	case s[0] != '/':
		return fmt.Sprintf("%s must start with /", quote(s))
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Sprintf("%s must not contain spaces or control characters (percent-encode them)", quote(s))
	}
	return ""
}

// pathsProblem checks what every target has, spawned or running: the ready path and its timeout,
// and the path the load hits.
func (t *Target) pathsProblem() (field, msg string) {
	if msg := checkPath(t.ReadyPath); msg != "" {
		return "target.ready_path", msg
	}
	if msg := checkDuration(t.ReadyTimeout, false); msg != "" {
		return "target.ready_timeout", msg
	}
	if msg := checkPath(t.Path); msg != "" {
		return "target.path", msg
	}
	return "", ""
}
