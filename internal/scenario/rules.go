package scenario

import (
	"errors"
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

	"github.com/bench-dev/bench/internal/httpwire"
)

// This file holds the one set of rules a scenario must keep, whether it came from a file, from
// code or from a file with flags laid over it. Each broken rule is a problem about a field path;
// for a file the path is mapped to the line and column of that field.

// A problem is a rule a scenario breaks.
type problem struct {
	field string
	err   error
	// atKey points a file's reader at the field's key rather than its value: the field should
	// not be there at all, whatever its value.
	atKey bool
	// other, for a conflict, is the field that field cannot be combined with.
	other string
}

// rules collects the problems of a scenario, in rule order.
type rules struct {
	problems []problem
	// given reports whether the file writes a field; always false for a scenario built in
	// code. A few rules also refuse, in a file, an explicit value equal to what a missing key
	// leaves (clients: 0, lock_key: "").
	given given
}

// value records err, if any, as a problem with the value of field.
func (r *rules) value(field string, err error) {
	if err != nil {
		r.problems = append(r.problems, problem{field: field, err: err})
	}
}

// key records err, if any, as a problem with field being there at all.
func (r *rules) key(field string, err error) {
	if err != nil {
		r.problems = append(r.problems, problem{field: field, err: err, atKey: true})
	}
}

// only records err as a problem with field being there when it is set, or written in the file
// even with a zero value: a key that does not apply is an error whatever its value.
func (r *rules) only(field string, set bool, err error) {
	if set || r.given(field) {
		r.key(field, err)
	}
}

// optional records err as a problem with the value of field when it is set, or written in the
// file even with a zero value: the zero value of an optional field means "left out".
func (r *rules) optional(field string, set bool, err error) {
	if set || r.given(field) {
		r.value(field, err)
	}
}

// conflict records that field cannot be combined with other; why says what to do instead.
func (r *rules) conflict(field, other, why string) {
	r.problems = append(r.problems, problem{field: field, other: other, err: errors.New(why), atKey: true})
}

// Validate checks the whole scenario, as Parse does, after callers (CLI flags) changed fields.
// It returns an *Error for the first problem, with File set and no position:
// "FILE: field: problem". Validate does not fill in defaults: a zero field is checked as zero.
func (s *Scenario) Validate() error {
	if ps := s.problems(func(string) bool { return false }); len(ps) > 0 {
		return ps[0].error(s.File, nil)
	}
	return nil
}

// problems applies every rule to s.
func (s *Scenario) problems(given given) []problem {
	r := &rules{given: given}
	r.value("name", checkName(s.Name))
	r.value("description", errUnless(s.Description != "" || !given("description"), "empty; remove the key for no description"))
	s.Target.rules(r, !s.Scale.Local())
	maxWorkers := s.workerRules(r)
	s.Balancer.rules(r, &s.Target)
	s.Load.rules(r)
	s.redisRules(r)
	s.Restart.rules(r)
	s.remoteRules(r)
	r.value("faults", errUnless(s.Faults == nil || len(s.Faults) > 0,
		"empty list; list faults like [{at: 3s, kill: 1}], or remove the key"))
	for i, f := range s.Faults {
		f.rules(r, fmt.Sprintf("faults[%d]", i), maxWorkers, s.Load.stepEnd())
	}
	if s.SLO != nil {
		s.SLO.rules(r)
	}
	return r.problems
}

// kinds returns the fields that say what the target is, of builtin, command, url and endpoints:
// one, or none for a scale hook's replicas. A kind written empty in the file counts.
func (t *Target) kinds(given given) []string {
	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{{"builtin", t.Builtin != ""}, {"command", t.Command != nil}, {"url", t.URL != ""}, {"endpoints", t.Endpoints != nil}} {
		if k.set || given("target."+k.name) {
			kinds = append(kinds, "target."+k.name)
		}
	}
	return kinds
}

