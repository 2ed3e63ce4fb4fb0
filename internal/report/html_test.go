package report

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/scaling"
	"github.com/bench-dev/bench/internal/scenario"
)

// htmlResult is a run of three worker counts with a USL fit, errors on one step and a fault.
func htmlResult() *experiment.Result {
	res := &experiment.Result{Cores: 2}
	for i, p := range []scaling.Point{{Workers: 1, Capacity: 480}, {Workers: 2, Capacity: 900}, {Workers: 4, Capacity: 1150}} {
		for j, rate := range []float64{0.5, 0.9, 1.1} {
			offered := rate * p.Capacity
			st := experiment.Step{Workers: p.Workers, Strategy: "round-robin", Offered: offered, Sent: offered,
				Throughput: min(offered, p.Capacity), Success: 1, Requests: uint64(2 * offered),
				P50: time.Duration(1+j) * time.Millisecond, P90: time.Duration(2+2*j) * time.Millisecond,
				P99: time.Duration(3+10*j) * time.Millisecond, P999: time.Duration(5+20*j) * time.Millisecond,
				Max: time.Duration(9+30*j) * time.Millisecond, Share: make([]uint64, p.Workers),
				Elapsed: 2 * time.Second, WorkerCPU: time.Duration(i+1) * time.Second, BenchCPU: time.Second / 2, Cores: 2}
			for k := range st.Share {
				st.Share[k] = st.Requests / uint64(p.Workers)
			}
			if rate > 1 {
				st.Success = 0.97
				st.Flags = []string{experiment.FlagErrors}
				st.Errors = map[string]int{"503 Service Unavailable": 35, "EOF": 2}
			}
			res.Steps = append(res.Steps, st)
		}
		res.Capacity = append(res.Capacity, p)
	}
	res.Scaling, _ = scaling.Table(res.Capacity, 2)
	return res
}

