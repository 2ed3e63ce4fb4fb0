package load

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

// fakeTarget answers like a target with the given capacity: p99 of 10ms up
// to it, 1s beyond. Rates at or above behindAt (if set) make the generator
// fall behind.
type fakeTarget struct {
	capacity, behindAt float64
	tried              []float64
}

func (f *fakeTarget) try(ctx context.Context, rate float64) (Result, error) {
	f.tried = append(f.tried, rate)
	r := Result{Offered: rate, Sent: rate, Requests: 100, Successes: 100, Success: 1, Latency: newRecorder(pacer(1)).lat}
	lat := int64(10_000)
	if rate > f.capacity {
		lat = 1_000_000
	}
	r.Latency.RecordValue(lat)
	if f.behindAt > 0 && rate >= f.behindAt {
		r.Sent, r.Behind = f.behindAt*0.9, true
	}
	return r, nil
}

func TestSearch(t *testing.T) {
	t.Parallel()
	slo := SearchConfig{P99: 50 * time.Millisecond}
	for _, tc := range []struct {
		name          string
		cfg           SearchConfig
		target        fakeTarget
		wantBest      float64 // within 5 %, below or at capacity; 0 exactly
		maxSteps      int
		wantGenerator bool
	}{
		{"capacity 1000", slo, fakeTarget{capacity: 1000}, 1000, 12, false},
		{"capacity 1000 from 100", SearchConfig{P99: 50 * time.Millisecond, Start: 100}, fakeTarget{capacity: 1000}, 1000, 12, false},
		{"capacity 37", slo, fakeTarget{capacity: 37}, 37, 12, false},                                                                 // the first step fails: ramp down
		{"capacity 900 from above", SearchConfig{P99: 50 * time.Millisecond, Start: 1400}, fakeTarget{capacity: 900}, 900, 12, false}, // a start hint too high
		{"nothing passes", slo, fakeTarget{capacity: 0.5}, 0, 7, false},                                                               // sad: 50 → 1.5625 rps, then stop
		{"capacity 77", slo, fakeTarget{capacity: 77}, 77, 12, false},
		{"capacity 5000", slo, fakeTarget{capacity: 5000}, 5000, 12, false},
		{"generator limited", slo, fakeTarget{capacity: 1e6, behindAt: 3000}, 3000, 12, true},
		{"capacity beyond the steps", SearchConfig{P99: 50 * time.Millisecond, MaxSteps: 3}, fakeTarget{capacity: 1e6}, 200, 3, false},
		{"steps bounded mid-bisection", SearchConfig{P99: 50 * time.Millisecond, MaxSteps: 7}, fakeTarget{capacity: 1000}, 0, 7, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := tc.target
			c, err := FindCapacity(context.Background(), tc.cfg, f.try)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(c.Steps); got > tc.maxSteps || got != len(f.tried) {
				t.Errorf("%d steps (tried %v), want at most %d", got, f.tried, tc.maxSteps)
			}
			for i, r := range c.Steps {
				if r.Offered != f.tried[i] {
					t.Errorf("step %d is for %v rps, tried %v", i, r.Offered, f.tried[i])
				}
			}
			if tc.wantBest == 0 {
				if tc.maxSteps == 1 && c.Best != 0 {
					t.Errorf("Best = %v, want 0", c.Best)
				}
			} else if c.Best > tc.wantBest || c.Best < tc.wantBest/SearchPrecision {
				t.Errorf("Best = %v, want within 5%% below %v (tried %v)", c.Best, tc.wantBest, f.tried)
			}
			if c.Best > f.capacity && f.capacity > 0 {
				t.Errorf("Best %v is above the capacity %v", c.Best, f.capacity)
			}
			if c.Limit != 0 && c.Limit <= c.Best {
				t.Errorf("Limit %v <= Best %v", c.Limit, c.Best)
			}
			if c.GeneratorLimited != tc.wantGenerator {
				t.Errorf("GeneratorLimited = %v, want %v", c.GeneratorLimited, tc.wantGenerator)
			}
			best, steps, err := Search(context.Background(), tc.cfg, (&fakeTarget{capacity: f.capacity, behindAt: f.behindAt}).try)
			if err != nil || best != c.Best || len(steps) != len(c.Steps) {
				t.Errorf("Search = %v, %d steps, %v; FindCapacity said %v, %d steps", best, len(steps), err, c.Best, len(c.Steps))
			}
		})
	}
}

