package scaling

import (
	"math"
	"testing"
)

// Reference p-values below were computed independently: by brute force over every split of the
// pooled sample (exact, ties included: bruteForceP), by the counting recursion for U without ties
// (25 against 25), or by the textbook tie-corrected normal formula (past the exact limits).
func TestMannWhitneyU(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		a, b  []float64
		wantU float64
		wantP float64
	}{
		// Complete separation of 5 and 5: only 2 of C(10,5) = 252 splits are as extreme.
		{"separated", []float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10}, 0, 2.0 / 252},
		{"separated, swapped", []float64{6, 7, 8, 9, 10}, []float64{1, 2, 3, 4, 5}, 25, 2.0 / 252},
		{"exact 6 vs 7", []float64{1.1, 2.5, 3.3, 4.0, 7.2, 8.1}, []float64{3.9, 5.5, 6.6, 9.9, 10.2, 11.0, 12.5}, 7, 2.0 / 39},
		{"exact 3 vs 4", []float64{10, 12, 14}, []float64{11, 13, 15, 16}, 3, 0.4},
		// Two sets of benchmark runs, 8 and 9: 60 of 24310 splits are as extreme.
		{"benchmark runs", []float64{101.2, 99.8, 103.5, 100.9, 98.7, 102.2, 104.1, 100.1},
			[]float64{97.5, 99.1, 96.8, 100.4, 98.2, 95.9, 99.6, 97.7, 98.9}, 66, 60.0 / 24310},
		// Ties, exact: 74 of 6435 splits have U ≤ 6.5; 6 of 252 have U ≤ 2.
		{"ties", []float64{1, 2, 2, 3, 4, 4, 5}, []float64{3, 4, 5, 5, 6, 7, 7, 8}, 6.5, 2 * 37.0 / 6435},
		{"heavy ties", []float64{1, 1, 1, 2, 2}, []float64{2, 2, 3, 3, 3}, 2, 2 * 6.0 / 252},
		{"identical samples", []float64{1, 2, 3}, []float64{1, 2, 3}, 4.5, 1},
		{"all equal", []float64{5, 5, 5}, []float64{5, 5}, 3, 1},
		// 25 each, no ties: still exact; 2·P(U ≤ 300) from the counting recursion.
		{"25 each, exact", seq(0, 25), seq(0.5, 25), 300, 0.8175043412833243},
		// 30 each with ties is past the exact limit for ties: tie-corrected normal approximation.
		{"30 each with ties, normal", thirds(0, 30), thirds(1, 30), 364.5, 0.20682159216771612},
		// Degenerate input carries no evidence.
		{"empty", nil, []float64{1, 2}, 0, 1},
		{"NaN dropped", []float64{1, 2, 3, 4, 5, math.NaN()}, []float64{6, 7, 8, 9, 10}, 0, 2.0 / 252},
	} {
		u, p := MannWhitneyU(tc.a, tc.b)
		if !approx(u, tc.wantU, 1e-12) || !relApprox(p, tc.wantP, 1e-9) {
			t.Errorf("%s: MannWhitneyU = (%v, %v), want (%v, %v)", tc.name, u, p, tc.wantU, tc.wantP)
		}
	}
}

// TestMannWhitneyU_tiesSmall: four repetitions a side of a fixed-rate step, throughput in whole
// requests per second, so that runs tie. The normal approximation the test used to fall back on
// with any tie gave p = 0.047 and 0.036, "significant" at 0.05; the exact p, brute-forced over
// all 70 splits, is 0.086 and 0.057: not significant.
func TestMannWhitneyU_tiesSmall(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b         []float64
		wantU, wantP float64
	}{
		{[]float64{100, 100, 101, 101}, []float64{101, 102, 102, 102}, 1, 6.0 / 70},
		{[]float64{500, 501, 501, 502}, []float64{502, 503, 503, 503}, 0.5, 4.0 / 70},
		{[]float64{500, 500, 501, 501, 501}, []float64{501, 502, 502, 502, 503}, 1.5, 8.0 / 252},
		{[]float64{1200, 1201, 1201}, []float64{1201, 1202, 1202}, 1, 0.3},
	} {
		u, p := MannWhitneyU(tc.a, tc.b)
		if brute := bruteForceP(tc.a, tc.b); !relApprox(brute, tc.wantP, 1e-12) {
			t.Fatalf("%v vs %v: the brute-force reference says p = %v, the table %v", tc.a, tc.b, brute, tc.wantP)
		}
		if u != tc.wantU || !relApprox(p, tc.wantP, 1e-9) {
			t.Errorf("MannWhitneyU(%v, %v) = (%v, %v), want (%v, %v)", tc.a, tc.b, u, p, tc.wantU, tc.wantP)
		}
		if len(tc.a) == 4 && p < 0.05 {
			t.Errorf("MannWhitneyU(%v, %v): p = %v calls four tied repetitions significant", tc.a, tc.b, p)
		}
	}
}

