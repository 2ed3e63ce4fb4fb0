package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/bench-dev/bench/internal/experiment"
)

// HTMLFile is the name of the report WriteHTML writes in a results folder.
const HTMLFile = "report.html"

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New(HTMLFile).Parse(htmlSource))

// htmlPage is what report.html.tmpl shows.
type htmlPage struct {
	Title    string
	Started  string
	Verdict  string
	Fits     []string
	Steps    *htmlTable
	Errors   *htmlTable
	Scaling  *htmlTable
	Compared *htmlTable // strategies or stores next to the first; nil with one
	Faults   string     // the faults table as text; "" without faults
	Charts   []htmlChart
	Info     *RunInfo
	Settings []Setting
}

type htmlChart struct {
	Name string
	SVG  template.HTML
}

// SaveHTML writes dir/report.html (see WriteHTML) through a temporary file and a rename.
func SaveHTML(dir string, res *experiment.Result, info *RunInfo) (string, error) {
	path := filepath.Join(dir, HTMLFile)
	return path, writeAtomic(path, func(w io.Writer) error { return WriteHTML(w, chartTitle(dir), res, info) })
}

// WriteHTML writes one self-contained HTML page: the verdict and the fitted models, the charts as
// inline SVG, the steps (every column), errors, scaling and faults tables, and, from info when
// there is one, the scenario as run and the machine. It loads nothing from anywhere: the page
// can be mailed or attached to an issue alone.
func WriteHTML(w io.Writer, title string, res *experiment.Result, info *RunInfo) error {
	r := newRun(res)
	page := htmlPage{Title: title, Info: info}
	if info != nil {
		page.Started = info.Started.Format(time.RFC3339)
		page.Settings = info.Settings
	}
	for _, line := range fitLines(r) {
		if v, ok := strings.CutPrefix(line, "verdict: "); ok {
			page.Verdict = v
		} else {
			page.Fits = append(page.Fits, strings.TrimSpace(line))
		}
	}
	page.Steps = htmlTableOf(layout(columns(r, stepFields), r.stepRows()))
	if rows := r.errorRows(); len(rows) > 0 {
		page.Errors = htmlTableOf(layout(columns(r, errorFields), rows))
	}
	if len(r.Scaling) > 0 {
		page.Scaling = htmlTableOf(layout(columns(r, scalingFields), r.scalingRows()))
	}
	if cs := CompareCells(res); len(cs) > 0 {
		page.Compared = htmlTableOf(layout(columns(r, cellFields), cs))
	}
	if hasFaults(res) {
		var buf bytes.Buffer
		if err := writeFaults(&buf, res, textTable); err != nil {
			return err
		}
		page.Faults = buf.String()
	}
	for i, name := range ChartNames {
		svg, err := chartSVG(name, res, title)
		if err != nil {
			return err
		}
		page.Charts = append(page.Charts, htmlChart{Name: name, SVG: inlineSVG(svg, i)})
	}
	return htmlTemplate.Execute(w, page)
}

var (
	xmlProlog = regexp.MustCompile(`(?s)^.*?(<svg[ >])`)
	svgID     = regexp.MustCompile(`\b(id="|url\(#|href="#)([A-Za-z_][\w.-]*)`)
)

// inlineSVG makes a standalone SVG document fit inside an HTML page: no XML prolog, and its ids
// (clip paths) prefixed with the chart's index, since several charts share the page's one id
// space. It is trusted: bench drew it.
func inlineSVG(svg []byte, index int) template.HTML {
	s := xmlProlog.ReplaceAllString(string(svg), "$1")
	s = svgID.ReplaceAllString(s, fmt.Sprintf("${1}c%d-${2}", index))
	return template.HTML(s)
}

// htmlTable is a table as the template reads it.
type htmlTable struct {
	Header [][]string // each header's lines, name above unit as in the terminal
	Rows   [][]string
	// Left are the columns of the left, text, cells (names, notes, errors): numbers align right.
	Left map[int]bool
}

func htmlTableOf(t table) *htmlTable {
	h := &htmlTable{Header: make([][]string, len(t.header)), Rows: t.rows, Left: map[int]bool{}}
	for i, name := range t.header {
		h.Header[i] = strings.Split(name, "\n")
		switch name {
		case "strategy", "store", "flags", "note", "error":
			h.Left[i] = true
		}
	}
	return h
}
