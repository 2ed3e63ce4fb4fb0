package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/load"
)

// Formats of the summary WriteSummary prints.
const (
	FormatTable    = "table"    // box-drawn tables for a terminal
	FormatMarkdown = "markdown" // the same tables in Markdown, under headings
	FormatCSV      = "csv"      // summary.csv as WriteCSV writes it
	FormatJSON     = "json"     // one JSON object: steps and scaling rows, units in the key names
)

// Formats lists the formats WriteSummary knows, the default first.
var Formats = []string{FormatTable, FormatCSV, FormatJSON, FormatMarkdown}

// CheckFormat returns an error naming the known formats when f is not one of them.
func CheckFormat(f string) error {
	if slices.Contains(Formats, f) {
		return nil
	}
	return fmt.Errorf("%q: want one of %s", f, strings.Join(Formats, ", "))
}

// MachineReadable reports whether format f is meant for programs (csv, json): whoever prints it
// keeps anything else (the results folder's path) off the same stream.
func MachineReadable(f string) bool { return f == FormatCSV || f == FormatJSON }

// Options say how WriteSummary prints.
type Options struct {
	Format string // one of Formats; "" is FormatTable
	// Wide prints every column in the table and Markdown formats; without it the steps and
	// scaling tables leave out, least needed first, the columns that would take them past Width.
	Wide bool
}

// WriteSummary prints the summary of res as o says: the steps, the errors when there are any, the
// scaling rows with the fitted models and the verdict, and the faults when any were injected. The
// text and Markdown layouts start and end with a blank line and separate their tables with one.
func WriteSummary(w io.Writer, res *experiment.Result, o Options) error {
	switch o.Format {
	case FormatCSV:
		return WriteCSV(w, res)
	case FormatJSON:
		return WriteJSON(w, res)
	case FormatTable, "":
		return writeTables(w, newRun(res), textTable, o.Wide)
	case FormatMarkdown:
		return writeTables(w, newRun(res), markdownTable, o.Wide)
	}
	return CheckFormat(o.Format)
}