// rules checks the target as what it is (hook: a scale hook runs the replicas).
func (t *Target) rules(r *rules, hook bool) {
	kinds := t.kinds(r.given)
	switch {
	case len(kinds) > 1:
		r.conflict(kinds[1], kinds[0], "a target is one of builtin, command, url or endpoints")
		return
	case len(kinds) == 0 && !hook:
		r.value("target", errors.New("set "+targetKinds()))
		return
	case len(kinds) == 0:
		t.runningRules(r, "")
	case kinds[0] == "target.builtin":
		if err := checkOneOf("workload", string(t.Builtin), Workloads); err != nil {
			r.value("target.builtin", err)
			return
		}
		t.builtinRules(r)
	case kinds[0] == "target.command":
		argvRules(r, "target.command", t.Command)
		t.onlyBuiltin(r, errNotForCommand)
		r.only("target.store", t.Store != "" || t.Stores != nil, errNotForSession)
		r.value("target.port_env", checkEnvName(t.PortEnv))
	default:
		if !t.runningRules(r, kinds[0]) {
			return
		}
	}
	if t.Spawned() {
		r.value("target.pin", checkBetween(t.Pin, 0, MaxThreads))
		for _, k := range slices.Sorted(maps.Keys(t.Env)) {
			r.key("target.env."+fieldKey(k), t.checkEnvKey(k))
		}
	}
	r.value("target.ready_path", checkPath(t.ReadyPath))
	r.value("target.ready_timeout", checkDuration(t.ReadyTimeout, false))
	r.value("target.path", checkPath(t.Path))
}

// builtinRules checks a built-in worker of a known workload.
func (t *Target) builtinRules(r *rules) {
	r.value("target.cost", checkDuration(t.Cost, false))
	r.value("target.threads", checkBetween(t.Threads, 1, MaxThreads))
	r.value("target.concurrency", errUnless(t.Concurrency >= 0, "must not be negative (0 = unlimited), got %d", t.Concurrency))
	r.value("target.concurrency", errUnless(t.Concurrency <= MaxConcurrency,
		"must be at most %d (0 = unlimited), got %d", MaxConcurrency, t.Concurrency))
	r.only("target.port_env", t.PortEnv != "", errNotForBuiltin)
	switch {
	case t.Builtin == sessionWorkload && t.Stores != nil && len(t.Stores) == 0:
		r.value("target.store", errors.New("empty list; name a store, or list several to compare"))
	case t.Builtin == sessionWorkload:
		namesRules(r, "target.store", "store", t.stores(), Stores)
	default:
		r.only("target.store", t.Store != "" || t.Stores != nil, errNotForSession)
	}
	r.value("target.hold", checkDuration(t.Hold, true))
	if t.Hold == 0 {
		r.only("target.lock_key", t.LockKey != "", errors.New("only applies with target.hold (the shared resource's Redis key)"))
	} else {
		r.optional("target.lock_key", t.LockKey != "", checkLockKey(t.LockKey))
	}
	r.value("target.slowdown", errUnless(t.Slowdown == nil || len(t.Slowdown) > 0,
		"empty; map worker indexes to factors like {1: 3}, or remove the key"))
	for _, i := range slices.Sorted(maps.Keys(t.Slowdown)) {
		f := t.Slowdown[i] // the comparisons are written so that NaN fails too
		r.value("target.slowdown."+strconv.Itoa(i), errUnless(f > 0 && f <= MaxSlowdown,
			"must be a factor in (0, %d] (3 = three times slower), got %g", MaxSlowdown, f))
	}
}

// onlyBuiltin refuses the fields only a built-in worker has, with err.
func (t *Target) onlyBuiltin(r *rules, err error) {
	for _, f := range []struct {
		name string
		set  bool
	}{{"cost", t.Cost != 0}, {"threads", t.Threads != 0}, {"concurrency", t.Concurrency != 0},
		{"slowdown", t.Slowdown != nil}, {"hold", t.Hold != 0}, {"lock_key", t.LockKey != ""}} {
		r.only("target."+f.name, f.set, err)
	}
}

