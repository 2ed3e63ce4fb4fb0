package scenario

import (
	"path/filepath"
	"slices"
	"testing"
)

// target.url, target.endpoints and the scale section: what each parses to, with its defaults.
func TestParse_remoteTargets(t *testing.T) {
	t.Parallel()
	const load = "load:\n  rates: [100]\n"

	s := mustParse(t, "target:\n  url: http://127.0.0.1:8080/api?x=1\n"+load)
	if s.Target.URL != "http://127.0.0.1:8080/api?x=1" || s.Target.Path != "/api?x=1" || !slices.Equal(s.Workers, []int{1}) {
		t.Errorf("url: target %+v, workers %v; want the URL, its path and workers [1]", s.Target, s.Workers)
	}
	if s.Target.Spawned() || len(s.Target.RemoteHosts()) != 0 {
		t.Errorf("url on loopback: Spawned %v, RemoteHosts %v", s.Target.Spawned(), s.Target.RemoteHosts())
	}

	s = mustParse(t, "target:\n  url: http://api.example.com:80/\n"+load)
	if got := s.Target.RemoteHosts(); !slices.Equal(got, []string{"api.example.com"}) {
		t.Errorf("RemoteHosts = %v, want the host written in target.url", got)
	}

	s = mustParse(t, "target:\n  endpoints: [http://127.0.0.1:8081, http://127.0.0.1:8082/, http://127.0.0.1:8083]\n"+load)
	if !slices.Equal(s.Workers, []int{1, 3}) || len(s.Target.Endpoints) != 3 || s.Target.Path != "/" {
		t.Errorf("endpoints: workers %v, target %+v; want [1 3]", s.Workers, s.Target)
	}

	s = mustParse(t, "target:\n  ready_path: /healthz\nworkers: [1, 2, 4]\nscale:\n  compose: {file: compose/dc.yml, service: api, port: 8080}\n"+load)
	c := s.Scale.Compose
	if c == nil || c.File != filepath.Join("x", "compose", "dc.yml") || c.Service != "api" || c.Port != 8080 || s.Scale.Local() {
		t.Errorf("compose: %+v; want the file relative to the scenario's folder", c)
	}

	s = mustParse(t, "target:\n  url: http://127.0.0.1:9000/\nworkers: [1, 2]\nscale:\n  command:\n    scale: [kubectl, scale, deployment/api, \"--replicas={n}\"]\n    endpoints: [sh, -c, echo]\n    allow: 10.0.0.0/8\n"+load)
	if cmd := s.Scale.Command; cmd == nil || cmd.Scale[3] != "--replicas={n}" || !slices.Equal(cmd.Allow, []string{"10.0.0.0/8"}) {
		t.Errorf("command: %+v", s.Scale.Command)
	}

	if s := mustParse(t, "target: {builtin: cpu}\nscale: local\n"+load); !s.Scale.Local() {
		t.Errorf("scale: local is not local: %+v", s.Scale)
	}
}

func mustParse(t *testing.T, in string) *Scenario {
	t.Helper()
	s, err := Parse(filepath.Join("x", "s.yaml"), []byte(in))
	if err != nil {
		t.Fatalf("Parse:\n%s\nerror: %v", in, err)
	}
	return s
}

