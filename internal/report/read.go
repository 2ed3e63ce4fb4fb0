package report

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/load"
	"github.com/bench-dev/bench/internal/scaling"
)

// CSVError is a problem with one cell (or the header) of a summary.csv.
type CSVError struct {
	Line   int    // 1-based line of the file; 1 is the header
	Column string // the column's name; empty when the problem is the whole line
	Err    error
}

func (e *CSVError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d, column %s: %v", e.Line, e.Column, e.Err)
}

func (e *CSVError) Unwrap() error { return e.Err }

// Columns ReadCSV can do without: they are derived from other columns (and recomputed by WriteCSV),
// or, for cores, absent from files written before it existed.
var derivedColumns = map[string]bool{
	"share_min": true, "share_max": true, "share_stddev": true,
	"worker_cpu_pct": true, "bench_cpu_pct": true, "cores": true, "session_miss_ratio": true, "usl_rps": true,
	"bound_rps": true, "other_cpu_pct": true,
}

// optionalColumns were added after the first files were written: absent, they read as zero.
var optionalColumns = map[string]bool{"store": true, "rep": true, "session_new": true, "session_hit": true, "session_miss": true, "session_overlap": true,
	"restarts": true, "retries": true, "faults": true, "errors": true, "ctx_switches_per_s": true, "bench_rss_mb": true,
	"capacity_lo_rps": true, "capacity_hi_rps": true, "saturated": true, "disturbed": true, "speedup_lo": true, "speedup_hi": true,
	"other_cpu_s": true, "other_cpu_pct": true, "steal_s": true,
	"errors_target": true, "errors_balancer": true, "errors_generator": true, "fail_p99_ms": true}

// Load reads dir/summary.csv with ReadCSV. Errors name the file; a missing file is an error
// satisfying errors.Is(err, fs.ErrNotExist).
func Load(dir string) (*experiment.Result, error) {
	path := filepath.Join(dir, "summary.csv")
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError names the file
	}
	defer f.Close()
	res, err := ReadCSV(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

// ReadCSV reconstructs a Result from a summary.csv written by WriteCSV: its Steps, Cores, Capacity
// and Scaling. Writing the Result again gives the same bytes. What summary.csv does not hold stays
// zero: Scenario and Started.
//
// Columns are found by name, so their order does not matter and unknown columns are ignored. Every
// column WriteCSV writes is required except the derived ones (share_min, share_max, share_stddev,
// worker_cpu_pct, bench_cpu_pct), which are only checked to be numbers, and cores: without it (files
// from before it existed) the core count is estimated from worker_cpu_pct. A missing column, a bad
// value or two rows of one worker count disagreeing about its scaling row is a *CSVError naming the
// line and the column.
func ReadCSV(r io.Reader) (*experiment.Result, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &CSVError{Line: 1, Err: errors.New("empty file, want a header line")}
	}
	if err != nil {
		return nil, err // *csv.ParseError names the line
	}
	col := make(map[string]int, len(header))
	for i, name := range header {
		if _, dup := col[name]; dup {
			return nil, &CSVError{Line: 1, Column: name, Err: errors.New("appears twice in the header")}
		}
		col[name] = i
	}
	for _, name := range Columns {
		if _, ok := col[name]; !ok && !derivedColumns[name] && !optionalColumns[name] {
			return nil, &CSVError{Line: 1, Column: name, Err: errors.New("missing from the header")}
		}
	}

	res := &experiment.Result{}
	rows := map[int]*scalingRow{}
	var order []int // worker counts in order of first appearance
	var pcts []cpuPct
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		c := cells{rec: rec, col: col, line: line}
		st := c.step()
		if c.err != nil {
			return nil, c.err
		}
		sr := c.scaling()
		if _, ok := col["cores"]; ok {
			st.Cores = c.int("cores")
		} else if pct := c.float("worker_cpu_pct"); pct > 0 && st.Elapsed > 0 {
			pcts = append(pcts, cpuPct{pct: pct, cpu: st.WorkerCPU, elapsed: st.Elapsed})
		}
		for _, name := range Columns {
			if _, ok := col[name]; ok && derivedColumns[name] && name != "cores" && c.str(name) != "" {
				c.float(name) // only checked: WriteCSV recomputes them
			}
		}
		if c.err != nil {
			return nil, c.err
		}
		if prev, ok := rows[st.Workers]; !ok {
			rows[st.Workers] = sr
			order = append(order, st.Workers)
		} else if err := prev.agrees(sr); err != nil {
			return nil, err
		}
		res.Steps = append(res.Steps, st)
	}

	if _, ok := col["cores"]; !ok {
		cores := estimateCores(pcts)
		for i := range res.Steps {
			res.Steps[i].Cores = cores
		}
	}
	for _, st := range res.Steps {
		res.Cores = max(res.Cores, st.Cores)
	}
	for _, n := range order {
		sr := rows[n]
		if !sr.present() {
			continue // WriteCSV's zero row: no capacity at this worker count
		}
		res.Scaling = append(res.Scaling, sr.row)
		if sr.row.Capacity > 0 {
			res.Capacity = append(res.Capacity, sr.point())
		}
	}
	// scaling.Table sorts its rows by worker count; Capacity keeps the order the run measured in.
	sort.SliceStable(res.Scaling, func(i, j int) bool { return res.Scaling[i].Workers < res.Scaling[j].Workers })
	return res, nil
}

