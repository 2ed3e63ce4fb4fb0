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
	// StaircaseStep is the staircase's step, as a fraction of the rate it
	// starts from (see SearchConfig.Staircase): about the width of the band
	// in which a step passes or fails by chance.
	StaircaseStep = 0.01
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
	// Near says Start is a guess close to the capacity (another worker
	// count's, scaled): the search ramps from it by restartGrowth, up or
	// down, instead of doubling, and brackets the capacity in a few steps.
	Near bool
	// Staircase, when > 0, runs that many more steps after the bisection
	// (beyond MaxSteps), up and down around the capacity: one StaircaseStep
	// up after a pass, one down after a failure. Near the capacity a step
	// passes or fails by chance, so a bisection's last bracket is a draw;
	// the staircase's rates oscillate around the rate that passes half the
	// time, and their mean estimates it with a spread that says how well
	// (the up-down method of psychophysics, Dixon and Mood 1948). A
	// staircase whose first steps all go one way started from a wrong
	// bracket: the search starts again from where it got to, once. Zero runs
	// none: the capacity is then the bisection's last passing rate.
	Staircase int
	// Bracketed, when set, is called once, with the bracket's lower end, when the first
	// bisection has ended with a bracket (before the staircase): a caller that runs several
	// searches uses it to let the others take turns from then on.
	Bracketed func(lo float64)
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
	// Stairs are the staircase's rates (SearchConfig.Staircase) in order,
	// and the rate its last outcome pointed to; nil without a staircase.
	Stairs []float64
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
func FindCapacity(ctx context.Context, cfg SearchConfig, try func(ctx context.Context, rate float64) (Result, error)) (out Capacity, err error) {
	if cfg, err = cfg.withDefaults(); err != nil {
		return out, err
	}
	defer func() { out.bracket(cfg) }() // on every return, the bracket over all steps
	first := bounds{rate: cfg.Start}
	if cfg.Near {
		first.growth = restartGrowth
	}
	lo, hi, err := out.bisect(ctx, cfg, try, first)
	if err != nil || lo == 0 || hi == 0 {
		return out, err
	}
	if cfg.Bracketed != nil {
		cfg.Bracketed(lo)
	}
	turned, err := out.staircase(ctx, cfg, try, lo, hi)
	if err != nil || turned {
		return out, err
	}
	// The staircase went one way from its start: the bracket was wrong (its failures came from
	// a machine disturbed at the time, or its passes from luck). Search again, once, from where
	// the staircase got to: the capacity is most likely just past it, so the ramp starts at
	// restartGrowth rather than doubling.
	top := out.Stairs[len(out.Stairs)-1]
	b := bounds{lo: top, rate: restartGrowth * top, growth: restartGrowth}
	if last := out.Steps[len(out.Steps)-1]; !cfg.Passes(last) {
		b = bounds{hi: top, rate: top / restartGrowth, growth: restartGrowth}
	}
	out.Stairs = nil
	if lo, hi, err = out.bisect(ctx, cfg, try, b); err != nil || lo == 0 || hi == 0 {
		return out, err
	}
	_, err = out.staircase(ctx, cfg, try, lo, hi)
	return out, err
}

// bounds is where a bisection starts: the rate to try first, what is known (zero: nothing), and
// the factor it ramps by until it has a bracket (zero: 2).
type bounds struct{ rate, lo, hi, growth float64 }

// restartGrowth is the first step of the ramp of a search that starts near the capacity: again
// after a staircase from a wrong bracket, or from a guess (SearchConfig.Near); each further step
// doubles its excess over 1 (1.1, 1.2, 1.4, 1.8, 2), so that a capacity just past the start is
// bracketed in a step or two and one far past it in a few.
const restartGrowth = 1.1

func accelerate(growth float64) float64 { return min(2, 1+2*(growth-1)) }

