package experiment

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/scenario"
	"github.com/bench-dev/bench/internal/target"
)

// Three searches of 1, 2 and 4 workers: each takes alone steps until it brackets, then steps in
// turn. The log must show 1's bracket, then 2's, then 4's, each alone, then strict rotation, with a
// count that ends early dropping out of it.
func TestTurns_bracketsInOrderThenRotate(t *testing.T) {
	counts := []int{1, 2, 4}
	tu := newTurns(counts)
	var mu sync.Mutex
	var log []string
	note := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		log = append(log, s)
	}
	stairs := map[int]int{1: 4, 2: 2, 4: 4} // 2 ends its staircase early
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range counts {
		wg.Go(func() {
			from, err := tu.start(ctx, n)
			if err != nil {
				t.Error(err)
				return
			}
			note(fmt.Sprintf("start%d@%g/%d", n, from.capacity, from.workers))
			for range 2 { // the bisection, alone
				if err := tu.do(ctx, n, func() { note(fmt.Sprintf("a%d", n)) }); err != nil {
					t.Error(err)
				}
			}
			tu.bracketed(n, float64(100*n))
			for range stairs[n] {
				if err := tu.do(ctx, n, func() { time.Sleep(time.Millisecond); note(fmt.Sprintf("s%d", n)) }); err != nil {
					t.Error(err)
				}
			}
			tu.finish(n, float64(100*n))
		})
	}
	wg.Wait()
	got := strings.Join(log, " ")
	want := "start1@0/0 a1 a1 start2@100/1 a2 a2 start4@200/2 a4 a4 s1 s2 s4 s1 s2 s4 s1 s4 s1 s4"
	if got != want {
		t.Errorf("order of steps:\n got %s\nwant %s", got, want)
	}
}

// A cancelled run ends every search that waits for its turn.
func TestTurns_cancelEndsTheWaiters(t *testing.T) {
	tu := newTurns([]int{1, 2})
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := tu.start(ctx, 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := tu.start(ctx, 2) // waits for 1's bracket, which never comes
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("start returned no error after the cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("start still waiting 5 s after the cancel")
	}
}

// Two worker counts searched through real clusters: each brackets its capacity alone, 1 before 2,
// then their staircases take turns, and both capacities come out.
func TestRun_interleavedSearches(t *testing.T) {
	t.Parallel()
	sc := selfScenario(t, `
workers: [1, 2]
load:
  search: {p99: 20ms, max_steps: 6, interleave: true}
  duration: 300ms
  warmup: 100ms
  noise_threshold: 1   # other tests run beside this one: no step measured again
`)
	if !sc.Load.Search.Interleave {
		t.Fatal("load.search.interleave: true did not set Interleave")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var order []int
	for _, st := range res.Steps {
		order = append(order, st.Workers)
	}
	// 1's steps first, then 2's; after 2's first step, 1 comes back: the staircases take turns.
	first2 := slices.Index(order, 2)
	if first2 <= 0 || slices.Contains(order[:first2], 2) {
		t.Fatalf("steps by worker count %v: want 1's bracket first", order)
	}
	if !slices.Contains(order[first2:], 1) {
		t.Errorf("steps by worker count %v: 1's staircase did not take turns with 2's", order)
	}
	// When 1's search has ended, an inversion among its steps is measured again, its pair of
	// rates as 1's last two steps: those may come in a row.
	var ones []int // the rows of 1's steps
	for i, n := range order {
		if n == 1 {
			ones = append(ones, i)
		}
	}
	again := func(i int) bool {
		if len(ones) < 2 || i < ones[len(ones)-2] {
			return false
		}
		return slices.ContainsFunc(ones, func(j int) bool { return j < i && res.Steps[j].Offered == res.Steps[i].Offered })
	}
	for i := 1; i < len(order); i++ {
		if order[i] == 1 && order[i-1] == 1 && i > first2 && !again(i) {
			// Two steps of 1 in a row after 2 started: only when 2's search has ended.
			if slices.Contains(order[i:], 2) {
				t.Errorf("steps by worker count %v: 1 stepped twice in a row at %d while 2 still searched", order, i)
			}
		}
	}
	if len(res.Capacity) != 2 || res.Capacity[0].Workers != 1 || res.Capacity[1].Workers != 2 {
		t.Fatalf("capacities %+v, want one for 1 and one for 2 workers, in order", res.Capacity)
	}
}

// A later worker count's search starts from the earlier count's capacity scaled over the cores
// both keep busy; replicas bench does not start here scale without that bound.
func TestMeter_guess(t *testing.T) {
	t.Parallel()
	spawned := &scenario.Scenario{Target: scenario.Target{Builtin: target.WorkloadCPU}}
	running := &scenario.Scenario{Target: scenario.Target{URL: "http://127.0.0.1:8080/"}}
	for _, tc := range []struct {
		sc            *scenario.Scenario
		workers, from int
		hint, want    float64
	}{
		{spawned, 1, 0, 0, 0},     // the first count: no guess
		{spawned, 2, 1, 480, 960}, // below the cores: linear
		{spawned, 4, 2, 930, 930}, // past the 2 cores: the cores' bound
		{spawned, 3, 1, 480, 960},
		{running, 4, 2, 930, 1860},
	} {
		m := &meter{runner: &runner{sc: tc.sc, opts: Options{Cores: 2}}, cell: cell{workers: tc.workers, prior: prior{tc.hint, tc.from}}}
		if got := m.guess(); got != tc.want {
			t.Errorf("%d workers from %g at %d (spawned %v): guess %g, want %g", tc.workers, tc.hint, tc.from, tc.sc.Target.Spawned(), got, tc.want)
		}
	}
}
