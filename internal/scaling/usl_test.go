package scaling

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// approx reports whether got is within tol of want (absolute), treating equal infinities as equal:
// a hand-written stand-in for cmpopts.EquateApprox(0, tol).
func approx(got, want, tol float64) bool {
	if math.IsInf(want, 0) || math.IsInf(got, 0) {
		return got == want
	}
	return math.Abs(got-want) <= tol
}

// relApprox reports whether got is within a fraction frac of want.
func relApprox(got, want, frac float64) bool {
	return approx(got, want, frac*math.Abs(want))
}

// curve samples m at the given worker counts.
func curve(m Model, workers ...int) []Point {
	pts := make([]Point, len(workers))
	for i, n := range workers {
		pts[i] = Point{Workers: n, Capacity: m.Throughput(float64(n))}
	}
	return pts
}

// noisy multiplies each capacity by a factor drawn uniformly from [1−frac, 1+frac], deterministically.
func noisy(pts []Point, frac float64, seed uint64) []Point {
	r := rand.New(rand.NewPCG(seed, 0x5ca1ab1e))
	out := make([]Point, len(pts))
	for i, p := range pts {
		out[i] = Point{Workers: p.Workers, Capacity: p.Capacity * (1 + frac*(2*r.Float64()-1))}
	}
	return out
}

var doubling = []int{1, 2, 4, 8, 16, 32}

func TestModel_Throughput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		m    Model
		n    float64
		want float64
	}{
		{"one worker is lambda", Model{1000, 0.05, 0.001}, 1, 1000},
		{"linear", Model{100, 0, 0}, 8, 800},
		// 1000·4 / (1 + 0.1·3) = 4000/1.3
		{"amdahl", Model{1000, 0.1, 0}, 4, 4000 / 1.3},
		// 1000·8 / (1 + 0.05·7 + 0.001·56) = 8000/1.406
		{"usl", Model{1000, 0.05, 0.001}, 8, 8000 / 1.406},
		{"zero model", Model{}, 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.Throughput(tc.n); !approx(got, tc.want, 1e-9) {
				t.Errorf("%+v.Throughput(%v) = %v, want %v", tc.m, tc.n, got, tc.want)
			}
		})
	}
}

func TestModel_Peak(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	for _, tc := range []struct {
		name         string
		m            Model
		wantN, wantX float64
	}{
		// N* = √(0.96/0.001) = 30.98…; X(N*) from the formula.
		{"usl", Model{1000, 0.04, 0.001}, math.Sqrt(960), Model{1000, 0.04, 0.001}.Throughput(math.Sqrt(960))},
		{"pure coherency", Model{100, 0, 0.01}, 10, 100 * 10 / (1 + 0.01*90)},
		{"amdahl ceiling", Model{200, 0.2, 0}, inf, 1000},
		{"linear", Model{100, 0, 0}, inf, inf},
		{"retrograde sigma", Model{100, 1.5, 0.001}, 1, 100},
		{"peak below one worker", Model{100, 0.5, 2}, 1, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, x := tc.m.Peak()
			if !approx(n, tc.wantN, 1e-9) || !approx(x, tc.wantX, 1e-9) {
				t.Errorf("%+v.Peak() = (%v, %v), want (%v, %v)", tc.m, n, x, tc.wantN, tc.wantX)
			}
			// The peak is a maximum: its neighbours do no better.
			if !math.IsInf(n, 1) {
				for _, d := range []float64{-0.5, 0.5} {
					if n+d >= 1 && tc.m.Throughput(n+d) > x {
						t.Errorf("X(%v) = %v beats the peak %v", n+d, tc.m.Throughput(n+d), x)
					}
				}
			}
		})
	}
}

func TestModel_Verdict(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		m    Model
		want string
	}{
		{Model{1000, 0.01, 0}, "near-linear (σ=0.01, κ=0)"},
		{Model{200, 0.2, 0}, "contention-limited: Amdahl ceiling 1/σ = 5.0× one worker"},
		// N* = √(0.9/0.0111) ≈ 9.0
		{Model{1000, 0.1, 0.0111}, "coherency-limited, peak at N≈9 (X≈3463 rps)"},
		{Model{1000, 1.2, 0}, "retrograde: one worker is the peak, adding workers lowers throughput (σ=1.2)"},
		// A peak past 1000 workers does not limit anything a machine runs.
		{Model{1000, 0.001, 1e-7}, "near-linear (σ=0.001, κ=1e-07)"},
	} {
		if got := tc.m.Verdict(); got != tc.want {
			t.Errorf("%+v.Verdict() = %q, want %q", tc.m, got, tc.want)
		}
	}
}