// cells reads the typed values of one record; the first problem is kept in err and later reads
// return zero values, so that a row is parsed in one straight sequence.
type cells struct {
	rec  []string
	col  map[string]int
	line int
	err  error
}

func (c *cells) str(name string) string {
	i, ok := c.col[name]
	if !ok || i >= len(c.rec) {
		return ""
	}
	return c.rec[i]
}

func (c *cells) fail(name string, format string, args ...any) {
	if c.err == nil {
		c.err = &CSVError{Line: c.line, Column: name, Err: fmt.Errorf(format, args...)}
	}
}

func (c *cells) float(name string) float64 {
	s := c.str(name)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		c.fail(name, "%q is not a number", s)
		return 0
	}
	return v
}

func (c *cells) int(name string) int {
	s := c.str(name)
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		c.fail(name, "%q is not a count (a whole number ≥ 0)", s)
		return 0
	}
	return v
}

func (c *cells) uint(name string) uint64 {
	s := c.str(name)
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		c.fail(name, "%q is not a count (a whole number ≥ 0)", s)
		return 0
	}
	return v
}

// optInt and optUint read an optional column: zero when the file has none.
// optFloat reads an optional number column: def when the column is absent or the cell empty.
func (c *cells) optFloat(name string, def float64) float64 {
	if c.str(name) == "" {
		return def
	}
	return c.float(name)
}

// optBool reads an optional true/false column: def when absent or empty.
func (c *cells) optBool(name string, def bool) bool {
	if c.str(name) == "" {
		return def
	}
	return c.bool(name)
}

// optSeconds reads an optional _s column: zero when absent or empty.
func (c *cells) optSeconds(name string) time.Duration {
	return seconds(c.optFloat(name, 0))
}

func (c *cells) optInt(name string) int {
	if _, ok := c.col[name]; !ok {
		return 0
	}
	return c.int(name)
}

func (c *cells) optUint(name string) uint64 {
	if _, ok := c.col[name]; !ok {
		return 0
	}
	return c.uint(name)
}

func (c *cells) bool(name string) bool {
	s := c.str(name)
	v, err := strconv.ParseBool(s)
	if err != nil {
		c.fail(name, "%q is not true or false", s)
	}
	return v
}

// ms reads a duration from a column in milliseconds.
func (c *cells) ms(name string) time.Duration {
	v := c.float(name)
	if v < 0 {
		c.fail(name, "negative duration %v ms", v)
	}
	return time.Duration(math.Round(v * float64(time.Millisecond)))
}

// seconds reads a duration from a column in seconds.
func (c *cells) seconds(name string) time.Duration {
	v := c.float(name)
	if v < 0 {
		c.fail(name, "negative duration %v s", v)
	}
	return seconds(v)
}

func seconds(v float64) time.Duration { return time.Duration(math.Round(v * float64(time.Second))) }

func (c *cells) counts(name string) []uint64 {
	fields := strings.Fields(c.str(name))
	if len(fields) == 0 {
		return nil
	}
	out := make([]uint64, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			c.fail(name, "%q is not a space-separated list of request counts", c.str(name))
			return nil
		}
		out[i] = v
	}
	return out
}

func (c *cells) step() experiment.Step {
	st := experiment.Step{
		Workers:    c.int("workers"),
		Strategy:   c.str("strategy"),
		Store:      c.str("store"),
		Rep:        c.optInt("rep"),
		Search:     c.bool("search"),
		Offered:    c.float("offered_rps"),
		Sent:       c.float("sent_rps"),
		Throughput: c.float("throughput_rps"),
		Success:    c.float("success_ratio"),
		Requests:   c.uint("requests"),
		P50:        c.ms("p50_ms"),
		P90:        c.ms("p90_ms"),
		P99:        c.ms("p99_ms"),
		P999:       c.ms("p999_ms"),
		Max:        c.ms("max_ms"),
		Lag:        c.ms("lag_p99_ms"),
		Share:      c.counts("share"),
		WorkerCPU:  c.seconds("worker_cpu_s"),
		BenchCPU:   c.seconds("bench_cpu_s"),
		Elapsed:    c.seconds("elapsed_s"),
		Sessions: load.Sessions{
			New: c.optUint("session_new"), Hit: c.optUint("session_hit"), Miss: c.optUint("session_miss"),
			Overlap: c.optUint("session_overlap"),
		},
	}
	st.Restarts = c.optInt("restarts")
	st.OtherCPU = c.optSeconds("other_cpu_s")
	st.Steal = c.optSeconds("steal_s")
	st.Classes = load.ErrorClasses{Target: c.optUint("errors_target"), Balancer: c.optUint("errors_balancer"), Generator: c.optUint("errors_generator")}
	if _, ok := c.col["fail_p99_ms"]; ok {
		st.FailP99 = c.ms("fail_p99_ms")
	}
	st.Retries = c.optUint("retries")
	if _, ok := c.col["bench_rss_mb"]; ok {
		st.BenchRSS = uint64(c.float("bench_rss_mb") * (1 << 20))
	}
	if _, ok := c.col["ctx_switches_per_s"]; ok {
		st.CtxSwitches = c.float("ctx_switches_per_s")
	}
	if faults, err := parseFaults(c.str("faults")); err != nil {
		c.fail("faults", "%v", err)
	} else {
		st.Faults = faults
	}
	if e := c.str("errors"); e != "" {
		if err := json.Unmarshal([]byte(e), &st.Errors); err != nil {
			c.fail("errors", "%q is not a JSON object of error counts, like {\"503 Service Unavailable\":35}", e)
		}
	}
	if f := strings.Fields(c.str("flags")); len(f) > 0 {
		st.Flags = f
	}
	if c.err == nil && st.Workers == 0 {
		c.fail("workers", "0 workers")
	}
	return st
}

