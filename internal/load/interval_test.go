package load

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// simulated is a target whose p99 grows exponentially with the offered rate near its capacity c
// (as a queue's does) with log-normal noise from step to step: p99(r) = slo·exp(k(r/c − 1) + ε),
// ε ~ N(0, sigma). Its true capacity, where the median p99 meets the objective, is c.
type simulated struct {
	c, k, sigma float64
	slo         time.Duration
	rng         *rand.Rand
}

func (s simulated) try(_ context.Context, rate float64) (Result, error) {
	p99 := math.Min(float64(s.slo)*math.Exp(s.k*(rate/s.c-1)+s.sigma*s.rng.NormFloat64()), float64(time.Minute))
	return stepResult(rate, math.Min(rate, s.c), time.Duration(p99)), nil
}

// stepResult is a step of 100 successful requests at rate whose p99 (every latency) is p99.
func stepResult(rate, throughput float64, p99 time.Duration) Result {
	h := newHistogram()
	h.RecordValues(micros(p99), 100)
	return Result{Offered: rate, Sent: rate, Throughput: throughput, Requests: 100, Successes: 100, Success: 1, Latency: h}
}

// The capacity's interval holds the true capacity about 95 % of the time, and the estimate falls
// within it. The noise is as measured on the cpu scenario: p99 rises e-fold for 2 % more rate
// and moves by a factor of 1.5 between repeated steps at one rate, so that the rate at which a
// step passes half the time is the truth, and a step 1 % away from it still fails or passes by
// chance.
func TestEstimate_coverage(t *testing.T) {
	t.Parallel()
	const seeds = 2000
	covered := 0
	var width, sq float64
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		sim := simulated{c: 400 + 200*rng.Float64(), k: 50, sigma: 0.4, slo: 50 * time.Millisecond, rng: rng}
		cfg := SearchConfig{P99: sim.slo, MaxSteps: 10, Start: math.Round(sim.c * (0.6 + 0.6*rng.Float64())), Staircase: 6}
		found, err := FindCapacity(context.Background(), cfg, sim.try)
		if err != nil {
			t.Fatal(err)
		}
		est, lo, hi := found.Estimate(cfg)
		if !(lo <= est && est <= hi) {
			t.Fatalf("seed %d: estimate %v outside its interval [%v, %v]", seed, est, lo, hi)
		}
		if lo <= sim.c && sim.c <= hi {
			covered++
		}
		width += (hi - lo) / sim.c
		sq += (est/sim.c - 1) * (est/sim.c - 1)
	}
	coverage := float64(covered) / seeds
	t.Logf("coverage %.1f%%, mean width %.1f%% of the capacity, the estimate off by %.2f%% (rms)", 100*coverage, 100*width/seeds, 100*math.Sqrt(sq/seeds))
	if coverage < 0.90 || coverage > 0.995 {
		t.Errorf("the interval holds the true capacity %.1f%% of the time, want about 95%%", 100*coverage)
	}
}

// sharp is a target that meets a 50 ms objective (p99 5 ms) up to capacity and misses it (1 s)
// above, and also at the steps for which fails, given the step's number (from 1) and rate, is true.
func sharp(capacity float64, fails func(call int, rate float64) bool) func(context.Context, float64) (Result, error) {
	calls := 0
	return func(_ context.Context, rate float64) (Result, error) {
		calls++
		p99 := 5 * time.Millisecond
		if rate > capacity || fails(calls, rate) {
			p99 = time.Second
		}
		return stepResult(rate, rate, p99), nil
	}
}

// A search whose bracket came from a disturbed machine (steps failing whatever the rate) is
// left: the staircase's first steps all pass, and the search starts again from there, so the
// estimate ends near the true capacity rather than one per cent a step above the bogus bracket.
func TestStaircase_leavesAWrongBracket(t *testing.T) {
	t.Parallel()
	const capacity = 1000.0
	try := sharp(capacity, func(call int, _ float64) bool { return call >= 2 && call <= 5 }) // a neighbour burns the CPU
	cfg := SearchConfig{P99: 50 * time.Millisecond, MaxSteps: 8, Start: 400, Staircase: 12}
	found, err := FindCapacity(context.Background(), cfg, try)
	if err != nil {
		t.Fatal(err)
	}
	est, _, _ := found.Estimate(cfg)
	if math.Abs(est/capacity-1) > 0.05 {
		t.Errorf("estimate %v, want within 5%% of %v; stairs %v", est, capacity, found.Stairs)
	}
}