// TestFit_noiseless recovers the parameters of exact curves to 1e-3 absolute (σ, κ) and 1e-6
// relative (λ); a κ of zero must come back below 1e-4.
func TestFit_noiseless(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		m       Model
		workers []int
	}{
		{"usl", Model{1000, 0.05, 0.001}, doubling},
		{"amdahl", Model{1000, 0.1, 0}, doubling},
		{"linear", Model{250, 0, 0}, doubling},
		{"strong coherency, past the peak", Model{500, 0.02, 0.02}, []int{1, 2, 3, 4, 6, 8, 12, 16}},
		{"no single worker", Model{800, 0.03, 0.0005}, []int{2, 4, 6, 8, 12, 16}},
		{"retrograde", Model{100, 1.5, 0.01}, doubling},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := Fit(curve(tc.m, tc.workers...))
			if err != nil {
				t.Fatal(err)
			}
			if !approx(f.Sigma, tc.m.Sigma, 1e-3) || !approx(f.Kappa, tc.m.Kappa, 1e-3) ||
				!relApprox(f.Lambda, tc.m.Lambda, 1e-6) {
				t.Errorf("Fit = %+v, want %+v", f.Model, tc.m)
			}
			if tc.m.Kappa == 0 && f.Kappa >= 1e-4 {
				t.Errorf("κ = %v, want < 1e-4 for a κ=0 curve", f.Kappa)
			}
			if tc.m.Sigma == 0 && f.Sigma >= 1e-4 {
				t.Errorf("σ = %v, want < 1e-4 for a σ=0 curve", f.Sigma)
			}
			if !approx(f.R2, 1, 1e-9) {
				t.Errorf("R2 = %v, want 1", f.R2)
			}
			if f.N != len(tc.workers) || len(f.Residuals) != len(tc.workers) || f.Warning != "" {
				t.Errorf("N = %d, %d residuals, warning %q; want %d, %d, none",
					f.N, len(f.Residuals), f.Warning, len(tc.workers), len(tc.workers))
			}
			for i, r := range f.Residuals {
				if !approx(r, 0, 1e-6) {
					t.Errorf("residual %d = %v, want 0", i, r)
				}
			}
		})
	}
}

// TestFit_serializedSection: a section of s = 1 ms every request runs alone, next to p = 4 ms that
// runs in parallel. Amdahl: λ = 1/(s+p) = 200 rps, σ = s/(s+p) = 0.2, and throughput levels off at
// 1/s = 1000 rps however many workers run.
func TestFit_serializedSection(t *testing.T) {
	t.Parallel()
	s, p := 0.001, 0.004
	pts := curve(Model{Lambda: 1 / (s + p), Sigma: s / (s + p)}, doubling...)
	f, err := Fit(pts)
	if err != nil {
		t.Fatal(err)
	}
	n, x := f.Peak()
	if !math.IsInf(n, 1) || !relApprox(x, 1/s, 1e-4) {
		t.Errorf("Peak() = (%v, %v), want (+Inf, %v)", n, x, 1/s)
	}
	if got, want := f.Verdict(), "contention-limited: Amdahl ceiling 1/σ = 5.0× one worker"; got != want {
		t.Errorf("Verdict() = %q, want %q", got, want)
	}
}

// TestFit_lockQueue fits the exact mean-value analysis of the same 1 ms lock queue (the workers queue
// for it, a closed system): the knee into the plateau is sharper than Amdahl's, and the USL bends it
// with a κ. The fit is still useful: its peak lies within 10 % of the true 1/s ceiling and R² > 0.95.
func TestFit_lockQueue(t *testing.T) {
	t.Parallel()
	s, p := 0.001, 0.004
	var pts []Point
	queue := 0.0
	for n := 1; n <= 32; n++ {
		r := s * (1 + queue) // time at the lock: own service plus those found queued
		x := float64(n) / (p + r)
		queue = x * r
		if n&(n-1) == 0 {
			pts = append(pts, Point{Workers: n, Capacity: x})
		}
	}
	f, err := Fit(pts)
	if err != nil {
		t.Fatal(err)
	}
	if _, x := f.Peak(); !relApprox(x, 1/s, 0.10) {
		t.Errorf("peak throughput %v, want within 10%% of %v", x, 1/s)
	}
	if f.R2 < 0.95 {
		t.Errorf("R2 = %v, want > 0.95", f.R2)
	}
}