// bisect ramps from b.rate, multiplying the rate by b.growth (2 unless set; see restartGrowth)
// until a step fails (dividing it while no step passed yet), then bisects in log space between
// the last passing and the first failing rate until they are within SearchPrecision, at most
// cfg.MaxSteps steps. It returns the last bracket; lo or hi is zero when the search ran out of
// steps or rates before finding both.
func (c *Capacity) bisect(ctx context.Context, cfg SearchConfig, try func(ctx context.Context, rate float64) (Result, error), b bounds) (lo, hi float64, err error) {
	lo, hi = b.lo, b.hi
	rate, growth := b.rate, b.growth
	if growth == 0 {
		growth = 2
	}
	for n := 0; n < cfg.MaxSteps; n++ {
		if err := ctx.Err(); err != nil {
			return lo, hi, err
		}
		r, err := c.try(ctx, try, rate)
		if err != nil {
			return lo, hi, err
		}
		if cfg.Passes(r) {
			lo = rate
			c.Best = rate
		} else {
			hi = rate
			c.Limit = rate
			c.GeneratorLimited = r.Behind
		}
		switch {
		case hi == 0: // still ramping up
			rate *= growth
			growth = accelerate(growth)
		case lo == 0: // every step so far failed: ramp down (a start hint above the capacity)
			if rate/growth < minSearchRate {
				return lo, hi, nil
			}
			rate /= growth
			growth = accelerate(growth)
		case hi/lo < SearchPrecision:
			return lo, hi, nil
		default:
			rate = midpoint(lo, hi)
		}
	}
	return lo, hi, nil
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

// staircase runs cfg.Staircase steps up and down from between lo and hi (see
// SearchConfig.Staircase). It stops early, turned false, when its first staircaseAbandon steps
// all went the same way: near a right bracket that is all but impossible.
func (c *Capacity) staircase(ctx context.Context, cfg SearchConfig, try func(ctx context.Context, rate float64) (Result, error), lo, hi float64) (turned bool, err error) {
	if cfg.Staircase == 0 {
		return true, nil
	}
	rate := math.Sqrt(lo * hi)
	step := StaircaseStep * rate
	last, run := 0, 0 // last: +1 after a pass, -1 after a failure; run: moves that way in a row
	for i := range cfg.Staircase {
		if err := ctx.Err(); err != nil {
			return turned, err
		}
		c.Stairs = append(c.Stairs, rate)
		r, err := c.try(ctx, try, rate)
		if err != nil {
			return turned, err
		}
		dir := -1
		if cfg.Passes(r) {
			dir = 1
		}
		turned = turned || (last != 0 && dir != last)
		if dir != last {
			run = 0
		}
		last, run = dir, run+1
		rate += float64(dir) * step * stride(run)
		if !turned && i+1 == staircaseAbandon {
			c.Stairs = append(c.Stairs, rate)
			return false, nil
		}
	}
	c.Stairs = append(c.Stairs, rate) // where the next step would go: the last outcome counts too
	return true, nil
}

// stride is how many steps the staircase moves after its run-th move the same way in a row: one,
// two, then four. A staircase that a chance failure sent below the capacity climbs back at one
// step a move, and with six moves it can end still climbing, its mean low: on cpu.yaml one 800 rps
// step failed at 56 ms against 50, the bracket closed at 783–800 and the staircase ended at 815
// while the other runs' capacity was 850–885. Longer strides after a run (as in PEST, Taylor and
// Creelman 1967) get it back; a reversal returns to one step.
func stride(run int) float64 {
	return float64(int(1) << min(run-1, 2))
}

// staircaseAbandon: a staircase whose first this many steps went the same way started from a
// wrong bracket. With the capacity inside a 3 % bracket and the step 1 %, four passes in a row
// take it 1 + 2 + 4 + 4 = 11 % above (stride); on cpu.yaml a step even 4 % above the capacity
// never passed.
const staircaseAbandon = 4

// bracket sets Lo and Hi from every step (see Capacity), and Best to Lo: the highest rate shown
// to pass that no failure contradicts.
func (c *Capacity) bracket(cfg SearchConfig) {
	c.Lo, c.Hi = Bracket(c.Rates, c.Steps, cfg.Passes)
	c.Best = c.Lo
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

// Estimate is the capacity the steps point to and its interval, as throughputs.
//
// With a staircase (SearchConfig.Staircase), the capacity is the mean of the staircase's rates
// from its first turn on (after its first step when it never turned), the rate that passes half
// the time; its interval is that mean ± twice
// its standard error (the rates' standard deviation over the square root of half their number:
// neighbouring steps of a staircase are not independent), and at least ± one StaircaseStep. On
// a simulated target with the noise measured on cpu.yaml the interval holds the true capacity
// about 95 % of the time (TestEstimate_coverage). Rates are turned into the rates carried by the
// passing steps' success ratio.
//
// Without one, the capacity is the rate carried at Lo, and the interval the bracket [that, Hi].
// A target that was not saturated has hi = +Inf.
func (c Capacity) Estimate(cfg SearchConfig) (estimate, lo, hi float64) {
	if c.Lo == 0 && len(c.Stairs) == 0 {
		return 0, 0, 0
	}
	// A passing step carried its offered rate within the objective, but for the requests that
	// failed: its throughput figure, over the window from the first send to the last
	// completion, comes out up to a few per cent lower near the capacity, where the last
	// responses queue, and by chance. The rate carried is the offered rate times the success
	// ratio.
	yield := 1.0
	atLo := math.Inf(1)
	for i, r := range c.Steps {
		if !cfg.Passes(r) {
			continue
		}
		if c.Rates[i] == c.Lo {
			atLo = math.Min(atLo, c.Rates[i]*r.Success)
		}
		if c.Lo > 0 && c.Rates[i] >= c.Lo/SearchPrecision {
			yield = math.Min(yield, r.Success)
		}
	}
	if math.IsInf(atLo, 1) {
		atLo = c.Lo
	}
	if c.Hi == 0 {
		return atLo, atLo, math.Inf(1)
	}
	if len(c.Stairs) < 2 {
		return atLo, atLo, c.Hi
	}
	rates := c.Stairs[1:]
	if i := firstReversal(c.Stairs); i > 0 {
		rates = c.Stairs[i:] // before it the staircase was still travelling to the capacity
	}
	var sum, sumSq float64
	for _, r := range rates {
		sum += r
	}
	mean := sum / float64(len(rates))
	for _, r := range rates {
		sumSq += (r - mean) * (r - mean)
	}
	sd := math.Sqrt(sumSq / float64(len(rates)-1))
	half := math.Max(StaircaseStep*c.Stairs[0], 2*sd/math.Sqrt(float64(len(rates))/2))
	return yield * mean, yield * (mean - half), yield * (mean + half)
}

// firstReversal is the index in stairs of the first rate after the staircase turned (went down
// after going up, or up after going down), 0 if it never did.
func firstReversal(stairs []float64) int {
	for i := 2; i < len(stairs); i++ {
		if (stairs[i]-stairs[i-1])*(stairs[i-1]-stairs[i-2]) < 0 {
			return i - 1
		}
	}
	return 0
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
