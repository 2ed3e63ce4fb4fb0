package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/scenario"
)

// SLOVerdict is a run judged against a service level objective.
//
// Fixed-rate steps are each judged. A capacity search is judged once, at its capacity step (the
// passing step whose throughput is the search's answer, experiment.Step.Capacity): the search
// deliberately offers rates past its own objective to find the edge, so judging every one of its
// steps would fail every search, and the question an SLO asks of a search is whether the capacity
// it reports holds up. A search that found no passing rate is judged at the lowest rate it tried:
// if even that misses, no rate would have met the SLO.
type SLOVerdict struct {
	SLO    scenario.SLO
	Judged int       // steps judged
	Misses []SLOMiss // judged steps that missed, in row order
}

// Met reports whether every judged step met the SLO.
func (v SLOVerdict) Met() bool { return len(v.Misses) == 0 }

// SLOMiss is a judged step that missed the SLO.
type SLOMiss struct {
	Row     int // 1-based row in summary.csv (and the step-NN files)
	Step    experiment.Step
	Reasons []string // one per objective missed, e.g. "p99 12.3ms > 10ms"
}

// String says in one line which row missed and why, e.g.
// "row 3 (2 workers, round-robin, 400 rps): p99 12.3ms > 10ms; success 98.50% < 99.90%".
func (m SLOMiss) String() string {
	st := m.Step
	var what []string
	what = append(what, fmt.Sprintf("%d worker(s)", st.Workers), st.Strategy)
	if st.Store != "" {
		what = append(what, "store "+st.Store)
	}
	if st.Rep > 1 {
		what = append(what, "rep "+strconv.Itoa(st.Rep))
	}
	what = append(what, rateText(st.Offered)+" rps")
	switch {
	case st.Capacity:
		what = append(what, "the search's capacity step")
	case st.Search:
		what = append(what, "lowest rate of a search that found no capacity")
	}
	return fmt.Sprintf("row %d (%s): %s", m.Row, strings.Join(what, ", "), strings.Join(m.Reasons, "; "))
}

// sloText describes the objective, e.g. "p99 ≤ 50ms, success ≥ 99.90%".
func sloText(o scenario.SLO) string {
	var parts []string
	if o.P99 > 0 {
		parts = append(parts, "p99 ≤ "+o.P99.String())
	}
	if o.Success > 0 {
		parts = append(parts, "success ≥ "+pct(o.Success))
	}
	return strings.Join(parts, ", ")
}

// String says in one line what was judged and how it went.
func (v SLOVerdict) String() string {
	if v.Met() {
		return fmt.Sprintf("SLO met (%s): %d step(s) judged", sloText(v.SLO), v.Judged)
	}
	return fmt.Sprintf("SLO missed (%s): %d of %d judged step(s) failed", sloText(v.SLO), len(v.Misses), v.Judged)
}

// JudgeSLO judges the steps of res against o (see SLOVerdict for which steps are judged). A step
// that measured no request misses: there is nothing to meet the objective with.
func JudgeSLO(res *experiment.Result, o scenario.SLO) SLOVerdict {
	v := SLOVerdict{SLO: o}
	for _, i := range judgedSteps(res.Steps) {
		v.Judged++
		st := res.Steps[i]
		var reasons []string
		if st.Requests == 0 {
			reasons = append(reasons, "no request measured")
		} else {
			if o.P99 > 0 && st.P99 > o.P99 {
				reasons = append(reasons, fmt.Sprintf("p99 %v > %v", st.P99.Round(time.Microsecond), o.P99))
			}
			if o.Success > 0 && st.Success < o.Success {
				reasons = append(reasons, fmt.Sprintf("success %s < %s", pct(st.Success), pct(o.Success)))
			}
		}
		if len(reasons) > 0 {
			v.Misses = append(v.Misses, SLOMiss{Row: i + 1, Step: st, Reasons: reasons})
		}
	}
	return v
}

// judgedSteps returns the indexes of the steps an SLO judges, in order: every fixed-rate step, and
// per capacity search (a run of consecutive search steps of one worker count, strategy, store and
// repetition) its capacity step or, without one, its lowest rate.
func judgedSteps(steps []experiment.Step) []int {
	var out []int
	for i := 0; i < len(steps); {
		st := steps[i]
		if !st.Search {
			out = append(out, i)
			i++
			continue
		}
		j := i
		pick, lowest := -1, i
		for ; j < len(steps) && sameSearch(steps[j], st); j++ {
			if steps[j].Capacity {
				pick = j
			}
			if steps[j].Offered < steps[lowest].Offered {
				lowest = j
			}
		}
		if pick < 0 {
			pick = lowest
		}
		out = append(out, pick)
		i = j
	}
	return out
}

func sameSearch(a, b experiment.Step) bool {
	return a.Search && b.Search && a.Workers == b.Workers && a.Strategy == b.Strategy && a.Store == b.Store && a.Rep == b.Rep
}

func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', 2, 64) + "%" }

// rateText prints a rate without false precision: whole rates whole, a search's bisected ones
// with the three decimals the pacer keeps.
func rateText(r float64) string {
	return strconv.FormatFloat(math.Round(r*1000)/1000, 'f', -1, 64)
}
