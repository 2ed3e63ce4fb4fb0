package scaling

import (
	"fmt"
	"math"
	"sort"
)

// Bound is the bottleneck model of operational analysis (the asymptotic bounds of Denning and
// Buzen): each worker adds Lambda until a resource every request visits saturates, and throughput
// then stays at that resource's Ceiling:
//
//	X(N) = min(λN, C)
//
// A single serialized section that each request holds for s seconds gives C = 1/s. Where the USL
// bends gradually, this model bends at once, at the knee N = C/λ, as a lock or a one-connection
// pool does; it cannot fall past its peak (that is the USL's κ). A Ceiling of +Inf is linear
// scaling.
type Bound struct {
	Lambda, Ceiling float64
}

// Throughput returns the predicted throughput min(λn, C) with n workers.
func (b Bound) Throughput(n float64) float64 {
	if n <= 0 {
		return 0
	}
	return math.Min(b.Lambda*n, b.Ceiling)
}

// Knee returns the worker count at which the ceiling is reached, C/λ (+Inf for linear scaling).
func (b Bound) Knee() float64 { return b.Ceiling / b.Lambda }

// Peak returns the knee and the ceiling: throughput stops rising at N = C/λ (+Inf without a
// ceiling).
func (b Bound) Peak() (n, x float64) { return b.Knee(), b.Ceiling }

// BoundFit is a Bound fitted to measurements, with how well it fits; the fields mean what they
// mean in FitResult.
type BoundFit struct {
	Bound
	R2        float64
	Residuals []float64
	N         int
}

// FitBound fits the bottleneck model to measured capacities by least squares on relative residuals,
// over the same points as Fit and with the same errors. When no measured point reaches a ceiling the
// fit is linear scaling (Ceiling +Inf); so it is when fewer than two worker counts would sit on it.
//
// Each point lies either on the rising line or on the ceiling. For a given split of the points,
// sorted by worker count, λ and C have closed forms; the fit takes the best split by the true cost
// and then refines both parameters together, in log space, with Nelder–Mead.
func FitBound(points []Point) (BoundFit, error) {
	ns, xs, err := usable(points)
	if err != nil {
		return BoundFit{}, err
	}
	idx := make([]int, len(ns))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ns[idx[a]] < ns[idx[b]] })

	cost := func(b Bound) float64 {
		if !(b.Lambda > 0) || !(b.Ceiling > 0) {
			return math.Inf(1)
		}
		var c float64
		for i := range ns {
			r := b.Throughput(ns[i])/xs[i] - 1
			c += r * r
		}
		return c
	}
	// Relative least squares of a·v_i against 1: a = Σv / Σv².
	ratio := func(v func(i int) float64, from, to int) float64 {
		var s1, s2 float64
		for _, i := range idx[from:to] {
			s1 += v(i)
			s2 += v(i) * v(i)
		}
		return s1 / s2
	}
	// A ceiling needs two worker counts on it: one point below the line is noise, or the start of
	// a bend the run did not measure, and a "ceiling" there would be fitted to that one point.
	onCeiling := func(b Bound) int {
		seen := map[float64]bool{}
		for _, n := range ns {
			if b.Lambda*n >= b.Ceiling {
				seen[n] = true
			}
		}
		return len(seen)
	}
	linear := Bound{Lambda: ratio(func(i int) float64 { return ns[i] / xs[i] }, 0, len(idx)), Ceiling: math.Inf(1)}
	best, bestCost := linear, cost(linear)
	for k := 1; k < len(idx); k++ { // points idx[:k] on the line, idx[k:] on the ceiling
		b := Bound{
			Lambda:  ratio(func(i int) float64 { return ns[i] / xs[i] }, 0, k),
			Ceiling: ratio(func(i int) float64 { return 1 / xs[i] }, k, len(idx)),
		}
		if c := cost(b); c < bestCost && onCeiling(b) >= 2 {
			best, bestCost = b, c
		}
	}
	if !math.IsInf(best.Ceiling, 1) {
		f := func(p [2]float64) float64 { return cost(Bound{math.Exp(p[0]), math.Exp(p[1])}) }
		p, c := nelderMead(f, [2]float64{math.Log(best.Lambda), math.Log(best.Ceiling)}, [2]float64{0.05, 0.05})
		if b := (Bound{math.Exp(p[0]), math.Exp(p[1])}); c < bestCost && onCeiling(b) >= 2 {
			best = b
		}
	}
	r := BoundFit{Bound: best, N: len(ns)}
	r.Residuals, r.R2 = goodness(best.Throughput, ns, xs)
	return r, nil
}

// Verdict describes the bottleneck model in plain words.
func (b Bound) Verdict() string {
	if math.IsInf(b.Ceiling, 1) {
		return fmt.Sprintf("near-linear: no ceiling within the measured range (λ=%.0f rps per worker)", b.Lambda)
	}
	return fmt.Sprintf("contention-limited: one shared resource caps throughput at ≈%.0f rps from N≈%.1f workers on", b.Ceiling, b.Knee())
}

// RMS returns the root mean square of relative residuals: the typical miss of a fitted curve, as a
// fraction of the measured capacity.
func RMS(residuals []float64) float64 {
	if len(residuals) == 0 {
		return 0
	}
	var s float64
	for _, r := range residuals {
		s += r * r
	}
	return math.Sqrt(s / float64(len(residuals)))
}

// WorstResidual returns the relative residual of largest magnitude, with its sign.
func WorstResidual(residuals []float64) float64 {
	var w float64
	for _, r := range residuals {
		if math.Abs(r) > math.Abs(w) {
			w = r
		}
	}
	return w
}

// PreferBound reports whether the bottleneck model, with a ceiling within the measured range,
// describes the points better than the USL: a smaller relative RMS error with one parameter fewer.
// A sharp knee (a lock, a one-connection pool) is where it wins; a curve that falls past a peak, or
// bends gradually, stays with the USL, and so does one without a ceiling (near-linear).
func PreferBound(usl FitResult, bound BoundFit) bool {
	return bound.N > 0 && !math.IsInf(bound.Ceiling, 1) && RMS(bound.Residuals) < RMS(usl.Residuals)
}
