package scaling

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestBound_Throughput(t *testing.T) {
	t.Parallel()
	b := Bound{Lambda: 75, Ceiling: 420}
	for _, tc := range []struct{ n, want float64 }{{0, 0}, {1, 75}, {4, 300}, {5.6, 420}, {16, 420}} {
		if got := b.Throughput(tc.n); !approx(got, tc.want, 1e-9) {
			t.Errorf("Throughput(%v) = %v, want %v", tc.n, got, tc.want)
		}
	}
	if got := b.Knee(); !approx(got, 5.6, 1e-9) {
		t.Errorf("Knee() = %v, want 5.6", got)
	}
}

// boundCurve samples b at the given worker counts.
func boundCurve(b Bound, workers ...int) []Point {
	pts := make([]Point, len(workers))
	for i, n := range workers {
		pts[i] = Point{Workers: n, Capacity: b.Throughput(float64(n))}
	}
	return pts
}

func TestFitBound_Exact(t *testing.T) {
	t.Parallel()
	for _, want := range []Bound{{75, 420}, {500, 900}, {100, 350}, {10, 1e4}} {
		fit, err := FitBound(boundCurve(want, 1, 2, 4, 6, 8, 12, 16))
		if err != nil {
			t.Fatal(err)
		}
		wantC := want.Ceiling
		if want.Knee() >= 16 {
			wantC = math.Inf(1) // no point reaches the ceiling: linear
		}
		if !relApprox(fit.Lambda, want.Lambda, 1e-6) || !relApprox(fit.Ceiling, wantC, 1e-6) {
			t.Errorf("FitBound(%+v) = λ %v, C %v", want, fit.Lambda, fit.Ceiling)
		}
		if w := WorstResidual(fit.Residuals); math.Abs(w) > 1e-6 {
			t.Errorf("FitBound(%+v): worst residual %v, want 0", want, w)
		}
	}
}

// Within ±3 % noise, λ and the ceiling come back within 3 % (each is an average of several points
// that carry that noise).
func TestFitBound_Noisy(t *testing.T) {
	t.Parallel()
	want := Bound{Lambda: 75, Ceiling: 420}
	for seed := uint64(1); seed <= 20; seed++ {
		fit, err := FitBound(noisy(boundCurve(want, 1, 2, 4, 6, 8, 12, 16), 0.03, seed))
		if err != nil {
			t.Fatal(err)
		}
		if !relApprox(fit.Lambda, want.Lambda, 0.03) || !relApprox(fit.Ceiling, want.Ceiling, 0.03) {
			t.Errorf("seed %d: λ %.1f, C %.1f; want %+v within 3 %%", seed, fit.Lambda, fit.Ceiling, want)
		}
	}
}

// Two runs of scenarios/shared-db.yaml (a 2 ms Redis-held token behind concurrency-1 sleep
// workers). The USL cannot bend sharply enough for the second: its knee point is 13 % off. The
// bottleneck model keeps every point within 10 % and its ceiling within 10 % of the plateau, and
// PreferBound picks it for both.
func TestFitBound_SharedDBRuns(t *testing.T) {
	t.Parallel()
	workers := []int{1, 2, 4, 6, 8, 12, 16}
	for _, run := range [][]float64{
		{74, 147, 297, 409, 418, 421, 416},
		{74, 147, 302, 423, 410, 390, 412},
	} {
		pts := make([]Point, len(workers))
		plateau := 0.0
		for i, n := range workers {
			pts[i] = Point{Workers: n, Capacity: run[i]}
			plateau = max(plateau, run[i])
		}
		uf, bf := fitBoth(t, pts)
		if w := WorstResidual(bf.Residuals); math.Abs(w) > 0.10 {
			t.Errorf("%v: worst residual %+.3f, want within 10 %%", run, w)
		}
		if !relApprox(bf.Ceiling, plateau, 0.10) {
			t.Errorf("%v: ceiling %.0f, plateau %.0f", run, bf.Ceiling, plateau)
		}
		if !PreferBound(uf, bf) {
			t.Errorf("%v: PreferBound = false (bound RMS %.3f, USL RMS %.3f)", run, RMS(bf.Residuals), RMS(uf.Residuals))
		}
		if v := bf.Verdict(); !strings.HasPrefix(v, "contention-limited") {
			t.Errorf("%v: verdict %q", run, v)
		}
	}
}

// fitBoth fits both models to pts.
func fitBoth(t *testing.T, pts []Point) (FitResult, BoundFit) {
	t.Helper()
	uf, err := Fit(pts)
	if err != nil {
		t.Fatal(err)
	}
	bf, err := FitBound(pts)
	if err != nil {
		t.Fatal(err)
	}
	return uf, bf
}

// A curve that falls past its peak is the USL's: the bottleneck model cannot fall.
func TestPreferBound_Retrograde(t *testing.T) {
	t.Parallel()
	uf, bf := fitBoth(t, curve(Model{Lambda: 1000, Sigma: 0.02, Kappa: 0.01}, 1, 2, 4, 8, 16, 32))
	if PreferBound(uf, bf) {
		t.Errorf("PreferBound = true for a retrograde USL curve (bound RMS %.3f, USL RMS %.3f)", RMS(bf.Residuals), RMS(uf.Residuals))
	}
}

func TestFitBound_TooFewPoints(t *testing.T) {
	t.Parallel()
	_, err := FitBound([]Point{{Workers: 1, Capacity: 100}, {Workers: 2, Capacity: 190}, {Workers: 2, Capacity: 0}})
	if !errors.Is(err, ErrInsufficientMeasurements) {
		t.Errorf("err = %v, want ErrInsufficientMeasurements", err)
	}
}

func TestWorstResidualAndRMS(t *testing.T) {
	t.Parallel()
	r := []float64{0.01, -0.13, 0.05}
	if got := WorstResidual(r); got != -0.13 {
		t.Errorf("WorstResidual = %v", got)
	}
	if got, want := RMS(r), math.Sqrt((0.0001+0.0169+0.0025)/3); !approx(got, want, 1e-12) {
		t.Errorf("RMS = %v, want %v", got, want)
	}
}

// Near-linear capacities (a scenarios/sleep.yaml run) have no ceiling in range: the USL keeps them,
// and a last point a little low does not become a "ceiling" of its own.
func TestPreferBound_NearLinear(t *testing.T) {
	t.Parallel()
	uf, bf := fitBoth(t, []Point{{Workers: 1, Capacity: 93}, {Workers: 2, Capacity: 188}, {Workers: 4, Capacity: 372}, {Workers: 8, Capacity: 752}, {Workers: 16, Capacity: 1480}})
	if !math.IsInf(bf.Ceiling, 1) {
		t.Errorf("ceiling %v, want none (+Inf) for a near-linear run", bf.Ceiling)
	}
	if PreferBound(uf, bf) {
		t.Error("PreferBound = true without a ceiling")
	}
}
