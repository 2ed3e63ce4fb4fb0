package experiment

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/cluster"
	"github.com/bench-dev/bench/internal/scaling"
	"github.com/bench-dev/bench/internal/target"
)

// Interleaved searches. A machine's speed is not constant: on a shared host each core's work per
// CPU-second wanders by a few per cent for seconds to tens of seconds at a time, and /proc/stat
// shows nothing of it (no steal). Searched one after the other, two worker counts are measured on
// different machines, and the ratio of their capacities carries the difference: on the reference
// machine that alone spreads the ratio 2/1 of cpu.yaml by about ±1.2–1.5 % (docs/findings.md).
// When the counts take turns around their capacities, a step each, the drift falls on all of them
// alike and cancels in the ratio; modelled on the same speed record, about ±0.4–0.6 %.

// turns orders the steps of the searches of several worker counts that run at once. First each
// count searches alone, in the run's order, until it has bracketed its capacity, so that the
// next count starts from that bracket as a sequential run starts from the previous capacity;
// once every count has, they take one step each in turn until their staircases end.
type turns struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change of state
	counts  []int         // worker counts in the run's order
	state   map[int]turnState
	next    int   // index in counts of the count whose step is next, once all have bracketed
	prior   prior // the last count that bracketed its capacity: its lower end
	// step serialises what the searches do with the run's shared results: one step, or one
	// search's bookkeeping, at a time.
	step sync.Mutex
}

type turnState int

const (
	turnWaiting   turnState = iota // not started
	turnAlone                      // searching alone for its bracket
	turnBracketed                  // bracketed: takes steps in turn
	turnFinished                   // its search ended
)

// settled reports whether a count is past its search alone: bracketed, or ended.
func (s turnState) settled() bool { return s == turnBracketed || s == turnFinished }

func newTurns(counts []int) *turns {
	return &turns{changed: make(chan struct{}), counts: counts, state: map[int]turnState{}}
}

// set changes the state of count n and wakes every waiter; t.mu is held.
func (t *turns) set(n int, s turnState) {
	t.state[n] = s
	t.wake()
}

// wake wakes every waiter to look again; t.mu is held.
func (t *turns) wake() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// wait blocks until ready, called with t.mu held, reports true.
func (t *turns) wait(ctx context.Context, ready func() bool) error {
	for {
		t.mu.Lock()
		ok, changed := ready(), t.changed
		t.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// start waits until every count before n has bracketed its capacity (or ended its search) and
// returns where n's search starts from: the last bracket's lower end, zero for the first count.
func (t *turns) start(ctx context.Context, n int) (prior, error) {
	before := t.counts[:slices.Index(t.counts, n)]
	if err := t.wait(ctx, func() bool { return t.allSettled(before) }); err != nil {
		return prior{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.set(n, turnAlone)
	return t.prior, nil
}

// allSettled reports whether every one of counts has bracketed its capacity or ended; t.mu is
// held.
func (t *turns) allSettled(counts []int) bool {
	for _, n := range counts {
		if !t.state[n].settled() {
			return false
		}
	}
	return true
}

// do runs one step of count n's search when it is n's turn: at once while n searches alone, else
// once every count has bracketed and the turn has come round to n.
func (t *turns) do(ctx context.Context, n int, step func()) error {
	err := t.wait(ctx, func() bool {
		return t.state[n] == turnAlone || t.allSettled(t.counts) && t.counts[t.next] == n
	})
	if err != nil {
		return err
	}
	t.exclusive(step)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state[n] == turnBracketed {
		t.advance(n)
	}
	return nil
}

// exclusive runs fn while no step runs.
func (t *turns) exclusive(fn func()) {
	t.step.Lock()
	defer t.step.Unlock()
	fn()
}

// advance passes the turn from n to the next count whose search goes on; t.mu is held.
func (t *turns) advance(n int) {
	i := slices.Index(t.counts, n)
	for k := 1; k <= len(t.counts); k++ {
		j := (i + k) % len(t.counts)
		if t.state[t.counts[j]] != turnFinished {
			t.next = j
			break
		}
	}
	t.wake()
}

// bracketed records that count n's search bracketed its capacity at [lo, …].
func (t *turns) bracketed(n int, lo float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.prior = prior{lo, n}
	t.set(n, turnBracketed)
}

// finish records that count n's search ended; a count that never bracketed leaves its capacity
// as the next count's start.
func (t *turns) finish(n int, capacity float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state[n] != turnBracketed && capacity > 0 {
		t.prior = prior{capacity, n}
	}
	t.set(n, turnFinished)
	if t.counts[t.next] == n {
		t.advance(n)
	}
}

// interleaved reports whether the run's worker counts can search at once, taking turns (see
// turns): a capacity search over workers bench starts itself, each count one cell (one store, one
// strategy behind bench's balancer on a port of its choosing, no repetitions), no faults (they
// act at times within one count's steps) and one generator.
func (r *runner) interleaved() bool {
	sc := r.sc
	s, strats := sc.Load.Search, strategies(sc)
	return s != nil && s.Interleave && len(sc.Workers) > 1 && sc.Scale.Local() && sc.Target.Spawned() &&
		len(sc.Target.StoreList()) <= 1 && len(strats) == 1 && strats[0] != balancer.StrategyReusePort &&
		sc.Load.Repeat <= 1 && len(sc.Faults) == 0 && r.opts.Shards <= 1 && r.opts.Listen == ""
}

// runInterleaved measures every worker count at once, each in its own goroutine, their steps
// ordered by r.turns. The first error ends every search; the capacities found so far are kept.
func (r *runner) runInterleaved(ctx context.Context, spec cluster.Spec, store target.Store) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.turns = newTurns(r.sc.Workers)
	points := make([]scaling.Point, len(r.sc.Workers))
	errs := make([]error, len(r.sc.Workers))
	var wg sync.WaitGroup
	for i, n := range r.sc.Workers {
		wg.Go(func() {
			from, err := r.turns.start(ctx, n)
			if err == nil {
				points[i], err = r.workers(ctx, spec, cell{workers: n, store: store, prior: from})
			}
			r.turns.finish(n, points[i].Capacity)
			if err != nil {
				errs[i] = err
				cancel()
			}
		})
	}
	wg.Wait()
	for _, p := range points {
		r.keep(p)
	}
	// The error that ended the run, not the cancellations it caused in the other searches.
	var first error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}
