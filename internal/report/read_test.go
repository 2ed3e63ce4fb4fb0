package report

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/scaling"
)

// roundTrip checks WriteCSV → ReadCSV → WriteCSV gives the same bytes and returns what was read.
func roundTrip(t *testing.T, res *experiment.Result) *experiment.Result {
	t.Helper()
	var first, second bytes.Buffer
	if err := WriteCSV(&first, res); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCSV(bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatalf("ReadCSV: %v\n%s", err, first.String())
	}
	if err := WriteCSV(&second, back); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Fatalf("round trip changed the CSV:\nfirst:\n%s\nsecond:\n%s", first.String(), second.String())
	}
	return back
}

func TestReadCSV_roundTrip(t *testing.T) {
	t.Parallel()
	res := testResult()
	// A worker count without capacity (every step flagged): WriteCSV gives it a zero scaling row.
	res.Steps = append(res.Steps, experiment.Step{Workers: 4, Strategy: "round-robin", Search: true,
		Offered: 2000, Sent: 1500.27, Throughput: 1400.04, Success: 0.87654, Requests: 3000,
		P50: 123456 * time.Microsecond, P99: 2 * time.Second, Max: 3 * time.Second, Lag: 777 * time.Microsecond,
		Share: []uint64{700, 800, 0, 1500}, Elapsed: 2003456789, WorkerCPU: 3456789012, BenchCPU: 987654321, Cores: 2,
		Flags: []string{experiment.FlagBehind}})
	// Errors whose text holds the separators of CSV and of the other list columns.
	res.Steps[1].Errors = map[string]int{"503 Service Unavailable": 35, `dial tcp: "a, b; c": refused`: 2}
	back := roundTrip(t, res)

	if got, want := len(back.Steps), 3; got != want {
		t.Fatalf("%d steps, want %d", got, want)
	}
	st := back.Steps[2]
	if st.Workers != 4 || !st.Search || st.P50 != 123456*time.Microsecond || st.Lag != 777*time.Microsecond ||
		st.Requests != 3000 || st.Cores != 2 || st.Flags[0] != experiment.FlagBehind {
		t.Errorf("step 3 read back as %+v", st)
	}
	// CPU and windows come back at the millisecond precision of their _s columns.
	if got, want := st.WorkerCPU, 3457*time.Millisecond; got != want {
		t.Errorf("WorkerCPU = %v, want %v", got, want)
	}
	if got, want := back.Steps[0].P99, 9500*time.Microsecond; got != want {
		t.Errorf("P99 = %v, want %v", got, want)
	}
	if got := back.Steps[1].Share; len(got) != 2 || got[0] != 900 || got[1] != 860 {
		t.Errorf("Share = %v, want [900 860]", got)
	}
	if back.Steps[0].Flags != nil || back.Steps[0].Share == nil {
		t.Errorf("step 1 flags %#v share %#v", back.Steps[0].Flags, back.Steps[0].Share)
	}
	if got, want := back.Capacity, []scaling.Point{{Workers: 1, Capacity: 498}, {Workers: 2, Capacity: 870}}; !equalPoints(got, want) {
		t.Errorf("Capacity = %v, want %v (no point for 4 workers: it had no capacity)", got, want)
	}
	if got := len(back.Scaling); got != 2 {
		t.Fatalf("%d scaling rows, want 2", got)
	}
	if r := back.Scaling[1]; r.Workers != 2 || r.Linear != 996 || r.Speedup != 1.747 || r.Note != "2 workers (1 machine)" {
		t.Errorf("scaling row for 2 workers = %+v", r)
	}
	if back.Cores != 2 {
		t.Errorf("Cores = %d, want 2", back.Cores)
	}
	if got := back.Steps[1].Errors; len(got) != 2 || got["503 Service Unavailable"] != 35 || got[`dial tcp: "a, b; c": refused`] != 2 {
		t.Errorf("Errors = %v", got)
	}
	if back.Steps[0].Errors != nil {
		t.Errorf("step 1 read back errors %v, want none", back.Steps[0].Errors)
	}
}

// Arbitrary values at full float and nanosecond precision: what the run hands WriteCSV.
func TestReadCSV_roundTripRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	dur := func(max time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(max))) }
	for i := range 200 {
		res := &experiment.Result{Cores: 1 + rng.IntN(64)}
		var points []scaling.Point
		for n := range 1 + rng.IntN(5) {
			n++
			capacity := 0.0
			for range 1 + rng.IntN(3) {
				st := experiment.Step{
					Workers: n, Strategy: []string{"round-robin", "least-conn"}[rng.IntN(2)], Search: rng.IntN(2) == 0,
					Offered: 5000 * rng.Float64(), Sent: 5000 * rng.Float64(), Throughput: 5000 * rng.Float64(),
					Success: rng.Float64(), Requests: rng.Uint64N(1e6),
					P50: dur(time.Second).Truncate(time.Microsecond), P90: dur(time.Second).Truncate(time.Microsecond),
					P99: dur(time.Second).Truncate(time.Microsecond), P999: dur(time.Second).Truncate(time.Microsecond),
					Max: dur(10 * time.Second).Truncate(time.Microsecond), Lag: dur(time.Second).Truncate(time.Microsecond),
					Elapsed: dur(10 * time.Second), WorkerCPU: dur(20 * time.Second), BenchCPU: dur(20 * time.Second),
					Cores: res.Cores,
				}
				for range n {
					st.Share = append(st.Share, rng.Uint64N(1000))
				}
				if rng.IntN(4) == 0 {
					st.Flags = []string{experiment.FlagErrors, experiment.FlagOverSLO}
				}
				if !st.Flagged() {
					capacity = max(capacity, st.Throughput)
				}
				res.Steps = append(res.Steps, st)
			}
			if capacity > 0 {
				points = append(points, scaling.Point{Workers: n, Capacity: capacity})
			}
		}
		res.Capacity = points
		res.Scaling, _ = scaling.Table(points, res.Cores)
		t.Run(strconv.Itoa(i), func(t *testing.T) { roundTrip(t, res) })
	}
}

