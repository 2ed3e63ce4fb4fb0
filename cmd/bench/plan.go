package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/report"
	"github.com/bench-dev/bench/internal/scaling"
)

const planHelp = `Plans capacity from a measured run: how many workers and machines carry a request rate within a
p99 target, and what limits scaling first. Nothing is measured; the run is read from its summary.csv.

It answers three ways, side by side:
  (a) the linear scaling math: rate / one worker's capacity;
  (b) queueing: the fewest workers in one M/M/c queue (Erlang C) whose predicted p99 meets the target;
  (c) the Universal Scalability Law fitted to the measured capacities: how many workers one machine
      can use before contention or coherency stop paying, and so how many machines.
The plan (workers per machine, machines, predicted p99) comes from (c) with the queueing model per
machine. --headroom sizes for rate / (1 − headroom) and keeps the p99 target at that load.

Examples:
  bench plan --rps 10000 --p99 50ms
  bench plan --rps 10k --p99 50ms
  bench plan --rps 10000 --p99 50ms --from results/cpu-20260101T120000Z --cores-per-machine 16
  bench plan --rps 2000 --p99 20ms --from cpu.csv --headroom 0

Exit status: 0 success, 2 bad flags, no usable run, or a target no number of workers meets.
`

func planCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plan", "--rps RATE --p99 DURATION [flags]", planHelp, stdout)
	rps := (*float64)(new(rateValue))
	fs.Var((*rateValue)(rps), "rps", "request rate to carry, requests/s, e.g. 10000 or 10k (required)")
	p99 := fs.Duration("p99", 0, "target p99 response time, e.g. 50ms (required)")
	from := fs.String("from", "", "results folder or summary.csv to plan from (default the newest folder under results/ with a summary.csv)")
	cores := fs.Int("cores-per-machine", scaling.DefaultCoresPerMachine, "cores of one machine of the deployment (one single-threaded worker per core)")
	headroom := fs.Float64("headroom", 0.3, "fraction of capacity kept unused at the target rate, in [0, 1)")
	lowerBound := fs.Bool("lower-bound", false, "plan from worker counts that were not saturated, taking the highest rate they carried as their capacity (every answer is then a bound)")
	pos, err := fs.parseInterspersed(args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 0:
		return badInput{fmt.Errorf("plan: unexpected argument %q (the run is given with --from)", pos[0])}
	case *rps == 0 || *p99 == 0:
		return badInput{errors.New("plan: --rps and --p99 are required, e.g. --rps 10000 --p99 50ms (see `bench help plan`)")}
	case !(*rps > 0) || math.IsInf(*rps, 0):
		return badInput{fmt.Errorf("plan: --rps %v: want a request rate > 0 (see `bench help plan`)", *rps)}
	case *p99 <= 0:
		return badInput{fmt.Errorf("plan: --p99 %v: want a duration > 0 such as 50ms (see `bench help plan`)", *p99)}
	case *cores < 1:
		return badInput{fmt.Errorf("plan: --cores-per-machine %d: want ≥ 1", *cores)}
	case !(*headroom >= 0 && *headroom < 1):
		return badInput{fmt.Errorf("plan: --headroom %v: want a fraction in [0, 1), e.g. 0.3", *headroom)}
	}

	src, how := *from, "--from"
	if src == "" {
		if src, err = newestResults("results"); err != nil {
			return badInput{fmt.Errorf("plan: %w", err)}
		}
		how = "the newest results folder with a summary.csv"
	}
	res, err := loadSummary("plan", src)
	if err != nil {
		return err
	}

	points, err := planPoints(res, *lowerBound)
	if err != nil {
		return badInput{fmt.Errorf("plan: %s: %w", src, err)}
	}
	in := scaling.PlanInput{
		RPS: *rps, P99: *p99, Points: points, CoresPerMachine: *cores, Headroom: *headroom,
		MeasuredCores: res.Cores, CPUBound: report.CPULimited(res), LowerBound: len(points) > len(scaling.Saturated(points)),
	}
	for _, st := range res.Steps {
		if hasFlag(st, experiment.FlagBehind) {
			in.BehindSteps++
		}
		in.BenchCPUShare = max(in.BenchCPUShare, st.BenchCPUShare())
	}
	p, err := scaling.MakePlan(in)
	if err != nil {
		return badInput{fmt.Errorf("plan: %w", err)}
	}
	return writePlan(stdout, src, how, res, p)
}