// A search that starts again after a wrong bracket tries just past where its staircase got to
// (the capacity is most likely there), not twice as far.
func TestStaircase_restartsNearby(t *testing.T) {
	t.Parallel()
	const capacity = 1000.0
	try := sharp(capacity, func(call int, rate float64) bool { return rate > 900 && call <= 6 }) // early failures 10 % below
	cfg := SearchConfig{P99: 50 * time.Millisecond, MaxSteps: 8, Start: 800, Staircase: 6}
	found, err := FindCapacity(context.Background(), cfg, try)
	if err != nil {
		t.Fatal(err)
	}
	// The steps: the first bisection (800 passes, 1600, 1131, 951 fail, 872 passes, 911 fails,
	// 891 passes), the staircase's four passes up from 901 (1, 2, 4, 4 % a move), then the
	// second search: its first step is the first jump of more than 5 % after the staircase, 10 %
	// past where the staircase's next move would have gone.
	restart := 0
	for i := 7; i < len(found.Rates); i++ {
		if found.Rates[i] > 1.05*found.Rates[i-1] {
			restart = i
			break
		}
	}
	if restart == 0 || found.Rates[restart]/found.Rates[restart-1] > 1.15 {
		t.Errorf("rates %v: the search after the wrong bracket should start within 15%% above the staircase's last step", found.Rates)
	}
	if est, _, _ := found.Estimate(cfg); math.Abs(est/capacity-1) > 0.03 {
		t.Errorf("estimate %v, want within 3%% of %v; rates %v", est, capacity, found.Rates)
	}
}

// A staircase that a chance failure sent below the capacity strides back: its moves double after
// each move the same way, so that in six steps it gets from 6 % below the capacity to it, where
// one step a move would leave it 2 % below and still climbing.
func TestStaircase_stridesBack(t *testing.T) {
	t.Parallel()
	const capacity = 1000.0
	try := sharp(capacity, func(call int, _ float64) bool { return call == 2 || call == 10 }) // by chance, far below
	// 475 passes, 950 fails by chance, the bisection closes at 930–950, and the staircase from
	// 940 fails once more by chance on its third step.
	cfg := SearchConfig{P99: 50 * time.Millisecond, MaxSteps: 8, Start: 475, Staircase: 6}
	found, err := FindCapacity(context.Background(), cfg, try)
	if err != nil {
		t.Fatal(err)
	}
	if top := slices.Max(found.Stairs); top < capacity {
		t.Errorf("rates %v, stairs %v: never reached the capacity %v", found.Rates, found.Stairs, capacity)
	}
}

// A search that starts from a guess near the capacity (Near) brackets it in a few steps of 10 %
// and more, up or down, where doubling from the guess would overshoot by 100 % and need four
// bisections more; its estimate is as good.
func TestSearch_near(t *testing.T) {
	t.Parallel()
	const capacity = 1000.0
	never := func(int, float64) bool { return false }
	for _, start := range []float64{940, 1080, 1900} {
		cfg := SearchConfig{P99: 50 * time.Millisecond, MaxSteps: 12, Start: start, Near: true}
		near, err := FindCapacity(context.Background(), cfg, sharp(capacity, never))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Near = false
		doubling, err := FindCapacity(context.Background(), cfg, sharp(capacity, never))
		if err != nil {
			t.Fatal(err)
		}
		if near.Rates[1] > 1.15*start || near.Rates[1] < start/1.15 {
			t.Errorf("from %v: second rate %v, want within 15%% of the start; rates %v", start, near.Rates[1], near.Rates)
		}
		if near.Best < capacity/SearchPrecision || near.Best > capacity {
			t.Errorf("from %v: best %v, want within %v of %v", start, near.Best, SearchPrecision, capacity)
		}
		if start < 1.1*capacity && len(near.Rates) >= len(doubling.Rates) {
			t.Errorf("from %v: %d steps near (%v), %d doubling (%v): want fewer near", start, len(near.Rates), near.Rates, len(doubling.Rates), doubling.Rates)
		}
		t.Logf("from %v: %d steps near, %d doubling", start, len(near.Rates), len(doubling.Rates))
	}
}
