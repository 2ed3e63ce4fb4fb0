package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/load"
	"github.com/bench-dev/bench/internal/scaling"
)

// Width is the widest line a table prints without Options.Wide: a 120-column terminal.
const Width = 120

// A field is one measure of a table's rows, with what every format needs of it: the table's
// header and cell, and the JSON key and value. The table, Markdown, HTML and JSON summaries all
// read the same lists (stepFields, scalingFields), so a measure added there reaches every format.
type field[T any] struct {
	// header is the tables' header, "" for a field only JSON carries. A terminal table breaks it
	// into lines at "\n" (name above unit keeps numeric columns narrow); Markdown and HTML join them
	// with a space.
	header string
	cell   func(T) string // the tables' cell
	key    string         // the JSON key, its unit in the name; "" for a column only the tables show
	value  func(T) any    // the JSON value; nil leaves the key out of this row
	// in reports whether the tables show the column in this run (nil: always): a column that
	// would say the same on every row (one strategy, no sessions) is left out. JSON carries its
	// key regardless.
	in func(*run) bool
	// drop orders the columns a table leaves out to fit Width unless Options.Wide: the highest
	// first; 0 never.
	drop int
}

// run is a result with what the formats derive from it once.
type run struct {
	*experiment.Result
	fits fits
}

func newRun(res *experiment.Result) *run { return &run{Result: res, fits: fitRun(res)} }

// stepRow is a step with its 1-based row in summary.csv (and in the step-NN file names).
type stepRow struct {
	row int
	experiment.Step
}

func (r *run) stepRows() []stepRow {
	rows := make([]stepRow, len(r.Steps))
	for i, st := range r.Steps {
		rows[i] = stepRow{i + 1, st}
	}
	return rows
}

