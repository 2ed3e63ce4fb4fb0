package scaling

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	"gonum.org/v1/gonum/optimize"
)

// ErrInsufficientMeasurements is returned by Fit when fewer than MinFitWorkerCounts distinct worker
// counts have a measured capacity: three parameters need at least three independent points.
var ErrInsufficientMeasurements = errors.New("scaling: insufficient measurements for a USL fit")

const (
	// MinFitWorkerCounts is the fewest distinct worker counts Fit accepts.
	MinFitWorkerCounts = 3
	// TrustedFitWorkerCounts is the fewest distinct worker counts Fit trusts without a warning;
	// codahale/usl refuses to fit below it.
	TrustedFitWorkerCounts = 6
)

// Model is the Universal Scalability Law
//
//	X(N) = λN / (1 + σ(N−1) + κN(N−1))
//
// Lambda (λ > 0) is the throughput of one worker, Sigma (σ ≥ 0) the contention (the serialised
// fraction, Amdahl's law when κ = 0) and Kappa (κ ≥ 0) the coherency cost (pairwise crosstalk that
// makes throughput fall past a peak). The zero Model predicts zero throughput everywhere.
type Model struct {
	Lambda, Sigma, Kappa float64
}

// Throughput returns the predicted throughput X(n) with n workers, in the unit of Lambda.
func (m Model) Throughput(n float64) float64 {
	if n <= 0 {
		// No workers, no throughput; the formula itself is 0/0 at n = 0 when σ = 1 (a flat
		// curve), and a NaN there once hung a chart's axis.
		return 0
	}
	return m.Lambda * n / (1 + m.Sigma*(n-1) + m.Kappa*n*(n-1))
}

// Peak returns the worker count of maximal throughput and that throughput. The USL's peak is at
// N* = √((1−σ)/κ). With κ = 0 throughput rises forever: n is +Inf and x is the Amdahl ceiling λ/σ
// (+Inf too when σ = 0). With σ ≥ 1, or N* below one worker, one worker is the peak (n = 1).
func (m Model) Peak() (n, x float64) {
	switch {
	case m.Sigma >= 1:
		return 1, m.Throughput(1)
	case m.Kappa <= 0:
		if m.Sigma <= 0 {
			return math.Inf(1), math.Inf(1)
		}
		return math.Inf(1), m.Lambda / m.Sigma
	}
	n = math.Sqrt((1 - m.Sigma) / m.Kappa)
	if n < 1 {
		n = 1
	}
	return n, m.Throughput(n)
}

// Thresholds of Verdict. A σ below linearSigma caps speedup above 50×, beyond anything one machine
// runs; a peak beyond farPeak workers is equally out of reach, so such a κ does not limit scaling.
const (
	linearSigma = 0.02
	farPeak     = 1000
)

// Verdict describes in plain words what limits scaling, e.g. "near-linear (σ=0.01, κ=0)",
// "contention-limited: Amdahl ceiling 1/σ = 5.0× one worker" or "coherency-limited, peak at N≈9
// (X≈4200 rps)". Throughputs are printed as rps: the unit of Lambda in this project.
func (m Model) Verdict() string {
	n, x := m.Peak()
	switch {
	case !(m.Lambda > 0):
		return "no model (λ ≤ 0)"
	case m.Sigma >= 1:
		return fmt.Sprintf("retrograde: one worker is the peak, adding workers lowers throughput (σ=%s)", num(m.Sigma))
	case !math.IsInf(n, 1) && n <= farPeak:
		return fmt.Sprintf("coherency-limited, peak at N≈%.0f (X≈%.0f rps)", n, x)
	case m.Sigma >= linearSigma:
		return fmt.Sprintf("contention-limited: Amdahl ceiling 1/σ = %.1f× one worker", 1/m.Sigma)
	default:
		return fmt.Sprintf("near-linear (σ=%s, κ=%s)", num(m.Sigma), num(m.Kappa))
	}
}