// TestMannWhitneyU_exactLimit runs 20 against 20 fully separated: only 2 of C(40, 20) =
// 137846528820 splits are as extreme.
func TestMannWhitneyU_exactLimit(t *testing.T) {
	t.Parallel()
	u, p := MannWhitneyU(seq(0, 20), seq(100, 20))
	if want := 2 / 137846528820.0; u != 0 || !relApprox(p, want, 1e-9) {
		t.Errorf("MannWhitneyU = (%v, %v), want (0, %v)", u, p, want)
	}
}

// bruteForceP is the exact two-sided p of U for a against b, ties counting ½: twice the smaller
// tail of U over every way to split the pooled values into groups of len(a) and len(b).
func bruteForceP(a, b []float64) float64 {
	pooled := append(append([]float64{}, a...), b...)
	uObs := pairsAbove(a, b)
	var total, le, ge float64
	in := make([]bool, len(pooled))
	var split func(next, left int)
	split = func(next, left int) {
		if left == 0 {
			var x, y []float64
			for i, v := range pooled {
				if in[i] {
					x = append(x, v)
				} else {
					y = append(y, v)
				}
			}
			u := pairsAbove(x, y)
			total++
			if u <= uObs {
				le++
			}
			if u >= uObs {
				ge++
			}
			return
		}
		for i := next; i <= len(pooled)-left; i++ {
			in[i] = true
			split(i+1, left-1)
			in[i] = false
		}
	}
	split(0, len(a))
	return math.Min(1, 2*math.Min(le, ge)/total)
}

// pairsAbove is U by its definition: pairs with x above y, ties counting ½.
func pairsAbove(xs, ys []float64) float64 {
	var u float64
	for _, x := range xs {
		for _, y := range ys {
			switch {
			case x > y:
				u++
			case x == y:
				u += 0.5
			}
		}
	}
	return u
}

func TestMedian(t *testing.T) {
	t.Parallel()
	xs := []float64{5, 1, 4, 2}
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{xs, 3},
		{[]float64{7}, 7},
		{[]float64{math.NaN(), 1, 3}, 2},
	} {
		if got := Median(tc.xs); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
	if xs[0] != 5 || xs[3] != 2 {
		t.Errorf("Median reordered its input: %v", xs)
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %v, want NaN", got)
	}
}

func TestMinMax(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		xs     []float64
		lo, hi float64
	}{
		{[]float64{3, -1, 7, 2}, -1, 7},
		{[]float64{4}, 4, 4},
		{[]float64{math.NaN(), 2, 1}, 1, 2},
	} {
		if lo, hi := MinMax(tc.xs); lo != tc.lo || hi != tc.hi {
			t.Errorf("MinMax(%v) = (%v, %v), want (%v, %v)", tc.xs, lo, hi, tc.lo, tc.hi)
		}
	}
	if lo, hi := MinMax(nil); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("MinMax(nil) = (%v, %v), want NaNs", lo, hi)
	}
}

// seq returns n values start, start+1, ….
func seq(start float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = start + float64(i)
	}
	return out
}

// thirds returns n values start, start, start, start+1, …: each value three times.
func thirds(start float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = start + float64(i/3)
	}
	return out
}
