package experiment

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/load"
)

// searchStep is a step of a capacity search at rate with the given p99 (ms) and flags.
func searchStep(rate float64, p99ms int, flags ...string) Step {
	return Step{Workers: 2, Strategy: "round-robin", Rep: 1, Search: true, Offered: rate, Success: 1,
		P99: time.Duration(p99ms) * time.Millisecond, Flags: flags}
}

func TestInversion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		steps []Step
		a, b  int // the pair expected, or -1
	}{
		// Two workers on a host that woke idle cores slowly: 800 rps answered sooner than 673.
		{"busier was faster", []Step{searchStep(400, 5), searchStep(800, 59, FlagOverSLO), searchStep(566, 6),
			searchStep(673, 149, FlagOverSLO), searchStep(617, 24)}, 3, 1},
		{"the widest pair", []Step{searchStep(600, 120, FlagOverSLO), searchStep(700, 300, FlagOverSLO), searchStep(800, 59, FlagOverSLO)}, 1, 2},
		// Near the capacity a step passes or fails by chance: 2.5 % apart is not an inversion.
		{"chance near the capacity", []Step{searchStep(476, 173, FlagOverSLO), searchStep(488, 7), searchStep(566, 743, FlagOverSLO)}, -1, -1},
		{"monotone", []Step{searchStep(400, 5), searchStep(800, 1800, FlagOverSLO), searchStep(566, 590, FlagOverSLO), searchStep(480, 40)}, -1, -1},
		{"p99 fell by less than half", []Step{searchStep(673, 100, FlagOverSLO), searchStep(800, 60, FlagOverSLO)}, -1, -1},
		{"the failing step was noisy", []Step{searchStep(673, 149, FlagOverSLO, FlagNoisy), searchStep(800, 59, FlagOverSLO)}, -1, -1},
		{"the fast step was retried", []Step{searchStep(673, 149, FlagOverSLO), searchStep(800, 59, FlagNoisy, FlagRetried)}, -1, -1},
		{"the lower rate met the objective", []Step{searchStep(673, 40), searchStep(800, 10)}, -1, -1},
		// Meeting the objective above a rate that missed it is an inversion, however close the p99s.
		{"met it above", []Step{searchStep(673, 60, FlagOverSLO), searchStep(800, 45)}, 0, 1},
	} {
		a, b, ok := Inversion(tc.steps)
		switch {
		case tc.a < 0 && ok:
			t.Errorf("%s: inversion %v → %v, want none", tc.name, tc.steps[a].Offered, tc.steps[b].Offered)
		case tc.a >= 0 && (!ok || a != tc.a || b != tc.b):
			t.Errorf("%s: Inversion = %d, %d, %v; want %d, %d, true", tc.name, a, b, ok, tc.a, tc.b)
		}
	}
}

func TestSameSearch(t *testing.T) {
	t.Parallel()
	s := searchStep(400, 5)
	for _, tc := range []struct {
		change func(*Step)
		same   bool
	}{
		{func(*Step) {}, true},
		{func(t *Step) { t.Offered, t.P99 = 800, time.Second }, true},
		{func(t *Step) { t.Workers = 4 }, false},
		{func(t *Step) { t.Strategy = "p2c" }, false},
		{func(t *Step) { t.Store = "redis" }, false},
		{func(t *Step) { t.Rep = 2 }, false},
		{func(t *Step) { t.Search = false }, false},
	} {
		o := s
		tc.change(&o)
		if got := SameSearch(s, o); got != tc.same {
			t.Errorf("SameSearch(%+v, %+v) = %v, want %v", s, o, got, tc.same)
		}
	}
}

