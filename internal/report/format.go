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

// WriteSummary prints the summary of res in format f (one of Formats): the steps, the scaling rows
// when there are any, and the faults when any were injected. The text and Markdown layouts start
// and end with a blank line and separate their tables with one.
func WriteSummary(w io.Writer, res *experiment.Result, f string) error {
	switch f {
	case FormatCSV:
		return WriteCSV(w, res)
	case FormatJSON:
		return WriteJSON(w, res)
	case FormatTable:
		return writeTables(w, res, textTable)
	case FormatMarkdown:
		return writeTables(w, res, markdownTable)
	}
	return CheckFormat(f)
}

func writeTables(w io.Writer, res *experiment.Result, style tableStyle) error {
	heading := func(title string) {
		if style == markdownTable {
			fmt.Fprintf(w, "### %s\n\n", title)
		}
	}
	fmt.Fprintln(w)
	heading("Steps")
	if err := writeSteps(w, res, style); err != nil {
		return err
	}
	if len(res.Scaling) > 0 {
		fmt.Fprintln(w)
		heading("Scaling")
		if err := writeScaling(w, res, style); err != nil {
			return err
		}
	}
	if cs := CompareCells(res); len(cs) > 0 {
		fmt.Fprintln(w)
		heading("Compared with the first strategy or store")
		if err := writeCells(w, cs, style); err != nil {
			return err
		}
	}
	if hasFaults(res) {
		fmt.Fprintln(w)
		heading("Faults")
		if err := writeFaults(w, res, style); err != nil {
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

// JSONSummary is what WriteJSON prints. Every key that holds a measure names its unit (_rps,
// _ms, _s, _ratio, _pct), as summary.csv's columns do.
type JSONSummary struct {
	Cores   int           `json:"cores"`
	Steps   []JSONStep    `json:"steps"`
	Scaling []JSONScaling `json:"scaling"`
	// Verdict is what limits scaling, as the table and the chart say it.
	Verdict string `json:"verdict"`
	// Interference says how many steps other processes disturbed; absent when none did.
	Interference string `json:"interference,omitempty"`
	// Compared holds each strategy or store next to the first, with the U test's verdict.
	Compared []CellComparison `json:"compared,omitempty"`
}

// JSONStep is one load step: a row of summary.csv without the scaling columns.
type JSONStep struct {
	Row           int      `json:"row"` // 1-based, as in summary.csv and the step-NN files
	Workers       int      `json:"workers"`
	Strategy      string   `json:"strategy"`
	Store         string   `json:"store,omitempty"`
	Rep           int      `json:"rep"`
	Search        bool     `json:"search"`
	OfferedRPS    float64  `json:"offered_rps"`
	SentRPS       float64  `json:"sent_rps"`
	ThroughputRPS float64  `json:"throughput_rps"`
	SuccessRatio  float64  `json:"success_ratio"`
	Requests      uint64   `json:"requests"`
	P50MS         float64  `json:"p50_ms"`
	P90MS         float64  `json:"p90_ms"`
	P99MS         float64  `json:"p99_ms"`
	P999MS        float64  `json:"p999_ms"`
	MaxMS         float64  `json:"max_ms"`
	LagP99MS      float64  `json:"lag_p99_ms"`
	Share         []uint64 `json:"share"` // requests served per worker, worker 1 first
	WorkerCPUS    float64  `json:"worker_cpu_s"`
	BenchCPUS     float64  `json:"bench_cpu_s"`
	WorkerCPUPct  float64  `json:"worker_cpu_pct"`
	BenchCPUPct   float64  `json:"bench_cpu_pct"`
	OtherCPUPct   float64  `json:"other_cpu_pct"`
	// ErrorsTarget, ErrorsBalancer and ErrorsGenerator count the failures by where they came
	// from: the workers' own error statuses, the balancer's 502/503, no response at all.
	ErrorsTarget    uint64  `json:"errors_target"`
	ErrorsBalancer  uint64  `json:"errors_balancer"`
	ErrorsGenerator uint64  `json:"errors_generator"`
	FailP99MS       float64 `json:"fail_p99_ms"`
	ElapsedS        float64 `json:"elapsed_s"`
	// Sessions is present for steps of simulated clients (the session workload).
	Sessions *JSONSessions  `json:"sessions,omitempty"`
	Restarts int            `json:"restarts"`
	Faults   []JSONFault    `json:"faults,omitempty"`
	Errors   map[string]int `json:"errors,omitempty"` // absent for a Result read from summary.csv, which has none
	Flags    []string       `json:"flags"`
}

// JSONSessions counts the session states the workers reported.
type JSONSessions struct {
	New       uint64  `json:"new"`
	Hit       uint64  `json:"hit"`
	Miss      uint64  `json:"miss"`
	MissRatio float64 `json:"miss_ratio"`
}

// JSONFault is one injected fault and what it cost.
type JSONFault struct {
	Kind       string  `json:"kind"` // kill or stop
	Worker     int     `json:"worker"`
	AtS        float64 `json:"at_s"`
	ForS       float64 `json:"for_s,omitempty"`
	DowntimeMS float64 `json:"downtime_ms"`
	DipRatio   float64 `json:"dip_ratio"`
}

// JSONScaling is the measured capacity at one worker count next to the naive scaling math.
type JSONScaling struct {
	Workers     int     `json:"workers"`
	CapacityRPS float64 `json:"capacity_rps"`
	// CapacityLoRPS and CapacityHiRPS bound the capacity; CapacityHiRPS is null when the
	// worker count was not saturated (the capacity is then a lower bound).
	CapacityLoRPS float64  `json:"capacity_lo_rps"`
	CapacityHiRPS *float64 `json:"capacity_hi_rps"`
	Saturated     bool     `json:"saturated"`
	Disturbed     bool     `json:"disturbed"`
	// SpeedupLo and SpeedupHi bound the speedup; null where unknown (an unsaturated count or
	// baseline).
	SpeedupLo  *float64 `json:"speedup_lo"`
	SpeedupHi  *float64 `json:"speedup_hi"`
	LinearRPS  float64  `json:"linear_rps"`
	Speedup    float64  `json:"speedup"`
	Efficiency float64  `json:"efficiency"`
	Note       string   `json:"note"`
}

// Summary returns res as WriteJSON prints it.
func Summary(res *experiment.Result) JSONSummary {
	out := JSONSummary{Cores: res.Cores, Steps: make([]JSONStep, 0, len(res.Steps)), Scaling: make([]JSONScaling, 0, len(res.Scaling))}
	for i, st := range res.Steps {
		js := JSONStep{
			Row: i + 1, Workers: st.Workers, Strategy: st.Strategy, Store: st.Store, Rep: st.Rep, Search: st.Search,
			OfferedRPS: st.Offered, SentRPS: st.Sent, ThroughputRPS: st.Throughput, SuccessRatio: st.Success,
			Requests: st.Requests,
			P50MS:    msFloat(st.P50), P90MS: msFloat(st.P90), P99MS: msFloat(st.P99), P999MS: msFloat(st.P999),
			MaxMS: msFloat(st.Max), LagP99MS: msFloat(st.Lag),
			Share:      append([]uint64{}, st.Share...),
			WorkerCPUS: st.WorkerCPU.Seconds(), BenchCPUS: st.BenchCPU.Seconds(),
			WorkerCPUPct: round(100*st.WorkerCPUShare(), 1), BenchCPUPct: round(100*st.BenchCPUShare(), 1),
			OtherCPUPct:  round(100*st.OtherCPUShare(), 1),
			ErrorsTarget: st.Classes.Target, ErrorsBalancer: st.Classes.Balancer, ErrorsGenerator: st.Classes.Generator,
			FailP99MS: msFloat(st.FailP99),
			ElapsedS:  st.Elapsed.Seconds(), Restarts: st.Restarts, Errors: st.Errors,
			Flags: append([]string{}, st.Flags...),
		}
		if s := st.Sessions; s.New+s.Hit+s.Miss > 0 {
			js.Sessions = &JSONSessions{New: s.New, Hit: s.Hit, Miss: s.Miss, MissRatio: s.MissRatio()}
		}
		for _, f := range st.Faults {
			jf := JSONFault{Kind: "kill", Worker: f.Fault.Kill, AtS: f.Fault.At.Seconds(),
				DowntimeMS: msFloat(f.Downtime), DipRatio: f.Dip}
			if f.Fault.Stop > 0 {
				jf.Kind, jf.Worker, jf.ForS = "stop", f.Fault.Stop, f.Fault.For.Seconds()
			}
			js.Faults = append(js.Faults, jf)
		}
		out.Steps = append(out.Steps, js)
	}
	for _, r := range res.Scaling {
		p, _ := res.PointAt(r.Workers)
		out.Scaling = append(out.Scaling, JSONScaling{
			Workers: r.Workers, CapacityRPS: r.Capacity, LinearRPS: r.Linear,
			CapacityLoRPS: r.CapacityLo, CapacityHiRPS: known(r.CapacityHi), Saturated: r.Saturated, Disturbed: p.Disturbed,
			Speedup: r.Speedup, SpeedupLo: known(r.SpeedupLo), SpeedupHi: known(r.SpeedupHi),
			Efficiency: r.Efficiency, Note: r.Note,
		})
	}
	out.Verdict, out.Interference = Verdict(res), Disturbance(res)
	out.Compared = CompareCells(res)
	return out
}

// known is v, or nil (JSON null) for an unknown end of an interval: 0 or +Inf.
func known(v float64) *float64 {
	if v == 0 || math.IsInf(v, 0) {
		return nil
	}
	return &v
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