// num prints a parameter with two significant digits: "0.01", "0", "0.0012".
func num(v float64) string { return strconv.FormatFloat(v, 'g', 2, 64) }

// FitResult is a Model fitted to measurements, with how well it fits.
//
// (The brief named this type Fit, but a type and the function Fit cannot share a name in one
// package.)
type FitResult struct {
	Model
	// R2 is the coefficient of determination on the measured capacities (absolute, not relative):
	// 1 is a perfect fit, 0 no better than their mean.
	R2 float64
	// Residuals are (predicted − measured) / measured, one per point used, in input order.
	Residuals []float64
	// N is the number of points used (those with Workers > 0 and a positive, finite Capacity).
	N int
	// Warning is empty when the fit had TrustedFitWorkerCounts distinct worker counts or more, and
	// otherwise says why the parameters deserve less trust.
	Warning string
}

// Fit fits the USL to measured capacities by least squares on relative residuals, with σ, κ ≥ 0 and
// λ > 0. Points with Workers ≤ 0 or no positive capacity are skipped (not measured). Repeated
// worker counts are fine. Fewer than MinFitWorkerCounts distinct worker counts is an error wrapping
// ErrInsufficientMeasurements; fewer than TrustedFitWorkerCounts fits with a Warning.
//
// Relative residuals, Σ((X̂−X)/X)², because capacities grow with N: absolute residuals would let
// the largest N dominate and fit one worker's capacity (λ, the baseline of every speedup) loosely,
// and a few percent of noise is what a measurement step has at every N alike.
//
// For fixed (σ, κ) the model is linear in λ, so λ has a closed form and the search is over
// (σ, κ) only: a coarse logarithmic grid, then Nelder–Mead from the best grid cells. It is
// deterministic and needs no starting guess.
func Fit(points []Point) (FitResult, error) {
	ns, xs, err := usable(points)
	if err != nil {
		return FitResult{}, err
	}
	o := objective{n: ns, x: xs}
	sigma, kappa := o.minimise()
	m := Model{Lambda: o.lambda(sigma, kappa), Sigma: sigma, Kappa: kappa}

	r := FitResult{Model: m, N: len(ns)}
	r.Residuals, r.R2 = goodness(m.Throughput, ns, xs)
	if d := distinctCount(ns); d < TrustedFitWorkerCounts {
		r.Warning = fmt.Sprintf("only %d distinct worker counts; %d or more give a trustworthy fit (codahale/usl requires %d)",
			d, TrustedFitWorkerCounts, TrustedFitWorkerCounts)
	}
	return r, nil
}

// usable returns the worker counts and capacities of the points a fit uses: Workers > 0 and a
// positive, finite capacity. Fewer than MinFitWorkerCounts distinct worker counts is an error
// wrapping ErrInsufficientMeasurements.
func usable(points []Point) (ns, xs []float64, err error) {
	for _, p := range points {
		if p.Workers <= 0 || !(p.Capacity > 0) || math.IsInf(p.Capacity, 1) {
			continue
		}
		ns = append(ns, float64(p.Workers))
		xs = append(xs, p.Capacity)
	}
	if d := distinctCount(ns); d < MinFitWorkerCounts {
		return nil, nil, fmt.Errorf("points: %d distinct worker counts with a capacity, need %d: %w",
			d, MinFitWorkerCounts, ErrInsufficientMeasurements)
	}
	return ns, xs, nil
}

func distinctCount(ns []float64) int {
	seen := map[float64]bool{}
	for _, n := range ns {
		seen[n] = true
	}
	return len(seen)
}

// goodness returns a fitted curve's relative residuals (predicted − measured) / measured, in input
// order, and its coefficient of determination R² on the capacities themselves.
func goodness(predict func(float64) float64, ns, xs []float64) (residuals []float64, r2 float64) {
	var mean float64
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	residuals = make([]float64, len(ns))
	var ssRes, ssTot float64
	for i := range ns {
		pred := predict(ns[i])
		residuals[i] = (pred - xs[i]) / xs[i]
		ssRes += (pred - xs[i]) * (pred - xs[i])
		ssTot += (xs[i] - mean) * (xs[i] - mean)
	}
	switch {
	case ssTot > 0:
		r2 = 1 - ssRes/ssTot
	case ssRes == 0:
		r2 = 1
	}
	return residuals, r2
}

