package experiment

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/scenario"
)

// testScenario is a scenario whose workers are this test binary serving the cpu workload.
func testScenario(t *testing.T, body string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Parse("test.yaml", []byte(fmt.Sprintf("target:\n  command: [%q]\n  env: {%s: \"1\"}\n", os.Args[0], workerEnv)+body))
	if err != nil {
		t.Fatal(err)
	}
	// Other tests share the machine: a step they disturb is not measured again, unless a test
	// asks for it.
	sc.Load.NoiseThreshold = 1
	return sc
}

func run(t *testing.T, sc *scenario.Scenario) (*Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return Run(ctx, sc, Options{})
}

// Every strategy of a list is measured on the same workers, and each step says which.
func TestRun_strategies(t *testing.T) {
	t.Parallel()
	res, err := run(t, testScenario(t, `workers: [2]
balancer: {strategy: [round-robin, least-connections, p2c]}
load: {rates: [100], duration: 400ms, warmup: 100ms}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range res.Steps {
		got = append(got, st.Strategy)
		if len(st.Share) != 2 || st.Share[0]+st.Share[1] == 0 || st.Success < 1 {
			t.Errorf("%s: share %v, success %v; want both workers counted and no failure", st.Strategy, st.Share, st.Success)
		}
	}
	if want := "round-robin least-connections p2c"; strings.Join(got, " ") != want {
		t.Errorf("strategies measured = %q, want %q", strings.Join(got, " "), want)
	}
}

// reuseport needs workers that bind with SO_REUSEPORT: a command target gets a clear start error.
func TestRun_reuseportCommand(t *testing.T) {
	t.Parallel()
	_, err := run(t, testScenario(t, `workers: [1]
balancer: {strategy: reuseport}
load: {rates: [10], duration: 200ms, warmup: 0s}
`))
	if !IsStartError(err) || !strings.Contains(err.Error(), "reuseport") {
		t.Fatalf("err = %v, want a start error about reuseport", err)
	}
}

// The HAProxy engine runs the same steps; the shares come from the workers' X-Worker headers.
func TestRun_haproxyEngine(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Skip("haproxy is not installed (Debian: apt-get install -y haproxy)")
	}
	res, err := run(t, testScenario(t, `workers: [2]
balancer: {strategy: round-robin, engine: haproxy}
load: {rates: [100], duration: 400ms, warmup: 100ms}
`))
	if err != nil {
		t.Fatal(err)
	}
	st := res.Steps[0]
	if st.Success < 1 || len(st.Share) != 2 || st.Share[0] == 0 || st.Share[1] == 0 {
		t.Errorf("success %v, share %v; want every request served, by both workers", st.Success, st.Share)
	}
}

// A killed worker is restarted and its requests retried: the fault's figures say so.
func TestRun_killFault(t *testing.T) {
	t.Parallel()
	res, err := run(t, testScenario(t, `workers: [2]
load: {rates: [100], duration: 1500ms, warmup: 200ms}
faults: [{at: 600ms, kill: 1}]
`))
	if err != nil {
		t.Fatal(err)
	}
	st := res.Steps[0]
	if st.Restarts < 1 || len(st.Faults) != 1 {
		t.Fatalf("restarts %d, faults %+v; want a restart and one fault result", st.Restarts, st.Faults)
	}
	if f := st.Faults[0]; f.Injected == 0 || f.Downtime <= 0 || f.Err != "" {
		t.Errorf("fault %+v: want it injected and the replacement ready", f)
	}
	if st.Success < 0.99 {
		t.Errorf("success %v with %d retries; want the GETs a kill dropped retried", st.Success, st.Retries)
	}
	var se *StartError
	if errors.As(err, &se) {
		t.Errorf("unexpected start error %v", err)
	}
}