// planPoints returns the capacities a plan may use: the saturated ones. A worker count that was
// not saturated has only a lower bound; without --lower-bound a run whose baseline (its fewest
// workers) or every count is such a bound cannot be planned from, and the error says what to
// measure.
func planPoints(res *experiment.Result, lowerBound bool) ([]scaling.Point, error) {
	var unsat []string
	var highest float64
	for _, p := range res.Capacity {
		if !p.Saturated() {
			unsat = append(unsat, strconv.Itoa(p.Workers))
			highest = max(highest, p.Capacity)
		}
	}
	if lowerBound || len(unsat) == 0 {
		return res.Capacity, nil
	}
	sat := scaling.Saturated(res.Capacity)
	smallest := func(ps []scaling.Point) int {
		n := 0
		for _, p := range ps {
			if n == 0 || p.Workers < n {
				n = p.Workers
			}
		}
		return n
	}
	if len(sat) == 0 || smallest(sat) != smallest(res.Capacity) {
		return nil, fmt.Errorf("%s worker(s) were not saturated (they carried every rate offered, up to %.0f rps), so their capacity is only a lower bound: "+
			"measure them at higher rates (bench run … --workers %s --rates with rates above %.0f, or a capacity search), or plan from the bounds with --lower-bound",
			strings.Join(unsat, ", "), highest, strings.Join(unsat, ","), highest)
	}
	return sat, nil
}

func writePlan(w io.Writer, src, how string, res *experiment.Result, p scaling.Plan) error {
	in := p.Input
	pf := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	pf("Plan: %s rps at p99 ≤ %v, %.0f%% headroom, %d cores per machine\n", rate(in.RPS), in.P99, 100*in.Headroom, in.CoresPerMachine)
	pf("From: %s (%s; %d steps, measured on %s)\n\n", src, how, len(res.Steps), coresText(res.Cores))

	pf("Measured\n")
	pf("  one worker's capacity  %s rps\n", rate(p.PerWorker))
	pf("  service time           %s ms = %s\n", msText(p.Service), p.ServiceSource)
	if p50, ok := lowLoadP50(res); ok {
		pf("                         (the p50 at the lowest load, %s ms, is a response time: it includes the balancer hop, so it is not used)\n", msText(p50))
	}
	if p.Fitted {
		f := p.Fit
		pf("  USL fit                λ=%s rps, σ=%s, κ=%s, R²=%.3f over %d points: %s\n",
			rate(f.Lambda), g2(f.Sigma), g2(f.Kappa), f.R2, f.N, f.Verdict())
	}
	if b := p.Bound; p.ByBound {
		pf("  bottleneck fit         min(%s rps × N, %s rps), R²=%.3f, worst point %+.0f%% (the USL's %+.0f%%): fits better, the plan uses it\n",
			rate(b.Lambda), rate(b.Ceiling), b.R2, 100*scaling.WorstResidual(b.Residuals), 100*scaling.WorstResidual(p.Fit.Residuals))
	}
	for _, n := range p.Notes {
		pf("  warning                %s\n", n)
	}

	pf("\nWorkers needed for %s rps\n", rate(in.RPS))
	pf("  (a) linear math        %d workers = %s / %s rps (%d with headroom, for %s rps)\n",
		p.LinearWorkers, rate(in.RPS), rate(p.PerWorker), p.LinearWorkersHeadroom, rate(p.DesignRPS))
	pf("  (b) M/M/c Erlang C     %d workers in one queue keep p99 ≤ %v at %s rps\n", p.QueueWorkers, in.P99, rate(p.DesignRPS))
	peak := "never peaks: more workers always add throughput"
	if !math.IsInf(p.PeakN, 1) {
		peak = fmt.Sprintf("peaks at N*≈%.1f workers, X(N*)≈%s rps", p.PeakN, rate(p.PeakX))
	} else if !math.IsInf(p.PeakX, 1) {
		peak = fmt.Sprintf("never peaks, but approaches %s rps (Amdahl ceiling λ/σ)", rate(p.PeakX))
	}
	one := "one machine cannot reach it with any number of cores"
	if p.ReachableOnOne {
		one = fmt.Sprintf("one machine could, with enough cores; with %d it carries %s rps", in.CoresPerMachine, rate(p.MachineRPS))
	}
	model := "(c) USL model"
	if p.ByBound {
		model = "(c) bottleneck model"
		peak = fmt.Sprintf("reaches its ceiling of %s rps at N≈%.1f workers and stays there", rate(p.PeakX), p.PeakN)
	}
	pf("  %-23s%s; for %s rps %s\n", model, peak, rate(p.DesignRPS), one)

	pf("\nPlan\n")
	pf("  workers per machine    %d (of %d cores: the count that carries most per machine under the model, %s rps)\n",
		p.WorkersPerMachine, in.CoresPerMachine, rate(p.MachineRPS))
	pf("  machines               %d\n", p.Machines)
	pf("  workers                %d\n", p.Workers)
	if cpus := experiment.MachineCPUsOf(res.Scaling); cpus > 0 {
		pf("  as measured            %d machine(s) of %g CPU: each worker was a replica with that CPU limit\n", p.Workers, cpus)
	}
	pf("  predicted p99          %s ms at %s rps (%s ms at %s rps with headroom); utilisation %.0f%%\n",
		msText(p.P99AtRPS), rate(in.RPS), msText(p.P99AtDesign), rate(p.DesignRPS), 100*p.Utilisation)
	pf("  headroom               %.0f%%: sized for %s rps\n", 100*in.Headroom, rate(p.DesignRPS))
	pf("  bottleneck             %s\n", p.Bottleneck)
	for _, l := range p.Limits[1:] {
		pf("  then                   %s\n", l)
	}
	pf("\nQueueing model: %s\n\n", scaling.QueueingModel)

	t := textTable(w)
	name := "USL"
	if p.ByBound {
		name = "bottleneck"
	}
	t.Header("workers", "linear rps (N × one worker)", name+" X(N), one machine", name+" on "+strconv.Itoa(p.WorkersPerMachine)+"-worker machines", "machines", "")
	for _, r := range p.Rows {
		if err := t.Append(strconv.Itoa(r.Workers), rate(r.Linear), rate(r.Model), rate(r.Spread), strconv.Itoa(r.Machines), r.Note); err != nil {
			return err
		}
	}
	return t.Render()
}

