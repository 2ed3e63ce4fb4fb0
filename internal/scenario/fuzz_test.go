package scenario

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error is one *Error on one line, that an
// error about a field of the file points at a line of it, and that whatever Parse accepts,
// Validate (the same rules, without the file) accepts too.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		designExample,
		"target: {builtin: cpu}\nload: {rates: [100]}\n",
		"target: {command: [node, s.mjs], env: {A: 1}, port_env: P}\nworkers: [1, auto, 2x]\nload: {search: {p99: 50ms, success: 99.9%}}\n",
		"target: {builtin: sleep, cost: &d 5ms}\nload: {search: {p99: *d}, timeout: *d}\n",
		"",
		"---\n---\n",
		"[1, 2]\n",
		"target:\n  <<: {builtin: cpu}\n",
		// a billion laughs, where the schema looks and where it does not
		"target: {builtin: cpu}\nload: {rates: [1]}\nworkers: " + billionLaughs("w", 9),
		"lol: " + billionLaughs("l", 9),
		// deeply nested input, flow and block
		// (deep enough to exercise recursion, small enough that the fuzzer's minimizer, which
		// re-runs an input many times, does not stall on it; TestParse_hugeInputs goes deeper)
		strings.Repeat("[", 1000) + strings.Repeat("]", 1000),
		"target: " + strings.Repeat("{a: ", 500) + "1" + strings.Repeat("}", 500),
		nestedBlock(100),
		// the keys that shape a run: sessions, strategies, faults, SLO
		runExample,
		"target: {builtin: session, store: redis, slowdown: {1: 2}}\nredis: {addr: \"[::1]:6380\"}\nrestart: false\nload: {rates: [1], clients: 5, repeat: 2}\n",
		"target: {command: [x]}\nbalancer: {strategy: cookie-hash, cookie: sid, bounded_load: 1.5, engine: haproxy}\nredis: {start: true}\nload: {search: {p99: 1s}}\nfaults: [{at: 1s, stop: 1, for: 1s}]\nslo: {success: 99%}\n",
		// the request mix, inline and from a file (there is none by that name: an error)
		"target: {command: [x]}\nload: {rates: [1], requests: [{method: POST, path: /a, headers: {X-A: b}, body: '{}', weight: 2}, {path: /b}]}\n",
		"target: {command: [x]}\nload: {rates: [1], targets: no-such-targets.txt}\n",
		// running targets and scale hooks
		"target: {url: \"http://127.0.0.1:8080/a?b=1\", ready_path: /h}\nscale: {compose: {file: dc.yml, service: api, port: 8080}}\nworkers: [1, 2]\nload: {rates: [1]}\n",
		"target: {endpoints: [\"http://127.0.0.1:1\", \"http://[::1]:2/\"]}\nload: {search: {p99: 1s}}\n",
		"target: {ready_path: /}\nscale: {command: {scale: [s, \"{n}\"], endpoints: [e], allow: [10.0.0.0/8, \"::1\"]}}\nload: {rates: [1]}\n",
		// an anchor inside itself
		"workers: &w [*w]\ntarget: &t {builtin: *t}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f.yaml", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			// A problem in a targets file the scenario names is reported at that file.
			if msg := err.Error(); strings.ContainsAny(msg, "\n\r") || !strings.HasPrefix(msg, "f.yaml") && (e.File == "f.yaml" || !strings.HasPrefix(msg, e.File+":")) {
				t.Fatalf("error is not one line starting with the file: %q", msg)
			}
			if e.File == "f.yaml" && e.Field != "" && e.Line == 0 {
				t.Fatalf("error about a field of the file has no line: %q", err)
			}
			if s != nil {
				t.Fatalf("Parse returned a scenario with its error")
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate rejects: %v", err)
		}
	})
}

// nestedBlock returns depth levels of block mappings under the top-level key target.
func nestedBlock(depth int) string {
	var b strings.Builder
	b.WriteString("target:\n")
	for i := 1; i <= depth; i++ {
		b.WriteString(strings.Repeat(" ", i) + "a:\n")
	}
	return b.String()
}

// TestParse_hugeInputs checks the inputs that could cost yaml.v3 stack or memory: nesting at
// and past its depth limit, and files past MaxFileSize. Each must fail with one clear line.
func TestParse_hugeInputs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
	}{
		{"depth 9999", strings.Repeat("[", 9999) + strings.Repeat("]", 9999), "h.yaml:1:1: a scenario is a mapping"},
		{"past yaml.v3's depth limit", strings.Repeat("[", MaxFileSize), "h.yaml: invalid YAML: exceeded max depth of 10000"},
		{"deep block mappings", nestedBlock(1000), "h.yaml:2:2: target.a: unknown key"},
		{"a long flat list", "workers: [" + strings.Repeat("1,", MaxFileSize/2-10) + "]", "h.yaml:1:20007: workers[9998]: more than 10000 YAML nodes"},
		{"one byte too many", "name: x\n" + strings.Repeat("#", MaxFileSize-7), "h.yaml: file too large: more than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("h.yaml", []byte(tc.in))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Parse = %v, want prefix %q", err, tc.want)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"design example", designExample},
		{"1MiB of keys", strings.Repeat("a: 1\n", MaxFileSize/5)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.in)))
			for b.Loop() {
				Parse("b.yaml", []byte(bc.in))
			}
		})
	}
}