// stepFields are the steps table's columns and the JSON steps' keys, in order.
var stepFields = []field[stepRow]{
	{header: "row", cell: func(s stepRow) string { return strconv.Itoa(s.row) },
		key: "row", value: func(s stepRow) any { return s.row }, drop: 9},
	{header: "workers", cell: func(s stepRow) string { return strconv.Itoa(s.Workers) },
		key: "workers", value: func(s stepRow) any { return s.Workers }},
	{header: "strategy", cell: func(s stepRow) string { return s.Strategy },
		key: "strategy", value: func(s stepRow) any { return s.Strategy }, in: severalStrategies},
	{header: "store", cell: func(s stepRow) string { return s.Store },
		key: "store", value: func(s stepRow) any { return nilIfZero(s.Store) }, in: severalStores},
	{header: "rep", cell: func(s stepRow) string { return strconv.Itoa(s.Rep) },
		key: "rep", value: func(s stepRow) any { return s.Rep }, in: repeated},
	{key: "search", value: func(s stepRow) any { return s.Search }},
	{header: "offered\nrps", cell: func(s stepRow) string { return fmt.Sprintf("%.0f", s.Offered) },
		key: "offered_rps", value: func(s stepRow) any { return s.Offered }},
	{header: "sent\nrps", cell: func(s stepRow) string { return fmt.Sprintf("%.0f", s.Sent) },
		key: "sent_rps", value: func(s stepRow) any { return s.Sent }, drop: 6},
	{header: "throughput\nrps", cell: func(s stepRow) string { return fmt.Sprintf("%.0f", s.Throughput) },
		key: "throughput_rps", value: func(s stepRow) any { return s.Throughput }},
	{header: "success", cell: func(s stepRow) string { return fmt.Sprintf("%.2f%%", 100*s.Success) },
		key: "success_ratio", value: func(s stepRow) any { return s.Success }},
	{key: "requests", value: func(s stepRow) any { return s.Requests }},
	{header: "p50\nms", cell: func(s stepRow) string { return fmtMS(s.P50) },
		key: "p50_ms", value: func(s stepRow) any { return msFloat(s.P50) }, drop: 2},
	{header: "p90\nms", cell: func(s stepRow) string { return fmtMS(s.P90) },
		key: "p90_ms", value: func(s stepRow) any { return msFloat(s.P90) }, drop: 5},
	{header: "p99\nms", cell: func(s stepRow) string { return fmtMS(s.P99) },
		key: "p99_ms", value: func(s stepRow) any { return msFloat(s.P99) }},
	{header: "p99.9\nms", cell: func(s stepRow) string { return fmtMS(s.P999) },
		key: "p999_ms", value: func(s stepRow) any { return msFloat(s.P999) }, drop: 4},
	{header: "max\nms", cell: func(s stepRow) string { return fmtMS(s.Max) },
		key: "max_ms", value: func(s stepRow) any { return msFloat(s.Max) }, drop: 3},
	{key: "lag_p99_ms", value: func(s stepRow) any { return msFloat(s.Lag) }},
	{header: "share\n%", cell: func(s stepRow) string { return shareCell(s.Share) },
		key: "share", value: func(s stepRow) any { return append([]uint64{}, s.Share...) }, drop: 7},
	{header: "share %\nmin/max/sd", cell: func(s stepRow) string {
		sh := Shares(s.Share)
		return fmt.Sprintf("%.0f / %.0f / %.1f", 100*sh.Min, 100*sh.Max, 100*sh.Stddev)
	}, in: severalStrategies, drop: 6},
	{key: "worker_cpu_s", value: func(s stepRow) any { return s.WorkerCPU.Seconds() }},
	{key: "bench_cpu_s", value: func(s stepRow) any { return s.BenchCPU.Seconds() }},
	{key: "worker_cpu_pct", value: func(s stepRow) any { return round(100*s.WorkerCPUShare(), 1) }},
	{key: "bench_cpu_pct", value: func(s stepRow) any { return round(100*s.BenchCPUShare(), 1) }},
	{key: "other_cpu_pct", value: func(s stepRow) any { return round(100*s.OtherCPUShare(), 1) }},
	{key: "elapsed_s", value: func(s stepRow) any { return s.Elapsed.Seconds() }},
	{header: "session\nmiss", cell: func(s stepRow) string { return fmt.Sprintf("%.3f", s.Sessions.MissRatio()) },
		key: "sessions", value: func(s stepRow) any { return jsonSessionsOf(s.Sessions) }, in: withSessions, drop: 1},
	{header: "ctx\nsw/s", cell: func(s stepRow) string { return fmt.Sprintf("%.0f", s.CtxSwitches) },
		key: "ctx_switches_per_s", value: func(s stepRow) any { return s.CtxSwitches }, in: oversubscribed, drop: 5},
	{header: "restarts", cell: func(s stepRow) string { return strconv.Itoa(s.Restarts) },
		key: "restarts", value: func(s stepRow) any { return s.Restarts }, in: withRestarts, drop: 2},
	{key: "retries", value: func(s stepRow) any { return s.Retries }},
	{key: "faults", value: func(s stepRow) any { return jsonFaultsOf(s.Faults) }},
	{key: "errors", value: func(s stepRow) any {
		if len(s.Errors) == 0 {
			return nil
		}
		return s.Errors
	}},
	{key: "errors_target", value: func(s stepRow) any { return s.Classes.Target }},
	{key: "errors_balancer", value: func(s stepRow) any { return s.Classes.Balancer }},
	{key: "errors_generator", value: func(s stepRow) any { return s.Classes.Generator }},
	{key: "fail_p99_ms", value: func(s stepRow) any { return msFloat(s.FailP99) }},
	{header: "cpu % workers\n/bench/other", cell: func(s stepRow) string {
		return fmt.Sprintf("%.0f / %.0f / %.0f", 100*s.WorkerCPUShare(), 100*s.BenchCPUShare(), 100*s.OtherCPUShare())
	}, drop: 1},
	{header: "flags", cell: func(s stepRow) string { return strings.Join(s.Flags, " ") },
		key: "flags", value: func(s stepRow) any { return append([]string{}, s.Flags...) }},
}

// scalingView is a row of the scaling table with the models fitted to the run and whether other
// processes disturbed its capacity.
type scalingView struct {
	scaling.Row
	fits      *fits
	disturbed bool
}

func (r *run) scalingRows() []scalingView {
	rows := make([]scalingView, len(r.Scaling))
	for i, row := range r.Scaling {
		p, _ := r.PointAt(row.Workers)
		rows[i] = scalingView{row, &r.fits, p.Disturbed}
	}
	return rows
}