// objective is the relative least-squares cost of the USL profiled over λ.
type objective struct{ n, x []float64 }

// u returns the per-point shape g(N)/X with g(N) = N / (1 + σ(N−1) + κN(N−1)): the relative
// residual of point i is λ·u_i − 1.
func (o objective) u(sigma, kappa float64, i int) float64 {
	n := o.n[i]
	return n / (1 + sigma*(n-1) + kappa*n*(n-1)) / o.x[i]
}

// lambda is the λ minimising Σ(λu_i − 1)² for fixed (σ, κ): Σu / Σu².
func (o objective) lambda(sigma, kappa float64) float64 {
	var s1, s2 float64
	for i := range o.n {
		u := o.u(sigma, kappa, i)
		s1 += u
		s2 += u * u
	}
	return s1 / s2
}

// cost is Σ(λu_i − 1)² at the best λ, i.e. len − (Σu)²/Σu².
func (o objective) cost(sigma, kappa float64) float64 {
	if sigma < 0 || kappa < 0 {
		return math.Inf(1)
	}
	l := o.lambda(sigma, kappa)
	var c float64
	for i := range o.n {
		r := l*o.u(sigma, kappa, i) - 1
		c += r * r
	}
	return c
}

// minimise returns the (σ, κ) of least cost.
func (o objective) minimise() (sigma, kappa float64) {
	// Grid: zero plus log-spaced values wide enough for anything a machine shows (σ up to 20 is a
	// curve falling from the first added worker; κ up to 10 peaks below one worker).
	sigmas := append([]float64{0}, logspace(1e-4, 20, 48)...)
	kappas := append([]float64{0}, logspace(1e-7, 10, 48)...)
	type cell struct {
		i, j int
		c    float64
	}
	cells := make([]cell, 0, len(sigmas)*len(kappas))
	for i, s := range sigmas {
		for j, k := range kappas {
			cells = append(cells, cell{i, j, o.cost(s, k)})
		}
	}
	sort.SliceStable(cells, func(a, b int) bool { return cells[a].c < cells[b].c })

	// Refine in (√σ, √κ) so the bounds σ, κ ≥ 0 hold by construction. Several starts guard against
	// a local minimum in a valley of the grid.
	f := func(p [2]float64) float64 { return o.cost(p[0]*p[0], p[1]*p[1]) }
	best, bestCost := [2]float64{}, math.Inf(1)
	for _, c := range cells[:min(4, len(cells))] {
		start := [2]float64{math.Sqrt(sigmas[c.i]), math.Sqrt(kappas[c.j])}
		p, pc := nelderMead(f, start, [2]float64{stepFor(start[0], 0.05), stepFor(start[1], 0.01)})
		if pc < bestCost {
			best, bestCost = p, pc
		}
	}
	sigma, kappa = best[0]*best[0], best[1]*best[1]
	if c := cells[0]; c.c < bestCost {
		sigma, kappa, bestCost = sigmas[c.i], kappas[c.j], c.c
	}

	// In √ space the optimiser approaches a bound but never lands on it: an Amdahl curve comes back
	// with κ ≈ 1e-18, whose "peak" at a billion workers is noise. Fit the simpler models on the
	// bounds (κ = 0: Amdahl; σ = 0: pure coherency) and take one when it is as good, so that κ = 0
	// reads as "no peak" and σ = 0 as "no contention".
	asGood := func(c float64) bool { return c <= bestCost*(1+1e-6)+1e-24 }
	if s := o.boundary(sigmas, func(s float64) float64 { return o.cost(s, 0) }); asGood(o.cost(s, 0)) {
		return s, 0
	}
	if k := o.boundary(kappas, func(k float64) float64 { return o.cost(0, k) }); asGood(o.cost(0, k)) {
		return 0, k
	}
	return sigma, kappa
}

