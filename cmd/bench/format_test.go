package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRun_formatJSON(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	stdout, stderr, code := bench(t, "run", writeScenario(t, strings.Replace(sloScenario, "slo: {p99: 1us}\n", "", 1)), "--out", out, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// stdout is one JSON document and nothing else; the folder is stderr's last line.
	var doc struct {
		Steps []struct {
			Workers    int     `json:"workers"`
			OfferedRPS float64 `json:"offered_rps"`
			P99MS      float64 `json:"p99_ms"`
			Requests   uint64  `json:"requests"`
		} `json:"steps"`
		Scaling []struct {
			CapacityRPS float64 `json:"capacity_rps"`
		} `json:"scaling"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if len(doc.Steps) != 1 || doc.Steps[0].OfferedRPS != 100 || doc.Steps[0].P99MS <= 0 || doc.Steps[0].Requests == 0 {
		t.Errorf("steps = %+v", doc.Steps)
	}
	if len(doc.Scaling) != 1 || doc.Scaling[0].CapacityRPS <= 0 {
		t.Errorf("scaling = %+v", doc.Scaling)
	}
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); lines[len(lines)-1] != out {
		t.Errorf("last stderr line %q, want the folder %q", lines[len(lines)-1], out)
	}
}

func TestRun_quiet(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	// An SLO miss still says which row failed: that is an error, not chatter.
	stdout, stderr, code := bench(t, "run", writeScenario(t, sloScenario), "--out", out, "--quiet", "--format", "markdown")
	if code != 99 {
		t.Fatalf("exit %d, want 99\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if stdout != out+"\n" {
		t.Errorf("stdout %q, want only the folder", stdout)
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(line, "bench: SLO missed") {
			t.Errorf("quiet stderr has %q; want only the SLO misses", line)
		}
	}
}

func TestRun_badFormat(t *testing.T) {
	t.Parallel()
	_, stderr, code := bench(t, "run", writeScenario(t, sloScenario), "--out", t.TempDir(), "--format", "yaml")
	if code != 2 || !strings.Contains(stderr, "--format") || !strings.Contains(stderr, "markdown") {
		t.Errorf("exit %d, stderr %q; want 2 naming --format and the formats", code, stderr)
	}
}
