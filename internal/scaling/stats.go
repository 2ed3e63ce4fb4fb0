package scaling

import (
	"math"
	"sort"

	"github.com/aclements/go-moremath/stats"
)

// MannWhitneyU runs the two-sided Mann–Whitney U test (Wilcoxon rank-sum) of whether a and b come
// from the same distribution, as benchstat does to say whether two sets of repeated runs differ.
//
// u counts the pairs (a_i, b_j) with a_i > b_j, ties counting ½: u / (len(a)·len(b)) is the chance
// that a run from a beats one from b, ½ meaning no difference. p is the two-sided p-value: small
// when a and b differ. NaNs are dropped; with an empty sample, or when every value is equal, there
// is no evidence: p is 1.
//
// The test is go-moremath's, benchstat's own: p comes from the exact distribution of U, ties
// included, up to 50 values a side without ties and 25 with them, and from the tie-corrected normal
// approximation beyond. Exact with ties matters here: repeated runs of a fixed-rate step often give
// the same whole-number rate, and with 3–5 repetitions the normal approximation's p is off by
// enough to turn "same" into "significant" (see TestMannWhitneyU_tiesSmall).
func MannWhitneyU(a, b []float64) (u, p float64) {
	a, b = dropNaN(a), dropNaN(b)
	if len(a) == 0 || len(b) == 0 {
		return 0, 1
	}
	r, err := stats.MannWhitneyUTest(a, b, stats.LocationDiffers)
	if err != nil {
		// ErrSamplesEqual, the only error left with two non-empty samples: every value is equal,
		// and U sits at the middle of its range.
		return float64(len(a)*len(b)) / 2, 1
	}
	// Doubling the smaller tail of a discrete distribution can pass 1 by the mass at U itself.
	return r.U, math.Min(1, r.P)
}

// Median returns the middle value of xs (the mean of the two middle values for an even count),
// without modifying xs. NaNs are dropped; the median of no values is NaN.
func Median(xs []float64) float64 {
	s := dropNaN(xs)
	if len(s) == 0 {
		return math.NaN()
	}
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// MinMax returns the smallest and largest value of xs. NaNs are dropped; with no values both are
// NaN.
func MinMax(xs []float64) (lo, hi float64) {
	lo, hi = math.NaN(), math.NaN()
	for _, x := range xs {
		switch {
		case math.IsNaN(x):
		case math.IsNaN(lo):
			lo, hi = x, x
		case x < lo:
			lo = x
		case x > hi:
			hi = x
		}
	}
	return lo, hi
}

// dropNaN returns a copy of xs without NaNs.
func dropNaN(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	return out
}
