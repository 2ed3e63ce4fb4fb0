package scaling

import (
	"math"
	"sort"
)

// ExactMannWhitneyMax is the largest sample size (each side) for which MannWhitneyU computes the
// exact null distribution; larger samples use the normal approximation. At 20 each the number of
// arrangements, C(40, 20) ≈ 1.4e11, is still exact in a float64.
const ExactMannWhitneyMax = 20

// MannWhitneyU runs the two-sided Mann–Whitney U test (Wilcoxon rank-sum) of whether a and b come
// from the same distribution, as benchstat does to say whether two sets of repeated runs differ.
//
// u counts the pairs (a_i, b_j) with a_i > b_j, ties counting ½: u / (len(a)·len(b)) is the chance
// that a run from a beats one from b, ½ meaning no difference. p is the two-sided p-value: small
// when a and b differ. NaNs are dropped; with an empty sample there is no evidence: (0, 1).
//
// Without ties between values and with both samples of at most ExactMannWhitneyMax, p comes from
// the exact permutation distribution of U. Otherwise it comes from the normal approximation with
// continuity correction, its variance corrected for ties (so that many equal runs do not fake
// significance); when every value is equal, p is 1.
func MannWhitneyU(a, b []float64) (u, p float64) {
	a, b = dropNaN(a), dropNaN(b)
	n1, n2 := len(a), len(b)
	if n1 == 0 || n2 == 0 {
		return 0, 1
	}

	// Rank the pooled sample, giving tied values their mid-rank, and collect the tie sizes.
	type obs struct {
		v     float64
		fromA bool
	}
	all := make([]obs, 0, n1+n2)
	for _, v := range a {
		all = append(all, obs{v, true})
	}
	for _, v := range b {
		all = append(all, obs{v, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	var rankSumA, tieTerm float64
	ties := false
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		mid := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if all[k].fromA {
				rankSumA += mid
			}
		}
		if t := float64(j - i); t > 1 {
			ties = true
			tieTerm += t*t*t - t
		}
		i = j
	}
	u = rankSumA - float64(n1*(n1+1))/2
	m1, m2 := float64(n1), float64(n2)
	uMin := math.Min(u, m1*m2-u)

	if !ties && n1 <= ExactMannWhitneyMax && n2 <= ExactMannWhitneyMax {
		// The null distribution is symmetric about n1·n2/2: two-sided p = 2·P(U ≤ min(u, n1n2−u)).
		dist := mannWhitneyCounts(n1, n2)
		var below, total float64
		for k, c := range dist {
			total += c
			if float64(k) <= uMin {
				below += c
			}
		}
		return u, math.Min(1, 2*below/total)
	}

	n := m1 + m2
	variance := m1 * m2 / 12 * ((n + 1) - tieTerm/(n*(n-1)))
	if variance <= 0 {
		return u, 1 // every value equal: nothing tells a from b
	}
	z := (m1*m2/2 - uMin - 0.5) / math.Sqrt(variance)
	if z <= 0 {
		return u, 1
	}
	return u, math.Min(1, math.Erfc(z/math.Sqrt2))
}

// mannWhitneyCounts returns, for k = 0..n1·n2, how many of the C(n1+n2, n1) orderings of n1 a's and
// n2 b's have U = k (U counting pairs where the a is the larger). Place the largest value last: if
// it is an a it beats all j b's, else it adds nothing, so f(i, j)[k] = f(i−1, j)[k−j] + f(i, j−1)[k].
func mannWhitneyCounts(n1, n2 int) []float64 {
	// prev[j] holds f(i−1, j), cur[j] builds f(i, j).
	prev := make([][]float64, n2+1)
	for j := range prev {
		prev[j] = []float64{1} // f(0, j): one ordering, U = 0
	}
	for i := 1; i <= n1; i++ {
		cur := make([][]float64, n2+1)
		cur[0] = []float64{1} // f(i, 0)
		for j := 1; j <= n2; j++ {
			f := make([]float64, i*j+1)
			copy(f, cur[j-1])
			for k, c := range prev[j] {
				f[k+j] += c
			}
			cur[j] = f
		}
		prev = cur
	}
	return prev[n2]
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
