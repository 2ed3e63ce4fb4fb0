package report

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/scaling"
)

// Size of the charts: 8 × 5 inches at 100 dots per inch is an 800 × 500 PNG, legible at full width
// on a laptop screen or in a README. The SVG has the same size in points (576 × 360 pt).
const (
	ChartWidth  = 8 * vg.Inch
	ChartHeight = 5 * vg.Inch
	ChartDPI    = 100
)

// ChartNames are the charts WriteCharts draws, each written as NAME.png and NAME.svg.
var ChartNames = []string{"throughput", "latency", "share"}

// WriteCharts draws the charts of res into dir and returns the files written, in the order of
// ChartNames, PNG before SVG:
//
//   - throughput: capacity against workers, next to the linear scaling math (one worker × N) and
//     the fitted Universal Scalability Law where scaling.Fit accepts the capacities;
//   - latency: p50 and p99 against the offered rate, one colour per worker count, so the knee shows;
//   - share: each worker's share of the requests at each worker count's capacity step.
//
// A chart with nothing to draw (no capacity, no latency, no per-worker counts) is still written, and
// says why, so that a results folder always holds the same files. Files are replaced atomically.
func WriteCharts(dir string, res *experiment.Result) ([]string, error) {
	if res == nil {
		return nil, errors.New("charts: nil result")
	}
	title := chartTitle(dir)
	var written []string
	for _, name := range ChartNames {
		ch, err := buildChart(name, res, title)
		if err != nil {
			return written, err
		}
		for _, format := range []string{"png", "svg"} {
			path := filepath.Join(dir, name+"."+format)
			if err := writeAtomic(path, func(w io.Writer) error { return ch.render(w, format) }); err != nil {
				return written, fmt.Errorf("%s: %w", path, err)
			}
			written = append(written, path)
		}
	}
	return written, nil
}

// chartTitle titles a folder's charts with the folder's name.
func chartTitle(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return filepath.Base(abs)
	}
	return dir
}

var chartBuilders = map[string]func(*experiment.Result, string) *chart{
	"throughput": throughputChart,
	"latency":    latencyChart,
	"share":      shareChart,
}

func buildChart(name string, res *experiment.Result, title string) (*chart, error) {
	build, ok := chartBuilders[name]
	if !ok {
		return nil, fmt.Errorf("no chart %q", name)
	}
	ch, err := safely(func() *chart { return build(res, title) })
	if err != nil {
		return nil, fmt.Errorf("%s chart: %w", name, err)
	}
	return ch, nil
}

// chartSVG draws chart name of res as SVG, in memory.
func chartSVG(name string, res *experiment.Result, title string) ([]byte, error) {
	ch, err := buildChart(name, res, title)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := ch.render(&buf, "svg"); err != nil {
		return nil, fmt.Errorf("%s chart: %w", name, err)
	}
	return buf.Bytes(), nil
}

// safely turns a panic of the plotting library (it panics on values a log scale cannot show, for
// one) into an error: a chart must never crash a run whose measurements are already saved.
func safely[T any](f func() T) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plot: %v", r)
		}
	}()
	return f(), nil
}

// chart is a plot and, when its legend would hide data inside the plot, a legend drawn in a column
// to the right of it.
type chart struct {
	p    *plot.Plot
	side *plot.Legend
}

func (ch *chart) render(w io.Writer, format string) error {
	var c interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch format {
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(ChartWidth, ChartHeight), vgimg.UseDPI(ChartDPI))}
	case "svg":
		c = vgsvg.New(ChartWidth, ChartHeight)
	default:
		return fmt.Errorf("unknown chart format %q", format)
	}
	if _, err := safely(func() struct{} { ch.draw(draw.New(c)); return struct{}{} }); err != nil {
		return err
	}
	_, err := c.WriteTo(w)
	return err
}

func (ch *chart) draw(dc draw.Canvas) {
	// gonum/plot's tick labelling never returns on a NaN or infinite axis range: a degenerate
	// measurement must cost a chart its scale, not hang the run.
	for _, ax := range []*plot.Axis{&ch.p.X, &ch.p.Y} {
		if !finite(ax.Min) || !finite(ax.Max) || ax.Min > ax.Max {
			ax.Min, ax.Max = 0, 1
		}
	}
	if ch.side == nil {
		ch.p.Draw(dc)
		return
	}
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	r := ch.side.Rectangle(dc)
	gap := vg.Points(12)
	width := r.Max.X - r.Min.X + gap
	ch.p.Draw(draw.Crop(dc, 0, -width, 0, 0))
	// Top of the legend about level with the top of the data area: under the title and the axis's
	// padding above its highest tick.
	top := ch.p.Title.TextStyle.Rectangle(ch.p.Title.Text).Size().Y + ch.p.Title.Padding + vg.Points(14)
	ch.side.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-width+gap/2, 0, 0, -top))
}