// TestFit_noisy: ±3 % uniform multiplicative noise on λ=1000, σ=0.05, κ=0.001 at N = 1…32
// (doubling). Tolerances: σ within 0.02, κ within 0.0005, λ within 5 %, for 50 seeds. (Over 200
// seeds the worst errors measured were σ 0.011 and κ 0.00033.)
func TestFit_noisy(t *testing.T) {
	t.Parallel()
	want := Model{1000, 0.05, 0.001}
	for seed := uint64(1); seed <= 50; seed++ {
		f, err := Fit(noisy(curve(want, doubling...), 0.03, seed))
		if err != nil {
			t.Fatal(err)
		}
		if !approx(f.Sigma, want.Sigma, 0.02) || !approx(f.Kappa, want.Kappa, 0.0005) ||
			!relApprox(f.Lambda, want.Lambda, 0.05) {
			t.Errorf("seed %d: Fit = %+v, want %+v ± (5%%, 0.02, 0.0005)", seed, f.Model, want)
		}
		for i, r := range f.Residuals {
			if math.Abs(r) > 0.06 {
				t.Errorf("seed %d: residual %d = %v, beyond the ±3%% noise band twice over", seed, i, r)
			}
		}
	}
}

// TestFit_noisyAmdahl: ±3 % noise on an Amdahl curve (λ=500, σ=0.1, κ=0) must not invent a
// coherency peak within reach: κ within 0.0005 of zero, σ within 0.02.
func TestFit_noisyAmdahl(t *testing.T) {
	t.Parallel()
	want := Model{500, 0.1, 0}
	for seed := uint64(1); seed <= 50; seed++ {
		f, err := Fit(noisy(curve(want, doubling...), 0.03, seed))
		if err != nil {
			t.Fatal(err)
		}
		if !approx(f.Sigma, want.Sigma, 0.02) || !approx(f.Kappa, 0, 0.0005) {
			t.Errorf("seed %d: Fit = %+v, want %+v ± (0.02, 0.0005)", seed, f.Model, want)
		}
	}
}

func TestFit_fewPoints(t *testing.T) {
	t.Parallel()
	m := Model{1000, 0.05, 0.001}
	for _, tc := range []struct {
		name    string
		pts     []Point
		wantErr bool
		warn    bool
	}{
		{"none", nil, true, false},
		{"two", curve(m, 1, 2), true, false},
		// Repeats of one count add no information about the curve's shape.
		{"three points, two counts", curve(m, 1, 2, 2), true, false},
		// Unmeasured points (capacity 0) are skipped, not fitted as zero throughput.
		{"unmeasured skipped", append(curve(m, 1, 2), Point{Workers: 4, Capacity: 0}, Point{Workers: 0, Capacity: 500}), true, false},
		{"three", curve(m, 1, 2, 4), false, true},
		{"five", curve(m, 1, 2, 4, 8, 16), false, true},
		{"six", curve(m, 1, 2, 4, 8, 16, 32), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Fit(tc.pts)
			if got := errors.Is(err, ErrInsufficientMeasurements); got != tc.wantErr {
				t.Fatalf("err = %v, want ErrInsufficientMeasurements: %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := f.Warning != ""; got != tc.warn {
				t.Errorf("Warning = %q, want one: %v", f.Warning, tc.warn)
			}
			if tc.warn && !strings.Contains(f.Warning, "codahale/usl requires 6") {
				t.Errorf("Warning = %q, want it to name the 6-count rule", f.Warning)
			}
			if f.N != len(tc.pts) {
				t.Errorf("N = %d, want %d", f.N, len(tc.pts))
			}
		})
	}
}

// TestFit_relativeWeighting: one point 30 % high at N=32 must not drag the small-N fit along, which
// an absolute least-squares fit (dominated by the largest capacities) would do.
func TestFit_relativeWeighting(t *testing.T) {
	t.Parallel()
	pts := curve(Model{1000, 0.05, 0.001}, doubling...)
	pts[len(pts)-1].Capacity *= 1.3
	f, err := Fit(pts)
	if err != nil {
		t.Fatal(err)
	}
	if !relApprox(f.Throughput(1), 1000, 0.01) {
		t.Errorf("X̂(1) = %v, want within 1%% of 1000", f.Throughput(1))
	}
	for i, r := range f.Residuals[:3] { // N = 1, 2, 4
		if math.Abs(r) > 0.02 {
			t.Errorf("residual at N=%d = %v, want within 2%%", pts[i].Workers, r)
		}
	}
}

func BenchmarkFit(b *testing.B) {
	pts := noisy(curve(Model{1000, 0.05, 0.001}, doubling...), 0.03, 1)
	for b.Loop() {
		if _, err := Fit(pts); err != nil {
			b.Fatal(err)
		}
	}
}

func TestModel_Throughput_flat(t *testing.T) {
	t.Parallel()
	m := Model{Lambda: 200, Sigma: 1}
	for _, n := range []float64{0, 0.5, 1, 4} {
		got := m.Throughput(n)
		if math.IsNaN(got) || math.IsInf(got, 0) {
			t.Errorf("Throughput(%v) = %v, want a finite number", n, got)
		}
	}
	if got := m.Throughput(0); got != 0 {
		t.Errorf("Throughput(0) = %v, want 0", got)
	}
}
