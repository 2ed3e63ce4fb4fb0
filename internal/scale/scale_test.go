package scale

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/scenario"
	"github.com/bench-dev/bench/internal/testserver"
)

// These tests need a Docker engine (and Docker Compose for the compose ones) and skip without.
// They run bench's worker image, built for the test, at no load: scaling and cleaning up.

// writeCompose writes a compose file running image as service "worker", half a CPU each,
// publishing 8080 on the host's loopback.
func writeCompose(t *testing.T, image string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "docker-compose.yml")
	content := fmt.Sprintf(`version: "2.4"
services:
  worker:
    image: %s
    command: ["--workload", "cpu", "--cost", "1ms"]
    cpus: 0.5
    ports: ["127.0.0.1::8080"]
`, image)
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func projectLabel(c *Compose) string { return "com.docker.compose.project=" + c.Project }

// workerAt asks the replica at addr who it is.
func workerAt(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s", addr, resp.Status)
	}
	return resp.Header.Get("X-Worker")
}

func TestCompose_scaleThenDown(t *testing.T) {
	t.Parallel()
	testserver.NeedCompose(t)
	image := testserver.WorkerImage(t)
	c, err := NewCompose(scenario.Compose{File: writeCompose(t, image), Service: "worker", Port: 8080},
		Ready{Path: "/healthz", Timeout: 30 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c.CPUs() != 0.5 {
		t.Errorf("CPUs = %v, want the compose file's 0.5", c.CPUs())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, n := range []int{1, 2} {
		addrs, err := c.Scale(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(addrs) != n {
			t.Fatalf("Scale(%d) = %v", n, addrs)
		}
		for _, a := range addrs {
			if !strings.HasPrefix(a, "127.0.0.1:") {
				t.Errorf("replica at %s, want a port published on 127.0.0.1", a)
			}
			if w := workerAt(t, a); w == "" {
				t.Errorf("replica at %s answered without X-Worker: not bench's worker?", a)
			}
		}
		if c.CPUs() != 0.5 {
			t.Errorf("after Scale(%d): CPUs = %v, want the containers' 0.5", n, c.CPUs())
		}
		if n == 2 && addrs[0] == addrs[1] {
			t.Errorf("two replicas at one address: %v", addrs)
		}
	}
	pids, err := c.PIDs(ctx)
	if err != nil || len(pids) < 2 {
		t.Errorf("PIDs = %v, %v; want the two replicas' processes at least", pids, err)
	}
	if got := testserver.Containers(t, projectLabel(c)); len(got) != 2 {
		t.Errorf("%d containers in the project, want 2", len(got))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := testserver.Containers(t, projectLabel(c)); len(got) != 0 {
		t.Errorf("containers %v left after Close", got)
	}
}

// A Scale cancelled while it waits for the replicas (here: a ready path they never answer with
// 2xx) returns, and Close still removes them.
func TestCompose_cancelledScaleIsCleanedUp(t *testing.T) {
	t.Parallel()
	testserver.NeedCompose(t)
	image := testserver.WorkerImage(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancelled once the containers run and Scale waits for them to answer.
	waiting := func(e string) {
		if strings.Contains(e, "waiting until each answers") {
			cancel()
		}
	}
	c, err := NewCompose(scenario.Compose{File: writeCompose(t, image), Service: "worker", Port: 8080},
		Ready{Path: "/never-200", Timeout: time.Minute}, waiting)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Scale(ctx, 1); err == nil || ctx.Err() == nil {
		t.Fatalf("Scale = %v; want it cancelled while waiting", err)
	}
	if got := testserver.Containers(t, projectLabel(c)); len(got) != 1 {
		t.Errorf("%d containers before Close, want the one Scale started", len(got))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := testserver.Containers(t, projectLabel(c)); len(got) != 0 {
		t.Errorf("containers %v left after a cancelled Scale and Close", got)
	}
}

func TestNewCompose_errors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := filepath.Join(dir, "dc.yml")
	os.WriteFile(f, []byte("services:\n  api:\n    image: x\n    cpus: lots\n"), 0o644)
	for _, tc := range []struct {
		cfg  scenario.Compose
		want string
	}{
		{scenario.Compose{File: filepath.Join(dir, "none.yml"), Service: "api", Port: 1}, "scale.compose.file: open"},
		{scenario.Compose{File: f, Service: "web", Port: 1}, `has no service "web"`},
		{scenario.Compose{File: f, Service: "api", Port: 1}, `cpus: "lots" is not a number of CPUs`},
	} {
		if _, err := NewCompose(tc.cfg, Ready{}, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewCompose(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// The command hook with the docker CLI itself as the orchestrator: `docker run` and `docker rm`
// scripts scale, `docker port` prints the endpoints; Close scales back to none.
func TestCommand_dockerCLI(t *testing.T) {
	t.Parallel()
	image := testserver.WorkerImage(t)
	label := fmt.Sprintf("bench-test=command-%d", os.Getpid())
	ids := "docker ps -q --filter label=" + label
	scale := []string{"sh", "-c", fmt.Sprintf(`want=$1; have=$(%s | wc -l)
while [ "$have" -lt "$want" ]; do docker run -d --label %s -p 127.0.0.1::8080 %s >/dev/null || exit 1; have=$((have+1)); done
while [ "$have" -gt "$want" ]; do docker rm -f $(%s | head -n 1) >/dev/null || exit 1; have=$((have-1)); done`, ids, label, image, ids), "scale", "{n}"}
	endpoints := []string{"sh", "-c", fmt.Sprintf(`for c in $(%s); do docker port "$c" 8080/tcp | grep 127.0.0.1; done`, ids)}
	c := NewCommand(scenario.ScaleCommand{Scale: scale, Endpoints: endpoints}, Ready{Path: "/healthz", Timeout: 30 * time.Second}, nil)
	t.Cleanup(func() {
		c.Close()
		if left := testserver.Containers(t, label); len(left) > 0 {
			exec := append([]string{"rm", "-f"}, left...)
			runQuiet("docker", exec...)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addrs, err := c.Scale(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 2 || addrs[0] == addrs[1] {
		t.Fatalf("Scale(2) = %v", addrs)
	}
	for _, a := range addrs {
		workerAt(t, a)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if left := testserver.Containers(t, label); len(left) != 0 {
		t.Errorf("containers %v left after Close: it should scale back to 0", left)
	}
}

func runQuiet(name string, args ...string) {
	_, _ = run(context.Background(), append([]string{name}, args...))
}

// A compose file whose image is missing, and that does not build it, is refused before anything
// starts, naming the image and how bench's own is built.
func TestNewCompose_missingImage(t *testing.T) {
	t.Parallel()
	testserver.NeedCompose(t)
	f := filepath.Join(t.TempDir(), "dc.yml")
	image := fmt.Sprintf("bench-worker:absent-%d", os.Getpid())
	if err := os.WriteFile(f, []byte("services:\n  api:\n    image: "+image+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := NewCompose(scenario.Compose{File: f, Service: "api", Port: 8080}, Ready{}, nil)
	if err == nil || !strings.Contains(err.Error(), "image "+image+" of service api is not on this machine") || !strings.Contains(err.Error(), "scripts/docker-image.sh") {
		t.Errorf("NewCompose = %v, want the missing image named", err)
	}
}