// Styles. Sans-serif is easier to read small than the library's default serif; the palette is
// Tableau 10, whose neighbours stay distinct for most colour-blind readers.
var (
	sans    = font.Font{Typeface: "Liberation", Variant: "Sans"}
	palette = []color.Color{
		rgb(0x4E79A7), rgb(0xF28E2B), rgb(0xE15759), rgb(0x76B7B2), rgb(0x59A14F),
		rgb(0xEDC948), rgb(0xB07AA1), rgb(0xFF9DA7), rgb(0x9C755F), rgb(0xBAB0AC),
	}
	grey   = color.Gray{Y: 0x70}
	dashed = []vg.Length{vg.Points(6), vg.Points(3)}
	dotted = []vg.Length{vg.Points(2), vg.Points(2)}
)

func rgb(v uint32) color.Color {
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xFF}
}

func colour(i int) color.Color { return palette[i%len(palette)] }

// newPlot returns a plot with a title, axis labels, a light grid and fonts sized for ChartDPI.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(sans, 15)
	p.Title.Padding = vg.Points(8)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 13)
		a.Tick.Label.Font = font.From(sans, 11)
		a.Label.Padding = vg.Points(4)
	}
	p.X.Label.Text, p.Y.Label.Text = x, y
	p.Legend.TextStyle.Font = font.From(sans, 11)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(6)
	p.Legend.ThumbnailWidth = vg.Points(28)
	p.Legend.Padding = vg.Points(3)
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = color.Gray{Y: 0xE4}, color.Gray{Y: 0xE4}
	p.Add(g)
	return p
}

// note adds a legend line without a symbol: what a chart could not draw, and why.
func note(p *plot.Plot, format string, args ...any) { p.Legend.Add(fmt.Sprintf(format, args...)) }

func line(xys plotter.XYs, c color.Color, width float64, dash []vg.Length) *plotter.Line {
	l, _ := plotter.NewLine(xys) // errors only on NaN/Inf, which callers never pass
	l.Color, l.Width, l.Dashes = c, vg.Points(width), dash
	return l
}

func points(xys plotter.XYs, c color.Color, radius float64, shape draw.GlyphDrawer) *plotter.Scatter {
	s, _ := plotter.NewScatter(xys)
	s.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(radius), Shape: shape}
	return s
}

