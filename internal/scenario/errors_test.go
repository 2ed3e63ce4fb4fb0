package scenario

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestParse_errors feeds one mistake at a time and checks the one line that reports it: the
// exact position, the field, and the gist of the message.
func TestParse_errors(t *testing.T) {
	t.Parallel()
	const (
		target = "target:\n  builtin: cpu\n"    // lines 1-2
		load   = "load:\n  rates: [100, 200]\n" // two lines
	)
	for _, tc := range []struct {
		name  string
		in    string
		pos   string // "line:col", "" for none
		field string
		msg   string // substring of the message
	}{
		// the document as a whole
		{"empty file", "", "", "", "empty scenario"},
		{"only comments", "# nothing\n", "", "", "empty scenario"},
		{"null document", "~\n", "", "", "empty scenario"},
		{"list document", "- a\n- b\n", "1:1", "", "a scenario is a mapping of keys (name, description, target, workers, balancer, load, redis, restart, faults, slo, scale), got a list"},
		{"scalar document", "hello\n", "1:1", "", `got "hello"`},
		{"two documents", target + load + "---\n" + target + load, "5:1", "", "a second YAML document"},
		{"syntax error", target + "load: [\n", "3", "", "invalid YAML: did not find expected node content"},
		{"tab indent", target + load + "\tname: x\n", "5", "", "invalid YAML: found character that cannot start any token"},
		{"unknown anchor", target + load + "name: *nope\n", "", "", "invalid YAML: unknown anchor 'nope' referenced"},

		// keys
		{"unknown top key suggests", target + load + "worker: [1]\n", "5:1", "worker", `unknown key; did you mean "workers"?`},
		{"unknown top key lists", target + load + "color: red\n", "5:1", "color", "unknown key; allowed: name, description, target, workers, balancer, load, redis, restart, faults, slo"},
		{"unknown nested key", "target:\n  builtin: cpu\n  thread: 2\n" + load, "3:3", "target.thread", `did you mean "threads"?`},
		{"key case slip", "target:\n  Builtin: cpu\n" + load, "2:3", "target.Builtin", `did you mean "builtin"?`},
		{"odd key quoted", target + load + "\"a.b\\nc\": 1\n", "5:1", `"a.b\nc"`, "unknown key"},
		{"duplicate key", "target:\n  builtin: cpu\n  cost: 1ms\n  cost: 2ms\n" + load, "4:3", "target.cost", "duplicate key (first at line 3)"},
		{"duplicate top key", target + load + "name: a\nname: b\n", "6:1", "name", "duplicate key (first at line 5)"},
		{"list key", target + load + "? [a]\n: 1\n", "5:3", "", "keys must be plain words, got a list"},
		{"merge key", "base: &b {builtin: cpu}\n", "1:1", "base", "unknown key"},
		{"merge key in target", "target:\n  <<: {builtin: cpu}\n" + load, "2:3", "target.<<", "merge keys are not supported"},
		{"missing target", load, "1:1", "target", "missing; set target.builtin (cpu, sleep, session), command, url or endpoints"},
		{"missing load", target, "1:1", "load", "missing; set load.rates"},

		// name, description
		{"name empty", "name:\n" + target + load, "1:6", "name", "empty"},
		{"name empty string", "name: \"\"\n" + target + load, "1:7", "name", "empty"},
		{"name slash", "name: a/b\n" + target + load, "1:7", "name", "cannot contain /"},
		{"name dotdot", "name: ..\n" + target + load, "1:7", "name", "cannot name a results folder"},
		{"name list", "name: [a]\n" + target + load, "1:7", "name", "expected a string, got a list"},
		{"description empty", "description: ''\n" + target + load, "1:14", "description", "empty"},

		// target
		{"target not a mapping", "target: cpu\n" + load, "1:9", "target", `expected a mapping with keys builtin, cost, threads`},
		{"target null", "target:\n" + load, "1:8", "target", "empty; expected a mapping"},
		{"target empty", "target: {}\n" + load, "1:9", "target", "set builtin (cpu, sleep, session), command, url or endpoints"},
		{"unknown workload suggests", "target:\n  builtin: cpus\n" + load, "2:12", "target.builtin", `unknown workload "cpus"; did you mean "cpu"? (known: cpu, sleep, session)`},
		{"unknown workload", "target:\n  builtin: redis\n" + load, "2:12", "target.builtin", `unknown workload "redis" (known: cpu, sleep, session)`},
		{"builtin and command", "target:\n  builtin: cpu\n  command: [node]\n" + load, "3:3", "target.command", "cannot be combined with target.builtin (line 2)"},
		{"command and builtin", "target:\n  command: [node]\n  builtin: cpu\n" + load, "3:3", "target.builtin", "cannot be combined with target.command (line 2)"},
		{"cost not a duration", "target:\n  builtin: cpu\n  cost: fast\n" + load, "3:9", "target.cost", `"fast" is not a duration like 2ms`},
		{"cost without unit", "target:\n  builtin: cpu\n  cost: 2\n" + load, "3:9", "target.cost", `"2" is not a duration like 2ms`},
		{"cost zero", "target:\n  builtin: cpu\n  cost: 0s\n" + load, "3:9", "target.cost", "must be positive, got 0"},
		{"cost negative", "target:\n  builtin: cpu\n  cost: -2ms\n" + load, "3:9", "target.cost", "must not be negative, got -2ms"},
		{"cost too long", "target:\n  builtin: cpu\n  cost: 61m\n" + load, "3:9", "target.cost", "must be at most 1h, got 1h1m0s"},
		{"cost empty", "target:\n  builtin: cpu\n  cost:\n" + load, "3:8", "target.cost", "empty; set a duration"},
		{"cost list", "target:\n  builtin: cpu\n  cost: [1ms]\n" + load, "3:9", "target.cost", "expected a duration like 2ms, got a list"},
		{"threads zero", "target:\n  builtin: cpu\n  threads: 0\n" + load, "3:12", "target.threads", "must be between 1 and 256, got 0"},
		{"threads too many", "target:\n  builtin: cpu\n  threads: 257\n" + load, "3:12", "target.threads", "must be between 1 and 256, got 257"},
		{"threads float", "target:\n  builtin: cpu\n  threads: 1.5\n" + load, "3:12", "target.threads", `expected an integer, got "1.5"`},
		{"threads string", "target:\n  builtin: cpu\n  threads: \"2\"\n" + load, "3:12", "target.threads", `expected an integer, got "2"`},
		{"threads huge", "target:\n  builtin: cpu\n  threads: 18446744073709551615\n" + load, "3:12", "target.threads", "out of range"},
		{"pin negative", "target:\n  builtin: cpu\n  pin: -1\n" + load, "3:8", "target.pin", "must be between 0 and 256, got -1"},
		{"pin on a command", "target:\n  command: [node]\n  pin: 300\n" + load, "3:8", "target.pin", "must be between 0 and 256, got 300"},
		{"concurrency negative", "target:\n  builtin: cpu\n  concurrency: -1\n" + load, "3:16", "target.concurrency", "must not be negative (0 = unlimited)"},
		{"concurrency too high", "target:\n  builtin: cpu\n  concurrency: 1000001\n" + load, "3:16", "target.concurrency", "must be at most 1000000 (0 = unlimited), got 1000001"},
		{"port_env with builtin", "target:\n  builtin: cpu\n  port_env: P\n" + load, "3:3", "target.port_env", "only applies to command targets"},
		{"cost with command", "target:\n  command: [node]\n  threads: 2\n  cost: 1ms\n" + load, "3:3", "target.threads", "only applies to builtin targets"},
		{"command string", "target:\n  command: node server.mjs\n" + load, "2:12", "target.command", "expected a list like [node, server.mjs] (run without a shell)"},
		{"command empty", "target:\n  command: []\n" + load, "2:12", "target.command", "empty; give the program"},
		{"command empty arg", "target:\n  command: [node, '']\n" + load, "2:19", "target.command[1]", "empty argument"},
		{"command null arg", "target:\n  command:\n    - node\n    -\n" + load, "4:6", "target.command[1]", "empty"},
		{"command nested", "target:\n  command: [node, [a]]\n" + load, "2:19", "target.command[1]", "expected a string, got a list"},
		{"port_env bad", "target:\n  command: [node]\n  port_env: 1PORT\n" + load, "3:13", "target.port_env", "not an environment variable name"},
		{"env not a mapping", "target:\n  command: [node]\n  env: [A=1]\n" + load, "3:8", "target.env", "expected a mapping with NAME: value pairs, got a list"},
		{"env bad name", "target:\n  command: [node]\n  env: {A-B: 1}\n" + load, "3:9", "target.env.A-B", "not an environment variable name"},
		{"env null value", "target:\n  command: [node]\n  env:\n    A:\n" + load, "4:7", "target.env.A", `empty; write "" for an empty value`},
		{"env nested value", "target:\n  command: [node]\n  env: {A: {b: 1}}\n" + load, "3:12", "target.env.A", "expected a string, got a mapping"},
		{"env sets the port", "target:\n  command: [node]\n  env: {X: 1, HTTP_PORT: 1}\n  port_env: HTTP_PORT\n" + load, "3:15", "target.env.HTTP_PORT", "is set by bench to each worker's port"},
		{"env sets PORT for builtin", "target:\n  builtin: cpu\n  env: {PORT: 1}\n" + load, "3:9", "target.env.PORT", "is set by bench"},
		{"env sets index", "target:\n  command: [node]\n  env: {BENCH_WORKER_INDEX: 1}\n" + load, "3:9", "target.env.BENCH_WORKER_INDEX", "is set by bench to each worker's index"},
		{"env sets GOMAXPROCS for builtin", "target:\n  builtin: cpu\n  env: {GOMAXPROCS: 4}\n" + load, "3:9", "target.env.GOMAXPROCS", "is set by bench; use target.threads instead"},
		{"env duplicate", "target:\n  command: [node]\n  env: {A: 1, A: 2}\n" + load, "3:15", "target.env.A", "duplicate key"},
		{"ready_path relative", "target:\n  builtin: cpu\n  ready_path: healthz\n" + load, "3:15", "target.ready_path", `"healthz" must start with /`},
		{"path with space", "target:\n  builtin: cpu\n  path: /a b\n" + load, "3:9", "target.path", "must not contain spaces"},
		{"ready_timeout zero", "target:\n  builtin: cpu\n  ready_timeout: 0\n" + load, "3:18", "target.ready_timeout", "must be positive"},

		// workers
		{"workers zero", target + "workers: [1, 0]\n" + load, "3:14", "workers[1]", "must be between 1 and 256 workers, got 0"},
		{"workers too many", target + "workers: [1, 257]\n" + load, "3:14", "workers[1]", "must be between 1 and 256 workers, got 257"},
		{"workers negative", target + "workers: -2\n" + load, "3:10", "workers", "got -2"},
		{"workers multiplier too big", target + "workers: [1, 257x]\n" + load, "3:14", "workers[1]", `"257x" means 257 ×`},
		{"workers zero multiplier", target + "workers: [0x]\n" + load, "3:11", "workers[0]", "before x must be a positive integer"},
		{"workers word", target + "workers: [1, all]\n" + load, "3:14", "workers[1]", `"all" is not a worker count; want N, "auto" or "Kx"`},
		{"workers float", target + "workers: [1.5]\n" + load, "3:11", "workers[0]", `expected a worker count (N, "auto" or "Kx"), got "1.5"`},
		{"workers empty list", target + "workers: []\n" + load, "3:10", "workers", "empty list"},
		{"workers null", target + "workers:\n" + load, "3:9", "workers", "empty"},
		{"workers mapping", target + "workers: {a: 1}\n" + load, "3:10", "workers", "got a mapping"},

		// balancer
		{"strategy unknown suggests", target + "balancer: {strategy: round_robin}\n" + load, "3:22", "balancer.strategy", `unknown strategy "round_robin"; did you mean "round-robin"? (known: round-robin, least-connections, random, p2c, cookie-hash, reuseport)`},
		{"strategy unknown", target + "balancer:\n  strategy: least-connections-ish\n" + load, "4:13", "balancer.strategy", `unknown strategy "least-connections-ish" (known: round-robin, least-connections`},
		{"balancer unknown key", target + "balancer: {algorithm: x}\n" + load, "3:12", "balancer.algorithm", "unknown key; allowed: strategy, cookie, bounded_load, engine"},

		// load
		{"load null", target + "load:\n", "3:6", "load", "empty; expected a mapping"},
		{"load empty", target + "load: {}\n", "3:7", "load", "set rates (like [200, 400]) or search"},
		{"rates and search", target + "load:\n  rates: [1]\n  search: {p99: 1s}\n", "5:3", "load.search", "cannot be combined with load.rates (line 4)"},
		{"rates not a list", target + "load:\n  rates: fast\n", "4:10", "load.rates", `expected a list of rates like [200, 400], got "fast"`},
		{"rates empty", target + "load:\n  rates: []\n", "4:10", "load.rates", "empty list"},
		{"rates null", target + "load:\n  rates:\n", "4:9", "load.rates", "empty"},
		{"rate zero", target + "load:\n  rates: [100, 0]\n", "4:16", "load.rates[1]", "must be positive (requests/s), got 0"},
		{"rate negative", target + "load:\n  rates: [100, 200, -5]\n", "4:21", "load.rates[2]", "must be positive (requests/s), got -5"},
		{"rate too high", target + "load:\n  rates: [1000001]\n", "4:11", "load.rates[0]", "must be at most 1e+06 requests/s"},
		{"rate infinite", target + "load:\n  rates: [.inf]\n", "4:11", "load.rates[0]", "must be a finite number"},
		{"rate nan", target + "load:\n  rates: [.nan]\n", "4:11", "load.rates[0]", "must be a finite number"},
		{"rate word", target + "load:\n  rates: [100, lots]\n", "4:16", "load.rates[1]", `expected a rate in requests/s like 200, got "lots"`},
		{"rate duplicate", target + "load:\n  rates: [100, 200, 100.0]\n", "4:21", "load.rates[2]", "duplicate rate 100 (also load.rates[0])"},
		{"search without p99", target + "load:\n  search: {success: 0.99}\n", "4:11", "load.search.p99", "missing; the search needs a latency SLO"},
		{"search null", target + "load:\n  search:\n", "4:10", "load.search", "empty; expected a mapping with keys p99, success, max_steps"},
		{"search p99 bad", target + "load:\n  search: {p99: soon}\n", "4:17", "load.search.p99", `"soon" is not a duration`},
		{"success too high", target + "load:\n  search: {p99: 1s, success: 99.9}\n", "4:30", "load.search.success", "must be a fraction in (0, 1]"},
		{"success zero", target + "load:\n  search: {p99: 1s, success: 0}\n", "4:30", "load.search.success", "must be a fraction in (0, 1]"},
		{"success percent too high", target + "load:\n  search: {p99: 1s, success: 101%}\n", "4:30", "load.search.success", "must be a fraction in (0, 1]"},
		{"success bad percent", target + "load:\n  search: {p99: 1s, success: high%}\n", "4:30", "load.search.success", `"high%" is not a fraction like 0.999`},
		{"success word", target + "load:\n  search: {p99: 1s, success: high}\n", "4:30", "load.search.success", `expected a fraction like 0.999 or a percentage like "99.9%", got "high"`},
		{"max_steps zero", target + "load:\n  search: {p99: 1s, max_steps: 0}\n", "4:32", "load.search.max_steps", "must be between 1 and 100, got 0"},
		{"duration zero", target + load + "  duration: 0s\n", "5:13", "load.duration", "must be positive"},
		{"duration too long", target + load + "  duration: 2h\n", "5:13", "load.duration", "must be at most 1h, got 2h0m0s"},
		{"warmup negative", target + load + "  warmup: -1s\n", "5:11", "load.warmup", "must not be negative, got -1s"},
		{"warmup too long", target + load + "  warmup: 3601s\n", "5:11", "load.warmup", "must be at most 1h"},
		{"timeout bad", target + load + "  timeout: 10\n", "5:12", "load.timeout", `"10" is not a duration like 2ms`},

		// the first problem in file order wins
		{"first problem wins", "target:\n  builtin: cpu\n  cost: fast\n  threads: 0\n" + load, "3:9", "target.cost", "not a duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assertParseError(t, tc.in, tc.pos, tc.field, tc.msg)
		})
	}
}

