package experiment

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/scenario"
	"github.com/bench-dev/bench/internal/testserver"
)

// composeScenario writes a compose file of bench's worker image, half a CPU per replica, and a
// scenario scaling it through Docker Compose at small rates. The service's name is the test's
// own, so that its containers can be told from any other.
func composeScenario(t *testing.T, service string) *scenario.Scenario {
	t.Helper()
	testserver.NeedCompose(t)
	image := testserver.WorkerImage(t)
	dir := t.TempDir()
	files := map[string]string{
		"dc.yml": fmt.Sprintf(`version: "2.4"
services:
  %s:
    image: %s
    command: ["--workload", "cpu", "--cost", "1ms"]
    cpus: 0.5
    ports: ["127.0.0.1::8080"]
`, service, image),
		"s.yaml": fmt.Sprintf(`
target: {ready_path: /healthz, ready_timeout: 30s}
workers: [1, 2]
scale:
  compose: {file: dc.yml, service: %s, port: 8080}
load:
  rates: [50]
  duration: 300ms
  warmup: 100ms
  noise_threshold: 1   # other tests run beside this one: no step measured again
`, service),
	}
	return loadFiles(t, dir, files)
}

// loadFiles writes files into dir and loads the scenario among them, s.yaml.
func loadFiles(t *testing.T, dir string, files map[string]string) *scenario.Scenario {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sc, err := scenario.Load(filepath.Join(dir, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// Needs Docker and Docker Compose (skips without): the built-in worker in containers, scaled 1
// then 2 through bench's balancer, reported as machines of the compose file's CPU limit, and
// nothing left running afterwards.
func TestRun_compose(t *testing.T) {
	t.Parallel()
	service := fmt.Sprintf("worker%d", os.Getpid())
	sc := composeScenario(t, service)
	label := "com.docker.compose.service=" + service
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := Run(ctx, sc, Options{})
	if left := testserver.Containers(t, label); len(left) != 0 {
		t.Errorf("containers %v left after the run", left)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 2 {
		t.Fatalf("%d steps, want one per worker count", len(res.Steps))
	}
	for i, st := range res.Steps {
		if st.Workers != i+1 || len(st.Share) != i+1 || st.Success != 1 {
			t.Errorf("step %+v: want %d workers, each with a share, every request answered", st, i+1)
		}
		if st.WorkerCPU <= 0 {
			t.Errorf("%d worker(s): no CPU read for the replicas' processes", st.Workers)
		}
	}
	if res.MachineCPUs != 0.5 {
		t.Errorf("MachineCPUs = %v, want the compose file's 0.5", res.MachineCPUs)
	}
	if row, ok := res.ScalingAt(2); !ok || row.Note != "2 machine(s) of 0.5 CPU" {
		t.Errorf("scaling row of 2: %+v", row)
	}
}

// A run cancelled once the replicas are up (Ctrl-C) removes them too.
func TestRun_composeCancelled(t *testing.T) {
	t.Parallel()
	service := fmt.Sprintf("cancelled%d", os.Getpid())
	sc := composeScenario(t, service)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err := Run(ctx, sc, Options{OnEvent: func(e string) {
		if strings.Contains(e, "replica(s) of "+service+" ready") {
			cancel()
		}
	}})
	if err == nil {
		t.Error("a cancelled run returned no error")
	}
	if left := testserver.Containers(t, "com.docker.compose.service="+service); len(left) != 0 {
		t.Errorf("containers %v left after a cancelled run", left)
	}
}