// throughputChart: measured capacity per worker count, the linear scaling math and the USL fit.
func throughputChart(res *experiment.Result, title string) *chart {
	p := newPlot(title+": throughput vs workers", "workers (processes)", "capacity (requests/s)")
	p.X.Tick.Marker = workerTicks{}

	var measured plotter.XYs
	var labels []string
	maxN := 1
	for _, r := range res.Scaling {
		maxN = max(maxN, r.Workers)
		if r.Capacity > 0 {
			measured = append(measured, plotter.XY{X: float64(r.Workers), Y: r.Capacity})
			labels = append(labels, fmt.Sprintf("%.0f (%.2f×)", r.Capacity, r.Speedup))
		}
	}
	for _, st := range res.Steps {
		maxN = max(maxN, st.Workers)
	}
	fitted := fitRun(res)
	fit := fitted.usl
	xmax := float64(maxN)
	if fitted.ok {
		// Draw the model a little past the largest measured count: where it heads is the point.
		xmax = math.Ceil(1.5 * float64(maxN))
	}
	p.X.Min, p.X.Max = 0, xmax
	p.Y.Min = 0
	ymax := 0.0

	if len(measured) == 0 {
		note(p, "no capacity measured: every step was flagged or served nothing")
		for _, st := range res.Steps {
			ymax = math.Max(ymax, st.Throughput)
		}
		p.Y.Max = math.Max(1, 1.1*ymax)
		return &chart{p: p}
	}

	if one, err := scaling.PerWorker(res.Capacity); err == nil {
		l := line(plotter.XYs{{X: 0, Y: 0}, {X: xmax, Y: one * xmax}}, grey, 1.5, dashed)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("linear scaling math: one worker × N (%.0f rps × N)", one), l)
		ymax = math.Max(ymax, one*xmax)
	}

	if fitted.ok {
		f := plotter.NewFunction(fit.Throughput)
		f.XMin, f.XMax, f.Samples = 0, xmax, 200
		f.Color, f.Width = colour(2), vg.Points(2)
		p.Add(f)
		what := fmt.Sprintf("USL fit: σ=%s, κ=%s, R²=%.3f", num3(fit.Sigma), num3(fit.Kappa), fit.R2)
		if fit.Warning != "" {
			what += fmt.Sprintf(" (%d worker counts: indicative)", distinctWorkers(res.Capacity))
		}
		p.Legend.Add(what, f)
		for x := 0.0; x <= xmax; x += xmax / 200 {
			ymax = math.Max(ymax, fit.Throughput(x))
		}
		if b := fitted.bound; fitted.byBound {
			g := plotter.NewFunction(b.Throughput)
			g.XMin, g.XMax, g.Samples = 0, xmax, 400
			g.Color, g.Width, g.Dashes = colour(3), vg.Points(2), dotted
			p.Add(g)
			p.Legend.Add(fmt.Sprintf("bottleneck fit: min(%.0f × N, %.0f), R²=%.3f: fits better", b.Lambda, b.Ceiling, b.R2), g)
		}
		// The table's verdict, cut to its first clause: the title must fit the chart.
		verdict, _, _ := strings.Cut(Verdict(res), ";")
		p.Title.Text += "\n" + verdict
	} else {
		note(p, "no USL fit: it needs ≥ %d worker counts with a capacity, this run has %d",
			scaling.MinFitWorkerCounts, distinctWorkers(res.Capacity))
	}

	l := line(measured, colour(0), 2.5, nil)
	s := points(measured, colour(0), 4, draw.CircleGlyph{})
	p.Add(l, s)
	p.Legend.Add("measured capacity (requests/s, speedup)", l, s)
	if lb, err := plotter.NewLabels(plotter.XYLabels{XYs: measured, Labels: labels}); err == nil {
		for i := range lb.TextStyle {
			lb.TextStyle[i].Font = font.From(sans, 11)
			lb.TextStyle[i].XAlign, lb.TextStyle[i].YAlign = draw.XLeft, draw.YTop
		}
		lb.Offset = vg.Point{X: vg.Points(6), Y: -vg.Points(6)}
		p.Add(lb)
	}
	for _, xy := range measured {
		ymax = math.Max(ymax, xy.Y)
	}
	// Headroom for the legend in the top-left corner.
	p.Y.Max = 1.25 * ymax
	return &chart{p: p}
}

func distinctWorkers(points []scaling.Point) int {
	seen := map[int]bool{}
	for _, pt := range points {
		if pt.Workers > 0 && pt.Capacity > 0 {
			seen[pt.Workers] = true
		}
	}
	return len(seen)
}

// num3 prints a model parameter with up to three significant digits.
func num3(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }

// series are the steps of one worker count and strategy, in the order they are drawn.
type series struct {
	workers  int
	strategy string
	steps    []experiment.Step
}

func (s series) name(strategies bool) string {
	name := strconv.Itoa(s.workers) + " worker"
	if s.workers != 1 {
		name += "s"
	}
	if strategies {
		name += ", " + s.strategy
	}
	return name
}

// groupSeries splits steps by worker count and strategy, sorted, each series by offered rate, and
// reports whether more than one strategy is present.
func groupSeries(steps []experiment.Step) ([]series, bool) {
	var out []series
	idx := map[[2]string]int{}
	strategies := map[string]bool{}
	for _, st := range steps {
		strategies[st.Strategy] = true
		k := [2]string{strconv.Itoa(st.Workers), st.Strategy}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, series{workers: st.Workers, strategy: st.Strategy})
		}
		out[i].steps = append(out[i].steps, st)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].workers != out[j].workers {
			return out[i].workers < out[j].workers
		}
		return out[i].strategy < out[j].strategy
	})
	for _, s := range out {
		sort.SliceStable(s.steps, func(i, j int) bool { return s.steps[i].Offered < s.steps[j].Offered })
	}
	return out, len(strategies) > 1
}