func htmlInfo() *RunInfo {
	sc := &scenario.Scenario{File: "scenarios/cpu.yaml", Name: "cpu", Workers: []int{1, 2, 4}}
	sc.Target.Builtin, sc.Target.Cost = "cpu", 2*time.Millisecond
	sc.Load.Duration, sc.Load.Rates = 2*time.Second, []float64{200, 400}
	info := NewRunInfo(sc, "v1.2.3", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	return &info
}

// byID finds the element with id, nil when there is none.
func byID(n *html.Node, id string) *html.Node {
	if n.Type == html.ElementNode {
		for _, a := range n.Attr {
			if a.Key == "id" && a.Val == id {
				return n
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if found := byID(c, id); found != nil {
			return found
		}
	}
	return nil
}

// all returns the elements named tag under n, in document order.
func all(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func TestWriteHTML_structure(t *testing.T) {
	t.Parallel()
	res := htmlResult()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, "cpu-20260102T030405Z", res, htmlInfo()); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}

	// Self-contained: nothing is fetched, no script runs.
	for _, tag := range []string{"script", "link", "img", "iframe", "object"} {
		if n := all(doc, tag); len(n) > 0 {
			t.Errorf("report.html has a <%s>", tag)
		}
	}
	for _, el := range append(all(doc, "a"), all(doc, "image")...) {
		for _, a := range el.Attr {
			if a.Key == "href" || a.Key == "src" {
				t.Errorf("<%s %s=%q>: a reference out of the page", el.Data, a.Key, a.Val)
			}
		}
	}

	// One inline SVG chart per chart name, each with something drawn in it.
	for _, name := range ChartNames {
		fig := byID(doc, "chart-"+name)
		if fig == nil {
			t.Errorf("no figure chart-%s", name)
			continue
		}
		if svgs := all(fig, "svg"); len(svgs) != 1 || len(all(svgs[0], "path")) < 5 || len(all(svgs[0], "text")) < 3 {
			t.Errorf("chart-%s: %d svg elements, want one with paths and text", name, len(svgs))
		}
	}

	// The steps table: one row per step, every column (p90 and sent are left out of a narrow
	// terminal table, not here), the errors flag.
	steps := byID(doc, "steps")
	if steps == nil {
		t.Fatal("no steps table")
	}
	if rows := all(steps, "tr"); len(rows) != 1+len(res.Steps) {
		t.Errorf("steps table has %d rows, want a header and %d", len(rows), len(res.Steps))
	}
	header := text(all(steps, "thead")[0])
	for _, want := range []string{"workers", "offered", "sent", "p90", "p99.9", "share", "flags"} {
		if !strings.Contains(header, want) {
			t.Errorf("steps header %q lacks %q", header, want)
		}
	}
	if cells := all(all(steps, "tbody")[0], "tr")[2]; !strings.Contains(text(cells), "errors") {
		t.Errorf("row 3 %q lacks its errors flag", text(cells))
	}

	errs := byID(doc, "errors")
	if errs == nil || !strings.Contains(text(errs), "503 Service Unavailable") || len(all(errs, "tr")) != 1+6 {
		t.Errorf("errors table missing or wrong: %v", errs != nil)
	}

	page := text(doc)
	verdict := byID(doc, "verdict")
	if verdict == nil || !strings.Contains(text(verdict), "Verdict: "+Verdict(res)) || !strings.Contains(text(verdict), "USL fit: σ=") {
		t.Errorf("verdict section missing or wrong")
	}
	for _, want := range []string{"linear rps", "single process", "1.88×"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	settings := byID(doc, "settings")
	if settings == nil {
		t.Fatal("no settings")
	}
	for _, want := range []string{"target.builtin", "target.cost", "2ms", "load.duration", "2s", "load.rates", "[200, 400]", "workers", "[1, 2, 4]"} {
		if !strings.Contains(text(settings), want) {
			t.Errorf("settings %q lack %q", text(settings), want)
		}
	}
	machine := byID(doc, "machine")
	if machine == nil || !strings.Contains(text(machine), "v1.2.3") || !strings.Contains(text(machine), "go1.") {
		t.Errorf("machine section missing or without bench and Go versions")
	}
}

// A folder without run.json still gets its report; it says the settings were not recorded.
func TestWriteHTML_withoutRunInfo(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, "old", htmlResult(), nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Not recorded") || strings.Contains(buf.String(), `id="settings"`) {
		t.Error("a report without run.json does not say that its settings were not recorded")
	}
}

func TestRunInfo_roundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if info, err := LoadRunInfo(dir); info != nil || err != nil {
		t.Fatalf("LoadRunInfo of a folder without run.json = %v, %v; want nil, nil", info, err)
	}
	want := htmlInfo()
	if err := SaveRunInfo(dir, *want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadRunInfo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Started.Equal(want.Started) || got.Bench != want.Bench || got.Machine != want.Machine || len(got.Settings) != len(want.Settings) {
		t.Errorf("read back %+v, want %+v", got, want)
	}
	if err := os.WriteFile(filepath.Join(dir, RunInfoFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRunInfo(dir); err == nil || !strings.Contains(err.Error(), RunInfoFile) {
		t.Errorf("a broken run.json: err = %v, want one naming the file", err)
	}
}

func TestCPUModel(t *testing.T) {
	t.Parallel()
	const cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD  EPYC 7B13 64-Core Processor\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13 64-Core Processor\n"
	if got, want := cpuModel(strings.NewReader(cpuinfo)), "AMD EPYC 7B13 64-Core Processor"; got != want {
		t.Errorf("cpuModel = %q, want %q", got, want)
	}
	if got := cpuModel(strings.NewReader("processor\t: 0\nBogoMIPS\t: 50.00\n")); got != "" {
		t.Errorf("cpuModel without a model name = %q", got)
	}
}

func TestSnake(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"MaxSteps": "max_steps", "SLO": "slo", "P99": "p99", "ReadyTimeout": "ready_timeout",
		"HTTPPort": "http_port", "Workers": "workers"} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

// The report as a browser shows it: headless Chromium loads report.html from disk, with no
// network, and must find the tables and the three charts in the DOM it built, and paint a page
// that is more than a blank screenshot.
func TestWriteHTML_chromium(t *testing.T) {
	t.Parallel()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (Debian package chromium): skipping the browser rendering test")
	}
	dir := t.TempDir()
	path, err := SaveHTML(dir, htmlResult(), htmlInfo())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run := func(args ...string) []byte {
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + filepath.Join(dir, "profile"),
			"--window-size=1400,2400"}, args...)
		cmd := exec.CommandContext(ctx, browser, append(args, "file://"+path)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
		}
		return out
	}

	dom := string(run("--dump-dom"))
	if got := strings.Count(dom, "<svg"); got != len(ChartNames) {
		t.Errorf("the rendered DOM has %d svg elements, want %d", got, len(ChartNames))
	}
	for _, want := range []string{`id="steps"`, `id="errors"`, "<table>", "503 Service Unavailable", "Verdict:", `id="settings"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered DOM lacks %q", want)
		}
	}

	shot := filepath.Join(dir, "report.png")
	run("--screenshot=" + shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 2400 {
		t.Errorf("screenshot is %v, want 1400×2400", b)
	}
	// A painted page has many colours (chart lines, table stripes, text); a blank one has one.
	colours := map[[4]uint32]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y && len(colours) < 64; y += 7 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 7 {
			r, g, b, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, b, a}] = true
		}
	}
	if len(colours) < 64 {
		t.Errorf("the screenshot has %d colours: nothing was painted", len(colours))
	}
	if fi, _ := f.Stat(); fi.Size() < 50_000 {
		t.Errorf("screenshot of %d bytes: too small for a page with three charts", fi.Size())
	}
}
