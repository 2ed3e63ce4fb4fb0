package main

import (
	"strings"
	"testing"

	"github.com/bench-dev/bench/internal/scenario"
)

// A target off loopback is named at start, since load leaves the machine for it.
func TestDescribe_remoteTarget(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"target: {url: http://10.1.2.3:8080/}\nload: {rates: [10]}\n", "running service http://10.1.2.3:8080/ (off loopback: 10.1.2.3, as the scenario names it)"},
		{"target: {url: http://127.0.0.1:8080/}\nload: {rates: [10]}\n", "running service http://127.0.0.1:8080/; workers [1]"},
		{"target: {endpoints: [http://127.0.0.1:1, http://api.internal:2]}\nload: {rates: [10]}\n", "(off loopback: api.internal, as the scenario names it)"},
		{"target: {ready_path: /healthz}\nscale: {compose: {file: dc.yml, service: api, port: 8080}}\nload: {rates: [10]}\n", "replicas started by the scale hook; scaled by Docker Compose (dc.yml, service api)"},
		{"target: {ready_path: /}\nscale: {command: {scale: [s, \"{n}\"], endpoints: [e], allow: 10.0.0.0/8}}\nload: {rates: [10]}\n", "(replicas may be off loopback in 10.0.0.0/8, as scale.command.allow says)"},
	} {
		sc, err := scenario.Parse("s.yaml", []byte(tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if got := describe(sc); !strings.Contains(got, tc.want) {
			t.Errorf("describe = %q, want it to contain %q", got, tc.want)
		}
	}
}