// latencyChart: p99 (solid) and p50 (dashed) against the offered rate, one colour per series.
func latencyChart(res *experiment.Result, title string) *chart {
	p := newPlot(title+": latency vs offered load", "offered load (requests/s)", "latency (ms)")
	all, strategies := groupSeries(res.Steps)
	lo, hi := math.Inf(1), 0.0
	xmax := 0.0
	type curve struct {
		s        series
		p50, p99 plotter.XYs
	}
	var curves []curve
	var flagged plotter.XYs
	for _, s := range all {
		c := curve{s: s}
		for _, st := range s.steps {
			if st.Requests == 0 || st.P99 <= 0 {
				continue // nothing was measured: no latency to draw
			}
			x, p99 := st.Offered, msf(st.P99)
			c.p99 = append(c.p99, plotter.XY{X: x, Y: p99})
			if st.Flagged() {
				flagged = append(flagged, plotter.XY{X: x, Y: p99})
			}
			lo, hi, xmax = math.Min(lo, p99), math.Max(hi, p99), math.Max(xmax, x)
			if st.P50 > 0 { // a log axis cannot show 0
				c.p50 = append(c.p50, plotter.XY{X: x, Y: msf(st.P50)})
				lo = math.Min(lo, msf(st.P50))
			}
		}
		if len(c.p99) > 0 {
			curves = append(curves, c)
		}
	}
	p.X.Min = 0
	if len(curves) == 0 {
		note(p, "no latency measured: no step completed a request")
		p.X.Max, p.Y.Min, p.Y.Max = 1, 0, 1
		return &chart{p: p}
	}
	p.X.Max = 1.04 * xmax
	p.X.Tick.Marker = niceTicks{}

	if hi/lo > 100 {
		// Over more than two decades a linear axis flattens everything below the knee into the floor.
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, logTicks{}
		p.Y.Min, p.Y.Max = lo/1.3, hi*1.3
		p.Y.Label.Text = "latency (ms, log scale)"
	} else {
		p.Y.Min, p.Y.Max, p.Y.Tick.Marker = 0, 1.08*hi, niceTicks{}
	}

	// One entry per curve plus the line styles: to the right of the plot, where it hides nothing
	// (the knee is at the top right, and curves fill the rest).
	legend := p.Legend
	legend.XOffs, legend.YOffs = 0, 0
	for i, c := range curves {
		col := colour(i)
		l99 := line(c.p99, col, 2.5, nil)
		l50 := line(c.p50, col, 1.8, dashed)
		p.Add(l99, points(c.p99, col, 3, draw.CircleGlyph{}), l50, points(c.p50, col, 2.5, draw.CircleGlyph{}))
		legend.Add(c.s.name(strategies), l99)
	}
	black := color.Gray{Y: 0x20}
	legend.Add("p99 (solid)", line(nil, black, 2.5, nil))
	legend.Add("p50 (dashed)", line(nil, black, 1.8, dashed))
	if len(flagged) > 0 {
		s := points(flagged, black, 6, draw.CrossGlyph{})
		p.Add(s)
		legend.Add("flagged: behind/errors", s)
	}
	return &chart{p: p, side: &legend}
}

// msf is d in milliseconds, the unit of the latency axis.
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// shareGroup is one bar group: the per-worker shares at one worker count (and strategy).
type shareGroup struct {
	label     string
	fractions []float64
}

// shareStep picks the step whose shares are shown for a series: the step that set the worker
// count's capacity, else the highest unflagged step, else (all flagged) the highest step with counts.
func shareStep(s series, capacity float64) (experiment.Step, bool) {
	var best experiment.Step
	found := false
	for _, st := range s.steps {
		if len(st.Share) == 0 || st.Flagged() {
			continue
		}
		if capacity > 0 && math.Abs(st.Throughput-capacity) <= 1e-9*capacity+0.05 {
			return st, true
		}
		if !found || st.Offered > best.Offered {
			best, found = st, true
		}
	}
	if found {
		return best, true
	}
	for _, st := range s.steps {
		if len(st.Share) > 0 && (!found || st.Offered > best.Offered) {
			best, found = st, true
		}
	}
	return best, found
}

// shareChart: per-worker share of the requests, one bar group per worker count (and strategy).
func shareChart(res *experiment.Result, title string) *chart {
	p := newPlot(title+": share of requests per worker", "", "share of requests (%)")
	all, strategies := groupSeries(res.Steps)
	var groups []shareGroup
	widest := 0
	for _, s := range all {
		st, ok := shareStep(s, res.CapacityAt(s.workers))
		if !ok {
			continue
		}
		sh := Shares(st.Share)
		if sh.Max == 0 {
			continue // no request reached any worker
		}
		label := fmt.Sprintf("%s\nat %.0f rps", s.name(strategies), st.Offered)
		if st.Flagged() {
			label += " (flagged)"
		}
		groups = append(groups, shareGroup{label: label, fractions: sh.Fractions})
		widest = max(widest, len(sh.Fractions))
	}
	p.Y.Min = 0
	if len(groups) == 0 {
		note(p, "no step with per-worker request counts")
		p.X.Min, p.X.Max, p.Y.Max = -0.5, 0.5, 100
		p.HideX()
		return &chart{p: p}
	}
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.label
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5

	bars := &shareBars{groups: groups, labels: countBars(groups) <= 32}
	p.Add(bars)
	if widest <= len(palette) {
		for i := range widest {
			p.Legend.Add(fmt.Sprintf("worker %d", i+1), swatch{colour(i)})
		}
	} else {
		note(p, "bar i is worker i, left to right (colours repeat)")
	}
	p.Legend.Add("even share: 100% / N", line(nil, color.Black, 1.5, dashed))
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Points(8)
	_, _, _, ymax := bars.DataRange()
	// Room above the tallest bar for its value and for the legend in the top-right corner.
	p.Y.Max = 100 * math.Max(ymax/100*1.12, ymax/100+0.04*float64(widest+1)+0.05)
	return &chart{p: p}
}

