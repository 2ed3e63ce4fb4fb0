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

// WriteScaling prints the measured capacity per worker count next to the lesson's scaling math.
func WriteScaling(w io.Writer, res *experiment.Result) error { return writeScaling(w, res, textTable) }

func writeScaling(w io.Writer, res *experiment.Result, style tableStyle) error {
	t := newTable(w, style)
	fit, fitted := uslFit(res)
	t.Header("workers", "capacity rps", "linear rps (1 worker × N)", "USL rps", "speedup", "efficiency", "note")
	for _, r := range res.Scaling {
		usl := "-"
		if fitted {
			usl = fmt.Sprintf("%.0f", fit.Throughput(float64(r.Workers)))
		}
		if err := t.Append(
			strconv.Itoa(r.Workers), fmt.Sprintf("%.0f", r.Capacity), fmt.Sprintf("%.0f", r.Linear), usl,
			fmt.Sprintf("%.2f×", r.Speedup), fmt.Sprintf("%.0f%%", 100*r.Efficiency), r.Note,
		); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	if fitted && style == textTable {
		fmt.Fprintf(w, "USL fit: σ=%.4g κ=%.4g λ=%.0f rps, R²=%.3f: %s\n", fit.Sigma, fit.Kappa, fit.Lambda, fit.R2,
			diagnose(res, fit))
		if fit.Warning != "" {
			fmt.Fprintf(w, "  (%s)\n", fit.Warning)
		}
	}
	return nil
}

// uslFit fits the Universal Scalability Law to the run's capacities (which leave out flagged steps);
// false when there are too few worker counts to fit.
// It fits the capacities as summary.csv holds them (to 0.1 rps), so that a report re-rendered from
// the file shows the same model.
func uslFit(res *experiment.Result) (scaling.FitResult, bool) {
	points := make([]scaling.Point, len(res.Capacity))
	for i, p := range res.Capacity {
		points[i] = scaling.Point{Workers: p.Workers, Capacity: math.Round(p.Capacity*10) / 10}
	}
	fit, err := scaling.Fit(points)
	return fit, err == nil
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
func diagnose(res *experiment.Result, fit scaling.FitResult) string {
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
				last.Speedup, last.Workers, 100*last.Efficiency, fit.Verdict())
		}
	}
	return scaling.Diagnose(res.Capacity, fit)
}
