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
	// this factor of the passing one. The capacity's interval is about as
	// wide; 3 % made run-to-run ratios of two capacities move by ±0.05.
	SearchPrecision = 1.02
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
	// Confirm, when > 0, measures both ends of the final bracket again that
	// many times each after the bisection (beyond MaxSteps): near the
	// capacity a step passes or fails by chance, and one more look at each
	// end is what makes Capacity.Lo and Hi an interval rather than two
	// draws. Zero confirms nothing.
	Confirm int
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
	// Steps holds every step's Result in the order tried, and Rates the
	// rate each was tried at.
	Steps []Result
	Rates []float64
	// Lo and Hi bracket the capacity over every step tried, passes and
	// failures taken as they came: Lo is the highest rate that passed with
	// no failure at or below it, Hi the lowest rate that failed with no pass
	// at or above it. A rate that both passed and failed (by chance, near
	// the capacity) widens the bracket past itself. Lo is zero when no rate
	// passed that way; Hi is zero when no step failed for the target's sake
	// (a generator that fell behind is not the target's limit): then the
	// target was not saturated.
	Lo, Hi float64
}

// Saturated reports whether some step failed because of the target (not the
// generator): only then is Best a capacity rather than a lower bound.
func (c Capacity) Saturated() bool { return c.Hi > 0 }

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
		r, err := out.try(ctx, try, rate)
		if err != nil {
			return out, err
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
				out.bracket(cfg)
				return out, nil
			}
			rate /= 2
		case hi/lo < SearchPrecision:
			return out, out.confirm(ctx, cfg, try, lo, hi)
		default:
			rate = midpoint(lo, hi)
		}
	}
	if lo > 0 && hi > 0 {
		return out, out.confirm(ctx, cfg, try, lo, hi)
	}
	out.bracket(cfg)
	return out, nil
}

// try runs one step and keeps it.
func (c *Capacity) try(ctx context.Context, try func(ctx context.Context, rate float64) (Result, error), rate float64) (Result, error) {
	r, err := try(ctx, rate)
	c.Steps = append(c.Steps, r)
	c.Rates = append(c.Rates, rate)
	if err != nil {
		return r, fmt.Errorf("load: search step at %g rps: %w", rate, err)
	}
	return r, nil
}

// confirm measures the bracket's ends again, cfg.Confirm times each, then computes the bracket.
func (c *Capacity) confirm(ctx context.Context, cfg SearchConfig, try func(ctx context.Context, rate float64) (Result, error), lo, hi float64) error {
	defer c.bracket(cfg)
	for i := 0; i < cfg.Confirm; i++ {
		for _, rate := range []float64{lo, hi} {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, err := c.try(ctx, try, rate); err != nil {
				return err
			}
		}
	}
	return nil
}

// bracket sets Lo and Hi from every step (see Capacity), and Best to Lo: the highest rate shown
// to pass that no failure contradicts.
func (c *Capacity) bracket(cfg SearchConfig) {
	c.Lo, c.Hi = Bracket(c.Rates, c.Steps, cfg.Passes)
	if c.Lo > 0 || c.Best > 0 {
		c.Best = c.Lo
	}
}

// Bracket computes the capacity's bracket from steps tried at rates (see Capacity.Lo and Hi):
// lo is the highest passing rate below every failure, hi the lowest failing rate above every pass.
// When a pass was seen above every failure (the highest rates passed on a second look), nothing
// failed above it and hi is one SearchPrecision step past the highest pass. Failures of a
// generator that fell behind bound nothing; hi is 0 when no other step failed.
func Bracket(rates []float64, steps []Result, passes func(Result) bool) (lo, hi float64) {
	var maxPass float64
	minFail := math.Inf(1)
	for i, r := range steps {
		switch {
		case passes(r):
			maxPass = math.Max(maxPass, rates[i])
		case !r.Behind:
			minFail = math.Min(minFail, rates[i])
		}
	}
	if math.IsInf(minFail, 1) {
		return maxPass, 0 // never failed for the target's sake: not saturated
	}
	hi = math.Inf(1)
	for i, r := range steps {
		switch {
		case passes(r):
			if rates[i] < minFail {
				lo = math.Max(lo, rates[i])
			}
		case !r.Behind:
			if rates[i] > maxPass {
				hi = math.Min(hi, rates[i])
			}
		}
	}
	if math.IsInf(hi, 1) {
		hi = maxPass * SearchPrecision
	}
	return lo, hi
}

// Estimate is the capacity the steps point to, within the bracket, and the bracket itself as
// throughputs: lo is the lowest throughput measured at rate Lo (what surely passed), hi is Hi (a
// rate that surely failed; +Inf when the target was not saturated). The estimate interpolates
// where the p99 crosses the objective between the two ends, in log space (near saturation p99
// grows about exponentially with the rate): a bisection alone would leave the answer anywhere
// within its last bracket, and the runs would differ by as much.
func (c Capacity) Estimate(cfg SearchConfig) (estimate, lo, hi float64) {
	if c.Lo == 0 {
		return 0, 0, 0
	}
	lo = math.Inf(1)
	var pLo, pHi time.Duration
	for i, r := range c.Steps {
		switch c.Rates[i] {
		case c.Lo:
			if cfg.Passes(r) {
				lo = math.Min(lo, r.Throughput)
				pLo = max(pLo, r.Quantile(99))
			}
		case c.Hi:
			if q := r.Quantile(99); !cfg.Passes(r) && (pHi == 0 || q < pHi) {
				pHi = q
			}
		}
	}
	if c.Hi == 0 {
		return lo, lo, math.Inf(1)
	}
	estimate = lo
	if pLo > 0 && pHi > cfg.P99 && pHi > pLo && cfg.P99 > pLo {
		frac := math.Log(float64(cfg.P99)/float64(pLo)) / math.Log(float64(pHi)/float64(pLo))
		estimate = lo * math.Pow(c.Hi/c.Lo, frac)
	}
	return estimate, lo, c.Hi
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
