package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Three worker counts, so that the throughput chart has a USL fit to draw; short steps, since
// nothing here asserts a measurement.
const reportScenario = `name: tiny-report
target:
  builtin: cpu
  cost: 200us
workers: [1, 2, 3]
load:
  rates: [100, 200]
  duration: 300ms
  warmup: 100ms
`

func TestReport_endToEnd(t *testing.T) {
	out := t.TempDir()
	runOut, stderr, code := bench(t, "run", writeScenario(t, reportScenario), "--out", out)
	if code != 0 {
		t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s", code, runOut, stderr)
	}
	charts := []string{"throughput.png", "throughput.svg", "latency.png", "latency.svg", "share.png", "share.svg", "report.html"}
	for _, name := range charts {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("run wrote no %s: %v", name, err)
		}
		// Remove them: report must draw them again.
		os.Remove(filepath.Join(out, name))
	}
	summary, err := os.ReadFile(filepath.Join(out, "summary.csv"))
	if err != nil {
		t.Fatal(err)
	}

	reportOut, stderr, code := bench(t, "report", out)
	if code != 0 {
		t.Fatalf("report: exit %d\nstdout:\n%s\nstderr:\n%s", code, reportOut, stderr)
	}
	// The same tables, blank lines and folder path on the last line, byte for byte.
	if reportOut != runOut {
		t.Errorf("report printed\n%s\nrun printed\n%s", reportOut, runOut)
	}
	for _, want := range []string{"p99", "linear rps", "single process"} {
		if !strings.Contains(reportOut, want) {
			t.Errorf("report output lacks %q", want)
		}
	}
	for _, name := range charts {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("report wrote no %s: %v", name, err)
		}
	}
	if svg, _ := os.ReadFile(filepath.Join(out, "throughput.svg")); !strings.Contains(string(svg), "USL fit") {
		t.Error("throughput.svg of three worker counts has no USL fit")
	}
	// report.html, drawn again from summary.csv and run.json: the charts inline, the scenario as
	// the run's flags left it, the machine.
	page, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"USL fit", "load.rates", "[100, 200]", "<dt>cores</dt>", `id="steps"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if got := strings.Count(string(page), "<svg"); got != 3 {
		t.Errorf("report.html has %d inline charts, want 3", got)
	}

	// --wide: every column, none left out.
	wideOut, stderr, code := bench(t, "report", "--wide", out)
	if code != 0 {
		t.Fatalf("report --wide: exit %d\nstderr:\n%s", code, stderr)
	}
	for _, want := range []string{"p90", "sent", "share"} {
		if !strings.Contains(wideOut, want) || strings.Contains(wideOut, "left out to fit") {
			t.Errorf("report --wide lacks %q or leaves columns out:\n%s", want, wideOut)
		}
	}

	// --format csv prints summary.csv as it is; the folder goes to stderr, not into the CSV.
	csvOut, stderr, code := bench(t, "report", "--format", "csv", out)
	if code != 0 {
		t.Fatalf("report --format csv: exit %d\nstderr:\n%s", code, stderr)
	}
	if csvOut != string(summary) {
		t.Errorf("report --format csv printed\n%s\nsummary.csv holds\n%s", csvOut, summary)
	}
	if !strings.HasSuffix(strings.TrimSpace(stderr), out) {
		t.Errorf("stderr %q does not end with the folder", stderr)
	}

	// --format markdown: the tables under headings, the folder still last on stdout.
	mdOut, stderr, code := bench(t, "report", "--format", "markdown", out)
	if code != 0 {
		t.Fatalf("report --format markdown: exit %d\nstderr:\n%s", code, stderr)
	}
	if !strings.Contains(mdOut, "### Steps\n\n| workers |") || !strings.Contains(mdOut, "### Scaling\n") || !strings.HasSuffix(mdOut, "\n"+out+"\n") {
		t.Errorf("report --format markdown printed\n%s", mdOut)
	}

	// --format json: one object, rows as in summary.csv; the folder on stderr.
	jsonOut, stderr, code := bench(t, "report", "--format", "json", out)
	if code != 0 {
		t.Fatalf("report --format json: exit %d\nstderr:\n%s", code, stderr)
	}
	var doc struct{ Steps, Scaling []map[string]any }
	if err := json.Unmarshal([]byte(jsonOut), &doc); err != nil {
		t.Fatalf("report --format json: %v\n%s", err, jsonOut)
	}
	if got, want := len(doc.Steps), strings.Count(string(summary), "\n")-1; got != want {
		t.Errorf("json has %d steps, summary.csv %d rows", got, want)
	}
	if len(doc.Scaling) != 3 {
		t.Errorf("json has %d scaling rows, want 3", len(doc.Scaling))
	}
	if !strings.HasSuffix(strings.TrimSpace(stderr), out) {
		t.Errorf("stderr %q does not end with the folder", stderr)
	}
}

func TestReport_badInput(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	corrupt := t.TempDir()
	if err := os.WriteFile(filepath.Join(corrupt, "summary.csv"), []byte("workers,strategy\n1,round-robin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no folder", []string{"report", filepath.Join(empty, "nope")}, "no such results folder"},
		{"no summary", []string{"report", empty}, "no summary.csv"},
		{"corrupt summary", []string{"report", corrupt}, "line 1, column search: missing"},
		{"no argument", []string{"report"}, "exactly one results folder"},
		{"bad format", []string{"report", empty, "--format", "yaml"}, "--format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := bench(t, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q, want one line naming %q", stderr, tc.want)
			}
		})
	}
}
