package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/report"
	"github.com/bench-dev/bench/internal/scaling"
)

const compareHelp = `Compares two runs (results folders or summary.csv files), A then B, like benchstat: for each row
present in both it prints A, B (medians over repetitions), the change from A to B and whether the
change is real. Throughput and p99 are compared per load step, capacity per worker count.

Rows are matched (--by):
  step      same workers, strategy and offered rate (two runs of one scenario, before/after a change);
  rate      same offered rate only, when each run has one worker count and one strategy: a 1-worker run
            against a 2-worker run of the same rates, or round-robin against p2c;
  capacity  only the capacity per worker count (what a capacity search measures: its offered rates
            differ from run to run, so its steps cannot be matched);
  auto      (default) capacity when either run is a search, else step when the runs share a step, else
            rate.
In rate mode the capacity of A's worker count is compared with B's.

Significance: when a row has at least 3 repetitions in both runs (rows with the same key repeated in
the CSV) and the sizes can reach p < 0.05 (4+4 or 3+5; 3+3 cannot), the two-sided Mann-Whitney U test
decides: "significant (p=…)" when p < 0.05, "~" otherwise. With fewer repetitions there is no test:
the verdict says "n too small" and falls back to a plain threshold on the change of the medians,
"likely" when |delta| exceeds --threshold (throughput, capacity; default 10 %) or --p99-threshold
(p99; default 50 %: one step's tail latency varies far more than its throughput), "~" otherwise.

A regression is a row where B is significantly worse than A (lower throughput or capacity,
higher p99) by the U test; bench compare then exits 1, so that CI can gate on it. Rows judged by
the threshold alone ("likely") never fail: repeat the steps (load.repeat: 5) for a gate.

--format json prints one object: every row with both runs' values, medians, delta (a fraction),
verdict, p-value and whether B is worse, and the counts; markdown prints the tables under headings.

Examples:
  bench compare results/cpu-20260101T120000Z results/cpu-20260102T090000Z
  bench compare one-worker/summary.csv two-workers/summary.csv --by rate
  bench compare before/ after/ --format json | jq '.tables[].rows[] | select(.worse)'

Exit status: 0 compared without a significant regression, 1 B is significantly worse than A in
some row, 2 bad flags, unreadable runs or no rows in common.
`

// alpha is the significance level of the U test, as benchstat's default.
const alpha = 0.05

// minRepetitions is the fewest repetitions per side for the U test to be tried.
const minRepetitions = 3

type compareFlags struct {
	by, format           string
	threshold, p99Thresh float64 // percent
}

func compareCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("compare", "A B [flags]", compareHelp, stdout)
	var f compareFlags
	fs.StringVar(&f.by, "by", "auto", "how rows are matched: auto, step, rate or capacity")
	fs.StringVar(&f.format, "format", report.FormatTable, "output: table, markdown or json")
	fs.Float64Var(&f.threshold, "threshold", 10, "without enough repetitions: |delta| in percent above which a throughput or capacity change is \"likely\"")
	fs.Float64Var(&f.p99Thresh, "p99-threshold", 50, "the same for p99")
	pos, err := fs.parseInterspersed(args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 2:
		return badInput{fmt.Errorf("compare: want two runs A and B, got %d arguments (see `bench help compare`)", len(pos))}
	case f.by != "auto" && f.by != "step" && f.by != "rate" && f.by != "capacity":
		return badInput{fmt.Errorf("compare: --by %q: want auto, step, rate or capacity", f.by)}
	case f.format != report.FormatTable && f.format != report.FormatMarkdown && f.format != report.FormatJSON:
		return badInput{fmt.Errorf("compare: --format %q: want table, markdown or json", f.format)}
	case !(f.threshold >= 0) || !(f.p99Thresh >= 0):
		return badInput{fmt.Errorf("compare: --threshold %v, --p99-threshold %v: want percentages ≥ 0", f.threshold, f.p99Thresh)}
	}
	a, err := loadSummary("compare", pos[0])
	if err != nil {
		return err
	}
	b, err := loadSummary("compare", pos[1])
	if err != nil {
		return err
	}
	c := comparison{a: a, b: b, f: f}
	if err := c.match(); err != nil {
		return badInput{fmt.Errorf("compare: %w", err)}
	}
	regressions, err := c.write(stdout, pos[0], pos[1], f.format)
	if err != nil {
		return err
	}
	if regressions > 0 {
		fmt.Fprintf(stderr, "bench: compare: %d significant regression(s): B is worse than A\n", regressions)
		return exitError{exitFailed}
	}
	return nil
}