// TestParse_aliasBombs checks that anchors cannot make Parse do unbounded work: parsing keeps
// aliases as references, and the decoder counts every node it visits through them.
func TestParse_aliasBombs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		in    string
		pos   string
		field string
		msg   string
	}{
		{ // a billion laughs where the schema expects a flat list: fails at its first element
			name:  "laughs under workers",
			in:    "target: {builtin: cpu}\nload: {rates: [1]}\nworkers: " + billionLaughs("workers", 9),
			pos:   "3:21",
			field: "workers[0]",
			msg:   "expected a worker count",
		},
		{ // under an unknown key: fails at the key, never looked at
			name:  "laughs under an unknown key",
			in:    "target: {builtin: cpu}\nload: {rates: [1]}\nlol: " + billionLaughs("lol", 9),
			pos:   "3:1",
			field: "lol",
			msg:   "unknown key",
		},
		{ // a flat list of aliases longer than any scenario: the node count stops it
			name:  "too many nodes",
			in:    "target: {builtin: cpu}\nload: {rates: [1]}\nworkers: [&o 1" + strings.Repeat(", *o", maxNodes) + "]\n",
			field: "workers[",
			msg:   "more than 10000 YAML nodes, aliases expanded",
		},
		{ // an anchor inside itself (yaml.v3 allows it) where a value is expected
			name:  "recursive alias",
			in:    "target: {builtin: cpu}\nload: {rates: [1]}\nworkers: &w [*w]\n",
			pos:   "3:14",
			field: "workers[0]",
			msg:   "expected a worker count",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("bomb.yaml", []byte(tc.in))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			want := "bomb.yaml:" + tc.pos
			if tc.pos == "" {
				want = "bomb.yaml:3:"
			}
			if got := err.Error(); !strings.HasPrefix(got, want) || !strings.Contains(got, tc.field) || !strings.Contains(got, tc.msg) {
				t.Errorf("error %q, want prefix %q, field %q, message %q", got, want, tc.field, tc.msg)
			}
		})
	}
}

