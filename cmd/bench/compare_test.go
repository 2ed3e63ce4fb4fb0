package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// repeated is a run of 1 and 2 workers at rates beyond their capacity, each step repeated
// len(jitter) times.
func repeated(capacity1, capacity2 float64, jitter ...float64) synth {
	return synth{
		capacity: map[int]float64{1: capacity1, 2: capacity2},
		workers:  []int{1, 2},
		rates:    []float64{300, 600, 900},
		jitter:   jitter,
	}
}

func TestCompare_sameRunsNotSignificant(t *testing.T) {
	t.Parallel()
	// Two runs of one scenario: the same spread of repetitions, B's 1 % higher, as noise shifts runs.
	a := repeated(450, 800, 1.00, 0.98, 1.02, 0.99, 1.01).write(t)
	b := repeated(450, 800, 1.01, 0.99, 1.03, 1.00, 1.02).write(t)
	stdout, stderr, code := bench(t, "compare", a, b)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout, "significant (p=") || strings.Contains(stdout, "likely:") {
		t.Errorf("identical runs reported a difference:\n%s", stdout)
	}
	for _, want := range []string{"matched by step", "~ (p=", "5+5", "0 significant"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestCompare_differentRunsSignificant(t *testing.T) {
	t.Parallel()
	// B's 2-worker capacity is 25 % higher: only the 2-worker step at 900 rps, above both
	// capacities, differs; the others are below them.
	a := repeated(450, 640, 1.00, 0.98, 1.02, 0.99, 1.01).write(t)
	b := repeated(450, 800, 0.99, 1.01, 1.00, 1.02, 0.98).write(t)
	stdout, stderr, code := bench(t, "compare", a, b)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var significant int
	for _, line := range strings.Split(stdout, "\n") {
		if strings.Contains(line, "significant (p=") {
			significant++
			if !strings.Contains(line, "│       2 │") || !strings.Contains(line, " 900 ") {
				t.Errorf("significant row is not the 2-worker step at 900 rps: %s", line)
			}
		}
	}
	if significant != 1 {
		t.Errorf("%d significant differences, want 1 (throughput, 2 workers, 900 rps):\n%s", significant, stdout)
	}
	if !strings.Contains(stdout, "+25.0%") {
		t.Errorf("output lacks the +25.0%% capacity and throughput change:\n%s", stdout)
	}
}

func TestCompare_fewRepetitionsThreshold(t *testing.T) {
	t.Parallel()
	// 3+3 repetitions cannot reach p < 0.05 whatever the data: the threshold decides.
	a := repeated(450, 640, 1.00, 0.99, 1.01).write(t)
	b := repeated(450, 800, 1.00, 0.99, 1.01).write(t)
	stdout, _, code := bench(t, "compare", a, b)
	if code != 0 || strings.Contains(stdout, "significant (p=") || !strings.Contains(stdout, "likely: |delta| > 10% (n too small)") {
		t.Errorf("exit %d, want likely (n too small) and no U test:\n%s", code, stdout)
	}
}

func TestCompare_oneVersusTwoWorkers(t *testing.T) {
	t.Parallel()
	s1 := repeated(450, 0)
	s1.workers = []int{1}
	s2 := repeated(0, 800)
	s2.workers = []int{2}
	stdout, stderr, code := bench(t, "compare", s1.write(t), s2.write(t))
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"matched by offered rate: 1 worker(s) round-robin against 2 worker(s) round-robin",
		"1 → 2", "+77.8%", "likely: |delta| > 10% (n too small)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	// --by step refuses: the runs share no step.
	if _, stderr, code := bench(t, "compare", "--by", "step", s1.write(t), s2.write(t)); code != 2 || !strings.Contains(stderr, "no (workers, strategy, offered rate) step in common") {
		t.Errorf("--by step: exit %d, stderr %q", code, stderr)
	}
}

func TestCompare_searchRunsByCapacity(t *testing.T) {
	t.Parallel()
	a, b := repeated(450, 640), repeated(455, 800)
	a.search, b.search = true, true
	b.rates = []float64{310, 620, 930}
	stdout, stderr, code := bench(t, "compare", a.write(t), b.write(t))
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"by capacity per worker count", "capacity rps", "+1.1%", "+25.0%"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "throughput rps") {
		t.Errorf("search runs compared step by step:\n%s", stdout)
	}
}