func writeTables(w io.Writer, r *run, style tableStyle, wide bool) error {
	heading := func(title string) {
		if style == markdownTable {
			fmt.Fprintf(w, "### %s\n\n", title)
		}
	}
	fmt.Fprintln(w)
	heading("Steps")
	if err := writeSteps(w, r, style, wide); err != nil {
		return err
	}
	if errs := r.errorRows(); len(errs) > 0 {
		fmt.Fprintln(w)
		heading("Errors")
		if err := writeTable(w, style, r, errorFields, errs, true); err != nil {
			return err
		}
	}
	if len(r.Scaling) > 0 {
		fmt.Fprintln(w)
		heading("Scaling")
		if err := writeScaling(w, r, style, wide); err != nil {
			return err
		}
	}
	if cs := CompareCells(r.Result); len(cs) > 0 {
		fmt.Fprintln(w)
		heading("Compared with the first strategy or store")
		if err := writeTable(w, style, r, cellFields, cs, true); err != nil {
			return err
		}
	}
	if hasFaults(r.Result) {
		fmt.Fprintln(w)
		heading("Faults")
		if err := writeFaults(w, r.Result, style); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}

func hasFaults(res *experiment.Result) bool {
	for _, st := range res.Steps {
		if len(st.Faults) > 0 {
			return true
		}
	}
	return false
}

// JSONSummary is what WriteJSON prints. Every key of a step or scaling row that holds a measure
// names its unit (_rps, _ms, _s, _ratio, _pct), as summary.csv's columns do; the rows' keys are
// those of stepFields and scalingFields, in their order.
type JSONSummary struct {
	Cores   int       `json:"cores"`
	Steps   []JSONRow `json:"steps"`
	Scaling []JSONRow `json:"scaling"`
	// Fits are the models fitted to the capacities; absent with fewer than three worker counts.
	Fits *JSONFits `json:"fits,omitempty"`
	// Verdict says what limits scaling, as the table's "verdict:" line.
	Verdict string `json:"verdict"`
	// Interference says how many steps other processes disturbed; absent when none did.
	Interference string `json:"interference,omitempty"`
	// Compared holds each strategy or store next to the first, with the U test's verdict.
	Compared []CellComparison `json:"compared,omitempty"`
}

// JSONFits are the scaling models fitted to a run's capacities.
type JSONFits struct {
	// Model names the model the verdict follows: "usl", or "bottleneck" when that model, with a
	// ceiling in the measured range, fits better.
	Model      string          `json:"model"`
	USL        JSONUSL         `json:"usl"`
	Bottleneck *JSONBottleneck `json:"bottleneck,omitempty"`
}

// JSONUSL is the Universal Scalability Law fitted to the capacities.
type JSONUSL struct {
	Sigma     float64 `json:"sigma"`
	Kappa     float64 `json:"kappa"`
	LambdaRPS float64 `json:"lambda_rps"`
	R2        float64 `json:"r2"`
	// PeakWorkers is N* = √((1−σ)/κ); absent when throughput rises forever (κ = 0).
	PeakWorkers *float64 `json:"peak_workers,omitempty"`
	JSONWorst
	Warning string `json:"warning,omitempty"`
}

// JSONBottleneck is the bottleneck model min(λN, C) fitted to the capacities.
type JSONBottleneck struct {
	LambdaRPS   float64 `json:"lambda_rps"`
	CeilingRPS  float64 `json:"ceiling_rps"`
	KneeWorkers float64 `json:"knee_workers"`
	R2          float64 `json:"r2"`
	JSONWorst
}

// JSONWorst is a fit's largest relative miss, (predicted − measured) / measured, and where.
type JSONWorst struct {
	WorstRatio   float64 `json:"worst_ratio"`
	WorstWorkers int     `json:"worst_workers"`
}

// JSONSessions counts the session states the workers reported.
type JSONSessions struct {
	New       uint64  `json:"new"`
	Hit       uint64  `json:"hit"`
	Miss      uint64  `json:"miss"`
	MissRatio float64 `json:"miss_ratio"`
	Overlap   uint64  `json:"overlap,omitempty"` // requests sent as a client still waiting (load.Sessions)
}

func jsonSessionsOf(s load.Sessions) any {
	if s.New+s.Hit+s.Miss == 0 {
		return nil
	}
	return JSONSessions{New: s.New, Hit: s.Hit, Miss: s.Miss, MissRatio: s.MissRatio(), Overlap: s.Overlap}
}

// JSONFault is one injected fault and what it cost.
type JSONFault struct {
	Kind       string  `json:"kind"` // kill or stop
	Worker     int     `json:"worker"`
	AtS        float64 `json:"at_s"`
	ForS       float64 `json:"for_s,omitempty"`
	DowntimeMS float64 `json:"downtime_ms"`
	EjectedMS  float64 `json:"ejected_ms,omitempty"`
	DipRatio   float64 `json:"dip_ratio"`
}

func jsonFaultsOf(faults []experiment.FaultResult) any {
	if len(faults) == 0 {
		return nil
	}
	out := make([]JSONFault, 0, len(faults))
	for _, f := range faults {
		jf := JSONFault{Kind: "kill", Worker: f.Fault.Kill, AtS: f.Fault.At.Seconds(),
			DowntimeMS: msFloat(f.Downtime), EjectedMS: msFloat(f.Ejected), DipRatio: f.Dip}
		if f.Fault.Stop > 0 {
			jf.Kind, jf.Worker, jf.ForS = "stop", f.Fault.Stop, f.Fault.For.Seconds()
		}
		out = append(out, jf)
	}
	return out
}

// Summary returns res as WriteJSON prints it.
func Summary(res *experiment.Result) JSONSummary {
	r := newRun(res)
	out := JSONSummary{Cores: res.Cores, Steps: make([]JSONRow, 0, len(res.Steps)), Scaling: make([]JSONRow, 0, len(res.Scaling))}
	for _, s := range r.stepRows() {
		out.Steps = append(out.Steps, objectOf(stepFields, s))
	}
	for _, s := range r.scalingRows() {
		out.Scaling = append(out.Scaling, objectOf(scalingFields, s))
	}
	if f := r.fits; f.ok {
		u := f.usl
		jf := &JSONFits{Model: "usl", USL: JSONUSL{Sigma: u.Sigma, Kappa: u.Kappa, LambdaRPS: round(u.Lambda, 1), R2: round(u.R2, 4),
			JSONWorst: f.worstOf(u.Residuals), Warning: u.Warning}}
		if n, _ := u.Peak(); !math.IsInf(n, 1) {
			n = round(n, 1)
			jf.USL.PeakWorkers = &n
		}
		if f.byBound {
			b := f.bound
			jf.Model = "bottleneck"
			jf.Bottleneck = &JSONBottleneck{LambdaRPS: round(b.Lambda, 1), CeilingRPS: round(b.Ceiling, 1),
				KneeWorkers: round(b.Knee(), 2), R2: round(b.R2, 4), JSONWorst: f.worstOf(b.Residuals)}
		}
		out.Fits = jf
	}
	out.Verdict, _ = verdict(res, r.fits)
	out.Interference, out.Compared = Disturbance(res), CompareCells(res)
	return out
}

// WriteJSON prints Summary(res) as one indented JSON object.
func WriteJSON(w io.Writer, res *experiment.Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Summary(res))
}

// msFloat is d in milliseconds to the microsecond, the histograms' resolution.
func msFloat(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
