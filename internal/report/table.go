// Package report turns a run's measurements into what people read: terminal tables and CSV.
package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/scaling"
)

// ShareStats summarises how evenly requests were spread: each worker's fraction of the total.
type ShareStats struct {
	Fractions        []float64
	Min, Max, Stddev float64
}

// Shares computes the per-worker fractions of counts and their spread.
func Shares(counts []uint64) ShareStats {
	var total uint64
	for _, c := range counts {
		total += c
	}
	s := ShareStats{Fractions: make([]float64, len(counts))}
	if total == 0 || len(counts) == 0 {
		return s
	}
	s.Min = math.Inf(1)
	var sum, sumSq float64
	for i, c := range counts {
		f := float64(c) / float64(total)
		s.Fractions[i] = f
		s.Min = math.Min(s.Min, f)
		s.Max = math.Max(s.Max, f)
		sum += f
		sumSq += f * f
	}
	n := float64(len(counts))
	mean := sum / n
	s.Stddev = math.Sqrt(math.Max(0, sumSq/n-mean*mean))
	return s
}

// tableStyle is how a table is drawn: box-drawn text for a terminal or a Markdown table.
type tableStyle int

const (
	textTable tableStyle = iota
	markdownTable
)

func newTable(w io.Writer, style tableStyle) *tablewriter.Table {
	opts := []tablewriter.Option{
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignment(tw.AlignRight),
	}
	if style == markdownTable {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
	}
	return tablewriter.NewTable(w, opts...)
}

// WriteSteps prints one row per load step, in the columns that fit Width. Columns that would say
// nothing in this run (one strategy, no repetitions, no sessions) are left out.
func WriteSteps(w io.Writer, res *experiment.Result) error {
	return writeSteps(w, newRun(res), textTable, false)
}

func writeSteps(w io.Writer, r *run, style tableStyle, wide bool) error {
	return writeTable(w, style, r, stepFields, r.stepRows(), wide)
}