// scalingRow is the scaling row a record carries, with where it came from to report disagreements.
type scalingRow struct {
	row       scaling.Row
	disturbed bool
	raw       []string // the cells as written, compared between rows of one worker count
	line      int
}

var scalingColumns = []string{"capacity_rps", "capacity_lo_rps", "capacity_hi_rps", "saturated", "disturbed",
	"linear_rps", "speedup", "speedup_lo", "speedup_hi", "efficiency", "note"}

func (c *cells) scaling() *scalingRow {
	sr := &scalingRow{line: c.line, row: scaling.Row{
		Workers:    c.int("workers"),
		Capacity:   c.float("capacity_rps"),
		Linear:     c.float("linear_rps"),
		Speedup:    c.float("speedup"),
		Efficiency: c.float("efficiency"),
		Note:       c.str("note"),
	}}
	r := &sr.row
	r.Saturated = c.optBool("saturated", true)
	sr.disturbed = c.optBool("disturbed", false)
	r.CapacityLo, r.CapacityHi = c.optFloat("capacity_lo_rps", r.Capacity), c.optFloat("capacity_hi_rps", r.Capacity)
	if !r.Saturated && c.str("capacity_hi_rps") == "" {
		r.CapacityHi = math.Inf(1)
	}
	r.SpeedupLo, r.SpeedupHi = c.optFloat("speedup_lo", 0), c.optFloat("speedup_hi", 0)
	if r.SpeedupLo > 0 && r.SpeedupHi == 0 {
		r.SpeedupHi = math.Inf(1) // written empty: this count was not saturated
	}
	for _, name := range scalingColumns {
		sr.raw = append(sr.raw, c.str(name))
	}
	return sr
}

// point is the capacity point the row was computed from.
func (sr *scalingRow) point() scaling.Point {
	r := sr.row
	p := scaling.Point{Workers: r.Workers, Capacity: r.Capacity, Lo: r.CapacityLo, Hi: r.CapacityHi,
		Unsaturated: !r.Saturated, Disturbed: sr.disturbed}
	if p.Lo == p.Capacity && p.Hi == p.Capacity {
		p.Lo, p.Hi = 0, 0 // no interval was known: Point.Interval gives the capacity
	}
	return p
}

// present reports whether the row is a real scaling row rather than the zero row WriteCSV writes for
// a worker count without one (scaling.Table always gives a row a note and a linear capacity).
func (sr *scalingRow) present() bool {
	r := sr.row
	return r.Note != "" || r.Capacity != 0 || r.Linear != 0 || r.Speedup != 0 || r.Efficiency != 0
}

func (sr *scalingRow) agrees(other *scalingRow) error {
	for i, name := range scalingColumns {
		if sr.raw[i] != other.raw[i] {
			return &CSVError{Line: other.line, Column: name, Err: fmt.Errorf(
				"%q differs from %q on line %d for %d workers (one scaling row per worker count)",
				other.raw[i], sr.raw[i], sr.line, sr.row.Workers)}
		}
	}
	return nil
}

type cpuPct struct {
	pct          float64
	cpu, elapsed time.Duration
}

// estimateCores recovers the machine's core count, which older files do not state, from the
// workers' CPU percentage of the machine: the step with the largest percentage has the most
// significant digits. 0 when no step used measurable CPU.
func estimateCores(ps []cpuPct) int {
	best := cpuPct{}
	for _, p := range ps {
		if p.pct > best.pct {
			best = p
		}
	}
	if best.pct == 0 {
		return 0
	}
	return int(math.Round(100 * best.cpu.Seconds() / (best.elapsed.Seconds() * best.pct)))
}