// runningRules checks a target bench does not start: url, endpoints, or a scale hook's replicas
// (kind ""). It reports whether the target's paths are worth checking.
func (t *Target) runningRules(r *rules, kind string) bool {
	switch {
	case kind == "target.url":
		if err := checkURL(t.URL); err != nil {
			r.value("target.url", err)
			return false
		}
		r.key("target.path", errUnless(!r.given("target.path") && t.Path == urlPath(t.URL), "the path is part of target.url"))
	case len(t.Endpoints) == 0 && t.Endpoints != nil:
		r.value("target.endpoints", errors.New("empty list; list replicas like [http://127.0.0.1:8081, http://127.0.0.1:8082]"))
	case len(t.Endpoints) > MaxWorkers:
		r.value("target.endpoints", fmt.Errorf("%d endpoints; at most %d", len(t.Endpoints), MaxWorkers))
	}
	eachOnce(r, "target.endpoints", "endpoint", t.Endpoints, checkEndpoint, quote)
	t.onlyBuiltin(r, errNotForRunning)
	r.only("target.port_env", t.PortEnv != "", errNotForRunning)
	r.only("target.pin", t.Pin != 0, errNotForRunning)
	r.only("target.env", t.Env != nil, errNotForRunning)
	r.only("target.store", t.Store != "" || t.Stores != nil, errNotForSession)
	return true
}

// argvRules checks a program and its arguments.
func argvRules(r *rules, field string, args []string) {
	r.value(field, errUnless(len(args) > 0, "empty; give the program and its arguments, like [node, server.mjs]"))
	for i, a := range args {
		r.value(fmt.Sprintf("%s[%d]", field, i), errUnless(a != "", "empty argument"))
	}
}

// namesRules checks names from a list of known ones (one name is at field, several at
// field[i]), each once.
func namesRules[T ~string](r *rules, field, what string, names []T, known []string) {
	check := func(name string) error { return checkOneOf(what, name, known) }
	if len(names) == 1 {
		r.value(field, check(string(names[0])))
		return
	}
	eachOnce(r, field, what, nameList(names), check, quote)
}

// eachOnce checks each item of list, at field[i], with check, and that it repeats no earlier
// item; what names an item and show writes it, for the message.
func eachOnce[T comparable](r *rules, field, what string, list []T, check func(T) error, show func(T) string) {
	for i, x := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		r.value(f, check(x))
		j := slices.Index(list[:i], x)
		r.value(f, errUnless(j < 0, "duplicate %s %s (also %s[%d])", what, show(x), field, j))
	}
}

// workerRules checks the worker counts and returns the largest (0 for none).
func (s *Scenario) workerRules(r *rules) int {
	if len(s.Workers) == 0 {
		r.value("workers", errors.New("empty; list worker counts like [1, 2, 4]"))
		return 0
	}
	for i, n := range s.Workers {
		r.value(fmt.Sprintf("workers[%d]", i), checkWorkers(n))
		if i > 0 && n <= s.Workers[i-1] {
			r.value("workers", fmt.Errorf("must be ascending without duplicates, got %v", s.Workers))
			break
		}
	}
	maxWorkers := s.Workers[len(s.Workers)-1]
	if s.Target.Builtin != "" {
		for _, i := range slices.Sorted(maps.Keys(s.Target.Slowdown)) {
			r.key("target.slowdown."+strconv.Itoa(i), checkWorkerIndex(i, maxWorkers))
		}
	}
	return maxWorkers
}

// rules checks the balancer; the target tells which cookie the session workload sets.
func (b *Balancer) rules(r *rules, t *Target) {
	if b.Strategies != nil {
		if len(b.Strategies) == 0 {
			r.value("balancer.strategy", errors.New("empty list; name a strategy, or list several to compare"))
			return
		}
		r.value("balancer.strategy", errUnless(b.Strategy == b.Strategies[0], "Strategy %s differs from Strategies[0] %s; set both (Balancer.SetStrategies)",
			quote(string(b.Strategy)), quote(string(b.Strategies[0]))))
	}
	names := b.strategies()
	namesRules(r, "balancer.strategy", "strategy", names, Strategies)
	if slices.Contains(names, cookieHash) {
		r.value("balancer.cookie", checkCookie(b.Cookie))
		// Hashing a cookie the session workload never sets would send every request
		// round-robin, and the comparison would measure nothing.
		r.value("balancer.cookie", errUnless(t.Builtin != sessionWorkload || b.Cookie == sessionCookie,
			"the session workload sets cookie %q, so hashing %s would find none", sessionCookie, quote(b.Cookie)))
		// Below 1 no backend could take its share of the average.
		c := b.BoundedLoad
		r.value("balancer.bounded_load", errUnless(c == 0 || c >= 1 && c <= math.MaxFloat64,
			"must be 0 (no bound) or a factor ≥ 1 of the average load, like 1.25; got %g", c))
	} else {
		r.only("balancer.cookie", b.Cookie != "", errNotForCookieHash)
		r.only("balancer.bounded_load", b.BoundedLoad != 0, errNotForCookieHash)
	}
	r.value("balancer.engine", checkOneOf("engine", string(b.Engine), Engines))
	r.value("balancer.max_conns", errUnless(b.MaxConns >= 0 && b.MaxConns <= MaxConnections,
		"must be between 0 (no bound) and %d, got %d", MaxConnections, b.MaxConns))
	r.key("balancer.max_conns", errUnless(b.MaxConns <= 0 || b.Engine.Queues(), "engine %s does not queue requests; use engine fast or std", b.Engine))
}