// writeTable renders rows in the columns of fs, then the note naming the columns left out.
func writeTable[T any](w io.Writer, style tableStyle, r *run, fs []field[T], rows []T, wide bool) error {
	t, err := tableOf(r, fs, rows, wide)
	if err != nil {
		return err
	}
	if err := t.render(w, style); err != nil {
		return err
	}
	note := t.hiddenNote()
	if style == markdownTable && len(note) > 0 {
		note = []string{"", "_" + strings.Join(note, " ") + "_"}
	}
	for _, line := range note {
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// WriteScaling prints the measured capacity per worker count next to the linear scaling math, the
// fitted models and the verdict.
func WriteScaling(w io.Writer, res *experiment.Result) error {
	return writeScaling(w, newRun(res), textTable, false)
}

func writeScaling(w io.Writer, r *run, style tableStyle, wide bool) error {
	if err := writeTable(w, style, r, scalingFields, r.scalingRows(), wide); err != nil {
		return err
	}
	lines := fitLines(r)
	if style == markdownTable && len(lines) > 0 {
		fmt.Fprintln(w)
		for i := range lines {
			lines[i] = "- " + strings.TrimSpace(lines[i])
		}
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

// fitLines say what the models fitted to the capacities are, what limits scaling and what other
// processes disturbed: the lines under the scaling table.
func fitLines(r *run) []string {
	f := r.fits
	var lines []string
	if f.ok {
		u := f.usl
		lines = append(lines, fmt.Sprintf("USL fit: σ=%.4g κ=%.4g λ=%.0f rps, R²=%.3f, worst point %s", u.Sigma, u.Kappa, u.Lambda, u.R2, f.worst(u.Residuals)))
		if f.byBound {
			b := f.bound
			lines = append(lines, fmt.Sprintf("bottleneck fit: min(%.0f rps × N, %.0f rps), knee at N≈%.1f, R²=%.3f, worst point %s: fits better than the USL",
				b.Lambda, b.Ceiling, b.Knee(), b.R2, f.worst(b.Residuals)))
		}
	}
	v, _ := verdict(r.Result, f)
	lines = append(lines, "verdict: "+v)
	if f.ok && f.usl.Warning != "" {
		lines = append(lines, "  ("+f.usl.Warning+")")
	}
	if d := Disturbance(r.Result); d != "" {
		lines = append(lines, "interference: "+d)
	}
	return lines
}

// fits are the scaling models fitted to a run's capacities (which leave out flagged steps).
type fits struct {
	usl   scaling.FitResult
	bound scaling.BoundFit
	// points are the capacities as fitted, in the order of the fits' residuals.
	points []scaling.Point
	// ok is false when there are too few worker counts to fit.
	ok bool
	// byBound is true when the bottleneck model, with a ceiling in the measured range, fits better
	// than the USL: the table shows its column and the verdict follows it.
	byBound bool
}

// fitRun fits the USL and the bottleneck model to the run's saturated capacities as summary.csv
// holds them (to 0.1 rps), so that a report re-rendered from the file shows the same models. A
// worker count that was not saturated has only a lower bound, which no model may be fitted to.
func fitRun(res *experiment.Result) fits {
	f := fits{points: make([]scaling.Point, 0, len(res.Capacity))}
	for _, p := range res.Capacity {
		if p.Workers > 0 && p.Capacity > 0 && !math.IsInf(p.Capacity, 1) && p.Saturated() {
			f.points = append(f.points, scaling.Point{Workers: p.Workers, Capacity: math.Round(p.Capacity*10) / 10})
		}
	}
	var err error
	if f.usl, err = scaling.Fit(f.points); err != nil {
		return fits{}
	}
	if f.bound, err = scaling.FitBound(f.points); err != nil {
		return fits{}
	}
	f.ok = true
	f.byBound = scaling.PreferBound(f.usl, f.bound)
	return f
}

// cell formats a model's prediction for a table, "-" without a fit.
func (f fits) cell(predict func(float64) float64, n float64) string {
	if !f.ok {
		return "-"
	}
	return fmt.Sprintf("%.0f", predict(n))
}

// worstOf is a fit's largest relative miss and where it is.
func (f fits) worstOf(residuals []float64) JSONWorst {
	w := scaling.WorstResidual(residuals)
	out := JSONWorst{WorstRatio: round(w, 4)}
	for i, r := range residuals {
		if r == w && i < len(f.points) {
			out.WorstWorkers = f.points[i].Workers
			break
		}
	}
	return out
}

// worst formats a fit's largest relative miss and where it is, e.g. "+4.6% (N=8)".
func (f fits) worst(residuals []float64) string {
	w := scaling.WorstResidual(residuals)
	for i, r := range residuals {
		if r == w && i < len(f.points) {
			return fmt.Sprintf("%+.1f%% (N=%d)", 100*w, f.points[i].Workers)
		}
	}
	return fmt.Sprintf("%+.1f%%", 100*w)
}

// shareCell shows each worker's share of the requests, e.g. "50 50" or "26 24 25 25".
func shareCell(counts []uint64) string {
	s := Shares(counts)
	parts := make([]string, len(s.Fractions))
	for i, f := range s.Fractions {
		parts[i] = fmt.Sprintf("%.0f", 100*f)
	}
	return strings.Join(parts, " ")
}

// Verdict names what limits scaling, in one line: the same words in the table, the chart's title,
// JSON, markdown and `bench plan`. None is drawn from capacities measured while other processes
// used the machine, nor from worker counts that were not saturated.
func Verdict(res *experiment.Result) string {
	v, _ := verdict(res, fitRun(res))
	return v
}

// Limit is what the verdict found limiting scaling.
type Limit int

const (
	LimitNone  Limit = iota // no verdict: too little, disturbed or unsaturated data, or near-linear
	LimitCores              // the measuring machine's cores: a plateau with the CPU saturated
	LimitModel              // the service itself, as the fitted models say (contention, coherency)
)

// CPULimited reports whether the verdict found the machine's cores to be the limit: then what
// scales to another machine is the capacity per core, not the plateau.
func CPULimited(res *experiment.Result) bool {
	_, l := verdict(res, fitRun(res))
	return l == LimitCores
}

func verdict(res *experiment.Result, f fits) (string, Limit) {
	var unsat []string
	disturbed := 0
	for _, p := range res.Capacity {
		if !p.Saturated() {
			unsat = append(unsat, strconv.Itoa(p.Workers))
		}
		if p.Disturbed {
			disturbed++
		}
	}
	inverted := inversions(res.Steps)
	switch {
	case len(res.Capacity) == 0:
		return "none: no worker count has a capacity (every step failed or was flagged)", LimitNone
	case disturbed > 0:
		return fmt.Sprintf("none drawn: %d worker count(s) were measured while other processes used the machine (steps flagged noisy); run again on a quiet machine", disturbed), LimitNone
	case len(inverted) > 0:
		return "none drawn: p99 fell as the rate rose (" + strings.Join(inverted, "; ") + "): latency is not monotone in load here " +
			"(idle cores that wake slowly, batching), so a capacity under a p99 objective is not well defined; measure fixed rates around it", LimitNone
	case len(unsat) == len(res.Capacity):
		return fmt.Sprintf("none: no worker count was saturated (%s workers carried every rate offered); offer higher rates", strings.Join(unsat, ", ")), LimitNone
	}
	x, from, ok := scaling.Plateau(scaling.Saturated(res.Capacity))
	stays := "stays at"
	if !ok {
		x, from, ok = peak(scaling.Saturated(res.Capacity))
		stays = "peaks at"
	}
	if ok {
		var busiest float64
		for _, st := range res.Steps {
			if st.Workers == from && !st.Flagged() {
				busiest = math.Max(busiest, st.WorkerCPUShare()+st.BenchCPUShare())
			}
		}
		if busiest >= 0.85 {
			return fmt.Sprintf("CPU-bound: from %d workers on the machine's cores are saturated (%.0f%% of all cores busy) "+
				"and capacity %s ≈%.0f rps; more workers add only context switches", from, 100*busiest, stays, x), LimitCores
		}
	}
	suffix := ""
	if len(unsat) > 0 {
		suffix = fmt.Sprintf(" (%s workers not saturated: left out)", strings.Join(unsat, ", "))
	}
	if !f.ok {
		return "none: too few saturated worker counts to fit a model" + suffix, LimitNone
	}
	if n := len(res.Scaling); n > 0 {
		if last := res.Scaling[n-1]; last.Workers > 1 && last.Saturated && last.Efficiency >= 0.9 {
			return fmt.Sprintf("near-linear over the measured range: %.1f× at %d workers (%.0f%% efficiency); %s",
				last.Speedup, last.Workers, 100*last.Efficiency, f.usl.Verdict()) + suffix, LimitNone
		}
	}
	return scaling.Diagnose(f.points, f.usl, f.bound) + suffix, LimitModel
}

// peak finds the worker count with the best capacity when every larger count carried less, as
// when more workers than cores lose a tenth to switching between them (cpu.yaml on 2 cores: 867
// rps at 2 workers, 767 at 4), which scaling.Plateau, asking 90 % of the best at the largest
// count, does not call a plateau.
func peak(points []scaling.Point) (x float64, from int, ok bool) {
	var best scaling.Point
	for _, p := range points {
		if p.Capacity > best.Capacity {
			best = p
		}
	}
	for _, p := range points {
		if p.Workers > best.Workers {
			ok = true
		}
	}
	return best.Capacity, best.Workers, ok
}

// inversions describes each search whose p99 fell as the rate rose (experiment.FlagInverted):
// "2 workers: 149 ms at 673 rps, 59 ms at 800 rps". The pair is the one that repeated: the
// flagged step and the latest step of its search before it that it inverts with (the lower rate
// measured again), not the widest pair of the search.
func inversions(steps []experiment.Step) []string {
	var out []string
	for i, st := range steps {
		if !st.Has(experiment.FlagInverted) {
			continue
		}
		for j := i - 1; j >= 0; j-- {
			if _, _, ok := experiment.Inversion([]experiment.Step{steps[j], st}); ok && experiment.SameSearch(steps[j], st) {
				out = append(out, fmt.Sprintf("%d workers: %s", st.Workers, experiment.InversionText(steps[j], st)))
				break
			}
		}
	}
	return out
}

// Disturbance says how many steps other processes disturbed and by how much, "" when none did.
func Disturbance(res *experiment.Result) string {
	var noisy, retried int
	var worst float64
	for _, st := range res.Steps {
		if st.Has(experiment.FlagNoisy) {
			noisy++
			worst = math.Max(worst, st.OtherCPUShare())
			if st.Has(experiment.FlagRetried) {
				retried++
			}
		}
	}
	if noisy == 0 {
		return ""
	}
	left := noisy - retried
	text := fmt.Sprintf("%d of %d steps were disturbed by other processes (up to %.0f%% of the machine); %d measured again",
		noisy, len(res.Steps), 100*worst, retried)
	if left > 0 {
		text += fmt.Sprintf(", %d still noisy after %d tries: their worker counts draw no verdict", left, experiment.MaxRetries+1)
	}
	return text
}

// CapacityText shows a capacity with its interval, "908 (893–925)", or as the lower bound it is,
// "≥ 400 (not saturated)".
func CapacityText(r scaling.Row) string {
	switch {
	case r.Capacity <= 0:
		return "-"
	case !r.Saturated:
		return fmt.Sprintf("≥ %.0f (not saturated)", r.Capacity)
	case r.CapacityLo > 0 && (r.CapacityLo != r.Capacity || r.CapacityHi != r.Capacity):
		return fmt.Sprintf("%.0f (%.0f–%.0f)", r.Capacity, r.CapacityLo, r.CapacityHi)
	}
	return fmt.Sprintf("%.0f", r.Capacity)
}

// SpeedupText shows a speedup with its interval, "1.86× (1.80–1.91)"; "≥ 1.52×" over a count
// that was not saturated; "-" when the baseline was not saturated (a ratio to a lower bound).
func SpeedupText(r scaling.Row) string {
	switch {
	case r.Speedup == 0:
		return "-"
	case r.Workers == 1:
		return fmt.Sprintf("%.2f×", r.Speedup)
	case (r.SpeedupLo == 0 && r.SpeedupHi == 0 && r.Saturated) || r.SpeedupLo == r.SpeedupHi:
		return fmt.Sprintf("%.2f×", r.Speedup) // no interval known (an older summary.csv)
	case r.SpeedupLo == 0:
		return "-"
	case math.IsInf(r.SpeedupHi, 1):
		return fmt.Sprintf("≥ %.2f×", r.SpeedupLo)
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", r.Speedup, r.SpeedupLo, r.SpeedupHi)
}

// EfficiencyText is the efficiency as a percentage, marked like the speedup it comes from.
func EfficiencyText(r scaling.Row) string {
	switch {
	case r.Speedup == 0:
		return "-"
	case r.Workers > 1 && math.IsInf(r.SpeedupHi, 1):
		return fmt.Sprintf("≥ %.0f%%", 100*r.SpeedupLo/float64(r.Workers))
	}
	return fmt.Sprintf("%.0f%%", 100*r.Efficiency)
}
