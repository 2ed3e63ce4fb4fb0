package scenario

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/balancer"
)

// TestValidate overrides one field of a parsed scenario, as a CLI flag would, and checks the
// one line Validate reports: the file, the field, no position.
func TestValidate(t *testing.T) {
	t.Parallel()
	parse := func(t *testing.T, in string) *Scenario {
		t.Helper()
		s, err := Parse("v.yaml", []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const (
		builtin = "target: {builtin: cpu}\nload: {rates: [100]}\n"
		command = "target: {command: [node, s.mjs]}\nload: {search: {p99: 10ms}}\n"
	)
	for _, tc := range []struct {
		name   string
		in     string
		modify func(s *Scenario)
		want   string // "" = valid
	}{
		// happy: overrides that keep the scenario valid
		{"unchanged", builtin, func(s *Scenario) {}, ""},
		{"zero warmup", builtin, func(s *Scenario) { s.Load.Warmup = 0 }, ""},
		{"new rates", builtin, func(s *Scenario) { s.Load.Rates = []float64{1, 2.5} }, ""},
		{"rates replace search", command, func(s *Scenario) { s.Load.Rates, s.Load.Search = []float64{10}, nil }, ""},
		{"workers from the flag", builtin, func(s *Scenario) { s.Workers, _ = ParseWorkers("4,1,auto") }, ""},

		// sad
		{"zero duration", builtin, func(s *Scenario) { s.Load.Duration = 0 }, "v.yaml: load.duration: must be positive, got 0"},
		{"long duration", builtin, func(s *Scenario) { s.Load.Duration = 2 * time.Hour }, "v.yaml: load.duration: must be at most 1h, got 2h0m0s"},
		{"negative warmup", builtin, func(s *Scenario) { s.Load.Warmup = -time.Second }, "v.yaml: load.warmup: must not be negative, got -1s"},
		{"zero timeout", builtin, func(s *Scenario) { s.Load.Timeout = 0 }, "v.yaml: load.timeout: must be positive, got 0"},
		{"no workers", builtin, func(s *Scenario) { s.Workers = nil }, "v.yaml: workers: empty"},
		{"zero workers", builtin, func(s *Scenario) { s.Workers = []int{0, 1} }, "v.yaml: workers[0]: must be between 1 and 256 workers, got 0"},
		{"absurd workers", builtin, func(s *Scenario) { s.Workers = []int{1, 1000} }, "v.yaml: workers[1]: must be between 1 and 256 workers, got 1000"},
		{"unsorted workers", builtin, func(s *Scenario) { s.Workers = []int{2, 1} }, "v.yaml: workers: must be ascending without duplicates, got [2 1]"},
		{"duplicate workers", builtin, func(s *Scenario) { s.Workers = []int{2, 2} }, "v.yaml: workers: must be ascending"},
		{"no rates", builtin, func(s *Scenario) { s.Load.Rates = nil }, "v.yaml: load: set rates (like [200, 400]) or search"},
		{"empty rates", builtin, func(s *Scenario) { s.Load.Rates = []float64{} }, "v.yaml: load.rates: empty"},
		{"rates and search", builtin, func(s *Scenario) { s.Load.Search = &Search{P99: time.Second, Success: 1, MaxSteps: 1} }, "v.yaml: load.search: cannot be combined with load.rates: offer fixed rates or search for capacity"},
		{"negative rate", builtin, func(s *Scenario) { s.Load.Rates = []float64{1, -1} }, "v.yaml: load.rates[1]: must be positive (requests/s), got -1"},
		{"NaN rate", builtin, func(s *Scenario) { s.Load.Rates = []float64{math.NaN()} }, "v.yaml: load.rates[0]: must be a finite number"},
		{"huge rate", builtin, func(s *Scenario) { s.Load.Rates = []float64{2e6} }, "v.yaml: load.rates[0]: must be at most 1e+06 requests/s, got 2e+06"},
		{"duplicate rate", builtin, func(s *Scenario) { s.Load.Rates = []float64{5, 5} }, "v.yaml: load.rates[1]: duplicate rate 5 (also load.rates[0])"},
		{"zero p99", command, func(s *Scenario) { s.Load.Search.P99 = 0 }, "v.yaml: load.search.p99: must be positive, got 0"},
		{"NaN success", command, func(s *Scenario) { s.Load.Search.Success = math.NaN() }, "v.yaml: load.search.success: must be a fraction in (0, 1]"},
		{"zero max steps", command, func(s *Scenario) { s.Load.Search.MaxSteps = 0 }, "v.yaml: load.search.max_steps: must be between 1 and 100, got 0"},
		{"empty name", builtin, func(s *Scenario) { s.Name = "" }, "v.yaml: name: empty"},
		{"path in name", builtin, func(s *Scenario) { s.Name = "../etc" }, `v.yaml: name: "../etc" names a results folder, so it cannot contain / or \`},
		{"both targets", builtin, func(s *Scenario) { s.Target.Command = []string{"x"} }, "v.yaml: target.command: cannot be combined with target.builtin: a target is one of builtin, command, url or endpoints"},
		{"no target", builtin, func(s *Scenario) { s.Target.Builtin = "" }, "v.yaml: target: set builtin (cpu, sleep, session), command, url or endpoints"},
		{"unknown workload", builtin, func(s *Scenario) { s.Target.Builtin = "slep" }, `v.yaml: target.builtin: unknown workload "slep"; did you mean "sleep"?`},
		{"zero cost", builtin, func(s *Scenario) { s.Target.Cost = 0 }, "v.yaml: target.cost: must be positive, got 0"},
		{"zero threads", builtin, func(s *Scenario) { s.Target.Threads = 0 }, "v.yaml: target.threads: must be between 1 and 256, got 0"},
		{"negative concurrency", builtin, func(s *Scenario) { s.Target.Concurrency = -1 }, "v.yaml: target.concurrency: must not be negative"},
		{"port_env on builtin", builtin, func(s *Scenario) { s.Target.PortEnv = "PORT" }, "v.yaml: target.port_env: only applies to command targets"},
		{"empty command", command, func(s *Scenario) { s.Target.Command = []string{} }, "v.yaml: target.command: empty"},
		{"empty argument", command, func(s *Scenario) { s.Target.Command = []string{"node", ""} }, "v.yaml: target.command[1]: empty argument"},
		{"threads on command", command, func(s *Scenario) { s.Target.Threads = 2 }, "v.yaml: target.threads: only applies to builtin targets"},
		{"empty port_env", command, func(s *Scenario) { s.Target.PortEnv = "" }, "v.yaml: target.port_env: empty"},
		{"env clash", command, func(s *Scenario) { s.Target.Env = map[string]string{"B": "", "PORT": "1"} }, "v.yaml: target.env.PORT: is set by bench to each worker's port"},
		{"bad env name", command, func(s *Scenario) { s.Target.Env = map[string]string{"A=B": "1"} }, `v.yaml: target.env."A=B": "A=B" is not an environment variable name`},
		{"relative path", builtin, func(s *Scenario) { s.Target.Path = "x" }, `v.yaml: target.path: "x" must start with /`},
		{"empty ready path", builtin, func(s *Scenario) { s.Target.ReadyPath = "" }, "v.yaml: target.ready_path: empty"},
		{"zero ready timeout", builtin, func(s *Scenario) { s.Target.ReadyTimeout = 0 }, "v.yaml: target.ready_timeout: must be positive"},
		{"unknown strategy", builtin, func(s *Scenario) { s.Balancer.SetStrategies([]balancer.Strategy{"randm"}) }, `v.yaml: balancer.strategy: unknown strategy "randm"; did you mean "random"? (known: round-robin, least-connections, random, p2c, cookie-hash, reuseport)`},
		{"empty strategy", builtin, func(s *Scenario) { s.Balancer.SetStrategies([]balancer.Strategy{""}) }, `v.yaml: balancer.strategy: unknown strategy ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := parse(t, tc.in)
			tc.modify(s)
			assertValidate(t, s, "v.yaml", tc.want)
		})
	}
}

func TestParseWorkers(t *testing.T) {
	t.Parallel()
	cpus := numCPU()
	for _, tc := range []struct {
		in   string
		want []int
		err  string // substring; "" = success
	}{
		// happy
		{"4", []int{4}, ""},
		{"1,2,4", []int{1, 2, 4}, ""},
		{" 4 , 1,2 ", []int{1, 2, 4}, ""},
		{"2,1,2", []int{1, 2}, ""},
		{"auto", []int{cpus}, ""},
		{"AUTO", []int{cpus}, ""},
		{"2x", []int{2 * cpus}, ""},
		{"1,auto,2x", normalizeWorkers([]int{1, cpus, 2 * cpus}), ""},
		{"256", []int{256}, ""},
		// sad
		{"", nil, "empty worker count"},
		{"1,,2", nil, "empty worker count"},
		{"0", nil, "must be between 1 and 256 workers, got 0"},
		{"-1", nil, "got -1"},
		{"257", nil, "got 257"},
		{"1.5", nil, `"1.5" is not a worker count`},
		{"many", nil, `"many" is not a worker count; want N, "auto" or "Kx"`},
		{"x", nil, `"" before x must be a positive integer`},
		{"0x", nil, `"0" before x must be a positive integer`},
		{"-2x", nil, "before x must be a positive integer"},
		{"1.5x", nil, "before x must be a positive integer"},
		{"257x", nil, "more than 256 workers"},
		{"99999999999999999999x", nil, "before x must be a positive integer"},
	} {
		got, err := ParseWorkers(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseWorkers(%q): %v", tc.in, err)
		case tc.err == "" && !slices.Equal(got, tc.want):
			t.Errorf("ParseWorkers(%q) = %v, want %v", tc.in, got, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseWorkers(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
		}
	}
}

func TestParseRates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []float64
		err  string
	}{
		// happy: order is kept
		{"100", []float64{100}, ""},
		{"100,200.5", []float64{100, 200.5}, ""},
		{"800, 200 ,0.5", []float64{800, 200, 0.5}, ""},
		{"1e6", []float64{1e6}, ""},
		// sad
		{"", nil, "empty rate"},
		{"100,", nil, "empty rate"},
		{"fast", nil, `"fast" is not a rate`},
		{"0", nil, "must be positive"},
		{"-5", nil, "must be positive"},
		{"1e7", nil, "must be at most 1e+06"},
		{"inf", nil, "must be a finite number"},
		{"NaN", nil, "must be a finite number"},
		{"100,100.0", nil, "rate 100 given twice (item 2)"},
	} {
		got, err := ParseRates(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseRates(%q): %v", tc.in, err)
		case tc.err == "" && !slices.Equal(got, tc.want):
			t.Errorf("ParseRates(%q) = %v, want %v", tc.in, got, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseRates(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
		}
	}
}

// assertValidate checks what s.Validate says: nil when want is empty, otherwise an *Error for file
// (no line: the fields were set by code, not read) whose text starts with want.
func assertValidate(t *testing.T, s *Scenario, file, want string) {
	t.Helper()
	err := s.Validate()
	if want == "" {
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Validate succeeded, want %q", want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Line != 0 || e.File != file {
		t.Errorf("error %#v: want an *Error with File %s and Line 0", err, file)
	}
	if got := err.Error(); !strings.HasPrefix(got, want) {
		t.Errorf("Validate =\n  %s\nwant prefix\n  %s", got, want)
	}
}