// textTable is report's table style (report.newTable is unexported): plain headers, numbers right.
func textTable(w io.Writer) *tablewriter.Table {
	return tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignment(tw.AlignRight),
	)
}

// newestResults returns the folder under root whose summary.csv was written last.
func newestResults(root string) (string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", fmt.Errorf("no --from given and no %s folder here to take the newest run from", root)
	}
	var best string
	var bestTime time.Time
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		fi, err := os.Stat(filepath.Join(root, e.Name(), "summary.csv"))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if best == "" || fi.ModTime().After(bestTime) {
			best, bestTime = filepath.Join(root, e.Name()), fi.ModTime()
		}
	}
	if best == "" {
		return "", fmt.Errorf("no --from given and no folder under %s has a summary.csv", root)
	}
	return best, nil
}

// loadSummary reads a results folder or a summary.csv file; every way it can be unreadable is bad
// input, in one line starting with cmd.
func loadSummary(cmd, path string) (*experiment.Result, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, badInput{fmt.Errorf("%s: %s: no such results folder or summary.csv", cmd, path)}
	}
	var res *experiment.Result
	if fi.IsDir() {
		res, err = report.Load(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, badInput{fmt.Errorf("%s: %s: no summary.csv in this folder (is it a `bench run` results folder?)", cmd, path)}
		}
	} else {
		var f *os.File
		if f, err = os.Open(path); err == nil {
			res, err = report.ReadCSV(f)
			f.Close()
			if err != nil {
				err = fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	if err != nil {
		return nil, badInput{fmt.Errorf("%s: %w", cmd, err)}
	}
	if len(res.Steps) == 0 {
		return nil, badInput{fmt.Errorf("%s: %s: no steps in the summary", cmd, path)}
	}
	return res, nil
}

// lowLoadP50 returns the p50 of the lowest offered rate at the smallest worker count, unflagged.
func lowLoadP50(res *experiment.Result) (time.Duration, bool) {
	var best *experiment.Step
	for i := range res.Steps {
		st := &res.Steps[i]
		if st.Flagged() || st.P50 <= 0 {
			continue
		}
		if best == nil || st.Workers < best.Workers || st.Workers == best.Workers && st.Offered < best.Offered {
			best = st
		}
	}
	if best == nil {
		return 0, false
	}
	return best.P50, true
}

func hasFlag(st experiment.Step, flag string) bool {
	for _, f := range st.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

func coresText(n int) string {
	if n <= 0 {
		return "an unknown number of cores"
	}
	return strconv.Itoa(n) + " cores"
}

// rate prints requests/s without false precision; +Inf as "∞".
func rate(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "∞"
	case v >= 100 || v == 0:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
}

func msText(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

func g2(v float64) string { return strconv.FormatFloat(v, 'g', 2, 64) }