// stepKey identifies the steps that repeat one measurement. In rate mode only offered is set.
type stepKey struct {
	workers  int
	strategy string
	offered  float64
}

type comparison struct {
	a, b *experiment.Result
	f    compareFlags
	mode string // step, rate or capacity
	why  string
	keys []stepKey
	ga   map[stepKey][]experiment.Step
	gb   map[stepKey][]experiment.Step
}

// match chooses the mode and the rows present in both runs.
func (c *comparison) match() error {
	mode := c.f.by
	if mode == "auto" {
		switch {
		case isSearch(c.a) || isSearch(c.b):
			mode, c.why = "capacity", "a capacity search's offered rates differ from run to run, so only capacities compare"
		case len(common(group(c.a, false), group(c.b, false))) > 0:
			mode = "step"
		default:
			mode, c.why = "rate", "the runs share no (workers, strategy, rate) step"
		}
	}
	c.mode = mode
	switch mode {
	case "capacity":
		if len(c.capacityPairs()) == 0 {
			return fmt.Errorf("no worker count has a capacity in both runs (A: %v, B: %v)", workerCounts(c.a), workerCounts(c.b))
		}
		return nil
	case "rate":
		for _, r := range []struct {
			name string
			res  *experiment.Result
		}{{"A", c.a}, {"B", c.b}} {
			if len(configs(r.res)) != 1 {
				return fmt.Errorf("matching by rate needs one worker count and one strategy per run; %s has %s (use --by step)",
					r.name, strings.Join(configs(r.res), ", "))
			}
		}
	}
	c.ga, c.gb = group(c.a, mode == "rate"), group(c.b, mode == "rate")
	c.keys = common(c.ga, c.gb)
	if len(c.keys) == 0 {
		return fmt.Errorf("no %s in common: A has %s, B has %s", map[string]string{"step": "(workers, strategy, offered rate) step", "rate": "offered rate"}[mode],
			describeSteps(c.a), describeSteps(c.b))
	}
	return nil
}

func isSearch(res *experiment.Result) bool {
	for _, st := range res.Steps {
		if !st.Search {
			return false
		}
	}
	return len(res.Steps) > 0
}

func group(res *experiment.Result, byRate bool) map[stepKey][]experiment.Step {
	g := map[stepKey][]experiment.Step{}
	for _, st := range res.Steps {
		k := stepKey{workers: st.Workers, strategy: st.Strategy, offered: st.Offered}
		if byRate {
			k = stepKey{offered: st.Offered}
		}
		g[k] = append(g[k], st)
	}
	return g
}

func common(a, b map[stepKey][]experiment.Step) []stepKey {
	var keys []stepKey
	for k := range a {
		if _, ok := b[k]; ok {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		x, y := keys[i], keys[j]
		if x.workers != y.workers {
			return x.workers < y.workers
		}
		if x.strategy != y.strategy {
			return x.strategy < y.strategy
		}
		return x.offered < y.offered
	})
	return keys
}

