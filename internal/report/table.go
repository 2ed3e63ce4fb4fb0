// Package report turns a run's measurements into what people read: terminal tables and CSV.
package report

import (
	"fmt"
	"io"
	"math"
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

// fitLines say what the models fitted to the capacities are and what limits scaling; none without
// a fit.
func fitLines(r *run) []string {
	f := r.fits
	if !f.ok {
		return nil
	}
	u := f.usl
	lines := []string{fmt.Sprintf("USL fit: σ=%.4g κ=%.4g λ=%.0f rps, R²=%.3f, worst point %s", u.Sigma, u.Kappa, u.Lambda, u.R2, f.worst(u.Residuals))}
	if f.byBound {
		b := f.bound
		lines = append(lines, fmt.Sprintf("bottleneck fit: min(%.0f rps × N, %.0f rps), knee at N≈%.1f, R²=%.3f, worst point %s: fits better than the USL",
			b.Lambda, b.Ceiling, b.Knee(), b.R2, f.worst(b.Residuals)))
	}
	lines = append(lines, "verdict: "+diagnose(r.Result, f))
	if u.Warning != "" {
		lines = append(lines, "  ("+u.Warning+")")
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

// fitRun fits the USL and the bottleneck model to the run's capacities as summary.csv holds them
// (to 0.1 rps), so that a report re-rendered from the file shows the same models.
func fitRun(res *experiment.Result) fits {
	f := fits{points: make([]scaling.Point, 0, len(res.Capacity))}
	for _, p := range res.Capacity {
		if p.Workers > 0 && p.Capacity > 0 && !math.IsInf(p.Capacity, 1) {
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

// diagnose names what limits scaling: the machine's cores when the plateau's steps kept the CPU
// saturated (then "contention" would blame the service for the machine), else scaling.Diagnose.
func diagnose(res *experiment.Result, f fits) string {
	x, from, ok := scaling.Plateau(res.Capacity)
	if ok {
		var busiest float64
		for _, st := range res.Steps {
			if st.Workers == from && !st.Flagged() {
				busiest = math.Max(busiest, st.WorkerCPUShare()+st.BenchCPUShare())
			}
		}
		if busiest >= 0.85 {
			return fmt.Sprintf("CPU-bound: from %d workers on the machine's cores are saturated (%.0f%% of all cores busy) "+
				"and capacity stays at ≈%.0f rps; more workers add only context switches", from, 100*busiest, x)
		}
	}
	if n := len(res.Scaling); n > 0 {
		if last := res.Scaling[n-1]; last.Workers > 1 && last.Efficiency >= 0.9 {
			return fmt.Sprintf("near-linear over the measured range: %.1f× at %d workers (%.0f%% efficiency); %s",
				last.Speedup, last.Workers, 100*last.Efficiency, f.usl.Verdict())
		}
	}
	return scaling.Diagnose(res.Capacity, f.usl, f.bound)
}