func countBars(groups []shareGroup) int {
	n := 0
	for _, g := range groups {
		n += len(g.fractions)
	}
	return n
}

// shareBars draws grouped bars in data coordinates: group g is centred on x = g and its N bars
// split 80% of the unit width, so groups of different worker counts sit side by side. A dashed line
// across each group marks the even share 100%/N.
type shareBars struct {
	groups []shareGroup
	labels bool // print each bar's value above it
}

var (
	_ plot.Plotter     = (*shareBars)(nil)
	_ plot.DataRanger  = (*shareBars)(nil)
	_ plot.Thumbnailer = swatch{}
)

func (b *shareBars) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	sty := draw.TextStyle{
		Color: color.Black, Font: font.From(sans, 10), XAlign: draw.XCenter, YAlign: draw.YBottom,
		Handler: p.TextHandler,
	}
	for g, grp := range b.groups {
		n := float64(len(grp.fractions))
		w := 0.8 / n
		left := float64(g) - 0.4
		for i, f := range grp.fractions {
			x0, x1 := tx(left+float64(i)*w+0.05*w), tx(left+float64(i+1)*w-0.05*w)
			y0, y1 := ty(0), ty(100*f)
			c.FillPolygon(colour(i), c.ClipPolygonY([]vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}))
			if b.labels {
				c.FillText(sty, vg.Point{X: (x0 + x1) / 2, Y: y1 + vg.Points(2)}, fmt.Sprintf("%.1f", 100*f))
			}
		}
		even := ty(100 / n)
		c.StrokeLine2(draw.LineStyle{Color: color.Black, Width: vg.Points(1.5), Dashes: dashed},
			tx(left-0.03), even, tx(left+0.83), even)
	}
}

func (b *shareBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	for _, g := range b.groups {
		for _, f := range g.fractions {
			ymax = math.Max(ymax, 100*f)
		}
	}
	return -0.5, float64(len(b.groups)) - 0.5, 0, ymax
}

// swatch is a legend thumbnail: a filled square of one colour.
type swatch struct{ c color.Color }

func (s swatch) Thumbnail(c *draw.Canvas) {
	side := c.Max.Y - c.Min.Y
	x := c.Min.X + (c.Max.X-c.Min.X-side)/2
	c.FillPolygon(s.c, []vg.Point{{X: x, Y: c.Min.Y}, {X: x + side, Y: c.Min.Y}, {X: x + side, Y: c.Max.Y}, {X: x, Y: c.Max.Y}})
}

// workerTicks labels whole worker counts: 0, 1, 2, … (or every 2nd, 5th, … on a long axis).
type workerTicks struct{}

func (workerTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 1.0
	for _, s := range []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000} {
		step = s
		if (hi-lo)/s <= 12 {
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ticks
}

// niceTicks labels about six round values (1, 2, 2.5 or 5 × 10ⁿ apart) with a minor tick between:
// the library's default labels only three or four on an 800-pixel axis.
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return nil
	}
	raw := (hi - lo) / 6
	mag := math.Pow10(int(math.Floor(math.Log10(raw))))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []plot.Tick
	for i := math.Ceil(lo / step * 2); i/2*step <= hi; i++ {
		v := i / 2 * step
		t := plot.Tick{Value: v}
		if math.Mod(i, 2) == 0 {
			t.Label = strconv.FormatFloat(v, 'g', 10, 64) // 'g' drops float noise: 0.30000000000000004 → 0.3
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// logTicks labels 1, 2, 5, 10, 20, 50, … with unlabelled minor ticks between: plot.LogTicks labels
// only powers of ten, which leaves a latency axis with two or three numbers.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow10(int(e)) <= hi; e++ {
		decade := math.Pow10(int(e))
		for m := 1; m <= 9; m++ {
			v := float64(m) * decade
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', 6, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