func TestCompare_badInput(t *testing.T) {
	t.Parallel()
	a := repeated(450, 640).write(t)
	two := repeated(450, 640)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"one run", []string{a}, "want two runs"},
		{"three runs", []string{a, a, a}, "want two runs"},
		{"bad --by", []string{a, a, "--by", "phase"}, "--by"},
		{"negative threshold", []string{a, a, "--threshold", "-1"}, "--threshold"},
		{"no such run", []string{a, a + "-nope"}, "no such results folder"},
		{"rate needs one config", []string{a, two.write(t), "--by", "rate"}, "one worker count and one strategy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := bench(t, append([]string{"compare"}, tc.args...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q: want one line naming %q", stderr, tc.want)
			}
		})
	}
}

func TestMinPValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n1, n2 int
		want   float64
	}{
		{3, 3, 0.1},      // 2 / C(6, 3) = 2/20
		{4, 4, 2.0 / 70}, // C(8, 4) = 70
		{3, 5, 2.0 / 56},
		{1, 1, 1},
	} {
		if got := minPValue(tc.n1, tc.n2); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("minPValue(%d, %d) = %v, want %v", tc.n1, tc.n2, got, tc.want)
		}
	}
}

func TestCompare_formatsAndRegressionExit(t *testing.T) {
	t.Parallel()
	// B's 2-worker capacity is 20 % lower: at 900 rps its throughput is significantly worse.
	a := repeated(450, 800, 1.00, 0.98, 1.02, 0.99, 1.01).write(t)
	b := repeated(450, 640, 0.99, 1.01, 1.00, 1.02, 0.98).write(t)

	stdout, stderr, code := bench(t, "compare", a, b, "--format", "json")
	if code != exitFailed || !strings.Contains(stderr, "1 significant regression(s)") {
		t.Fatalf("exit %d, stderr %q; want 1 and the regression named", code, stderr)
	}
	var doc compareReport
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if doc.Mode != "step" || doc.Regressions != 1 || doc.Significant != 1 || len(doc.Tables) != 3 {
		t.Fatalf("mode %q, %d regressions, %d significant, %d tables; want step, 1, 1, 3", doc.Mode, doc.Regressions, doc.Significant, len(doc.Tables))
	}
	var worse []compareRow
	for _, tb := range doc.Tables {
		for _, r := range tb.Rows {
			if r.regression() {
				worse = append(worse, r)
				if tb.Metric != "throughput_rps" || r.WorkersB != 2 || r.OfferedRPS != 900 || r.P == nil || *r.P >= alpha ||
					r.Delta == nil || *r.Delta > -0.19 || len(r.A) != 5 {
					t.Errorf("regression row %s %+v: want throughput, 2 workers, 900 rps, p < %v, delta ≈ -20 %%, 5 values", tb.Metric, r, alpha)
				}
			}
		}
	}
	if len(worse) != 1 {
		t.Errorf("%d regression rows, want 1", len(worse))
	}

	stdout, _, code = bench(t, "compare", a, b, "--format", "markdown")
	if code != exitFailed || !strings.Contains(stdout, "## throughput rps") || !strings.Contains(stdout, "| significant (p=") {
		t.Errorf("markdown: exit %d\n%s", code, stdout)
	}
	// The other way round it is an improvement: exit 0.
	if _, stderr, code := bench(t, "compare", b, a); code != 0 {
		t.Errorf("B better than A: exit %d, stderr %q", code, stderr)
	}
	if _, stderr, code := bench(t, "compare", a, b, "--format", "csv"); code != exitBadArgs || !strings.Contains(stderr, "--format") {
		t.Errorf("--format csv: exit %d, stderr %q", code, stderr)
	}
}
