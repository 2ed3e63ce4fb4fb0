package report

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/scaling"
)

// fourWorkers is a run over 1–4 workers, enough for a USL fit, with a knee in its latencies.
func fourWorkers() *experiment.Result {
	res := &experiment.Result{Cores: 2}
	for _, n := range []int{1, 2, 3, 4} {
		capacity := 350 * float64(n) / (1 + 0.3*float64(n-1))
		for _, frac := range []float64{0.5, 0.9, 1.2} {
			st := experiment.Step{Workers: n, Strategy: "round-robin", Offered: frac * capacity,
				Throughput: min(frac, 1) * capacity, Success: 1, Requests: 1000,
				P50: 2 * time.Millisecond, P99: 4 * time.Millisecond, Cores: 2}
			if frac > 1 {
				st.P50, st.P99 = 300*time.Millisecond, 900*time.Millisecond
				st.Flags = []string{experiment.FlagBehind}
			}
			for i := range n {
				st.Share = append(st.Share, uint64(1000/n+10*i))
			}
			res.Steps = append(res.Steps, st)
		}
		res.Capacity = append(res.Capacity, scaling.Point{Workers: n, Capacity: 0.9 * capacity})
	}
	res.Scaling, _ = scaling.Table(res.Capacity, 2)
	return res
}

// writeCharts writes the charts of res into a new folder and checks every file: there, a PNG of
// the expected size, an SVG with text. It returns the SVGs' contents by chart name.
func writeCharts(t *testing.T, res *experiment.Result) map[string]string {
	t.Helper()
	dir := t.TempDir()
	files, err := WriteCharts(dir, res)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, name := range ChartNames {
		want = append(want, filepath.Join(dir, name+".png"), filepath.Join(dir, name+".svg"))
	}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Fatalf("WriteCharts wrote %v, want %v", files, want)
	}
	svgs := map[string]string{}
	for _, path := range files {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", path, fi.Mode().Perm())
		}
		switch filepath.Ext(path) {
		case ".png":
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(f)
			f.Close()
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if got, want := img.Bounds().Size().X, 800; got != want {
				t.Errorf("%s is %d pixels wide, want %d", path, got, want)
			}
			if got, want := img.Bounds().Size().Y, 500; got != want {
				t.Errorf("%s is %d pixels high, want %d", path, got, want)
			}
		case ".svg":
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), `<svg width="576pt" height="360pt"`) {
				t.Errorf("%s: no 576×360 pt <svg> element in %.200q", path, b)
			}
			svgs[strings.TrimSuffix(filepath.Base(path), ".svg")] = string(b)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != len(want) {
		t.Errorf("folder holds %d entries, want %d (no temporary file left)", len(entries), len(want))
	}
	return svgs
}

func assertContains(t *testing.T, chart, svg string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(svg, want) {
			t.Errorf("%s chart lacks %q", chart, want)
		}
	}
}

func assertLacks(t *testing.T, chart, svg string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(svg, u) {
			t.Errorf("%s chart has %q", chart, u)
		}
	}
}

func TestWriteCharts(t *testing.T) {
	t.Parallel()
	svg := writeCharts(t, fourWorkers())
	assertContains(t, "throughput", svg["throughput"], "workers (processes)", "capacity (requests/s)",
		"measured capacity", "linear scaling math", "USL fit: σ=", "(4 worker counts: indicative)", "315 (1.00×)")
	assertLacks(t, "throughput", svg["throughput"], "no USL fit")
	// 2 ms to 900 ms spans more than two decades: a log axis, ticks 1-2-5.
	assertContains(t, "latency", svg["latency"], "offered load (requests/s)", "latency (ms, log scale)",
		"1 worker", "4 workers", "p99 (solid)", "p50 (dashed)", "flagged", ">200<", ">500<")
	assertContains(t, "share", svg["share"], "share of requests (%)", "worker 4", "even share",
		"4 workers", "at 663 rps")
	// The share chart shows the capacity step (90% of the 1-worker capacity), not the flagged one.
	assertLacks(t, "share", svg["share"], "(flagged)", "at 420 rps")
}

func TestWriteCharts_oneWorkerCount(t *testing.T) {
	t.Parallel()
	res := testResult()
	res.Steps = res.Steps[:1]
	res.Capacity = res.Capacity[:1]
	res.Scaling, _ = scaling.Table(res.Capacity, 2)
	svg := writeCharts(t, res)
	assertContains(t, "throughput", svg["throughput"], "no USL fit", "this run has 1", "498 (1.00×)")
	// 2 ms to 9.5 ms: a linear axis.
	assertContains(t, "latency", svg["latency"], "latency (ms)", "1 worker")
	assertLacks(t, "latency", svg["latency"], "log scale", "flagged")
	assertContains(t, "share", svg["share"], "1 worker", "100.0")
}

