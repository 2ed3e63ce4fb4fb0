package scenario

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// target.hold and target.lock_key: the resource shared by all built-in workers, in Redis.
func TestParse_hold(t *testing.T) {
	t.Parallel()
	const load = "load: {rates: [100]}\n"
	for _, tc := range []struct {
		name  string
		in    string
		hold  time.Duration
		key   string
		redis *Redis
	}{
		{"no hold, no redis", "target: {builtin: sleep}\n" + load, 0, "", nil},
		{"hold zero is none", "target: {builtin: cpu, hold: 0}\n" + load, 0, "", nil},
		{"hold defaults key and redis", "target: {builtin: sleep, hold: 2ms}\n" + load, 2 * time.Millisecond, DefaultLockKey, &Redis{Addr: DefaultRedisAddr}},
		{"hold with started redis", "target: {builtin: sleep, hold: 2ms, lock_key: \"db:orders\"}\nredis: {start: true}\n" + load, 2 * time.Millisecond, "db:orders", &Redis{Start: true}},
		{"redis before the target", "redis: {addr: 127.0.0.1:7000}\ntarget: {builtin: cpu, hold: 1ms}\n" + load, time.Millisecond, DefaultLockKey, &Redis{Addr: "127.0.0.1:7000"}},
		{"hold on the session workload with the memory store", "target: {builtin: session, hold: 500us}\nredis: {start: true}\n" + load, 500 * time.Microsecond, DefaultLockKey, &Redis{Start: true}},
		{"hold with the redis store shares the server", "target: {builtin: session, store: redis, hold: 1ms}\n" + load, time.Millisecond, DefaultLockKey, &Redis{Addr: DefaultRedisAddr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse("h.yaml", []byte(tc.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if s.Target.Hold != tc.hold || s.Target.LockKey != tc.key {
				t.Errorf("hold, lock_key = %v, %q; want %v, %q", s.Target.Hold, s.Target.LockKey, tc.hold, tc.key)
			}
			if !reflect.DeepEqual(s.Redis, tc.redis) {
				t.Errorf("redis = %+v, want %+v", s.Redis, tc.redis)
			}
			if got, want := s.Target.UsesRedis(), tc.redis != nil; got != want {
				t.Errorf("UsesRedis() = %v, want %v", got, want)
			}
			if err := s.Validate(); err != nil {
				t.Errorf("Validate after Parse: %v", err)
			}
		})
	}
}

func TestParse_holdErrors(t *testing.T) {
	t.Parallel()
	const load = "load: {rates: [100]}\n"
	for _, tc := range []struct {
		name, in, pos, field, msg string
	}{
		{"negative", "target: {builtin: sleep, hold: -1ms}\n" + load, "1:32", "target.hold", "must not be negative, got -1ms"},
		{"unitless", "target: {builtin: sleep, hold: 2}\n" + load, "1:32", "target.hold", `"2" is not a duration like 2ms`},
		{"too long", "target: {builtin: sleep, hold: 2h}\n" + load, "1:32", "target.hold", "must be at most 1h"},
		{"empty", "target: {builtin: sleep, hold: }\n" + load, "1:32", "target.hold", "empty; set a duration"},
		{"on a command", "target: {command: [x], hold: 2ms}\n" + load, "1:24", "target.hold", "only applies to builtin targets"},
		{"lock_key on a command", "target: {command: [x], lock_key: k}\n" + load, "1:24", "target.lock_key", "only applies to builtin targets"},
		{"lock_key without hold", "target: {builtin: sleep, lock_key: k}\n" + load, "1:26", "target.lock_key", "only applies with target.hold"},
		{"lock_key with hold 0", "target: {builtin: sleep, hold: 0s, lock_key: k}\n" + load, "1:36", "target.lock_key", "only applies with target.hold"},
		{"lock_key empty", "target: {builtin: sleep, hold: 1ms, lock_key: \"\"}\n" + load, "1:47", "target.lock_key", "empty; remove the key for the default \"bench:lock\""},
		{"lock_key with a space", "target: {builtin: sleep, hold: 1ms, lock_key: \"a b\"}\n" + load, "1:47", "target.lock_key", "must not contain spaces"},
		{"lock_key a list", "target: {builtin: sleep, hold: 1ms, lock_key: [a]}\n" + load, "1:47", "target.lock_key", "expected a string"},
		{"typo", "target: {builtin: sleep, hlod: 1ms}\n" + load, "1:26", "target.hlod", `unknown key; did you mean "hold"?`},
		{"redis without hold", "target: {builtin: sleep, hold: 0s}\nredis: {start: true}\n" + load, "2:1", "redis", "only applies with target.store redis, target.hold or a command target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assertParseError(t, tc.in, tc.pos, tc.field, tc.msg)
		})
	}
}

// Validate re-checks the hold fields after a caller changed them.
func TestValidate_hold(t *testing.T) {
	t.Parallel()
	const in = "target: {builtin: sleep, hold: 2ms}\nload: {rates: [100]}\n"
	for _, tc := range []struct {
		name   string
		modify func(s *Scenario)
		want   string // "" = valid
	}{
		{"unchanged", func(s *Scenario) {}, ""},
		{"empty key means the default", func(s *Scenario) { s.Target.LockKey = "" }, ""},
		{"hold off with its redis and key removed", func(s *Scenario) { s.Target.Hold, s.Target.LockKey, s.Redis = 0, "", nil }, ""},
		{"negative", func(s *Scenario) { s.Target.Hold = -time.Second }, "x.yaml: target.hold: must not be negative, got -1s"},
		{"no redis", func(s *Scenario) { s.Redis = nil }, "x.yaml: redis: missing; target.hold needs a Redis server"},
		{"hold off, redis left", func(s *Scenario) { s.Target.Hold, s.Target.LockKey = 0, "" }, "x.yaml: redis: only applies with target.store redis, target.hold"},
		{"key without hold", func(s *Scenario) { s.Target.Hold = 0 }, "x.yaml: target.lock_key: only applies with target.hold"},
		{"key with a newline", func(s *Scenario) { s.Target.LockKey = "a\nb" }, "x.yaml: target.lock_key: \"a\\nb\" must not contain spaces"},
		{"hold on a command", func(s *Scenario) {
			s.Target = Target{Command: []string{"x"}, PortEnv: "PORT", ReadyPath: "/", ReadyTimeout: time.Second, Path: "/", Hold: time.Millisecond}
		}, "x.yaml: target.hold: only applies to builtin targets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse("x.yaml", []byte(in))
			if err != nil {
				t.Fatal(err)
			}
			tc.modify(s)
			err = s.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Errorf("Validate =\n  %v\nwant prefix\n  %s", err, tc.want)
			}
		})
	}
}