// rules checks the load: rates or a search, the step's times, the client side.
func (l *LoadSpec) rules(r *rules) {
	switch {
	case l.Rates != nil && l.Search != nil:
		r.conflict("load.search", "load.rates", "offer fixed rates or search for capacity")
	case l.Rates == nil && l.Search == nil:
		r.value("load", errors.New("set rates (like [200, 400]) or search (like {p99: 50ms})"))
	case len(l.Rates) == 0 && l.Search == nil:
		r.value("load.rates", errors.New("empty list; list offered rates like [200, 400]"))
	}
	eachOnce(r, "load.rates", "rate", l.Rates, checkRate, func(r float64) string { return fmt.Sprint(r) })
	if s := l.Search; s != nil {
		r.value("load.search.p99", checkDuration(s.P99, false))
		r.value("load.search.success", checkSuccess(s.Success))
		r.value("load.search.max_steps", checkBetween(s.MaxSteps, 1, MaxSteps))
	}
	r.value("load.duration", checkDuration(l.Duration, false))
	r.value("load.warmup", checkDuration(l.Warmup, true))
	r.value("load.timeout", checkDuration(l.Timeout, false))
	// 0 means none (clients) or the default (connections, noise_threshold): a file says so by
	// leaving the key out.
	r.optional("load.clients", l.Clients != 0, checkBetween(l.Clients, 1, MaxClients))
	r.value("load.repeat", checkBetween(l.Repeat, 1, MaxRepeat))
	r.optional("load.connections", l.Connections != 0, checkBetween(l.Connections, 1, MaxConnections))
	r.optional("load.noise_threshold", l.NoiseThreshold != 0, checkSuccess(l.NoiseThreshold))
	if r.given("load.requests") && r.given("load.targets") {
		r.conflict("load.targets", "load.requests", "write the requests inline or in a targets file")
	}
	l.requestsRules(r)
}

// stepEnd is when a load step ends, counted from its start: warmup, then the measured part.
func (l *LoadSpec) stepEnd() time.Duration { return l.Warmup + l.Duration }

// redisRules checks the Redis section against the target that uses it.
func (s *Scenario) redisRules(r *rules) {
	usesRedis := s.Target.UsesRedis()
	switch red := s.Redis; {
	case red == nil && usesRedis:
		r.value("redis", fmt.Errorf("missing; %s needs a Redis server (redis.addr or redis.start)", s.Target.redisReason()))
	case red == nil:
	case s.Target.Builtin != "" && !usesRedis:
		r.key("redis", errors.New("only applies with target.store redis, target.hold or a command target"))
	case red.Start && red.Addr == "" && !r.given("redis.addr"):
		// bench picks a free port.
	default:
		r.value("redis.addr", checkRedisAddr(red.Addr, red.Start))
	}
}

// rules checks the restart policy; max and within only apply when it is enabled.
func (rs *Restart) rules(r *rules) {
	if !rs.Enabled {
		errOff := errors.New("only applies when restart is enabled")
		r.only("restart.max", rs.Max != 0, errOff)
		r.only("restart.within", rs.Within != 0, errOff)
		return
	}
	r.value("restart.max", errUnless(rs.Max >= 1 && rs.Max <= MaxRestarts,
		"must be between 1 and %d restarts, got %d (restart: false disables restarts)", MaxRestarts, rs.Max))
	r.value("restart.within", checkDuration(rs.Within, false))
}