// Files written before the cores column existed: the core count is estimated from worker_cpu_pct.
func TestReadCSV_withoutCores(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WriteCSV(&buf, testResult()); err != nil {
		t.Fatal(err)
	}
	old := dropColumn(t, buf.String(), "cores")
	res, err := ReadCSV(strings.NewReader(old))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Steps[0].Cores, 2; got != want {
		t.Errorf("estimated cores = %d, want %d (2 s of CPU in 2 s at 50%% of the machine)", got, want)
	}
	if got, want := res.Cores, 2; got != want {
		t.Errorf("Result.Cores = %d, want %d", got, want)
	}
}

func TestReadCSV_badInput(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WriteCSV(&buf, testResult()); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	// set replaces one cell of the 1-based data row.
	set := func(row int, column, value string) string {
		lines := strings.Split(good, "\n")
		header := strings.Split(lines[0], ",")
		cells := strings.Split(lines[row], ",")
		for i, name := range header {
			if name == column {
				cells[i] = value
			}
		}
		lines[row] = strings.Join(cells, ",")
		return strings.Join(lines, "\n")
	}
	for _, tc := range []struct {
		name, csv string
		line      int
		column    string
		want      string
	}{
		{"missing column", dropColumn(t, good, "p99_ms"), 1, "p99_ms", "missing"},
		{"bad number", set(2, "p99_ms", "fast"), 3, "p99_ms", `"fast" is not a number`},
		{"NaN", set(1, "throughput_rps", "NaN"), 2, "throughput_rps", "not a number"},
		{"bad count", set(1, "requests", "-3"), 2, "requests", "not a count"},
		{"bad share", set(2, "share", "900 x"), 3, "share", "request counts"},
		{"bad flag bool", set(1, "search", "maybe"), 2, "search", "true or false"},
		{"zero workers", set(1, "workers", "0"), 2, "workers", "0 workers"},
		{"negative duration", set(1, "max_ms", "-1.000"), 2, "max_ms", "negative"},
		{"bad derived column", set(1, "share_stddev", "?"), 2, "share_stddev", "not a number"},
		{"bad errors", set(1, "errors", "35x 503"), 2, "errors", "not a JSON object"},
		{"duplicate column", strings.Replace(good, "p90_ms", "p50_ms", 1), 1, "p50_ms", "twice"},
		{"empty", "", 1, "", "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ReadCSV(strings.NewReader(tc.csv))
			var ce *CSVError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *CSVError", err)
			}
			if ce.Line != tc.line || ce.Column != tc.column || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q (line %d, column %q), want line %d, column %q, mentioning %q",
					err, ce.Line, ce.Column, tc.line, tc.column, tc.want)
			}
		})
	}

	// Two steps of one worker count carry one scaling row; disagreeing copies are an error.
	two := testResult()
	two.Steps = append(two.Steps, two.Steps[1])
	buf.Reset()
	if err := WriteCSV(&buf, two); err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(buf.String(), "870.0,870.0,870.0,true", "871.0,870.0,870.0,true", 1)
	_, err := ReadCSV(strings.NewReader(edited))
	if err == nil || !strings.Contains(err.Error(), "line 4, column capacity_rps") || !strings.Contains(err.Error(), "on line 3") {
		t.Errorf("disagreeing scaling rows: err = %v", err)
	}

	// A record with a missing field: the csv package's error, which names the line.
	short := strings.Replace(good, ",single process", "", 1)
	if _, err := ReadCSV(strings.NewReader(short)); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("short record: err = %v, want one naming line 2", err)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := Load(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty folder: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := SaveCSV(dir, testResult()); err != nil {
		t.Fatal(err)
	}
	res, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(res.Steps), 2; got != want {
		t.Errorf("%d steps, want %d", got, want)
	}
	path := filepath.Join(dir, "summary.csv")
	if err := os.WriteFile(path, []byte("workers\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("bad file: err = %v, want one naming %s", err, path)
	}
}

func dropColumn(t *testing.T, csvText, column string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(csvText, "\n"), "\n")
	idx := -1
	for i, name := range strings.Split(lines[0], ",") {
		if name == column {
			idx = i
		}
	}
	if idx < 0 {
		t.Fatalf("no column %q", column)
	}
	for i, l := range lines {
		cells := strings.Split(l, ",") // the test data has no quoted commas
		lines[i] = strings.Join(append(cells[:idx:idx], cells[idx+1:]...), ",")
	}
	return strings.Join(lines, "\n") + "\n"
}

func equalPoints(a, b []scaling.Point) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
