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
	"github.com/bench-dev/bench/internal/load"
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

// stepColumn is one column of the steps table.
type stepColumn struct {
	header string
	cell   func(experiment.Step) string
}

// WriteSteps prints one row per load step. Columns that would say nothing in this run (one
// strategy, no repetitions, no sessions) are left out.
func WriteSteps(w io.Writer, res *experiment.Result) error { return writeSteps(w, res, textTable) }

func writeSteps(w io.Writer, res *experiment.Result, style tableStyle) error {
	var strategies, stores = map[string]bool{}, map[string]bool{}
	var reps, sessions, restarts bool
	for _, st := range res.Steps {
		strategies[st.Strategy] = true
		stores[st.Store] = true
		restarts = restarts || st.Restarts > 0 || len(st.Faults) > 0
		reps = reps || st.Rep > 1
		sessions = sessions || st.Sessions != (load.Sessions{})
	}
	cols := []stepColumn{{"workers", func(st experiment.Step) string { return strconv.Itoa(st.Workers) }}}
	if len(stores) > 1 {
		cols = append(cols, stepColumn{"store", func(st experiment.Step) string { return st.Store }})
	}
	if len(strategies) > 1 {
		cols = append(cols, stepColumn{"strategy", func(st experiment.Step) string { return st.Strategy }})
	}
	if reps {
		cols = append(cols, stepColumn{"rep", func(st experiment.Step) string { return strconv.Itoa(st.Rep) }})
	}
	cols = append(cols,
		stepColumn{"offered rps", func(st experiment.Step) string { return fmt.Sprintf("%.0f", st.Offered) }},
		stepColumn{"sent rps", func(st experiment.Step) string { return fmt.Sprintf("%.0f", st.Sent) }},
		stepColumn{"throughput rps", func(st experiment.Step) string { return fmt.Sprintf("%.0f", st.Throughput) }},
		stepColumn{"success", func(st experiment.Step) string { return fmt.Sprintf("%.2f%%", 100*st.Success) }},
		stepColumn{"p50 ms", func(st experiment.Step) string { return fmtMS(st.P50) }},
		stepColumn{"p90 ms", func(st experiment.Step) string { return fmtMS(st.P90) }},
		stepColumn{"p99 ms", func(st experiment.Step) string { return fmtMS(st.P99) }},
		stepColumn{"p99.9 ms", func(st experiment.Step) string { return fmtMS(st.P999) }},
		stepColumn{"max ms", func(st experiment.Step) string { return fmtMS(st.Max) }},
		stepColumn{"share %", func(st experiment.Step) string { return shareCell(st.Share) }},
	)
	if len(strategies) > 1 {
		cols = append(cols, stepColumn{"share min/max/sd %", func(st experiment.Step) string {
			sh := Shares(st.Share)
			return fmt.Sprintf("%.0f / %.0f / %.1f", 100*sh.Min, 100*sh.Max, 100*sh.Stddev)
		}})
	}
	if sessions {
		cols = append(cols, stepColumn{"session miss", func(st experiment.Step) string {
			return fmt.Sprintf("%.3f", st.Sessions.MissRatio())
		}})
	}
	if oversubscribed(res) {
		cols = append(cols, stepColumn{"ctx sw/s", func(st experiment.Step) string { return fmt.Sprintf("%.0f", st.CtxSwitches) }})
	}
	if restarts {
		cols = append(cols, stepColumn{"restarts", func(st experiment.Step) string { return strconv.Itoa(st.Restarts) }})
	}
	cols = append(cols,
		stepColumn{"cpu workers/bench %", func(st experiment.Step) string {
			return fmt.Sprintf("%.0f / %.0f", 100*st.WorkerCPUShare(), 100*st.BenchCPUShare())
		}},
		stepColumn{"flags", func(st experiment.Step) string { return strings.Join(st.Flags, " ") }},
	)

	t := newTable(w, style)
	headers := make([]any, len(cols))
	for i, c := range cols {
		headers[i] = c.header
	}
	t.Header(headers...)
	for _, st := range res.Steps {
		row := make([]any, len(cols))
		for i, c := range cols {
			row[i] = c.cell(st)
		}
		if err := t.Append(row...); err != nil {
			return err
		}
	}
	return t.Render()
}

// WriteScaling prints the measured capacity per worker count next to the linear scaling math.
func WriteScaling(w io.Writer, res *experiment.Result) error { return writeScaling(w, res, textTable) }

func writeScaling(w io.Writer, res *experiment.Result, style tableStyle) error {
	t := newTable(w, style)
	f := fitRun(res)
	header := []any{"workers", "capacity rps", "linear rps (1 worker × N)", "USL rps"}
	if f.byBound {
		header = append(header, "bottleneck rps")
	}
	t.Header(append(header, "speedup", "efficiency", "note")...)
	for _, r := range res.Scaling {
		n := float64(r.Workers)
		cells := []string{strconv.Itoa(r.Workers), fmt.Sprintf("%.0f", r.Capacity), fmt.Sprintf("%.0f", r.Linear), f.cell(f.usl.Throughput, n)}
		if f.byBound {
			cells = append(cells, f.cell(f.bound.Throughput, n))
		}
		cells = append(cells, fmt.Sprintf("%.2f×", r.Speedup), fmt.Sprintf("%.0f%%", 100*r.Efficiency), r.Note)
		if err := t.Append(cells); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	if f.ok && style == textTable {
		u := f.usl
		fmt.Fprintf(w, "USL fit: σ=%.4g κ=%.4g λ=%.0f rps, R²=%.3f, worst point %s\n", u.Sigma, u.Kappa, u.Lambda, u.R2, f.worst(u.Residuals))
		if f.byBound {
			b := f.bound
			fmt.Fprintf(w, "bottleneck fit: min(%.0f rps × N, %.0f rps), knee at N≈%.1f, R²=%.3f, worst point %s: fits better than the USL\n",
				b.Lambda, b.Ceiling, b.Knee(), b.R2, f.worst(b.Residuals))
		}
		fmt.Fprintf(w, "verdict: %s\n", diagnose(res, f))
		if u.Warning != "" {
			fmt.Fprintf(w, "  (%s)\n", u.Warning)
		}
	}
	return nil
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

// oversubscribed reports whether a step ran more workers than the machine has cores: then the
// context switches per second say what the extra processes cost.
func oversubscribed(res *experiment.Result) bool {
	for _, st := range res.Steps {
		if st.Cores > 0 && st.Workers > st.Cores {
			return true
		}
	}
	return false
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
