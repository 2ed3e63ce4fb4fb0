package load

import (
	"context"
	"fmt"
	"math"
	"time"
)

const (
	// DefaultSearchStart is the first rate a search tries when
	// SearchConfig.Start is zero, in requests per second.
	DefaultSearchStart = 50
	// DefaultSearchSuccess is the success ratio a step needs when
	// SearchConfig.Success is zero.
	DefaultSearchSuccess = 0.999
	// DefaultSearchMaxSteps bounds a search when SearchConfig.MaxSteps is
	// zero.
	DefaultSearchMaxSteps = 12
	// SearchPrecision ends the bisection once the failing rate is within
	// this factor of the passing one.
	SearchPrecision = 1.03
)

// SearchConfig is the service level a capacity search holds a target to.
type SearchConfig struct {
	// P99 is the highest acceptable 99th percentile latency; it must be > 0.
	P99 time.Duration
	// Success is the lowest acceptable success ratio (a fraction, 0-1).
	// Zero means DefaultSearchSuccess.
	Success float64
	// MaxSteps bounds the number of rates tried. Zero means
	// DefaultSearchMaxSteps.
	MaxSteps int
	// Start is the first rate tried, in requests per second. Zero means
	// DefaultSearchStart.
	Start float64
}

func (c SearchConfig) withDefaults() (SearchConfig, error) {
	if c.Success == 0 {
		c.Success = DefaultSearchSuccess
	}
	if c.MaxSteps == 0 {
		c.MaxSteps = DefaultSearchMaxSteps
	}
	if c.Start == 0 {
		c.Start = DefaultSearchStart
	}
	switch {
	case c.P99 <= 0:
		return c, fmt.Errorf("load: search p99: must be > 0, got %v", c.P99)
	case c.Success < 0 || c.Success > 1:
		return c, fmt.Errorf("load: search success: must be a fraction in (0, 1], got %v", c.Success)
	case c.MaxSteps < 0:
		return c, fmt.Errorf("load: search max_steps: must be > 0, got %d", c.MaxSteps)
	case !(c.Start > 0) || math.IsInf(c.Start, 0):
		return c, fmt.Errorf("load: search start: must be a finite rate > 0, got %v", c.Start)
	}
	return c, nil
}

// Passes reports whether r meets the service level: p99 within c.P99,
// success ratio at least c.Success, and a generator that kept its schedule.
// An empty result never passes. Defaults are not applied.
func (c SearchConfig) Passes(r Result) bool {
	return r.Requests > 0 && r.Quantile(99) <= c.P99 && r.Success >= c.Success && !r.Behind
}

// Capacity is the outcome of a search.
type Capacity struct {
	// Best is the highest rate that passed; zero if none did.
	Best float64
	// Limit is the lowest rate that failed; zero if none did (the search
	// ran out of steps while still ramping).
	Limit float64
	// GeneratorLimited is true when the step at Limit failed because the
	// generator fell behind its schedule: the target's capacity may be
	// higher than Best, and the machine, not the target, set the bound.
	GeneratorLimited bool
	// Steps holds every step's Result in the order tried.
	Steps []Result
}

// minSearchRate is the lowest rate a search ramping down tries.
const minSearchRate = 1

// Search finds the highest rate at which try's results meet cfg: it ramps
// from cfg.Start doubling the rate until a step fails (halving it while no
// step passed yet, when the start was above the capacity), then bisects (in log
// space) between the last passing and the first failing rate until they are
// within SearchPrecision of each other or cfg.MaxSteps steps have run. A
// step that fell behind counts as failed; FindCapacity says whether that is
// what bounded the search.
//
// try runs one step (usually Attack at the given rate). An error from it
// ends the search: Search returns the best rate so far, the steps so far
// (including the one that failed) and the error.
func Search(ctx context.Context, cfg SearchConfig, try func(ctx context.Context, rate float64) (Result, error)) (best float64, steps []Result, err error) {
	c, err := FindCapacity(ctx, cfg, try)
	return c.Best, c.Steps, err
}

// FindCapacity is Search returning the whole outcome.
func FindCapacity(ctx context.Context, cfg SearchConfig, try func(ctx context.Context, rate float64) (Result, error)) (Capacity, error) {
	var out Capacity
	cfg, err := cfg.withDefaults()
	if err != nil {
		return out, err
	}
	var lo, hi float64 // last pass, first fail; zero while unknown
	rate := cfg.Start
	for len(out.Steps) < cfg.MaxSteps {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		r, err := try(ctx, rate)
		out.Steps = append(out.Steps, r)
		if err != nil {
			return out, fmt.Errorf("load: search step at %g rps: %w", rate, err)
		}
		if cfg.Passes(r) {
			lo = rate
			out.Best = rate
		} else {
			hi = rate
			out.Limit = rate
			out.GeneratorLimited = r.Behind
		}
		switch {
		case hi == 0: // still ramping up
			rate *= 2
		case lo == 0: // every step so far failed: ramp down (a start hint above the capacity)
			if rate/2 < minSearchRate {
				return out, nil
			}
			rate /= 2
		case hi/lo < SearchPrecision:
			return out, nil
		default:
			rate = midpoint(lo, hi)
		}
	}
	return out, nil
}

// midpoint is the geometric mean of lo and hi (the search narrows a ratio),
// rounded to a whole rate when that stays strictly between them, so that
// reports show 1131 rps rather than 1131.37.
func midpoint(lo, hi float64) float64 {
	m := math.Sqrt(lo * hi)
	if r := math.Round(m); r > lo && r < hi {
		return r
	}
	return m
}
