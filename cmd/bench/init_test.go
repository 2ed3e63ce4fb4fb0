package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bench-dev/bench/internal/scenario"
)

func TestInit_writesAScenarioThatLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// No argument: scenario.yaml in the working directory.
	cmd, _ := benchCommand(t, "init")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench init: %v\n%s", err, stderr.String())
	}
	path := filepath.Join(dir, "scenario.yaml")
	sc, err := scenario.Load(path)
	if err != nil {
		t.Fatalf("the starter scenario does not load: %v", err)
	}
	// What the starter is for: the user's own command, told its port, with a ready path, searched.
	switch {
	case len(sc.Target.Command) == 0:
		t.Error("starter has no target.command")
	case sc.Target.PortEnv != "PORT":
		t.Errorf("port_env = %q, want PORT", sc.Target.PortEnv)
	case sc.Target.ReadyPath == "":
		t.Error("starter has no ready_path")
	case sc.Load.Search == nil || sc.Load.Search.P99 <= 0:
		t.Errorf("starter has no capacity search: %+v", sc.Load)
	}
	// The file explains itself in comments.
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "#"); n < 10 {
		t.Errorf("starter has %d comments; want a commented file", n)
	}
}

func TestInit_refusesToOverwrite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := bench(t, "init", path)
	if code != 2 {
		t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "exists") || !strings.Contains(lines[0], path) {
		t.Errorf("stderr %q, want one line saying %s exists", stderr, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Errorf("the file was changed to %q", b)
	}
}

func TestInit_badInput(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"init", "a.yaml", "b.yaml"},
		{"init", filepath.Join(t.TempDir(), "no-such-dir", "s.yaml")},
	} {
		_, stderr, code := bench(t, args...)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("bench %v: exit %d, stderr %q; want 2 and one line", args, code, stderr)
		}
	}
}
