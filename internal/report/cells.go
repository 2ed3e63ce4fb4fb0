package report

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/scaling"
)

// A run that compares strategies (or session stores) at the same worker count and rate, with
// repetitions, says for each one whether it differs from the first, as `bench compare` does for
// two runs: the medians over the repetitions, their ratio, and the Mann-Whitney U test's p-value.
// Without repetitions a difference cannot be told from noise, and the table says so.

// Significance is the p-value below which a difference counts as significant.
const Significance = 0.05

// CellComparison is one strategy or store next to the first one, at one worker count and rate.
type CellComparison struct {
	Workers int     `json:"workers"`
	Offered float64 `json:"offered_rps"`
	// Cell and Baseline name the compared strategies or stores ("p2c", "redis / cookie-hash").
	Cell     string `json:"cell"`
	Baseline string `json:"baseline"`
	// Metric is what is compared: "p99_ms", or "session_miss_ratio" in a session run.
	Metric string `json:"metric"`
	// Median and BaselineMedian are the medians over the repetitions; Ratio is Median /
	// BaselineMedian (0 when the baseline's median is 0).
	Median         float64 `json:"median"`
	BaselineMedian float64 `json:"baseline_median"`
	Ratio          float64 `json:"ratio"`
	// P is the two-sided Mann-Whitney p-value; Reps the repetitions on each side.
	P           float64 `json:"p"`
	Reps        int     `json:"reps"`
	Significant bool    `json:"significant"`
}

// CompareCells compares, at each worker count and offered rate of the fixed-rate steps, every
// strategy and store with the first one measured there. The metric is the p99, or the session
// miss ratio when the steps carry sessions. Nil when the run has one cell per rate.
func CompareCells(res *experiment.Result) []CellComparison {
	type key struct {
		workers int
		offered float64
	}
	type cellKey struct {
		key
		name string
	}
	var keys []key
	cellsAt := map[key][]string{}
	values := map[cellKey][]float64{}
	sessions := false
	for _, st := range res.Steps {
		sessions = sessions || st.Sessions.New+st.Sessions.Hit+st.Sessions.Miss > 0
	}
	metric := "p99_ms"
	if sessions {
		metric = "session_miss_ratio"
	}
	for _, st := range res.Steps {
		if st.Search || st.Has(experiment.FlagRetried) {
			continue
		}
		k := key{st.Workers, st.Offered}
		name := st.Strategy
		if st.Store != "" {
			name = st.Store + " / " + st.Strategy
		}
		if _, ok := cellsAt[k]; !ok {
			keys = append(keys, k)
		}
		ck := cellKey{k, name}
		if _, ok := values[ck]; !ok {
			cellsAt[k] = append(cellsAt[k], name)
		}
		v := float64(st.P99) / 1e6
		if sessions {
			v = st.Sessions.MissRatio()
		}
		values[ck] = append(values[ck], v)
	}
	var out []CellComparison
	for _, k := range keys {
		names := cellsAt[k]
		if len(names) < 2 {
			continue
		}
		base := values[cellKey{k, names[0]}]
		for _, name := range names[1:] {
			vs := values[cellKey{k, name}]
			c := CellComparison{Workers: k.workers, Offered: k.offered, Cell: name, Baseline: names[0], Metric: metric,
				Median: scaling.Median(vs), BaselineMedian: scaling.Median(base), Reps: min(len(vs), len(base)), P: 1}
			if c.BaselineMedian > 0 {
				c.Ratio = c.Median / c.BaselineMedian
			}
			if len(vs) >= 2 && len(base) >= 2 {
				_, c.P = scaling.MannWhitneyU(vs, base)
				c.Significant = c.P < Significance
			}
			out = append(out, c)
		}
	}
	return out
}

// cellFields are the comparison table's columns.
var cellFields = []field[CellComparison]{
	{header: "workers", cell: func(c CellComparison) string { return strconv.Itoa(c.Workers) }},
	{header: "offered\nrps", cell: func(c CellComparison) string { return fmt.Sprintf("%.0f", c.Offered) }},
	{header: "compared", cell: func(c CellComparison) string { return c.Cell }},
	{header: "metric", cell: func(c CellComparison) string { return c.Metric }},
	{header: "median", cell: func(c CellComparison) string { return metricText(c.Metric, c.Median) }},
	{header: "vs", cell: func(c CellComparison) string { return c.Baseline }},
	{header: "its\nmedian", cell: func(c CellComparison) string { return metricText(c.Metric, c.BaselineMedian) }},
	{header: "ratio", cell: func(c CellComparison) string {
		if c.BaselineMedian == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f×", c.Ratio)
	}},
	{header: "p\n(U test)", cell: func(c CellComparison) string { return fmt.Sprintf("%.3f", c.P) }},
	{header: "difference", cell: func(c CellComparison) string {
		switch {
		case c.Reps < 2:
			return "unknown: set load.repeat ≥ 4"
		case c.Significant && c.Ratio < 1:
			return "significantly lower"
		case c.Significant:
			return "significantly higher"
		}
		return "not significant"
	}},
}

func metricText(metric string, v float64) string {
	if metric == "p99_ms" {
		return fmtMS(time.Duration(math.Round(v * 1e6)))
	}
	return fmt.Sprintf("%.3f", v)
}