// markInversion measures the pair again and flags only an inversion that repeats.
func TestMarkInversion_measuredAgain(t *testing.T) {
	t.Parallel()
	first := []Step{searchStep(400, 5), searchStep(800, 59, FlagOverSLO), searchStep(566, 6), searchStep(673, 149, FlagOverSLO)}
	for _, tc := range []struct {
		name    string
		again   map[float64]int // p99 in ms of the second try at each rate
		flagged int             // the row flagged p99-fell, or -1
		event   string
	}{
		{"repeats", map[float64]int{673: 210, 800: 61}, 5, "p99 fell as the rate rose (210ms at 673 rps, 61ms at 800 rps)"},
		{"a hiccup", map[float64]int{673: 30, 800: 64}, -1, "p99 fell as the rate rose once (149ms at 673 rps, 59ms at 800 rps), not when measured again"},
	} {
		var events []string
		m := &meter{runner: &runner{res: &Result{Steps: append([]Step(nil), first...)},
			opts: Options{OnEvent: func(e string) { events = append(events, e) }}}, cell: cell{workers: 2}}
		rows := map[float64][]int{}
		for i, st := range first {
			rows[st.Offered] = append(rows[st.Offered], i)
		}
		again := func(_ context.Context, rate float64) (load.Result, error) {
			st := searchStep(rate, tc.again[rate])
			if st.P99 > 50*time.Millisecond {
				st.Flags = []string{FlagOverSLO}
			}
			m.res.Steps = append(m.res.Steps, st)
			rows[rate] = append(rows[rate], len(m.res.Steps)-1)
			return load.Result{}, nil
		}
		m.markInversion(context.Background(), again, rows)
		for i, st := range m.res.Steps {
			if got, want := st.Has(FlagInverted), i == tc.flagged; got != want {
				t.Errorf("%s: row %d (%v rps) flagged %v, want %v", tc.name, i, st.Offered, got, want)
			}
		}
		if len(events) != 1 || !strings.Contains(events[0], tc.event) {
			t.Errorf("%s: events %q, want one holding %q", tc.name, events, tc.event)
		}
	}
}

// recheckAbove measures again the failing rate well above the capacity that came closest, and
// flags it when it meets the objective this time.
func TestRecheckAbove(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		steps   []Step
		again   int // p99 in ms of the second try
		rate    float64
		flagged bool
	}{
		// Two workers fell into a band below 800 rps, where 800 had failed once by chance.
		{"a band below", []Step{searchStep(400, 5), searchStep(800, 120, FlagOverSLO), searchStep(566, 48), searchStep(673, 202, FlagOverSLO),
			searchStep(617, 76, FlagOverSLO), searchStep(578, 78, FlagOverSLO), searchStep(572, 47)}, 30, 800, true},
		// Latency that grows with the rate: the closest failing rate 10 % above 872 fails again.
		{"monotone", []Step{searchStep(400, 5), searchStep(800, 24), searchStep(1600, 2500, FlagOverSLO), searchStep(1131, 1169, FlagOverSLO),
			searchStep(951, 787, FlagOverSLO), searchStep(872, 140, FlagOverSLO), searchStep(853, 31)}, 1200, 1131, false},
	} {
		var events []string
		m := &meter{runner: &runner{res: &Result{Steps: append([]Step(nil), tc.steps...)},
			opts: Options{OnEvent: func(e string) { events = append(events, e) }}}, cell: cell{workers: 2}}
		rows := map[float64][]int{}
		for i, st := range tc.steps {
			rows[st.Offered] = append(rows[st.Offered], i)
		}
		var measured []float64
		again := func(_ context.Context, rate float64) (load.Result, error) {
			measured = append(measured, rate)
			st := searchStep(rate, tc.again)
			if st.P99 > 50*time.Millisecond {
				st.Flags = []string{FlagOverSLO}
			}
			m.res.Steps = append(m.res.Steps, st)
			rows[rate] = append(rows[rate], len(m.res.Steps)-1)
			return load.Result{}, nil
		}
		got := m.recheckAbove(context.Background(), again, rows)
		if len(measured) != 1 || measured[0] != tc.rate {
			t.Errorf("%s: measured again %v, want [%v]", tc.name, measured, tc.rate)
		}
		last := m.res.Steps[len(m.res.Steps)-1]
		if got != tc.flagged || last.Has(FlagInverted) != tc.flagged || (len(events) == 1) != tc.flagged {
			t.Errorf("%s: recheckAbove = %v, flag %v, events %q; want %v", tc.name, got, last.Has(FlagInverted), events, tc.flagged)
		}
		if tc.flagged {
			if _, b, ok := Inversion(m.res.Steps); !ok || b != len(m.res.Steps)-1 {
				t.Errorf("%s: Inversion does not find the flagged step (%d, %v)", tc.name, b, ok)
			}
		}
	}
}
