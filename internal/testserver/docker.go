package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// NeedDocker skips the test where no Docker engine answers `docker info`.
func NeedDocker(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Skipf("needs a Docker engine: docker info: %v: %s", err, lastLine(string(out)))
	}
}

// NeedCompose skips the test where neither `docker compose` nor docker-compose is installed,
// or no Docker engine answers.
func NeedCompose(t testing.TB) {
	t.Helper()
	NeedDocker(t)
	if exec.Command("docker", "compose", "version").Run() == nil {
		return
	}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Skip("needs Docker Compose: neither `docker compose` nor docker-compose is installed")
	}
}

var images atomic.Int64

// WorkerImage builds bench's worker image (docker/Dockerfile around a static bench binary,
// nothing pulled) under a tag of this test's own, and removes the image when the test ends.
// It skips the test where no Docker engine answers. It returns the tag.
func WorkerImage(t testing.TB) string {
	t.Helper()
	NeedDocker(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "bench"), "./cmd/bench")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building a static bench: %v\n%s", err, out)
	}
	df, err := os.ReadFile(filepath.Join(root, "docker", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("bench-worker:test-%d-%d", os.Getpid(), images.Add(1))
	if out, err := exec.Command("docker", "build", "--quiet", "--tag", tag, dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("docker", "image", "rm", "--force", tag).CombinedOutput(); err != nil {
			t.Errorf("docker image rm %s: %v: %s", tag, err, out)
		}
	})
	return tag
}

// Containers returns the IDs of the containers, running or not, that carry label (KEY=VALUE).
func Containers(t testing.TB, label string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "--all", "--quiet", "--filter", "label="+label).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

// moduleRoot is the folder of the go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
