package scenario

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/target"
)

// runExample uses every key added for sessions, uneven workers, strategy comparisons and
// faults.
const runExample = `name: sessions
target:
  builtin: session
  store: redis
  slowdown: {1: 3, 2: 1.5}
workers: [1, 2, 4]
balancer:
  strategy: [round-robin, cookie-hash, p2c]
  cookie: session
  bounded_load: 1.25
  engine: std
load:
  rates: [100, 200]
  duration: 10s
  warmup: 2s
  clients: 500
  repeat: 3
redis: {start: true}
restart: {max: 3, within: 30s}
faults:
  - {at: 0s, kill: 4}
  - at: 5s
    stop: 2
    for: 7s
slo: {p99: 50ms, success: 99.9%}
`

// TestParse_runKeys parses good uses of the keys beyond target, workers and load's rates.
func TestParse_runKeys(t *testing.T) {
	t.Parallel()
	const (
		cpu     = "target: {builtin: cpu}\n"
		session = "target: {builtin: session}\n"
		command = "target: {command: [./server]}\n"
		load    = "load: {rates: [100]}\n"
	)
	for _, tc := range []struct {
		name  string
		in    string
		check func(t *testing.T, s *Scenario)
	}{
		{ // happy: everything at once
			name: "run example",
			in:   runExample,
			check: func(t *testing.T, s *Scenario) {
				want := &Scenario{
					File: "r.yaml", Name: "sessions",
					Target: Target{Builtin: "session", Cost: time.Millisecond, Threads: 1, Pin: 1, ReadyPath: "/healthz",
						ReadyTimeout: 10 * time.Second, Path: "/", Store: "redis", Slowdown: map[int]float64{1: 3, 2: 1.5}},
					Workers: []int{1, 2, 4},
					Balancer: Balancer{Strategy: "round-robin", Strategies: []balancer.Strategy{"round-robin", "cookie-hash", "p2c"},
						Cookie: "session", BoundedLoad: 1.25, Engine: "std"},
					Load: LoadSpec{Rates: []float64{100, 200}, Duration: 10 * time.Second, Warmup: 2 * time.Second,
						Timeout: 10 * time.Second, Clients: 500, Connections: DefaultConnections, Repeat: 3, NoiseThreshold: DefaultNoiseThreshold},
					Redis:   &Redis{Start: true},
					Restart: Restart{Enabled: true, Max: 3, Within: 30 * time.Second},
					Faults:  []Fault{{At: 0, Kill: 4}, {At: 5 * time.Second, Stop: 2, For: 7 * time.Second}},
					SLO:     &SLO{P99: 50 * time.Millisecond, Success: 0.999},
				}
				if !reflect.DeepEqual(s, want) {
					t.Errorf("Parse:\n got %+v\nwant %+v", s, want)
				}
			},
		},
		{"one strategy in a list", cpu + "balancer: {strategy: [p2c]}\n" + load, func(t *testing.T, s *Scenario) {
			if got, want := s.Balancer, (Balancer{Strategy: "p2c", Strategies: []balancer.Strategy{"p2c"}, Engine: "fast"}); !reflect.DeepEqual(got, want) {
				t.Errorf("balancer = %+v, want %+v", got, want)
			}
		}},
		{"max_conns", cpu + "balancer: {engine: std, max_conns: 1}\n" + load, func(t *testing.T, s *Scenario) {
			if got, want := s.Balancer, (Balancer{Strategy: "round-robin", Strategies: []balancer.Strategy{"round-robin"}, Engine: "std", MaxConns: 1}); !reflect.DeepEqual(got, want) {
				t.Errorf("balancer = %+v, want %+v", got, want)
			}
		}},
		{"every strategy", cpu + "balancer: {strategy: [reuseport, least-connections, random, cookie-hash], engine: haproxy}\n" + load, func(t *testing.T, s *Scenario) {
			if got, want := s.Balancer.Strategy, balancer.StrategyReusePort; got != want {
				t.Errorf("strategy = %q, want %q", got, want)
			}
			if got, want := s.Balancer.Cookie, "session"; got != want {
				t.Errorf("cookie = %q, want the default %q", got, want)
			}
			if got, want := s.Balancer.Engine, balancer.EngineHAProxy; got != want {
				t.Errorf("engine = %q, want %q", got, want)
			}
		}},
		{"cookie-hash on a command's own cookie, bound off", command + "balancer: {strategy: cookie-hash, cookie: connect.sid, bounded_load: 0}\n" + load, func(t *testing.T, s *Scenario) {
			if got, want := s.Balancer.Cookie, "connect.sid"; got != want {
				t.Errorf("cookie = %q, want %q", got, want)
			}
			if got := s.Balancer.BoundedLoad; got != 0 {
				t.Errorf("bounded_load = %v, want 0", got)
			}
		}},
		{"session in memory", "target: {builtin: session, store: memory, cost: 3ms}\n" + load, func(t *testing.T, s *Scenario) {
			if s.Target.Store != "memory" || s.Target.Cost != 3*time.Millisecond || s.Redis != nil {
				t.Errorf("target = %+v, redis = %+v; want memory store, 3ms, no redis", s.Target, s.Redis)
			}
		}},
		{"redis store, explicit running server", "target: {builtin: session, store: redis}\nredis: {addr: \"[::1]:7000\", start: false}\n" + load, func(t *testing.T, s *Scenario) {
			if got, want := s.Redis, (&Redis{Addr: "[::1]:7000"}); !reflect.DeepEqual(got, want) {
				t.Errorf("redis = %+v, want %+v", got, want)
			}
		}},
		{"redis store on localhost", "target: {builtin: session, store: redis}\nredis: {addr: LocalHost:6380}\n" + load, func(t *testing.T, s *Scenario) {
			if got, want := s.Redis, (&Redis{Addr: "LocalHost:6380"}); !reflect.DeepEqual(got, want) {
				t.Errorf("redis = %+v, want %+v", got, want)
			}
		}},
		{"redis started on a chosen port", "redis: {addr: 127.7.0.1:16379, start: true}\ntarget: {builtin: session, store: redis}\n" + load, func(t *testing.T, s *Scenario) {
			if got, want := s.Redis, (&Redis{Start: true, Addr: "127.7.0.1:16379"}); !reflect.DeepEqual(got, want) {
				t.Errorf("redis = %+v, want %+v", got, want)
			}
		}},
		{"redis for a command target", command + "redis: {start: true}\n" + load, func(t *testing.T, s *Scenario) {
			if got, want := s.Redis, (&Redis{Start: true}); !reflect.DeepEqual(got, want) {
				t.Errorf("redis = %+v, want %+v", got, want)
			}
		}},
		{"slowdown of the only worker", "target: {builtin: sleep, slowdown: {1: 0.5}}\nworkers: 1\n" + load, func(t *testing.T, s *Scenario) {
			if got, want := s.Target.Slowdown, map[int]float64{1: 0.5}; !reflect.DeepEqual(got, want) {
				t.Errorf("slowdown = %v, want %v", got, want)
			}
		}},
		{"slowdown at the limits", "target: {builtin: cpu, slowdown: {256: 100}}\nworkers: [1, 256]\n" + load, func(t *testing.T, s *Scenario) {
			if got, want := s.Target.Slowdown, map[int]float64{256: 100}; !reflect.DeepEqual(got, want) {
				t.Errorf("slowdown = %v, want %v", got, want)
			}
		}},
		{"clients and repeat at the limits", cpu + "load: {rates: [1], clients: 100000, repeat: 20}\n", func(t *testing.T, s *Scenario) {
			if s.Load.Clients != 100000 || s.Load.Repeat != 20 {
				t.Errorf("clients, repeat = %d, %d; want 100000, 20", s.Load.Clients, s.Load.Repeat)
			}
		}},
		{"clients for the session workload", session + "load: {rates: [1], clients: 1}\n", func(t *testing.T, s *Scenario) {
			if got := s.Load.Clients; got != 1 {
				t.Errorf("clients = %d, want 1 (explicit beats the session default)", got)
			}
		}},
		{"restart: false", cpu + load + "restart: false\n", func(t *testing.T, s *Scenario) {
			if got := s.Restart; got != (Restart{}) {
				t.Errorf("restart = %+v, want disabled (zero)", got)
			}
		}},
		{"restart: true", cpu + load + "restart: true\n", func(t *testing.T, s *Scenario) {
			if got, want := s.Restart, (Restart{Enabled: true, Max: 10, Within: time.Minute}); got != want {
				t.Errorf("restart = %+v, want %+v", got, want)
			}
		}},
		{"restart disabled in a mapping", cpu + load + "restart: {enabled: false}\n", func(t *testing.T, s *Scenario) {
			if got := s.Restart; got != (Restart{}) {
				t.Errorf("restart = %+v, want disabled (zero)", got)
			}
		}},
		{"restart max only", cpu + load + "restart:\n  max: 1\n  enabled: true\n", func(t *testing.T, s *Scenario) {
			if got, want := s.Restart, (Restart{Enabled: true, Max: 1, Within: time.Minute}); got != want {
				t.Errorf("restart = %+v, want %+v", got, want)
			}
		}},
		{"faults before load and workers, at the last moment", "faults: [{stop: 2, for: 1s, at: 11s}, {kill: 2, at: 11999ms}]\n" + cpu + "workers: [2]\nload: {rates: [1], duration: 10s}\n", func(t *testing.T, s *Scenario) {
			want := []Fault{{At: 11 * time.Second, Stop: 2, For: time.Second}, {At: 11999 * time.Millisecond, Kill: 2}}
			if !reflect.DeepEqual(s.Faults, want) {
				t.Errorf("faults = %+v, want %+v", s.Faults, want)
			}
		}},
		{"faults with a search", command + "workers: [1, 2]\nload: {search: {p99: 10ms}, warmup: 0, duration: 1s}\nfaults: [{at: 0, kill: 1}]\n", func(t *testing.T, s *Scenario) {
			if got, want := s.Faults, []Fault{{Kill: 1}}; !reflect.DeepEqual(got, want) {
				t.Errorf("faults = %+v, want %+v", got, want)
			}
		}},
		{"slo p99 only", cpu + load + "slo: {p99: 20ms}\n", func(t *testing.T, s *Scenario) {
			if got, want := s.SLO, (&SLO{P99: 20 * time.Millisecond}); !reflect.DeepEqual(got, want) {
				t.Errorf("slo = %+v, want %+v", got, want)
			}
		}},
		{"slo success as a fraction", cpu + load + "slo: {success: 0.95}\n", func(t *testing.T, s *Scenario) {
			if got, want := s.SLO, (&SLO{Success: 0.95}); !reflect.DeepEqual(got, want) {
				t.Errorf("slo = %+v, want %+v", got, want)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse("r.yaml", []byte(tc.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tc.check(t, s)
			if err := s.Validate(); err != nil {
				t.Errorf("Validate after Parse: %v", err)
			}
		})
	}
}

// TestParse_runKeyErrors feeds one mistake at a time in the new keys and checks the one line
// that reports it, as TestParse_errors does.
func TestParse_runKeyErrors(t *testing.T) {
	t.Parallel()
	const (
		cpu     = "target: {builtin: cpu}\n"                          // line 1
		session = "target: {builtin: session}\n"                      // line 1
		load    = "load: {rates: [100], duration: 10s, warmup: 2s}\n" // one line; a step is 12s
		w12     = "workers: [1, 2]\n"                                 // one line
	)
	for _, tc := range []struct {
		name  string
		in    string
		pos   string
		field string
		msg   string
	}{
		// target.store
		{"store on cpu", "target: {builtin: cpu, store: memory}\n" + load, "1:24", "target.store", "only applies to the session workload (builtin: session)"},
		{"store on a command", "target: {command: [x], store: redis}\n" + load, "1:24", "target.store", "only applies to the session workload"},
		{"store unknown", "target: {builtin: session, store: reds}\n" + load, "1:35", "target.store", `unknown store "reds"; did you mean "redis"? (known: memory, redis)`},
		{"store empty", "target: {builtin: session, store: }\n" + load, "1:35", "target.store", "empty"},
		{"store list duplicate", "target: {builtin: session, store: [redis, redis]}\n" + load, "1:43", "target.store[1]", "duplicate store"},
		{"store list empty", "target: {builtin: session, store: []}\n" + load, "1:35", "target.store", "empty list"},

		// target.slowdown
		{"slowdown on a command", "target: {command: [x], slowdown: {1: 2}}\n" + load, "1:24", "target.slowdown", "only applies to builtin targets"},
		{"slowdown not a mapping", "target: {builtin: cpu, slowdown: 3}\n" + load, "1:34", "target.slowdown", "expected a mapping with NAME: value pairs, got \"3\""},
		{"slowdown empty", "target: {builtin: cpu, slowdown: {}}\n" + load, "1:34", "target.slowdown", "empty; map worker indexes to factors"},
		{"slowdown null", "target: {builtin: cpu, slowdown: }\n" + load, "1:34", "target.slowdown", "empty; expected a mapping"},
		{"slowdown index word", "target: {builtin: cpu, slowdown: {first: 2}}\n" + load, "1:35", "target.slowdown.first", `expected a worker index (an integer ≥ 1, like {1: 3}), got "first"`},
		{"slowdown index zero", "target: {builtin: cpu, slowdown: {0: 2}}\n" + load, "1:35", "target.slowdown.0", "must be a worker index ≥ 1, got 0"},
		{"slowdown index float", "target: {builtin: cpu, slowdown: {1.5: 2}}\n" + load, "1:35", "target.slowdown.\"1.5\"", `expected a worker index`},
		{"slowdown index huge", "target: {builtin: cpu, slowdown: {99999999999999999999: 2}}\n" + load, "1:35", "target.slowdown.99999999999999999999", "expected a worker index"},
		{"slowdown index beyond workers", "target: {builtin: cpu, slowdown: {1: 2, 3: 2}}\n" + w12 + load, "1:41", "target.slowdown.3", "worker 3 never runs: the largest worker count is 2"},
		{"slowdown index beyond default workers", "target: {builtin: cpu, slowdown: {5: 2}}\n" + load, "1:35", "target.slowdown.5", "worker 5 never runs: the largest worker count is 2"},
		{"slowdown index past MaxWorkers", "target: {builtin: cpu, slowdown: {300: 2}}\n" + load, "1:35", "target.slowdown.300", "worker 300 never runs: the largest worker count is 2"},
		{"slowdown same worker twice", "target: {builtin: cpu, slowdown: {1: 2, 0x1: 3}}\n" + load, "1:41", "target.slowdown.0x1", "worker 1 is already slowed down at line 1"},
		{"slowdown factor zero", "target: {builtin: cpu, slowdown: {1: 0}}\n" + load, "1:38", "target.slowdown.1", "must be a factor in (0, 100]"},
		{"slowdown factor negative", "target: {builtin: cpu, slowdown: {1: -2}}\n" + load, "1:38", "target.slowdown.1", "got -2"},
		{"slowdown factor too big", "target: {builtin: cpu, slowdown: {1: 101}}\n" + load, "1:38", "target.slowdown.1", "must be a factor in (0, 100] (3 = three times slower), got 101"},
		{"slowdown factor nan", "target: {builtin: cpu, slowdown: {1: .nan}}\n" + load, "1:38", "target.slowdown.1", "got NaN"},
		{"slowdown factor word", "target: {builtin: cpu, slowdown: {1: slow}}\n" + load, "1:38", "target.slowdown.1", `expected a factor like 3 (= three times slower), got "slow"`},
		{"slowdown factor null", "target: {builtin: cpu, slowdown: {1: }}\n" + load, "1:38", "target.slowdown.1", "empty; expected a factor"},

		// balancer
		{"strategy list empty", cpu + "balancer: {strategy: []}\n" + load, "2:22", "balancer.strategy", "empty list"},
		{"strategy list unknown", cpu + "balancer: {strategy: [round-robin, leastconn]}\n" + load, "2:36", "balancer.strategy[1]", `unknown strategy "leastconn"`},
		{"strategy list duplicate", cpu + "balancer: {strategy: [p2c, random, p2c]}\n" + load, "2:36", "balancer.strategy[2]", `duplicate strategy "p2c" (also balancer.strategy[0])`},
		{"strategy list nested", cpu + "balancer: {strategy: [[p2c]]}\n" + load, "2:23", "balancer.strategy[0]", "expected a string, got a list"},
		{"strategy list null item", cpu + "balancer:\n  strategy:\n    -\n" + load, "4:6", "balancer.strategy[0]", "empty"},
		{"strategy mapping", cpu + "balancer: {strategy: {a: 1}}\n" + load, "2:22", "balancer.strategy", "expected a string, got a mapping"},
		{"cookie without cookie-hash", cpu + "balancer: {strategy: p2c, cookie: sid}\n" + load, "2:27", "balancer.cookie", "only applies to strategy cookie-hash"},
		{"cookie with the default strategy", cpu + "balancer: {cookie: sid}\n" + load, "2:12", "balancer.cookie", "only applies to strategy cookie-hash"},
		{"bounded_load without cookie-hash", cpu + "balancer: {bounded_load: 1.5, strategy: [p2c, random]}\n" + load, "2:12", "balancer.bounded_load", "only applies to strategy cookie-hash"},
		{"cookie invalid", cpu + "balancer: {strategy: cookie-hash, cookie: \"my session\"}\n" + load, "2:43", "balancer.cookie", `"my session" is not a cookie name`},
		{"cookie with =", cpu + "balancer: {strategy: cookie-hash, cookie: a=b}\n" + load, "2:43", "balancer.cookie", "is not a cookie name"},
		{"cookie empty", cpu + "balancer: {strategy: cookie-hash, cookie: ''}\n" + load, "2:43", "balancer.cookie", "empty"},
		{"cookie the session workload never sets", "balancer: {strategy: [round-robin, cookie-hash], cookie: sid}\n" + session + load, "1:58", "balancer.cookie", `the session workload sets cookie "session", so hashing "sid" would find none`},
		{"bounded_load below 1", cpu + "balancer: {strategy: cookie-hash, bounded_load: 0.5}\n" + load, "2:49", "balancer.bounded_load", "must be 0 (no bound) or a factor ≥ 1"},
		{"bounded_load negative", cpu + "balancer: {strategy: cookie-hash, bounded_load: -1}\n" + load, "2:49", "balancer.bounded_load", "got -1"},
		{"bounded_load infinite", cpu + "balancer: {strategy: cookie-hash, bounded_load: .inf}\n" + load, "2:49", "balancer.bounded_load", "got +Inf"},
		{"bounded_load word", cpu + "balancer: {strategy: cookie-hash, bounded_load: high}\n" + load, "2:49", "balancer.bounded_load", `expected a factor like 1.25 (0 = no bound), got "high"`},
		{"engine unknown", cpu + "balancer: {engine: nginx}\n" + load, "2:20", "balancer.engine", "unknown engine \"nginx\" (known: fast, std, l4, haproxy)"},
		{"engine typo", cpu + "balancer: {engine: HAProxy}\n" + load, "2:20", "balancer.engine", `did you mean "haproxy"?`},
		{"engine empty", cpu + "balancer: {engine: \"\"}\n" + load, "2:20", "balancer.engine", "unknown engine \"\""},
		{"max_conns negative", cpu + "balancer: {max_conns: -1}\n" + load, "2:23", "balancer.max_conns", "must be between 0 (no bound) and 4096, got -1"},
		{"max_conns word", cpu + "balancer: {max_conns: one}\n" + load, "2:23", "balancer.max_conns", `expected an integer, got "one"`},
		{"max_conns with l4", cpu + "balancer: {max_conns: 1, engine: l4}\n" + load, "2:12", "balancer.max_conns", "engine l4 does not queue requests; use engine fast or std"},

		// load.clients, load.repeat
		{"clients zero", cpu + "load: {rates: [1], clients: 0}\n", "2:29", "load.clients", "must be between 1 and 100000, got 0"},
		{"clients too many", cpu + "load: {rates: [1], clients: 100001}\n", "2:29", "load.clients", "got 100001"},
		{"connections zero", cpu + "load: {rates: [1], connections: 0}\n", "2:33", "load.connections", "must be between 1 and 4096, got 0"},
		{"connections too many", cpu + "load: {rates: [1], connections: 5000}\n", "2:33", "load.connections", "got 5000"},
		{"clients float", cpu + "load: {rates: [1], clients: 1.5}\n", "2:29", "load.clients", `expected an integer, got "1.5"`},
		{"repeat zero", cpu + "load: {rates: [1], repeat: 0}\n", "2:28", "load.repeat", "must be between 1 and 20, got 0"},
		{"repeat too many", cpu + "load: {rates: [1], repeat: 21}\n", "2:28", "load.repeat", "got 21"},
		{"repeat word", cpu + "load: {rates: [1], repeat: twice}\n", "2:28", "load.repeat", `expected an integer, got "twice"`},

		// redis
		{"redis with cpu", cpu + load + "redis: {start: true}\n", "3:1", "redis", "only applies with target.store redis, target.hold or a command target"},
		{"redis with the memory store", session + load + "redis: {addr: 127.0.0.1:6379}\n", "3:1", "redis", "only applies with target.store redis"},
		{"redis before its target", "redis: {start: true}\n" + session + load, "1:1", "redis", "only applies with target.store redis"},
		{"redis not a mapping", "target: {builtin: session, store: redis}\n" + load + "redis: 127.0.0.1:6379\n", "3:8", "redis", "expected a mapping with keys start, addr"},
		{"redis unknown key", "target: {builtin: session, store: redis}\n" + load + "redis: {port: 6379}\n", "3:9", "redis.port", "unknown key; allowed: start, addr"},
		{"redis start yes", "target: {builtin: session, store: redis}\n" + load + "redis: {start: yes}\n", "3:16", "redis.start", `expected true or false, got "yes"`},
		{"redis start null", "target: {builtin: session, store: redis}\n" + load + "redis: {start: }\n", "3:16", "redis.start", "empty; set true or false"},
		{"redis addr mapped loopback is fine, the port is not", "target: {builtin: session, store: redis}\n" + load + "redis: {addr: \"[::ffff:127.0.0.1]:99999\"}\n", "3:15", "redis.addr", `port "99999" must be a number in 1..65535`},
		{"redis addr remote", "target: {builtin: session, store: redis}\n" + load + "redis: {addr: 10.0.0.1:6379}\n", "3:15", "redis.addr", `host "10.0.0.1" is not on loopback (127.0.0.0/8, ::1 or localhost)`},
		{"redis addr name", "target: {builtin: session, store: redis}\n" + load + "redis: {addr: redis:6379}\n", "3:15", "redis.addr", `host "redis" is not on loopback`},
		{"redis addr unspecified", "target: {builtin: session, store: redis}\n" + load + "redis: {addr: \"0.0.0.0:6379\"}\n", "3:15", "redis.addr", "is not on loopback"},
		{"redis addr mapped remote", "target: {builtin: session, store: redis}\n" + load + "redis: {addr: \"[::ffff:10.0.0.1]:6379\"}\n", "3:15", "redis.addr", "is not on loopback"},
		{"redis addr zone", "target: {builtin: session, store: redis}\n" + load + "redis: {addr: \"[::1%lo]:6379\"}\n", "3:15", "redis.addr", "is not on loopback"},
		{"redis addr no port", "target: {builtin: session, store: redis}\n" + load + "redis: {addr: 127.0.0.1}\n", "3:15", "redis.addr", `"127.0.0.1" is not host:port like 127.0.0.1:6379`},
		{"redis addr port word", "target: {builtin: session, store: redis}\n" + load + "redis: {addr: \"localhost:redis\"}\n", "3:15", "redis.addr", `port "redis" must be a number in 1..65535`},
		{"redis addr port signed", "target: {builtin: session, store: redis}\n" + load + "redis: {addr: \"localhost:+80\"}\n", "3:15", "redis.addr", `port "+80" must be a number`},
		{"redis addr port too big", "target: {builtin: session, store: redis}\n" + load + "redis: {addr: \"localhost:65536\"}\n", "3:15", "redis.addr", `port "65536"`},
		{"redis addr port zero when started", "target: {builtin: session, store: redis}\n" + load + "redis: {start: true, addr: \"127.0.0.1:0\"}\n", "3:28", "redis.addr", "remove addr to let bench pick a free port"},
		{"redis addr empty", "target: {builtin: session, store: redis}\n" + load + "redis: {addr: ''}\n", "3:15", "redis.addr", "empty; set the host:port of a running Redis, or start: true"},
		{"redis addr empty when started", "target: {builtin: session, store: redis}\n" + load + "redis: {addr: '', start: true}\n", "3:15", "redis.addr", "empty; remove the key to let bench pick a free port"},

		// restart
		{"restart word", cpu + load + "restart: maybe\n", "3:10", "restart", "expected true, false or a mapping with keys enabled, max, within, got \"maybe\""},
		{"restart null", cpu + load + "restart:\n", "3:9", "restart", "empty; expected a mapping with keys enabled, max, within"},
		{"restart list", cpu + load + "restart: [1]\n", "3:10", "restart", "got a list"},
		{"restart max zero", cpu + load + "restart: {max: 0}\n", "3:16", "restart.max", "must be between 1 and 1000 restarts, got 0 (restart: false disables restarts)"},
		{"restart max too many", cpu + load + "restart: {max: 1001}\n", "3:16", "restart.max", "got 1001"},
		{"restart within zero", cpu + load + "restart: {within: 0s}\n", "3:19", "restart.within", "must be positive"},
		{"restart within unitless", cpu + load + "restart: {within: 60}\n", "3:19", "restart.within", `"60" is not a duration`},
		{"restart enabled word", cpu + load + "restart: {enabled: no}\n", "3:20", "restart.enabled", `expected true or false, got "no"`},
		{"restart options when disabled", cpu + load + "restart:\n  within: 1m\n  enabled: false\n", "4:3", "restart.within", "only applies when restart is enabled"},
		{"restart unknown key", cpu + load + "restart: {retries: 3}\n", "3:11", "restart.retries", "unknown key; allowed: enabled, max, within"},

		// faults
		{"faults null", cpu + load + "faults:\n", "3:8", "faults", "empty; expected a list of faults like"},
		{"faults empty", cpu + load + "faults: []\n", "3:9", "faults", "empty list"},
		{"faults mapping", cpu + load + "faults: {at: 1s, kill: 1}\n", "3:9", "faults", "expected a list of faults like [{at: 3s, kill: 1}"},
		{"fault scalar", cpu + load + "faults: [kill]\n", "3:10", "faults[0]", `expected a mapping with keys at, kill, stop, for, got "kill"`},
		{"fault unknown key", cpu + load + "faults: [{at: 1s, term: 1}]\n", "3:19", "faults[0].term", "unknown key; allowed: at, kill, stop, for"},
		{"fault without at", cpu + load + "faults: [{kill: 1}]\n", "3:10", "faults[0].at", "missing; when the fault strikes"},
		{"fault without action", cpu + load + "faults:\n  - at: 1s\n", "4:5", "faults[0]", "set one action: kill: WORKER (SIGKILL) or stop: WORKER"},
		{"fault kill and stop", cpu + load + "faults: [{at: 1s, stop: 1, for: 1s, kill: 2}]\n", "3:37", "faults[0].kill", "cannot be combined with faults[0].stop (line 3): one action per fault"},
		{"fault stop without for", cpu + load + "faults: [{at: 1s, kill: 1}, {at: 2s, stop: 1}]\n", "3:29", "faults[1].for", "missing; stop needs for: DURATION"},
		{"fault kill with for", cpu + load + "faults: [{at: 1s, kill: 1, for: 1s}]\n", "3:28", "faults[0].for", "only applies to stop"},
		{"fault at negative", cpu + load + "faults: [{at: -1s, kill: 1}]\n", "3:15", "faults[0].at", "must not be negative, got -1s"},
		{"fault at word", cpu + load + "faults: [{at: soon, kill: 1}]\n", "3:15", "faults[0].at", `"soon" is not a duration`},
		{"fault at after the step", cpu + load + "faults: [{at: 30s, kill: 1}]\n", "3:15", "faults[0].at", "fault at 30s is after the step ends at 12s"},
		{"fault at the step's end", cpu + load + "faults: [{at: 12s, kill: 1}]\n", "3:15", "faults[0].at", "fault at 12s is when the step ends"},
		{"fault after a default step", cpu + "load: {rates: [1]}\n" + "faults: [{at: 1m, kill: 1}]\n", "3:15", "faults[0].at", "fault at 1m0s is after the step ends at 12s"},
		{"fault at after a shorter step, load last", cpu + "faults: [{at: 2s, kill: 1}]\nload: {rates: [1], warmup: 0, duration: 1s}\n", "2:15", "faults[0].at", "fault at 2s is after the step ends at 1s"},
		{"stop past the step", cpu + load + "faults: [{at: 10s, stop: 1, for: 2001ms}]\n", "3:34", "faults[0].for", "a stop from 10s for 2.001s lasts past the step's end at 12s"},
		{"stop for zero", cpu + load + "faults: [{at: 1s, stop: 1, for: 0s}]\n", "3:33", "faults[0].for", "must be positive"},
		{"kill worker zero", cpu + load + "faults: [{at: 1s, kill: 0}]\n", "3:25", "faults[0].kill", "must be a worker index ≥ 1, got 0"},
		{"stop worker negative", cpu + load + "faults: [{at: 1s, stop: -1, for: 1s}]\n", "3:25", "faults[0].stop", "must be a worker index ≥ 1, got -1"},
		{"kill worker word", cpu + load + "faults: [{at: 1s, kill: all}]\n", "3:25", "faults[0].kill", `expected an integer, got "all"`},
		{"kill worker beyond workers", cpu + w12 + load + "faults: [{at: 1s, kill: 1}, {at: 1s, kill: 3}]\n", "4:44", "faults[1].kill", "worker 3 never runs: the largest worker count is 2"},
		{"stop worker beyond workers, workers last", cpu + load + "faults: [{at: 1s, stop: 5, for: 1s}]\nworkers: 4\n", "3:25", "faults[0].stop", "worker 5 never runs: the largest worker count is 4"},

		// slo
		{"slo empty", cpu + load + "slo: {}\n", "3:6", "slo", "empty; set p99 (like 50ms), success (like 99.9%), or both"},
		{"slo null", cpu + load + "slo:\n", "3:5", "slo", "empty; expected a mapping with keys p99, success"},
		{"slo p99 zero", cpu + load + "slo: {p99: 0ms}\n", "3:12", "slo.p99", "must be positive"},
		{"slo p99 unitless", cpu + load + "slo: {p99: 50}\n", "3:12", "slo.p99", `"50" is not a duration`},
		{"slo success over 100%", cpu + load + "slo: {success: 100.1%}\n", "3:16", "slo.success", "must be a fraction in (0, 1]"},
		{"slo success as a plain percentage", cpu + load + "slo: {success: 99.9}\n", "3:16", "slo.success", `must be a fraction in (0, 1] like 0.999 or a percentage like "99.9%", got 99.9`},
		{"slo success word", cpu + load + "slo: {success: most%}\n", "3:16", "slo.success", `"most%" is not a fraction like 0.999`},
		{"slo unknown key", cpu + load + "slo: {p95: 10ms}\n", "3:7", "slo.p95", `unknown key; did you mean "p99"?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assertParseError(t, tc.in, tc.pos, tc.field, tc.msg)
		})
	}
}

// TestValidate_runKeys overrides the new fields as CLI flags or callers would, and checks what
// Validate says: the cross-section checks hold after overrides too.
func TestValidate_runKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		modify func(s *Scenario)
		want   string // "" = valid
	}{
		// happy
		{"unchanged", func(s *Scenario) {}, ""},
		{"strategies from a flag", func(s *Scenario) { s.Balancer.SetStrategies([]balancer.Strategy{"p2c", "cookie-hash"}) }, ""},
		{"strategy only, built in code", func(s *Scenario) {
			s.Balancer = Balancer{Strategy: "cookie-hash", Cookie: "session", Engine: "fast"}
		}, ""},
		{"more workers keep the faults valid", func(s *Scenario) { s.Workers = []int{8} }, ""},
		{"no restarts", func(s *Scenario) { s.Restart = Restart{} }, ""},
		{"no clients", func(s *Scenario) { s.Load.Clients = 0 }, ""},
		{"memory store without redis", func(s *Scenario) { s.Target.Store, s.Redis = "memory", nil }, ""},
		{"a running redis", func(s *Scenario) { s.Redis = &Redis{Addr: "[::1]:6379"} }, ""},
		{"slo from the flag", func(s *Scenario) { s.SLO = &SLO{Success: 1} }, ""},
		{"no faults", func(s *Scenario) { s.Faults = nil }, ""},
		{"stop to the step's last instant", func(s *Scenario) { s.Faults = []Fault{{At: 11 * time.Second, Stop: 1, For: time.Second}} }, ""},

		// sad: target
		{"unknown store", func(s *Scenario) { s.Target.Store = "disk" }, `x.yaml: target.store: unknown store "disk" (known: memory, redis)`},
		{"empty store", func(s *Scenario) { s.Target.Store = "" }, `x.yaml: target.store: unknown store ""`},
		{"store on cpu", func(s *Scenario) { s.Target.Builtin, s.Redis = "cpu", nil }, "x.yaml: target.store: only applies to the session workload"},
		{"store on a command", func(s *Scenario) {
			s.Target = Target{Command: []string{"x"}, PortEnv: "PORT", ReadyPath: "/", ReadyTimeout: time.Second, Path: "/", Store: "redis"}
		}, "x.yaml: target.store: only applies to the session workload"},
		{"slowdown on a command", func(s *Scenario) {
			s.Target = Target{Command: []string{"x"}, PortEnv: "PORT", ReadyPath: "/", ReadyTimeout: time.Second, Path: "/", Slowdown: map[int]float64{1: 2}}
		}, "x.yaml: target.slowdown: only applies to builtin targets"},
		{"slowdown index zero", func(s *Scenario) { s.Target.Slowdown = map[int]float64{0: 2} }, "x.yaml: target.slowdown.0: must be a worker index ≥ 1, got 0"},
		{"slowdown NaN", func(s *Scenario) { s.Target.Slowdown[1] = math.NaN() }, "x.yaml: target.slowdown.1: must be a factor in (0, 100]"},
		{"slowdown beyond fewer workers", func(s *Scenario) { s.Workers = []int{1} }, "x.yaml: target.slowdown.2: worker 2 never runs: the largest worker count is 1"},

		// sad: balancer
		{"strategies without strategy", func(s *Scenario) { s.Balancer.Strategies = []balancer.Strategy{"p2c"} }, `x.yaml: balancer.strategy: Strategy "cookie-hash" differs from Strategies[0] "p2c"; set both`},
		{"empty strategies", func(s *Scenario) { s.Balancer.SetStrategies([]balancer.Strategy{}) }, "x.yaml: balancer.strategy: empty"},
		{"duplicate strategies", func(s *Scenario) { s.Balancer.SetStrategies([]balancer.Strategy{"p2c", "cookie-hash", "p2c"}) }, `x.yaml: balancer.strategy[2]: duplicate strategy "p2c" (also balancer.strategy[0])`},
		{"unknown strategy in a list", func(s *Scenario) { s.Balancer.SetStrategies([]balancer.Strategy{"p2c", "ip-hash"}) }, `x.yaml: balancer.strategy[1]: unknown strategy "ip-hash"`},
		{"cookie left after dropping cookie-hash", func(s *Scenario) { s.Balancer.SetStrategies([]balancer.Strategy{"p2c"}) }, "x.yaml: balancer.cookie: only applies to strategy cookie-hash"},
		{"bounded_load without cookie-hash", func(s *Scenario) { s.Balancer.SetStrategies([]balancer.Strategy{"p2c"}); s.Balancer.Cookie = "" }, "x.yaml: balancer.bounded_load: only applies to strategy cookie-hash"},
		{"cookie empty", func(s *Scenario) { s.Balancer.Cookie = "" }, "x.yaml: balancer.cookie: empty"},
		{"cookie other than the session's", func(s *Scenario) { s.Balancer.Cookie = "sid" }, `x.yaml: balancer.cookie: the session workload sets cookie "session"`},
		{"bounded_load NaN", func(s *Scenario) { s.Balancer.BoundedLoad = math.NaN() }, "x.yaml: balancer.bounded_load: must be 0 (no bound) or a factor ≥ 1"},
		{"bounded_load infinite", func(s *Scenario) { s.Balancer.BoundedLoad = math.Inf(1) }, "x.yaml: balancer.bounded_load: must be 0"},
		{"no engine", func(s *Scenario) { s.Balancer.Engine = "" }, `x.yaml: balancer.engine: unknown engine ""`},
		{"max_conns with haproxy", func(s *Scenario) { s.Balancer.Engine, s.Balancer.MaxConns = "haproxy", 1 }, "x.yaml: balancer.max_conns: engine haproxy does not queue requests"},
		{"max_conns too many", func(s *Scenario) { s.Balancer.MaxConns = 5000 }, "x.yaml: balancer.max_conns: must be between 0 (no bound) and 4096, got 5000"},

		// sad: load
		{"negative clients", func(s *Scenario) { s.Load.Clients = -1 }, "x.yaml: load.clients: must be between 1 and 100000, got -1"},
		{"too many clients", func(s *Scenario) { s.Load.Clients = 100_001 }, "x.yaml: load.clients: must be between 1 and 100000"},
		{"zero repeat", func(s *Scenario) { s.Load.Repeat = 0 }, "x.yaml: load.repeat: must be between 1 and 20, got 0"},

		// sad: redis
		{"redis store without redis", func(s *Scenario) { s.Redis = nil }, "x.yaml: redis: missing; target.store redis needs a Redis server"},
		{"redis with the memory store", func(s *Scenario) { s.Target.Store = "memory" }, "x.yaml: redis: only applies with target.store redis, target.hold or a command target"},
		{"redis remote", func(s *Scenario) { s.Redis = &Redis{Addr: "192.168.1.2:6379"} }, `x.yaml: redis.addr: host "192.168.1.2" is not on loopback`},
		{"redis no addr, not started", func(s *Scenario) { s.Redis = &Redis{} }, "x.yaml: redis.addr: empty; set the host:port of a running Redis, or start: true"},

		// sad: restart
		{"restart max zero", func(s *Scenario) { s.Restart.Max = 0 }, "x.yaml: restart.max: must be between 1 and 1000"},
		{"restart within too long", func(s *Scenario) { s.Restart.Within = 2 * time.Hour }, "x.yaml: restart.within: must be at most 1h"},
		{"restart disabled with max", func(s *Scenario) { s.Restart.Enabled = false }, "x.yaml: restart.max: only applies when restart is enabled"},
		{"restart disabled with within", func(s *Scenario) { s.Restart = Restart{Within: time.Second} }, "x.yaml: restart.within: only applies when restart is enabled"},

		// sad: faults
		{"fault beyond fewer workers", func(s *Scenario) { s.Workers = []int{2} }, "x.yaml: faults[0].kill: worker 4 never runs: the largest worker count is 2"},
		{"fault after a shorter step", func(s *Scenario) { s.Load.Duration = time.Second }, "x.yaml: faults[1].at: fault at 5s is after the step ends at 3s"},
		{"stop past a shorter step", func(s *Scenario) { s.Load.Duration = 5 * time.Second }, "x.yaml: faults[1].for: a stop from 5s for 7s lasts past the step's end at 7s"},
		{"stop past the step by 1ns", func(s *Scenario) { s.Faults[1].For = 7*time.Second + 1 }, "x.yaml: faults[1].for: a stop from 5s for 7.000000001s lasts past"},
		{"fault with both actions", func(s *Scenario) { s.Faults[0].Stop = 1 }, "x.yaml: faults[0].stop: cannot be combined with faults[0].kill: one action per fault"},
		{"fault with no action", func(s *Scenario) { s.Faults[0].Kill = 0 }, "x.yaml: faults[0]: set one action"},
		{"fault kill negative", func(s *Scenario) { s.Faults[0].Kill = -1 }, "x.yaml: faults[0].kill: must be a worker index ≥ 1, got -1"},
		{"fault kill with for", func(s *Scenario) { s.Faults[0].For = time.Second }, "x.yaml: faults[0].for: only applies to stop"},
		{"fault stop without for", func(s *Scenario) { s.Faults[1].For = 0 }, "x.yaml: faults[1].for: must be positive, got 0"},
		{"fault at negative", func(s *Scenario) { s.Faults[0].At = -1 }, "x.yaml: faults[0].at: must not be negative"},
		{"faults empty", func(s *Scenario) { s.Faults = []Fault{} }, "x.yaml: faults: empty list"},

		// sad: slo
		{"slo empty", func(s *Scenario) { s.SLO = &SLO{} }, "x.yaml: slo: empty; set p99"},
		{"slo negative p99", func(s *Scenario) { s.SLO.P99 = -time.Millisecond }, "x.yaml: slo.p99: must not be negative"},
		{"slo success too high", func(s *Scenario) { s.SLO.Success = 1.5 }, "x.yaml: slo.success: must be a fraction in (0, 1]"},
		{"slo success NaN", func(s *Scenario) { s.SLO.Success = math.NaN() }, "x.yaml: slo.success: must be a fraction"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse("x.yaml", []byte(strings.Replace(runExample, "[round-robin, cookie-hash, p2c]", "[cookie-hash]", 1)))
			if err != nil {
				t.Fatal(err)
			}
			tc.modify(s)
			assertValidate(t, s, "x.yaml", tc.want)
		})
	}
}

func TestBalancer_SetStrategies(t *testing.T) {
	t.Parallel()
	names := []balancer.Strategy{"p2c", "random"}
	var b Balancer
	b.SetStrategies(names)
	if b.Strategy != "p2c" || !reflect.DeepEqual(b.Strategies, names) {
		t.Errorf("SetStrategies(%v) = %+v", names, b)
	}
	// The balancer keeps its own copy: the caller's slice may be reused.
	names[0] = "cookie-hash"
	if b.Strategies[0] != "p2c" {
		t.Errorf("SetStrategies kept the caller's slice: %v", b.Strategies)
	}
	b.SetStrategies(nil)
	if b.Strategy != "" || b.Strategies != nil {
		t.Errorf("SetStrategies(nil) = %+v, want empty", b)
	}
}

func TestParseSLO(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want SLO
		err  string // substring; "" = success
	}{
		// happy
		{"p99=50ms,success=99.9%", SLO{P99: 50 * time.Millisecond, Success: 0.999}, ""},
		{" success = 0.95 , p99 = 1s ", SLO{P99: time.Second, Success: 0.95}, ""},
		{"p99=250us", SLO{P99: 250 * time.Microsecond}, ""},
		{"success=100%", SLO{Success: 1}, ""},
		// sad
		{"", SLO{}, "empty item"},
		{"p99=50ms,", SLO{}, "empty item"},
		{"p99", SLO{}, `"p99" is not key=value`},
		{"p95=50ms", SLO{}, `unknown key "p95"; did you mean "p99"? (keys: p99, success)`},
		{"p99=50ms,p99=60ms", SLO{}, "p99 given twice"},
		{"p99=50", SLO{}, `p99: "50" is not a duration like 2ms`},
		{"p99=0s", SLO{}, "p99: must be positive, got 0"},
		{"p99=2h", SLO{}, "p99: must be at most 1h"},
		{"success=high", SLO{}, `success: "high" is not a fraction like 0.999`},
		{"success=%", SLO{}, `success: "%" is not a fraction`},
		{"success=99.9", SLO{}, "success: must be a fraction in (0, 1]"},
		{"success=0", SLO{}, "success: must be a fraction in (0, 1]"},
		{"success=NaN", SLO{}, "success: must be a fraction in (0, 1]"},
		{"success=101%", SLO{}, "success: must be a fraction in (0, 1]"},
	} {
		got, err := ParseSLO(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseSLO(%q): %v", tc.in, err)
		case tc.err == "" && got != tc.want:
			t.Errorf("ParseSLO(%q) = %+v, want %+v", tc.in, got, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseSLO(%q) = %+v, %v; want error containing %q", tc.in, got, err, tc.err)
		}
	}
}

func TestParse_storeList(t *testing.T) {
	t.Parallel()
	s, err := Parse("x.yaml", []byte("target: {builtin: session, store: [memory, redis]}\nload: {rates: [10]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Target.StoreList(), []target.Store{"memory", "redis"}; !slices.Equal(got, want) {
		t.Errorf("StoreList = %v, want %v", got, want)
	}
	if s.Target.Store != "memory" || s.Redis == nil || s.Redis.Addr != DefaultRedisAddr {
		t.Errorf("Store = %q, Redis = %+v; want memory and the default Redis (one of the stores is redis)", s.Target.Store, s.Redis)
	}
	one, err := Parse("x.yaml", []byte("target: {builtin: session, store: [redis]}\nload: {rates: [10]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := one.Target.StoreList(); !slices.Equal(got, []target.Store{"redis"}) || one.Target.Stores != nil {
		t.Errorf("one-store list: StoreList = %v, Stores = %v; want [redis], nil", got, one.Target.Stores)
	}
}