// rules checks one fault, at field, against the largest worker count (0 for none known) and
// the end of a step.
func (f *Fault) rules(r *rules, field string, maxWorkers int, end time.Duration) {
	if maxWorkers == 0 {
		maxWorkers = math.MaxInt
	}
	r.value(field+".at", checkDuration(f.At, true))
	kill := f.Kill != 0 || r.given(field+".kill")
	stop := f.Stop != 0 || r.given(field+".stop")
	switch {
	case kill && stop:
		r.conflict(field+".stop", field+".kill", "one action per fault")
		return
	case kill:
		r.value(field+".kill", checkWorkerIndex(f.Kill, maxWorkers))
		r.only(field+".for", f.For != 0, errors.New("only applies to stop (how long the worker stays stopped)"))
	case stop:
		r.value(field+".stop", checkWorkerIndex(f.Stop, maxWorkers))
		r.value(field+".for", checkDuration(f.For, false))
	default:
		r.value(field, errors.New("set one action: kill: WORKER (SIGKILL) or stop: WORKER with for: DURATION (SIGSTOP, then SIGCONT)"))
	}
	switch {
	case f.At > end:
		r.value(field+".at", fmt.Errorf("fault at %v is after the step ends at %v (load.warmup + load.duration)", f.At, end))
	case f.At == end:
		r.value(field+".at", fmt.Errorf("fault at %v is when the step ends (load.warmup + load.duration); it must come before", f.At))
	case f.For > end-f.At:
		// A stop ends (SIGCONT) by the end of the step, so that no step starts with a worker
		// still stopped.
		r.value(field+".for", fmt.Errorf("a stop from %v for %v lasts past the step's end at %v (load.warmup + load.duration)", f.At, f.For, end))
	}
}

// rules checks an SLO: p99, success or both, each in range.
func (o *SLO) rules(r *rules) {
	r.value("slo", errUnless(o.P99 != 0 || o.Success != 0 || r.given("slo.p99") || r.given("slo.success"),
		"empty; set p99 (like 50ms), success (like 99.9%%), or both"))
	r.optional("slo.p99", o.P99 != 0, checkDuration(o.P99, false))
	r.optional("slo.success", o.Success != 0, checkSuccess(o.Success))
}

var (
	errNotForBuiltin    = errors.New("only applies to command targets (the built-in worker always reads PORT)")
	errNotForCommand    = errors.New("only applies to builtin targets")
	errNotForSession    = errors.New("only applies to the session workload (builtin: session)")
	errNotForCookieHash = errors.New("only applies to strategy cookie-hash")
)

// workerIndexEnv is set by the cluster for every worker (see the contract).
const workerIndexEnv = "BENCH_WORKER_INDEX"

// The checks below return nil for a good value, or what is wrong with it. The rules above and
// the flag parsers of flags.go share them, so that a file and a flag get the same verdict.

func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case s == "." || s == "..":
		return fmt.Errorf("%q cannot name a results folder", s)
	case strings.ContainsAny(s, `/\`):
		return fmt.Errorf("%s names a results folder, so it cannot contain / or \\", quote(s))
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("%s contains control characters", quote(s))
	case len(s) > 100:
		return fmt.Errorf("too long (%d bytes, at most 100)", len(s))
	}
	return nil
}

// checkOneOf accepts s when it is one of known, and otherwise names what it is and the options.
func checkOneOf(what, s string, known []string) error {
	if slices.Contains(known, s) {
		return nil
	}
	return fmt.Errorf("unknown %s %s%s (known: %s)", what, quote(s), didYouMean(s, known), strings.Join(known, ", "))
}

// errUnless returns nil when ok, and otherwise the error format and args make.
func errUnless(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

// checkBetween accepts n in lo..hi.
func checkBetween(n, lo, hi int) error {
	return errUnless(n >= lo && n <= hi, "must be between %d and %d, got %d", lo, hi, n)
}

func checkWorkers(n int) error {
	return errUnless(n >= 1 && n <= MaxWorkers, "must be between 1 and %d workers, got %d", MaxWorkers, n)
}

// checkWorkerIndex accepts a 1-based worker index up to the largest worker count.
func checkWorkerIndex(i, maxWorkers int) error {
	switch {
	case i < 1:
		return fmt.Errorf("must be a worker index ≥ 1, got %d", i)
	case i > maxWorkers:
		return fmt.Errorf("worker %d never runs: the largest worker count is %d", i, maxWorkers)
	}
	return nil
}

// checkCookie accepts a cookie name: an HTTP token (RFC 6265 via RFC 7230).
func checkCookie(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	return errUnless(httpwire.IsToken(s), "%s is not a cookie name (letters, digits and !#$%%&'*+-.^_`|~)", quote(s))
}

