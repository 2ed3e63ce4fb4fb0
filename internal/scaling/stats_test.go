package scaling

import (
	"math"
	"testing"
)

// Reference p-values below were computed independently by brute force over every split of the
// pooled sample (exact), or by the textbook tie-corrected normal formula (ties, large samples).
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
		// Ties: normal approximation with tie correction (the exact tied p would be 0.0110, 0.0476).
		{"ties", []float64{1, 2, 2, 3, 4, 4, 5}, []float64{3, 4, 5, 5, 6, 7, 7, 8}, 6.5, 0.014107907274540643},
		{"heavy ties", []float64{1, 1, 1, 2, 2}, []float64{2, 2, 3, 3, 3}, 2, 0.026888454103745792},
		{"identical samples", []float64{1, 2, 3}, []float64{1, 2, 3}, 4.5, 1},
		{"all equal", []float64{5, 5, 5}, []float64{5, 5}, 3, 1},
		// 25 each is past the exact limit: interleaved values, no difference.
		{"large, normal", seq(0, 25), seq(0.5, 25), 300, 0.8158901548607471},
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

// TestMannWhitneyU_exactLimit runs the largest exact case, 20 against 20 fully separated: only 2 of
// C(40, 20) = 137846528820 splits are as extreme.
func TestMannWhitneyU_exactLimit(t *testing.T) {
	t.Parallel()
	u, p := MannWhitneyU(seq(0, 20), seq(100, 20))
	if want := 2 / 137846528820.0; u != 0 || !relApprox(p, want, 1e-9) {
		t.Errorf("MannWhitneyU = (%v, %v), want (0, %v)", u, p, want)
	}
}

// TestMannWhitneyCounts: the distribution has C(n1+n2, n1) orderings in all and is symmetric.
func TestMannWhitneyCounts(t *testing.T) {
	t.Parallel()
	d := mannWhitneyCounts(5, 5)
	var total float64
	for k, c := range d {
		total += c
		if c != d[len(d)-1-k] {
			t.Errorf("count[%d] = %v, count[%d] = %v: not symmetric", k, c, len(d)-1-k, d[len(d)-1-k])
		}
	}
	if total != 252 || len(d) != 26 {
		t.Errorf("total %v over %d values, want 252 over 26", total, len(d))
	}
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