func TestSearch_MidBisectionKeepsTheLastPass(t *testing.T) {
	t.Parallel()
	f := fakeTarget{capacity: 1000}
	c, err := FindCapacity(context.Background(), SearchConfig{P99: 50 * time.Millisecond, MaxSteps: 7}, f.try)
	if err != nil {
		t.Fatal(err)
	}
	// 50..800 pass, 1600 fails, then one bisection step at √(800·1600).
	if got, want := f.tried, []float64{50, 100, 200, 400, 800, 1600, 1131}; !equalFloats(got, want) {
		t.Errorf("tried %v, want %v", got, want)
	}
	if c.Best != 800 || c.Limit != 1131 {
		t.Errorf("Best, Limit = %v, %v; want 800, 1131", c.Best, c.Limit)
	}
}

func TestSearch_SuccessRatioFails(t *testing.T) {
	t.Parallel()
	try := func(ctx context.Context, rate float64) (Result, error) {
		r, _ := (&fakeTarget{capacity: 1e9}).try(ctx, rate)
		if rate > 300 {
			r.Successes, r.Success = 99, 0.99
		}
		return r, nil
	}
	best, _, err := Search(context.Background(), SearchConfig{P99: time.Second}, try)
	if err != nil {
		t.Fatal(err)
	}
	if best > 300 || best < 300/SearchPrecision {
		t.Errorf("best = %v, want just under 300 (success 0.99 < default 0.999 above it)", best)
	}
}

func TestSearch_StopsOnError(t *testing.T) {
	t.Parallel()
	boom := errors.New("cluster died")
	n := 0
	try := func(ctx context.Context, rate float64) (Result, error) {
		n++
		if n == 3 {
			return Result{Offered: rate}, boom
		}
		return (&fakeTarget{capacity: 1e9}).try(ctx, rate)
	}
	best, steps, err := Search(context.Background(), SearchConfig{P99: time.Second}, try)
	if !errors.Is(err, boom) || best != 100 || len(steps) != 3 {
		t.Errorf("Search = %v, %d steps, %v; want 100, 3 steps, %v", best, len(steps), err, boom)
	}
}

func TestSearch_StopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	try := func(_ context.Context, rate float64) (Result, error) {
		if rate >= 200 {
			cancel()
		}
		return (&fakeTarget{capacity: 1e9}).try(ctx, rate)
	}
	best, steps, err := Search(ctx, SearchConfig{P99: time.Second}, try)
	if !errors.Is(err, context.Canceled) || best != 200 || len(steps) != 3 {
		t.Errorf("Search = %v, %d steps, %v; want 200, 3 steps, context.Canceled", best, len(steps), err)
	}
}

func TestSearchConfig_Invalid(t *testing.T) {
	t.Parallel()
	for _, cfg := range []SearchConfig{
		{},                                    // no p99
		{P99: time.Second, Success: 1.5},      // not a fraction
		{P99: time.Second, MaxSteps: -1},      // negative steps
		{P99: time.Second, Start: -10},        // negative start
		{P99: time.Second, Start: math.NaN()}, // not a rate
	} {
		called := false
		_, _, err := Search(context.Background(), cfg, func(context.Context, float64) (Result, error) {
			called = true
			return Result{}, nil
		})
		if err == nil || called {
			t.Errorf("Search(%+v) = %v, tried %v; want an error before any step", cfg, err, called)
		}
	}
}

func TestSearch_EmptyStepFails(t *testing.T) {
	t.Parallel()
	try := func(context.Context, float64) (Result, error) { return Result{}, nil }
	best, steps, err := Search(context.Background(), SearchConfig{P99: time.Second}, try)
	// 50, 25, 12.5, 6.25, 3.125, 1.5625 rps: every one fails, then the search gives up.
	if err != nil || best != 0 || len(steps) != 6 {
		t.Errorf("Search = %v, %d steps, %v; want 0, 6 steps (no requests measured is a failure)", best, len(steps), err)
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
