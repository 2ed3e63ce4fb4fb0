package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/scaling"
)

// Columns of summary.csv, one row per (workers, offered rate) step. Units are in the names.
var Columns = []string{
	"workers", "strategy", "store", "rep", "search", "offered_rps", "sent_rps", "throughput_rps", "success_ratio", "requests",
	"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "lag_p99_ms",
	"capacity_rps", "capacity_lo_rps", "capacity_hi_rps", "saturated", "disturbed",
	"linear_rps", "usl_rps", "bound_rps", "speedup", "speedup_lo", "speedup_hi", "efficiency",
	"share", "share_min", "share_max", "share_stddev",
	"worker_cpu_s", "bench_cpu_s", "worker_cpu_pct", "bench_cpu_pct", "other_cpu_s", "other_cpu_pct", "steal_s", "elapsed_s", "cores",
	"session_new", "session_hit", "session_miss", "session_miss_ratio", "session_overlap",
	"errors_target", "errors_balancer", "errors_generator", "fail_p99_ms",
	"restarts", "retries", "faults", "errors", "ctx_switches_per_s", "bench_rss_mb",
	"flags", "note",
}

// WriteCSV writes the summary of res to w.
func WriteCSV(w io.Writer, res *experiment.Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Columns); err != nil {
		return err
	}
	// usl_rps and bound_rps: the models fitted to the capacities, empty without a fit (bound_rps
	// also without a ceiling in the measured range). Derived, like the scaling columns: a reader
	// recomputes them.
	f := fitRun(res)
	usl := func(workers int) string {
		if !f.ok {
			return ""
		}
		return f1(f.usl.Throughput(float64(workers)))
	}
	bound := func(workers int) string {
		if !f.ok || math.IsInf(f.bound.Ceiling, 1) {
			return ""
		}
		return f1(f.bound.Throughput(float64(workers)))
	}
	for _, st := range res.Steps {
		row, _ := res.ScalingAt(st.Workers)
		sh := Shares(st.Share)
		// The CPU percentages are computed from the seconds as written, so that a row agrees with
		// itself and ReadCSV gives back a step that writes the same row.
		cpu := st
		cpu.WorkerCPU, cpu.BenchCPU, cpu.OtherCPU, cpu.Elapsed = asWritten(st.WorkerCPU), asWritten(st.BenchCPU), asWritten(st.OtherCPU), asWritten(st.Elapsed)
		point, _ := res.PointAt(st.Workers)
		rec := []string{
			strconv.Itoa(st.Workers), st.Strategy, st.Store, strconv.Itoa(st.Rep), strconv.FormatBool(st.Search),
			f1(st.Offered), f1(st.Sent), f1(st.Throughput), f4(st.Success), strconv.FormatUint(st.Requests, 10),
			ms(st.P50), ms(st.P90), ms(st.P99), ms(st.P999), ms(st.Max), ms(st.Lag),
			f1(row.Capacity), f1(row.CapacityLo), f1Inf(row.CapacityHi), boolCell(row, row.Saturated), boolCell(row, point.Disturbed),
			f1(row.Linear), usl(st.Workers), bound(st.Workers), f3(row.Speedup), f3Known(row.SpeedupLo), f3Known(row.SpeedupHi), f3(row.Efficiency),
			joinCounts(st.Share), f4(sh.Min), f4(sh.Max), f4(sh.Stddev),
			f3(st.WorkerCPU.Seconds()), f3(st.BenchCPU.Seconds()),
			f1(100 * cpu.WorkerCPUShare()), f1(100 * cpu.BenchCPUShare()),
			f3(st.OtherCPU.Seconds()), f1(100 * cpu.OtherCPUShare()), f3(st.Steal.Seconds()), f3(st.Elapsed.Seconds()),
			strconv.Itoa(st.Cores),
			strconv.FormatUint(st.Sessions.New, 10), strconv.FormatUint(st.Sessions.Hit, 10),
			strconv.FormatUint(st.Sessions.Miss, 10), f4(st.Sessions.MissRatio()), strconv.FormatUint(st.Sessions.Overlap, 10),
			strconv.FormatUint(st.Classes.Target, 10), strconv.FormatUint(st.Classes.Balancer, 10),
			strconv.FormatUint(st.Classes.Generator, 10), ms(st.FailP99),
			strconv.Itoa(st.Restarts), strconv.FormatUint(st.Retries, 10), formatFaults(st.Faults), formatErrors(st.Errors),
			f1(st.CtxSwitches), f1(float64(st.BenchRSS) / (1 << 20)),
			strings.Join(st.Flags, " "), row.Note,
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// SaveCSV writes summary.csv into dir through a temporary file and a rename, so that an interrupted
// run never leaves a half-written summary behind.
func SaveCSV(dir string, res *experiment.Result) (string, error) {
	path := filepath.Join(dir, "summary.csv")
	return path, writeAtomic(path, func(w io.Writer) error { return WriteCSV(w, res) })
}

func writeAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	// CreateTemp makes the file private (0600); results are meant to be shared like any written file.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// formatErrors writes a step's errors in summary.csv's errors column: a JSON object of each error's
// count, keys sorted, e.g. {"503 Service Unavailable":35}; empty without errors. JSON because an
// error's text can hold any separator a plainer list would use.
func formatErrors(errs map[string]int) string {
	if len(errs) == 0 {
		return ""
	}
	b, err := json.Marshal(errs)
	if err != nil {
		return "" // a map of strings to ints always encodes
	}
	return string(b)
}

func joinCounts(counts []uint64) string {
	parts := make([]string, len(counts))
	for i, c := range counts {
		parts[i] = strconv.FormatUint(c, 10)
	}
	return strings.Join(parts, " ")
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// f1Inf is f1, empty for +Inf (an interval open upwards: the worker count was not saturated).
func f1Inf(v float64) string {
	if math.IsInf(v, 1) {
		return ""
	}
	return f1(v)
}

// f3Known is f3, empty for an end of an interval that is not known (0 or +Inf).
func f3Known(v float64) string {
	if v == 0 || math.IsInf(v, 1) {
		return ""
	}
	return f3(v)
}

// boolCell writes a scaling row's flag, empty for the zero row of a worker count without one.
func boolCell(row scaling.Row, v bool) string {
	if row.Note == "" {
		return ""
	}
	return strconv.FormatBool(v)
}
func f3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
func f4(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

// asWritten returns d at the precision of a _s column: what ReadCSV gets back from f3(d.Seconds()).
func asWritten(d time.Duration) time.Duration {
	v, _ := strconv.ParseFloat(f3(d.Seconds()), 64)
	return seconds(v)
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

// fmtMS formats a duration for the terminal with a precision that fits its size.
func fmtMS(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