// configs lists the distinct "N × strategy" of a run, in order of appearance.
func configs(res *experiment.Result) []string {
	var out []string
	seen := map[string]bool{}
	for _, st := range res.Steps {
		s := fmt.Sprintf("%d worker(s) %s", st.Workers, st.Strategy)
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func workerCounts(res *experiment.Result) []int {
	var out []int
	seen := map[int]bool{}
	for _, st := range res.Steps {
		if !seen[st.Workers] {
			seen[st.Workers] = true
			out = append(out, st.Workers)
		}
	}
	sort.Ints(out)
	return out
}

func describeSteps(res *experiment.Result) string {
	rates := map[float64]bool{}
	var rs []string
	for _, st := range res.Steps {
		if !rates[st.Offered] {
			rates[st.Offered] = true
			rs = append(rs, rate(st.Offered))
		}
	}
	return fmt.Sprintf("%s at %s rps", strings.Join(configs(res), ", "), strings.Join(rs, ","))
}

// capacityPairs pairs worker counts for the capacity table: the same count in both runs, or in rate
// mode A's only count with B's.
type capacityPair struct{ a, b int }

func (c *comparison) capacityPairs() []capacityPair {
	if c.mode == "rate" {
		wa, wb := workerCounts(c.a), workerCounts(c.b)
		if len(wa) == 1 && len(wb) == 1 && c.a.CapacityAt(wa[0]) > 0 && c.b.CapacityAt(wb[0]) > 0 {
			return []capacityPair{{wa[0], wb[0]}}
		}
		return nil
	}
	var out []capacityPair
	for _, n := range workerCounts(c.a) {
		if c.a.CapacityAt(n) > 0 && c.b.CapacityAt(n) > 0 {
			out = append(out, capacityPair{n, n})
		}
	}
	return out
}

// tally counts verdicts for the closing line.
type tally struct{ significant, likely, same, regressions int }

// compareTable is one metric's rows, ready for any format.
type compareTable struct {
	Metric string       `json:"metric"` // throughput_rps, p99_ms or capacity_rps
	Rows   []compareRow `json:"rows"`
	title  string
}

// compareRow is one figure of A against B. Delta is the change of the medians as a fraction of
// A's (null when A's is 0); P the U test's p-value when there were enough repetitions for one.
type compareRow struct {
	WorkersA   int       `json:"workers_a"`
	WorkersB   int       `json:"workers_b"`
	StrategyA  string    `json:"strategy_a,omitempty"`
	StrategyB  string    `json:"strategy_b,omitempty"`
	OfferedRPS float64   `json:"offered_rps,omitempty"`
	A          []float64 `json:"a"`
	B          []float64 `json:"b"`
	MedianA    float64   `json:"median_a"`
	MedianB    float64   `json:"median_b"`
	Delta      *float64  `json:"delta"`
	Verdict    string    `json:"verdict"` // significant, likely or same
	P          *float64  `json:"p,omitempty"`
	Worse      bool      `json:"worse"` // B is worse than A: lower throughput or capacity, higher p99
	Text       string    `json:"verdict_text"`
	workers    string
	strategy   string
}

// regression reports whether the row fails `bench compare`: B significantly worse than A.
func (r compareRow) regression() bool { return r.Verdict == "significant" && r.Worse }

func (c *comparison) tables() []compareTable {
	var out []compareTable
	if c.mode != "capacity" {
		metrics := []struct {
			metric, title string
			get           func(experiment.Step) float64
			threshold     float64
			higherBetter  bool
		}{
			{"throughput_rps", "throughput rps", func(s experiment.Step) float64 { return s.Throughput }, c.f.threshold, true},
			{"p99_ms", "p99 ms", func(s experiment.Step) float64 { return float64(s.P99) / 1e6 }, c.f.p99Thresh, false},
		}
		for _, m := range metrics {
			tb := compareTable{Metric: m.metric, title: m.title}
			for _, k := range c.keys {
				sa, sb := c.ga[k], c.gb[k]
				r := judge(values(sa, m.get), values(sb, m.get), m.threshold, m.higherBetter)
				r.WorkersA, r.WorkersB = sa[0].Workers, sb[0].Workers
				r.StrategyA, r.StrategyB = sa[0].Strategy, sb[0].Strategy
				r.OfferedRPS = k.offered
				r.workers, r.strategy = c.workersCell(sa, sb), c.strategyCell(sa, sb)
				tb.Rows = append(tb.Rows, r)
			}
			out = append(out, tb)
		}
	}
	if pairs := c.capacityPairs(); len(pairs) > 0 {
		tb := compareTable{Metric: "capacity_rps", title: "capacity rps (one per worker count and run: no repetitions, so no test)"}
		for _, p := range pairs {
			r := judge([]float64{c.a.CapacityAt(p.a)}, []float64{c.b.CapacityAt(p.b)}, c.f.threshold, true)
			r.WorkersA, r.WorkersB = p.a, p.b
			r.workers = strconv.Itoa(p.a)
			if p.a != p.b {
				r.workers = fmt.Sprintf("%d → %d", p.a, p.b)
			}
			tb.Rows = append(tb.Rows, r)
		}
		out = append(out, tb)
	}
	return out
}

// judge compares a and b: medians, delta and the verdict. higherBetter says which way is worse.
func judge(a, b []float64, thresholdPct float64, higherBetter bool) compareRow {
	r := compareRow{A: a, B: b, MedianA: scaling.Median(a), MedianB: scaling.Median(b)}
	if d := delta(a, b); !math.IsNaN(d) {
		r.Delta = &d
	}
	r.Text, r.Verdict, r.P = verdict(a, b, thresholdPct)
	r.Worse = r.MedianB < r.MedianA
	if !higherBetter {
		r.Worse = r.MedianB > r.MedianA
	}
	return r
}

// compareReport is `bench compare --format json`.
type compareReport struct {
	A           string         `json:"a"`
	B           string         `json:"b"`
	StepsA      string         `json:"steps_a"`
	StepsB      string         `json:"steps_b"`
	Mode        string         `json:"mode"` // step, rate or capacity
	Why         string         `json:"why,omitempty"`
	Tables      []compareTable `json:"tables"`
	Significant int            `json:"significant"`
	Likely      int            `json:"likely"`
	Same        int            `json:"same"`
	Regressions int            `json:"regressions"`
	Alpha       float64        `json:"alpha"`
}

// write prints the comparison in format and returns how many rows are significant regressions.
func (c *comparison) write(w io.Writer, pathA, pathB, format string) (regressions int, err error) {
	tables := c.tables()
	var t tally
	for _, tb := range tables {
		for _, r := range tb.Rows {
			t.add(r.Verdict)
			if r.regression() {
				t.regressions++
			}
		}
	}
	if format == report.FormatJSON {
		doc := compareReport{A: pathA, B: pathB, StepsA: describeSteps(c.a), StepsB: describeSteps(c.b), Mode: c.mode, Why: c.why,
			Tables: tables, Significant: t.significant, Likely: t.likely, Same: t.same, Regressions: t.regressions, Alpha: alpha}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return t.regressions, enc.Encode(doc)
	}
	md := format == report.FormatMarkdown
	pf := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	if md {
		pf("# bench compare\n\n- A: `%s` (%s)\n- B: `%s` (%s)\n\n", pathA, describeSteps(c.a), pathB, describeSteps(c.b))
	} else {
		pf("A: %s (%s)\nB: %s (%s)\n", pathA, describeSteps(c.a), pathB, describeSteps(c.b))
	}
	switch c.mode {
	case "step":
		pf("Rows matched by step: same workers, strategy and offered rate.\n")
	case "rate":
		pf("Rows matched by offered rate: %s against %s.\n", configs(c.a)[0], configs(c.b)[0])
	case "capacity":
		pf("Compared by capacity per worker count.\n")
	}
	if c.why != "" {
		pf("(auto: %s)\n", c.why)
	}
	for _, tb := range tables {
		if md {
			pf("\n## %s\n\n", tb.title)
		} else {
			pf("\n%s\n", tb.title)
		}
		table := textTable(w)
		if md {
			table = tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignment(tw.AlignRight),
				tablewriter.WithRenderer(renderer.NewMarkdown()))
		}
		if tb.Metric == "capacity_rps" {
			table.Header("workers", "A", "B", "delta", "verdict")
		} else {
			table.Header("workers", "strategy", "offered rps", "A", "B", "delta", "n A+B", "verdict")
		}
		for _, r := range tb.Rows {
			var err error
			if tb.Metric == "capacity_rps" {
				err = table.Append(r.workers, rate(r.A[0]), rate(r.B[0]), deltaText(r.A, r.B), r.Text)
			} else {
				err = table.Append(r.workers, r.strategy, rate(r.OfferedRPS), summary(r.A), summary(r.B), deltaText(r.A, r.B),
					fmt.Sprintf("%d+%d", len(r.A), len(r.B)), r.Text)
			}
			if err != nil {
				return 0, err
			}
		}
		if err := table.Render(); err != nil {
			return 0, err
		}
	}
	pf("\n%d significant (U test, p < %.2f), %d likely (threshold, n too small), %d without a difference (~)\n",
		t.significant, alpha, t.likely, t.same)
	return t.regressions, nil
}

func (t *tally) add(kind string) {
	switch kind {
	case "significant":
		t.significant++
	case "likely":
		t.likely++
	default:
		t.same++
	}
}

func (c *comparison) workersCell(a, b []experiment.Step) string {
	if c.mode == "rate" && a[0].Workers != b[0].Workers {
		return fmt.Sprintf("%d → %d", a[0].Workers, b[0].Workers)
	}
	return strconv.Itoa(a[0].Workers)
}

func (c *comparison) strategyCell(a, b []experiment.Step) string {
	if c.mode == "rate" && a[0].Strategy != b[0].Strategy {
		return a[0].Strategy + " → " + b[0].Strategy
	}
	return a[0].Strategy
}

func values(steps []experiment.Step, get func(experiment.Step) float64) []float64 {
	out := make([]float64, len(steps))
	for i, s := range steps {
		out[i] = get(s)
	}
	return out
}

// summary is the median and, with repetitions, the largest deviation from it: "446 ±3%".
func summary(xs []float64) string {
	m := scaling.Median(xs)
	s := num(m)
	if len(xs) > 1 && m != 0 {
		lo, hi := scaling.MinMax(xs)
		s += fmt.Sprintf(" ±%.0f%%", 100*math.Max(hi-m, m-lo)/math.Abs(m))
	}
	return s
}

func num(v float64) string {
	if math.Abs(v) >= 100 || v == 0 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// delta is the change of the medians from A to B, as a fraction of A's; NaN when A's is 0.
func delta(a, b []float64) float64 {
	ma, mb := scaling.Median(a), scaling.Median(b)
	if ma == 0 {
		if mb == 0 {
			return 0
		}
		return math.NaN()
	}
	return (mb - ma) / math.Abs(ma)
}

func deltaText(a, b []float64) string {
	d := delta(a, b)
	switch {
	case math.IsNaN(d):
		return "n/a"
	case math.Abs(d) < 0.0005:
		return "+0.0%" // not "-0.0%" for a change that rounds away
	}
	return fmt.Sprintf("%+.1f%%", 100*d)
}

// verdict says whether a and b differ, and the kind: "significant", "likely" or "same"; p is the
// U test's p-value, nil when there were too few repetitions for it. thresholdPct is the fallback's
// bound on |delta| in percent.
func verdict(a, b []float64, thresholdPct float64) (text, kind string, p *float64) {
	if len(a) >= minRepetitions && len(b) >= minRepetitions && minPValue(len(a), len(b)) < alpha {
		_, pv := scaling.MannWhitneyU(a, b)
		if pv < alpha {
			return fmt.Sprintf("significant (p=%.3f)", pv), "significant", &pv
		}
		return fmt.Sprintf("~ (p=%.2f)", pv), "same", &pv
	}
	// Too few repetitions for the test to ever reach alpha: a plain threshold on the medians.
	d := delta(a, b)
	if math.IsNaN(d) || math.Abs(d)*100 > thresholdPct {
		return fmt.Sprintf("likely: |delta| > %g%% (n too small)", thresholdPct), "likely", nil
	}
	return fmt.Sprintf("~ (n too small, |delta| ≤ %g%%)", thresholdPct), "same", nil
}

// minPValue is the smallest two-sided p the exact U test can give with samples of n1 and n2: both
// extreme orderings out of C(n1+n2, n1). With 3+3 it is 0.1, so 3 repetitions each can never be
// significant at 0.05.
func minPValue(n1, n2 int) float64 {
	c := 1.0
	for i := 1; i <= n1; i++ {
		c = c * float64(n2+i) / float64(i)
	}
	return math.Min(1, 2/c)
}