func TestWriteCharts_noCapacity(t *testing.T) {
	t.Parallel()
	// Every step flagged: no capacity, no scaling rows; one step served nothing at all.
	res := &experiment.Result{Cores: 2, Steps: []experiment.Step{
		{Workers: 1, Strategy: "round-robin", Offered: 100, Throughput: 40, Success: 0.4, Requests: 100,
			P50: time.Millisecond, P99: 3 * time.Millisecond, Share: []uint64{100}, Flags: []string{experiment.FlagErrors}},
		{Workers: 2, Strategy: "round-robin", Offered: 100, Flags: []string{experiment.FlagErrors}},
	}}
	svg := writeCharts(t, res)
	assertContains(t, "throughput", svg["throughput"], "no capacity measured")
	assertContains(t, "latency", svg["latency"], "flagged")
	assertContains(t, "share", svg["share"], "(flagged)")

	svg = writeCharts(t, &experiment.Result{})
	assertContains(t, "throughput", svg["throughput"], "no capacity measured")
	assertContains(t, "latency", svg["latency"], "no latency measured")
	assertContains(t, "share", svg["share"], "no step with per-worker request counts")
}

func TestWriteCharts_strategies(t *testing.T) {
	t.Parallel()
	res := testResult()
	ll := res.Steps[1]
	ll.Strategy, ll.Share, ll.Flags = "least-conn", []uint64{1000, 760}, nil
	res.Steps = append(res.Steps, ll)
	svg := writeCharts(t, res)
	assertContains(t, "latency", svg["latency"], "2 workers, round-robin", "2 workers, least-conn")
	assertContains(t, "share", svg["share"], "2 workers, least-conn", "56.8")
}

func TestWriteCharts_badFolder(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "missing")
	if _, err := WriteCharts(dir, testResult()); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("err = %v, want one naming %s", err, dir)
	}
}

func TestShareStep(t *testing.T) {
	t.Parallel()
	s := series{workers: 2, steps: []experiment.Step{
		{Offered: 100, Throughput: 100, Share: []uint64{50, 50}},
		{Offered: 300, Throughput: 290.04, Share: []uint64{150, 140}},
		{Offered: 400, Throughput: 310, Share: []uint64{200, 200}},
		{Offered: 500, Throughput: 320, Share: []uint64{250, 250}, Flags: []string{experiment.FlagBehind}},
	}}
	for _, tc := range []struct {
		capacity float64
		want     float64 // offered rate of the step shown
	}{
		{290, 300}, // the step that set the capacity (as summary.csv rounds it)
		{0, 400},   // no capacity: the highest unflagged step
		{999, 400}, // a capacity no step matches
	} {
		st, ok := shareStep(s, tc.capacity)
		if !ok || st.Offered != tc.want {
			t.Errorf("capacity %v: step at %v rps (ok %v), want %v", tc.capacity, st.Offered, ok, tc.want)
		}
	}
	all := series{steps: s.steps[3:]}
	if st, ok := shareStep(all, 0); !ok || st.Offered != 500 {
		t.Errorf("all flagged: step at %v rps (ok %v), want the flagged one at 500", st.Offered, ok)
	}
	if _, ok := shareStep(series{steps: []experiment.Step{{Offered: 1}}}, 0); ok {
		t.Error("a step without counts was chosen")
	}
}

func TestTickers(t *testing.T) {
	t.Parallel()
	var got []string
	for _, tk := range (logTicks{}).Ticks(1.5, 900) {
		if tk.Label != "" {
			got = append(got, tk.Label)
		}
	}
	if g, w := strings.Join(got, " "), "2 5 10 20 50 100 200 500"; g != w {
		t.Errorf("log ticks %q, want %q", g, w)
	}
	got = got[:0]
	for _, tk := range (niceTicks{}).Ticks(0, 0.9) {
		if tk.Label != "" {
			got = append(got, tk.Label)
		}
	}
	if g, w := strings.Join(got, " "), "0 0.2 0.4 0.6 0.8"; g != w {
		t.Errorf("nice ticks %q, want %q", g, w)
	}
	got = got[:0]
	for _, tk := range (workerTicks{}).Ticks(0, 64) {
		got = append(got, tk.Label)
	}
	if g, w := strings.Join(got, " "), "0 10 20 30 40 50 60"; g != w {
		t.Errorf("worker ticks %q, want %q", g, w)
	}
}