// boundary minimises the one-parameter cost f over a non-negative parameter: the best of the grid,
// then golden-section search between its grid neighbours.
func (o objective) boundary(grid []float64, f func(float64) float64) float64 {
	bi := 0
	for i := range grid {
		if f(grid[i]) < f(grid[bi]) {
			bi = i
		}
	}
	lo, hi := grid[max(bi-1, 0)], grid[min(bi+1, len(grid)-1)]
	const invPhi = 0.6180339887498949
	a, b := hi-invPhi*(hi-lo), lo+invPhi*(hi-lo)
	fa, fb := f(a), f(b)
	for range 200 {
		if fa < fb {
			hi, b, fb = b, a, fa
			a = hi - invPhi*(hi-lo)
			fa = f(a)
		} else {
			lo, a, fa = a, b, fb
			b = lo + invPhi*(hi-lo)
			fb = f(b)
		}
		if hi-lo <= 1e-15*(1+hi) {
			break
		}
	}
	x := (lo + hi) / 2
	if f(grid[bi]) < f(x) {
		return grid[bi]
	}
	return x
}

func stepFor(x, floor float64) float64 { return math.Max(0.2*x, floor) }

func logspace(lo, hi float64, n int) []float64 {
	out := make([]float64, n)
	r := math.Log(hi / lo)
	for i := range out {
		out[i] = lo * math.Exp(r*float64(i)/float64(n-1))
	}
	return out
}

// nelderMead minimises f over the plane from start with the given initial simplex steps, with
// gonum's Nelder–Mead (standard coefficients: reflection 1, expansion 2, contraction ½, shrink ½),
// and returns the best vertex and its cost. It restarts twice from its result, which cures a
// simplex that collapsed early.
//
// gonum's in place of the hand-written simplex this package had: every fit test gives the same
// result with it. It is slower, 2.3 ms a fit against 1.7 ms (BenchmarkFit, on a busy 2-core
// machine), which does not matter at a few fits per report.
func nelderMead(f func([2]float64) float64, start, step [2]float64) ([2]float64, float64) {
	x, fx := start, f(start)
	for restart := 0; restart < 3; restart++ {
		if nx, nfx := nelderMeadOnce(f, x, step); nfx <= fx {
			x, fx = nx, nfx
		}
		step = [2]float64{stepFor(math.Abs(x[0]), 1e-3), stepFor(math.Abs(x[1]), 1e-4)}
	}
	return x, fx
}

func nelderMeadOnce(f func([2]float64) float64, start, step [2]float64) ([2]float64, float64) {
	vertices := [][]float64{
		{start[0], start[1]},
		{start[0] + step[0], start[1]},
		{start[0], start[1] + step[1]},
	}
	values := make([]float64, len(vertices))
	for i, v := range vertices {
		values[i] = f([2]float64{v[0], v[1]})
	}
	problem := optimize.Problem{Func: func(x []float64) float64 { return f([2]float64{x[0], x[1]}) }}
	settings := &optimize.Settings{
		// The costs are sums of squared relative residuals: a perfect fit is 0 and a good one
		// 1e-6, so only a relative tolerance means anything. 20 iterations without a relative
		// gain of 1e-15 end a run (the restarts above catch an early stop); with 100 every fit
		// test gave the same result at 2.6× the time.
		Converger:       &optimize.FunctionConverge{Relative: 1e-15, Iterations: 20},
		MajorIterations: 2000,
	}
	res, err := optimize.Minimize(problem, vertices[0], settings, &optimize.NelderMead{InitialVertices: vertices, InitialValues: values})
	if err != nil || res == nil {
		// Minimize fails only on a cost it cannot use (NaN); the start is then the best known.
		return start, values[0]
	}
	return [2]float64{res.X[0], res.X[1]}, res.F
}
