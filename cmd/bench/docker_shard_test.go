package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// dockerCmd runs the docker CLI with a bound on its time and returns its combined output.
func dockerCmd(ctx context.Context, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// needDocker skips the test when no Docker engine answers.
func needDocker(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker is not installed: the generator shards in containers are not tested")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := dockerCmd(ctx, "info", "--format", "{{.ServerVersion}}"); err != nil {
		t.Skipf("no Docker engine answers (docker info: %v: %s): the generator shards in containers are not tested", err, strings.TrimSpace(out))
	}
}

// scratchImage builds a static bench into an image FROM scratch (no registry needed) and returns
// its tag; the image is removed at cleanup.
func scratchImage(t *testing.T) string {
	t.Helper()
	ctxDir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(ctxDir, "bench"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	dockerfile := "FROM scratch\nCOPY bench /bench\nENTRYPOINT [\"/bench\"]\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("bench-shard-test:%d", os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := dockerCmd(ctx, "build", "-q", "-t", tag, ctxDir); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		dockerCmd(ctx, "rmi", "-f", tag)
	})
	return tag
}

// TestMerge_twoShardsInContainers runs the two generators of a sharded run in two containers
// of a scratch image, each with its own built-in worker on the container's own loopback
// (network none: no load leaves it), and merges their folders.
func TestMerge_twoShardsInContainers(t *testing.T) {
	needDocker(t)
	image := scratchImage(t)
	data := t.TempDir()
	if err := os.Chmod(data, 0o777); err != nil {
		t.Fatal(err)
	}
	scenario := `name: shards
target:
  builtin: cpu
  cost: 100us
workers: [1]
load:
  rates: [200]
  duration: 600ms
  warmup: 200ms
  noise_threshold: 100%
`
	if err := os.WriteFile(filepath.Join(data, "shards.yaml"), []byte(scenario), 0o644); err != nil {
		t.Fatal(err)
	}
	start := strconv.FormatInt(time.Now().Add(5*time.Second).Unix(), 10)
	user := fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		name := fmt.Sprintf("bench-shard-test-%d-%d", os.Getpid(), i+1)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			dockerCmd(ctx, "rm", "-f", name)
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = dockerCmd(ctx, "run", "--rm", "--name", name, "--network", "none", "--user", user,
				"-v", data+":/data", image,
				"run", "/data/shards.yaml", "--shard", fmt.Sprintf("%d/2", i+1), "--start-at", start,
				"--out", fmt.Sprintf("/data/shard-%d", i+1), "--quiet")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("shard %d/2 in its container: %v\n%s", i+1, err, outs[i])
		}
	}
	shards := []string{filepath.Join(data, "shard-1"), filepath.Join(data, "shard-2")}
	merged := filepath.Join(data, "merged")
	stdout, stderr, code := bench(t, "merge", shards[0], shards[1], "--out", merged)
	if code != 0 {
		t.Fatalf("merge: exit %d\n%s\n%s", code, stdout, stderr)
	}
	checkMerged(t, merged, shards...)
}
