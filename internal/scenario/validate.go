package scenario

import (
	"fmt"
	"maps"
	"math"
	"slices"
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
	if msg := checkStrategy(s.Balancer.Strategy); msg != "" {
		return "balancer.strategy", msg
	}
	return s.Load.problem()
}

func (t *Target) problem() (field, msg string) {
	switch {
	case t.Builtin != "" && t.Command != nil:
		return "target", "set builtin or command, not both"
	case t.Builtin == "" && t.Command == nil:
		return "target", "set builtin (" + strings.Join(Workloads, ", ") + ") or command"
	}
	if t.Builtin != "" {
		if msg := checkWorkload(t.Builtin); msg != "" {
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
	return "", ""
}

const (
	notForBuiltin = "only applies to command targets (the built-in worker always reads PORT)"
	notForCommand = "only applies to builtin targets"
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
	if slices.Contains(Strategies, s) {
		return ""
	}
	return fmt.Sprintf("unknown strategy %s%s (known: %s)", quote(s), didYouMean(s, Strategies), strings.Join(Strategies, ", "))
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
