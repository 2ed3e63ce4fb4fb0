package experiment

import (
	"fmt"
	"time"
)

// A capacity search assumes that latency grows with the rate: a rate that misses the objective
// is above the capacity, and so is every rate above it. Some machines and services break that.
// On a 2-core VM whose host woke idle virtual cores slowly, two workers' p99 was 149–434 ms at
// 673 rps and 59–152 ms at 800 rps, run after run: busier cores idled less and answered sooner.
// A search then brackets a capacity the service does not have (there, 590–636 rps, where the
// same two workers had carried 850–860 rps with a p99 under 50 ms minutes before). There the
// kernel stacked the two workers on one core, and pinning them (cluster.Spec.Pin) removed it; a
// service can still behave so on its own. bench cannot make such a capacity well defined; it can
// see it and say so.

// FlagInverted marks a search step that met the objective, or had at most half the p99, of a
// step at a rate lower by invertedGap or more that missed it: latency fell as the rate rose.
const FlagInverted = "p99-fell"

// invertedGap is how much higher a rate must be for its lower p99 to count as an inversion. Near
// the capacity, steps a few percent apart pass and fail by chance (one worker: 173 ms at 476
// rps, 7 ms at 488 in the same search); 10 % apart, on runs of cpu.yaml that scaled as usual,
// no step came below the p99 of a lower one that failed.
const invertedGap = 1.10

// Inversion looks among the steps of one capacity search (one worker count, strategy, store and
// repetition) for a latency inversion: a step a that missed the objective and a step b offered
// invertedGap times a's rate or more that met it, or had at most half a's p99. Flagged and noisy
// steps do not count. It returns the indexes of the widest such pair (by the ratio of p99s).
func Inversion(steps []Step) (a, b int, ok bool) {
	worst := 0.0
	for i, lo := range steps {
		if !lo.clean() || !lo.Has(FlagOverSLO) {
			continue
		}
		for j, hi := range steps {
			if !hi.clean() || hi.Offered < invertedGap*lo.Offered || 2*hi.P99 > lo.P99 && hi.Has(FlagOverSLO) {
				continue
			}
			if r := float64(lo.P99) / float64(hi.P99); r > worst {
				a, b, ok, worst = i, j, true, r
			}
		}
	}
	return a, b, ok
}

// clean reports whether a step can count toward an inversion: measured (a p99), not flagged
// and not noisy.
func (s Step) clean() bool { return !s.Flagged() && !s.Has(FlagNoisy) && s.P99 > 0 }

// InversionText describes an inversion between the steps lo and hi: "149ms at 673 rps, 59ms at
// 800 rps".
func InversionText(lo, hi Step) string {
	return fmt.Sprintf("%v at %.0f rps, %v at %.0f rps", lo.P99.Round(time.Millisecond), lo.Offered, hi.P99.Round(time.Millisecond), hi.Offered)
}

// lastRow is the row in Result.Steps of the latest step a search ran at rate (rows: the search's
// rows by rate).
func lastRow(rows map[float64][]int, rate float64) int {
	r := rows[rate]
	return r[len(r)-1]
}

// SameSearch reports whether two steps belong to one capacity search.
func SameSearch(s, t Step) bool {
	return s.Search && t.Search && s.Workers == t.Workers && s.Strategy == t.Strategy && s.Store == t.Store && s.Rep == t.Rep
}