func TestParse_remoteErrors(t *testing.T) {
	t.Parallel()
	const load = "load:\n  rates: [100]\n" // two lines
	url := "target:\n  url: http://127.0.0.1:8080/\n"
	compose := "scale:\n  compose: {file: dc.yml, service: api, port: 8080}\n"
	for _, tc := range []struct {
		name, in, pos, field, msg string
	}{
		{"url and builtin", "target:\n  builtin: cpu\n  url: http://127.0.0.1:1/\n" + load, "3:3", "target.url", "cannot be combined with target.builtin (line 2)"},
		{"url https", "target:\n  url: https://127.0.0.1:1/\n" + load, "2:8", "target.url", "the scheme must be http"},
		{"url without port", "target:\n  url: http://127.0.0.1/\n" + load, "2:8", "target.url", "needs a host and a port"},
		{"url and path", url + "  path: /x\n" + load, "3:3", "target.path", "the path is part of target.url"},
		{"url and cost", url + "  cost: 1ms\n" + load, "3:3", "target.cost", "only applies to the processes bench starts"},
		{"url and pin", url + "  pin: 1\n" + load, "3:3", "target.pin", "only applies to the processes bench starts"},
		{"url with workers", url + "workers: [1, 2]\n" + load, "3:1", "workers", "leave workers out (1) or add a scale section"},
		{"url with faults", url + "faults: [{at: 1s, kill: 1}]\n" + load, "3:1", "faults", "faults strike processes bench starts"},
		{"url with reuseport", url + "balancer: {strategy: reuseport}\n" + load, "3:12", "balancer.strategy", "reuseport needs workers bench starts"},
		{"endpoint with path", "target:\n  endpoints: [http://127.0.0.1:1/x]\n" + load, "2:15", "target.endpoints[0]", "an endpoint is http://HOST:PORT"},
		{"endpoint duplicate", "target:\n  endpoints: [http://127.0.0.1:1, http://127.0.0.1:1]\n" + load, "2:35", "target.endpoints[1]", "duplicate endpoint"},
		{"more workers than endpoints", "target:\n  endpoints: [http://127.0.0.1:1]\nworkers: [1, 2]\n" + load, "3:1", "workers", "2 workers but target.endpoints lists 1 replicas"},
		{"no target kind", "target:\n  ready_path: /\n" + load, "2:3", "target", "set builtin (cpu, sleep, session), command, url or endpoints"},
		{"builtin with hook", "target:\n  builtin: cpu\n" + compose + load, "2:3", "target.builtin", "cannot be used with a scale hook"},
		{"unknown scale", "target: {builtin: cpu}\nscale: swarm\n" + load, "2:8", "scale", `unknown scale "swarm"`},
		{"compose without port", "target: {ready_path: /}\nscale:\n  compose: {file: dc.yml, service: api}\n" + load, "3:12", "scale.compose.port", "missing"},
		{"compose bad port", "target: {ready_path: /}\nscale:\n  compose: {file: dc.yml, service: api, port: 0}\n" + load, "3:47", "scale.compose.port", "must be a port in 1..65535"},
		{"compose and command", "target: {ready_path: /}\nscale:\n  compose: {file: dc.yml, service: api, port: 1}\n  command: {scale: [a, \"{n}\"], endpoints: [b]}\n" + load, "4:3", "scale.command", "cannot be combined with scale.compose (line 3)"},
		{"command without {n}", "target: {ready_path: /}\nscale:\n  command: {scale: [kubectl, scale], endpoints: [b]}\n" + load, "3:20", "scale.command.scale", "no argument contains {n}"},
		{"command bad allow", "target: {ready_path: /}\nscale:\n  command: {scale: [a, \"{n}\"], endpoints: [b], allow: [pods]}\n" + load, "3:56", "scale.command.allow[0]", "not an address prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assertParseError(t, tc.in, tc.pos, tc.field, tc.msg)
		})
	}
}

// Validate applies the rules Parse applies to a scenario changed in code (by flags).
func TestValidate_remote(t *testing.T) {
	t.Parallel()
	s := mustParse(t, "target:\n  url: http://127.0.0.1:8080/\nload:\n  rates: [100]\n")
	s.Workers = []int{1, 2} // as --workers 1,2 would
	if err := s.Validate(); err == nil || err.Error() != "x/s.yaml: workers: "+urlOneWorker {
		t.Errorf("Validate = %v, want the url's one-worker rule", err)
	}
	s = mustParse(t, "target:\n  endpoints: [http://127.0.0.1:1, http://127.0.0.1:2]\nload:\n  rates: [100]\n")
	s.Workers = []int{4}
	if err := s.Validate(); err == nil || err.Error() != "x/s.yaml: workers: 4 workers but target.endpoints lists 2 replicas" {
		t.Errorf("Validate = %v", err)
	}
}

func TestCheckEndpoint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line  string
		allow []string
		want  string // "" for an error
	}{
		{"127.0.0.1:32768\n", nil, "127.0.0.1:32768"},
		{"http://127.0.0.1:32768/", nil, "127.0.0.1:32768"},
		{"[::1]:80", nil, "[::1]:80"},
		{"10.1.2.3:8080", nil, ""},
		{"10.1.2.3:8080", []string{"10.0.0.0/8"}, "10.1.2.3:8080"},
		{"10.1.2.3:8080", []string{"10.1.2.4"}, ""},
		{"pod-1:8080", []string{"10.0.0.0/8"}, ""},
		{"127.0.0.1", nil, ""},
		{"127.0.0.1:0", nil, ""},
	} {
		got, err := CheckEndpoint(tc.line, tc.allow)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("CheckEndpoint(%q, %v) = %q, %v; want %q", tc.line, tc.allow, got, err, tc.want)
		}
	}
}