// billionLaughs returns a flow sequence whose full expansion has 10^levels scalars. Anchors
// must be defined before use, so each level's first element defines the level below it and
// the other nine alias it.
func billionLaughs(anchor string, levels int) string {
	out := fmt.Sprintf("&%s0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]", anchor)
	for i := 1; i <= levels; i++ {
		out = fmt.Sprintf("&%s%d [%s%s]", anchor, i, out, strings.Repeat(fmt.Sprintf(", *%s%d", anchor, i-1), 9))
	}
	return out + "\n"
}

func TestError_format(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  Error
		want string
	}{
		{Error{File: "a.yaml", Line: 3, Col: 7, Field: "target.cost", Msg: "bad"}, "a.yaml:3:7: target.cost: bad"},
		{Error{File: "a.yaml", Line: 3, Field: "x", Msg: "bad"}, "a.yaml:3: x: bad"},
		{Error{File: "a.yaml", Field: "load.duration", Msg: "bad"}, "a.yaml: load.duration: bad"},
		{Error{File: "a.yaml", Msg: "cannot read: gone"}, "a.yaml: cannot read: gone"},
		{Error{Field: "workers", Msg: "bad"}, "workers: bad"},
		{Error{Msg: "bad"}, "bad"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

// assertParseError parses in as x.yaml and checks that it fails without a scenario, with one
// *Error line "x.yaml:POS: FIELD: …MSG…". An empty pos or field leaves that part out.
func assertParseError(t *testing.T, in, pos, field, msg string) {
	t.Helper()
	s, err := Parse("x.yaml", []byte(in))
	if err == nil {
		t.Fatalf("Parse succeeded: %+v", s)
	}
	if s != nil {
		t.Errorf("Parse returned a scenario with the error: %+v", s)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T is not an *Error: %v", err, err)
	}
	prefix := "x.yaml"
	if pos != "" {
		prefix += ":" + pos
	}
	prefix += ": "
	if field != "" {
		prefix += field + ": "
	}
	got := err.Error()
	if !strings.HasPrefix(got, prefix) || !strings.Contains(strings.TrimPrefix(got, prefix), msg) {
		t.Errorf("error\n  %s\nwant prefix\n  %s\ncontaining\n  %s", got, prefix, msg)
	}
	if strings.ContainsAny(got, "\n\r") {
		t.Errorf("error is not one line: %q", got)
	}
}
