package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/experiment"
)

// Strategies measured with repetitions are compared with the first: a p99 ten times lower in
// every repetition is significant; two near-equal ones are not; one repetition cannot tell.
func TestCompareCells(t *testing.T) {
	t.Parallel()
	res := &experiment.Result{}
	add := func(strategy string, reps int, p99s ...time.Duration) {
		for rep := 1; rep <= reps; rep++ {
			res.Steps = append(res.Steps, experiment.Step{Workers: 4, Strategy: strategy, Rep: rep, Offered: 600, P99: p99s[rep-1]})
		}
	}
	ms := time.Millisecond
	add("round-robin", 4, 500*ms, 610*ms, 580*ms, 700*ms)
	add("least-connections", 4, 8*ms, 9*ms, 8*ms, 10*ms)
	add("random", 4, 520*ms, 590*ms, 650*ms, 600*ms)
	cs := CompareCells(res)
	if len(cs) != 2 {
		t.Fatalf("%d comparisons, want 2: %+v", len(cs), cs)
	}
	if lc := cs[0]; lc.Cell != "least-connections" || lc.Baseline != "round-robin" || !lc.Significant || lc.Ratio > 0.02 || lc.P > 0.05 {
		t.Errorf("least-connections: %+v, want significantly lower, ratio ≈ 0.015", lc)
	}
	if r := cs[1]; r.Significant {
		t.Errorf("random: %+v, want not significant", r)
	}
	var buf bytes.Buffer
	if err := WriteSummary(&buf, res, Options{Format: FormatTable}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "significantly lower") || !strings.Contains(buf.String(), "not significant") {
		t.Errorf("the summary lacks the comparison:\n%s", buf.String())
	}
	buf.Reset()
	if err := WriteHTML(&buf, "strategies", res, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `id="compared"`) || !strings.Contains(buf.String(), "significantly lower") {
		t.Errorf("report.html lacks the comparison")
	}

	one := &experiment.Result{Steps: []experiment.Step{
		{Workers: 4, Strategy: "round-robin", Rep: 1, Offered: 600, P99: 500 * ms},
		{Workers: 4, Strategy: "p2c", Rep: 1, Offered: 600, P99: 9 * ms},
	}}
	if cs := CompareCells(one); len(cs) != 1 || cs[0].Significant || cs[0].Reps != 1 {
		t.Errorf("one repetition: %+v, want a comparison that cannot be significant", cs)
	}
}