// scalingFields are the scaling table's columns and the JSON scaling rows' keys, in order.
var scalingFields = []field[scalingView]{
	{header: "workers", cell: func(s scalingView) string { return strconv.Itoa(s.Workers) },
		key: "workers", value: func(s scalingView) any { return s.Workers }},
	{header: "capacity rps\n(95% interval)", cell: func(s scalingView) string {
		if s.disturbed {
			return CapacityText(s.Row) + " noisy" // measured while other processes used the machine
		}
		return CapacityText(s.Row)
	},
		key: "capacity_rps", value: func(s scalingView) any { return s.Capacity }},
	{key: "capacity_lo_rps", value: func(s scalingView) any { return s.CapacityLo }},
	{key: "capacity_hi_rps", value: func(s scalingView) any { return known(s.CapacityHi) }},
	{key: "saturated", value: func(s scalingView) any { return s.Saturated }},
	{key: "disturbed", value: func(s scalingView) any { return s.disturbed }},
	{header: "linear rps\n(1 worker × N)", cell: func(s scalingView) string { return fmt.Sprintf("%.0f", s.Linear) },
		key: "linear_rps", value: func(s scalingView) any { return s.Linear }, drop: 1},
	{header: "USL\nrps", cell: func(s scalingView) string { return s.fits.cell(s.fits.usl.Throughput, float64(s.Workers)) },
		key: "usl_rps", value: func(s scalingView) any {
			if !s.fits.ok {
				return nil
			}
			return round(s.fits.usl.Throughput(float64(s.Workers)), 1)
		}, drop: 1},
	{header: "bottleneck\nrps", cell: func(s scalingView) string { return s.fits.cell(s.fits.bound.Throughput, float64(s.Workers)) },
		key: "bottleneck_rps", value: func(s scalingView) any {
			if !s.fits.ok || math.IsInf(s.fits.bound.Ceiling, 1) {
				return nil
			}
			return round(s.fits.bound.Throughput(float64(s.Workers)), 1)
		}, in: func(r *run) bool { return r.fits.byBound }, drop: 1},
	{header: "speedup\n(95% interval)", cell: func(s scalingView) string { return SpeedupText(s.Row) },
		key: "speedup", value: func(s scalingView) any { return s.Speedup }},
	{key: "speedup_lo", value: func(s scalingView) any { return known(s.SpeedupLo) }},
	{key: "speedup_hi", value: func(s scalingView) any { return known(s.SpeedupHi) }},
	{header: "efficiency", cell: func(s scalingView) string { return EfficiencyText(s.Row) },
		key: "efficiency", value: func(s scalingView) any { return s.Efficiency }, drop: 2},
	{header: "note", cell: func(s scalingView) string { return s.Note },
		key: "note", value: func(s scalingView) any { return s.Note }, drop: 3},
}

// errorRow is one kind of error of one step.
type errorRow struct {
	stepRow
	err   string
	count int
}

func (r *run) errorRows() []errorRow {
	var rows []errorRow
	for _, s := range r.stepRows() {
		msgs := make([]string, 0, len(s.Errors))
		for m := range s.Errors {
			msgs = append(msgs, m)
		}
		// The commonest first: it is the one to fix.
		sort.Slice(msgs, func(i, j int) bool {
			a, b := s.Errors[msgs[i]], s.Errors[msgs[j]]
			return a > b || a == b && msgs[i] < msgs[j]
		})
		for _, m := range msgs {
			rows = append(rows, errorRow{s, m, s.Errors[m]})
		}
	}
	return rows
}

// errorFields are the errors table's columns (JSON carries the errors in each step).
var errorFields = []field[errorRow]{
	{header: "row", cell: func(e errorRow) string { return strconv.Itoa(e.row) }},
	{header: "workers", cell: func(e errorRow) string { return strconv.Itoa(e.Workers) }},
	{header: "strategy", cell: func(e errorRow) string { return e.Strategy }, in: severalStrategies},
	{header: "offered\nrps", cell: func(e errorRow) string { return fmt.Sprintf("%.0f", e.Offered) }},
	{header: "requests", cell: func(e errorRow) string { return strconv.Itoa(e.count) }},
	{header: "error", cell: func(e errorRow) string { return e.err }},
}

func severalStrategies(r *run) bool {
	return distinct(r, func(st experiment.Step) string { return st.Strategy }) > 1
}
func severalStores(r *run) bool {
	return distinct(r, func(st experiment.Step) string { return st.Store }) > 1
}

func distinct(r *run, key func(experiment.Step) string) int {
	seen := map[string]bool{}
	for _, st := range r.Steps {
		seen[key(st)] = true
	}
	return len(seen)
}

func repeated(r *run) bool {
	return slices.ContainsFunc(r.Steps, func(st experiment.Step) bool { return st.Rep > 1 })
}

func withSessions(r *run) bool {
	return slices.ContainsFunc(r.Steps, func(st experiment.Step) bool { return st.Sessions != (load.Sessions{}) })
}

