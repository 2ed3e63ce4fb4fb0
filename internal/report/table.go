// Package report turns a run's measurements into what people read: terminal tables and CSV.
package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/bench-dev/bench/internal/experiment"
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

func newTable(w io.Writer) *tablewriter.Table {
	return tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignment(tw.AlignRight),
	)
}

// WriteSteps prints one row per load step.
func WriteSteps(w io.Writer, res *experiment.Result) error {
	t := newTable(w)
	t.Header("workers", "offered rps", "sent rps", "throughput rps", "success", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "share %", "cpu workers/bench %", "flags")
	for _, st := range res.Steps {
		if err := t.Append(
			strconv.Itoa(st.Workers), fmt.Sprintf("%.0f", st.Offered), fmt.Sprintf("%.0f", st.Sent),
			fmt.Sprintf("%.0f", st.Throughput), fmt.Sprintf("%.2f%%", 100*st.Success),
			fmtMS(st.P50), fmtMS(st.P90), fmtMS(st.P99), fmtMS(st.P999), fmtMS(st.Max),
			shareCell(st.Share),
			fmt.Sprintf("%.0f / %.0f", 100*st.WorkerCPUShare(), 100*st.BenchCPUShare()),
			strings.Join(st.Flags, " "),
		); err != nil {
			return err
		}
	}
	return t.Render()
}

// WriteScaling prints the measured capacity per worker count next to the lesson's scaling math.
func WriteScaling(w io.Writer, res *experiment.Result) error {
	t := newTable(w)
	t.Header("workers", "capacity rps", "linear rps (1 worker × N)", "speedup", "efficiency", "note")
	for _, r := range res.Scaling {
		if err := t.Append(
			strconv.Itoa(r.Workers), fmt.Sprintf("%.0f", r.Capacity), fmt.Sprintf("%.0f", r.Linear),
			fmt.Sprintf("%.2f×", r.Speedup), fmt.Sprintf("%.0f%%", 100*r.Efficiency), r.Note,
		); err != nil {
			return err
		}
	}
	return t.Render()
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