// checkRedisAddr accepts host:port on loopback: bench only ever talks to this machine.
// start says whether bench starts the server, which changes what the message suggests.
func checkRedisAddr(addr string, start bool) error {
	if addr == "" {
		if start {
			return errors.New("empty; remove the key to let bench pick a free port")
		}
		return errors.New("empty; set the host:port of a running Redis, or start: true")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s is not host:port like 127.0.0.1:6379", quote(addr))
	}
	if ip, err := netip.ParseAddr(host); !strings.EqualFold(host, "localhost") && (err != nil || ip.Zone() != "" || !ip.Unmap().IsLoopback()) {
		return fmt.Errorf("host %s is not on loopback (127.0.0.0/8, ::1 or localhost): bench only talks to this machine", quote(host))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] < '0' || port[0] > '9' {
		hint := ""
		if start {
			hint = "; remove addr to let bench pick a free port"
		}
		return fmt.Errorf("port %s must be a number in 1..65535%s", quote(port), hint)
	}
	return nil
}

func checkDuration(d time.Duration, zeroOK bool) error {
	switch {
	case d < 0:
		return fmt.Errorf("must not be negative, got %v", d)
	case d == 0 && !zeroOK:
		return errors.New("must be positive, got 0")
	case d > MaxDuration:
		return fmt.Errorf("must be at most 1h, got %v", d)
	}
	return nil
}

func checkRate(r float64) error {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return fmt.Errorf("must be a finite number of requests/s, got %g", r)
	case r <= 0:
		return fmt.Errorf("must be positive (requests/s), got %g", r)
	case r > MaxRate:
		return fmt.Errorf("must be at most %g requests/s, got %g", MaxRate, r)
	}
	return nil
}

func checkSuccess(f float64) error {
	// Written so that NaN fails too.
	return errUnless(f > 0 && f <= 1, "must be a fraction in (0, 1] like 0.999 or a percentage like \"99.9%%\", got %g", f)
}

// checkEnvName accepts the names a POSIX shell accepts, so that a user's server can read them.
func checkEnvName(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return fmt.Errorf("%s is not an environment variable name (letters, digits, _; not starting with a digit)", quote(s))
		}
	}
	return nil
}

// checkEnvKey also refuses the variables bench sets itself for every worker: the user's value
// would be overwritten or, worse, win and break the port or thread settings.
func (t *Target) checkEnvKey(k string) error {
	if err := checkEnvName(k); err != nil {
		return err
	}
	portEnv := t.PortEnv
	if t.Builtin != "" {
		portEnv = DefaultPortEnv
	}
	switch {
	case k == portEnv:
		return errors.New("is set by bench to each worker's port")
	case k == workerIndexEnv:
		return errors.New("is set by bench to each worker's index")
	case k == "GOMAXPROCS" && t.Builtin != "":
		return errors.New("is set by bench; use target.threads instead")
	}
	return nil
}

// spaceOrControl reports a rune that cannot be in a path or a key on a command line.
func spaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// checkLockKey accepts a Redis key that also survives a worker's command line: printable, no
// spaces.
func checkLockKey(s string) error {
	switch {
	case s == "":
		return errors.New("empty; remove the key for the default " + quote(DefaultLockKey))
	case len(s) > 200:
		return fmt.Errorf("%d bytes; keep a Redis key under 200", len(s))
	case strings.IndexFunc(s, spaceOrControl) >= 0:
		return fmt.Errorf("%s must not contain spaces or control characters", quote(s))
	}
	return nil
}

func checkPath(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case s[0] != '/':
		return fmt.Errorf("%s must start with /", quote(s))
	case strings.IndexFunc(s, spaceOrControl) >= 0:
		return fmt.Errorf("%s must not contain spaces or control characters (percent-encode them)", quote(s))
	}
	return nil
}