func withRestarts(r *run) bool {
	return slices.ContainsFunc(r.Steps, func(st experiment.Step) bool { return st.Restarts > 0 || len(st.Faults) > 0 })
}

// oversubscribed reports whether a step ran more workers than the machine has cores: then the
// context switches per second say what the extra processes cost.
func oversubscribed(r *run) bool {
	return slices.ContainsFunc(r.Steps, func(st experiment.Step) bool { return st.Cores > 0 && st.Workers > st.Cores })
}

// known is v, or nil (JSON null) for an unknown end of an interval: 0 or ±Inf.
func known(v float64) any {
	if v == 0 || math.IsInf(v, 0) {
		return nil
	}
	return v
}

func nilIfZero[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
}

// columns returns the fields the tables show in this run.
func columns[T any](r *run, fs []field[T]) []field[T] {
	var out []field[T]
	for _, f := range fs {
		if f.header != "" && (f.in == nil || f.in(r)) {
			out = append(out, f)
		}
	}
	return out
}

// table is a table's header and cells, ready to render in any style.
type table struct {
	header []string
	rows   [][]string
	// hidden are the headers of the columns left out to fit Width.
	hidden []string
}

// tableOf lays out rows in the columns fs shows in this run; unless wide, it leaves out columns,
// the highest drop first (the rightmost of equals), until the text table fits Width.
func tableOf[T any](r *run, fs []field[T], rows []T, wide bool) (table, error) {
	all := columns(r, fs)
	cols := slices.Clone(all)
	t := layout(cols, rows)
	for !wide {
		width, err := t.width()
		if err != nil {
			return t, err
		}
		drop := -1
		for i, c := range cols {
			if c.drop > 0 && (drop < 0 || c.drop >= cols[drop].drop) {
				drop = i
			}
		}
		if width <= Width || drop < 0 {
			break
		}
		cols = slices.Delete(cols, drop, drop+1)
		t = layout(cols, rows)
	}
	kept := map[string]bool{}
	for _, c := range cols {
		kept[c.header] = true
	}
	for _, c := range all {
		if !kept[c.header] {
			t.hidden = append(t.hidden, oneLine(c.header))
		}
	}
	return t, nil
}

func layout[T any](cols []field[T], rows []T) table {
	t := table{header: make([]string, len(cols)), rows: make([][]string, len(rows))}
	for i, c := range cols {
		t.header[i] = c.header
	}
	for i, row := range rows {
		t.rows[i] = make([]string, len(cols))
		for j, c := range cols {
			t.rows[i][j] = c.cell(row)
		}
	}
	return t
}

// width is the widest line of the table drawn as text.
func (t table) width() (int, error) {
	var buf bytes.Buffer
	if err := t.render(&buf, textTable); err != nil {
		return 0, err
	}
	widest := 0
	for _, line := range strings.Split(buf.String(), "\n") {
		widest = max(widest, utf8.RuneCountInString(line))
	}
	return widest, nil
}

func (t table) render(w io.Writer, style tableStyle) error {
	tw := newTable(w, style)
	header := make([]any, len(t.header))
	for i, h := range t.header {
		if style == markdownTable {
			h = oneLine(h)
		}
		header[i] = h
	}
	tw.Header(header...)
	for _, row := range t.rows {
		if err := tw.Append(row); err != nil {
			return err
		}
	}
	return tw.Render()
}

// hiddenNote says which columns a narrow table left out, in lines of at most Width; none when
// it left out none.
func (t table) hiddenNote() []string {
	if len(t.hidden) == 0 {
		return nil
	}
	return wrap(fmt.Sprintf("(left out to fit %d columns: %s; --wide shows them)", Width, strings.Join(t.hidden, ", ")), Width)
}

// wrap breaks text at spaces into lines of at most width runes (longer words stay whole).
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line = word
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}

// oneLine joins a header's lines with spaces.
func oneLine(header string) string { return strings.ReplaceAll(header, "\n", " ") }

// JSONRow is a step or scaling row as WriteJSON prints it: a JSON object whose keys keep the order
// of the fields. It only encodes; decode the rows into maps or structs of your own.
type JSONRow []jsonPair

type jsonPair struct {
	key   string
	value any
}

func objectOf[T any](fs []field[T], v T) JSONRow {
	o := make(JSONRow, 0, len(fs))
	for _, f := range fs {
		if f.key == "" {
			continue
		}
		if val := f.value(v); val != nil {
			o = append(o, jsonPair{f.key, val})
		}
	}
	return o
}

func (o JSONRow) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(p.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(p.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
