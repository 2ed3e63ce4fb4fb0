package report

import (
	"strings"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/scenario"
)

func TestJudgeSLO_fixedRates(t *testing.T) {
	t.Parallel()
	res := testResult() // row 1: p99 9.5 ms, success 100 %; row 2: p99 40 ms, success 98 %
	for _, tc := range []struct {
		name   string
		slo    scenario.SLO
		misses []string // one per missing row, in order
	}{
		{"generous", scenario.SLO{P99: 50 * time.Millisecond, Success: 0.9}, nil},
		{"exactly at the bound meets it", scenario.SLO{P99: 40 * time.Millisecond}, nil},
		{"p99 only", scenario.SLO{P99: 10 * time.Millisecond},
			[]string{"row 2 (2 worker(s), round-robin, 900 rps): p99 40ms > 10ms"}},
		{"success only", scenario.SLO{Success: 0.999},
			[]string{"row 2 (2 worker(s), round-robin, 900 rps): success 98.00% < 99.90%"}},
		{"impossible", scenario.SLO{P99: time.Microsecond, Success: 0.99}, []string{
			"row 1 (1 worker(s), round-robin, 500 rps): p99 9.5ms > 1µs",
			"row 2 (2 worker(s), round-robin, 900 rps): p99 40ms > 1µs; success 98.00% < 99.00%",
		}},
	} {
		v := JudgeSLO(res, tc.slo)
		if v.Judged != 2 {
			t.Errorf("%s: judged %d steps, want 2", tc.name, v.Judged)
		}
		if v.Met() != (len(tc.misses) == 0) {
			t.Errorf("%s: Met() = %v with misses %v", tc.name, v.Met(), v.Misses)
		}
		var got []string
		for _, m := range v.Misses {
			got = append(got, m.String())
		}
		if strings.Join(got, "\n") != strings.Join(tc.misses, "\n") {
			t.Errorf("%s: misses\n%s\nwant\n%s", tc.name, strings.Join(got, "\n"), strings.Join(tc.misses, "\n"))
		}
	}
}

func TestJudgeSLO_searchJudgesItsCapacityStep(t *testing.T) {
	t.Parallel()
	step := func(workers int, offered float64, p99 time.Duration, capacity bool) experiment.Step {
		return experiment.Step{Workers: workers, Strategy: "round-robin", Search: true, Capacity: capacity,
			Offered: offered, Requests: 100, Success: 1, P99: p99}
	}
	ms := time.Millisecond
	res := &experiment.Result{Steps: []experiment.Step{
		// 1 worker: the search went past its SLO at 400 and 300; 200 is its capacity.
		step(1, 100, 2*ms, false), step(1, 200, 8*ms, true), step(1, 400, 90*ms, false), step(1, 300, 60*ms, false),
		// 2 workers: no rate passed the search; judged at its lowest rate, 150.
		step(2, 300, 70*ms, false), step(2, 150, 55*ms, false),
	}}
	v := JudgeSLO(res, scenario.SLO{P99: 10 * ms})
	if v.Judged != 2 {
		t.Fatalf("judged %d steps, want 2 (one per search)", v.Judged)
	}
	if len(v.Misses) != 1 || v.Misses[0].Row != 6 {
		t.Fatalf("misses %v, want row 6 only", v.Misses)
	}
	if got := v.Misses[0].String(); !strings.Contains(got, "lowest rate of a search that found no capacity") || !strings.Contains(got, "p99 55ms > 10ms") {
		t.Errorf("miss = %q", got)
	}

	// A stricter SLO than the search's own fails the capacity step, named as such.
	v = JudgeSLO(res, scenario.SLO{P99: 5 * ms})
	if len(v.Misses) != 2 || v.Misses[0].Row != 2 || !strings.Contains(v.Misses[0].String(), "the search's capacity step") {
		t.Errorf("misses %v, want rows 2 (the capacity step) and 6", v.Misses)
	}
}

func TestJudgeSLO_nothingMeasuredMisses(t *testing.T) {
	t.Parallel()
	res := &experiment.Result{Steps: []experiment.Step{{Workers: 1, Strategy: "round-robin", Offered: 10}}}
	v := JudgeSLO(res, scenario.SLO{Success: 0.5})
	if len(v.Misses) != 1 || !strings.Contains(v.Misses[0].String(), "no request measured") {
		t.Errorf("misses %v", v.Misses)
	}
	if !strings.HasPrefix(v.String(), "SLO missed (success ≥ 50.00%): 1 of 1") {
		t.Errorf("verdict %q", v.String())
	}
}
