package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/report"
)

const reportHelp = `Reads summary.csv from a results folder written by ` + "`bench run`" + `, prints its tables again and
redraws its charts (throughput.png, latency.png, share.png and their .svg) and report.html (one
self-contained page: tables, charts, verdict, the run's settings and machine from run.json) in the
folder. Nothing is measured.

--format picks the summary: table (the default), markdown (the same tables under headings, to paste
into an issue or a pull request), csv (summary.csv as it is) or json (one object with the steps and
the scaling rows, units in the key names). With table and markdown the folder's path is printed
last, as ` + "`bench run`" + ` does; with csv and json it goes to stderr, so that stdout can be redirected to a
file or piped into jq.

Examples:
  bench report results/cpu-20260101T120000Z
  bench report results/cpu-20260101T120000Z --format markdown
  bench report results/cpu-20260101T120000Z --format csv > cpu.csv
  bench report results/cpu-20260101T120000Z --format json | jq '.scaling[] | {workers, speedup}'

Exit status: 0 success, 1 the charts could not be written, 2 no such folder, no summary.csv in it, or
a summary.csv that cannot be read (the message names the line and column).
`

func reportCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("report", "DIR [flags]", reportHelp, stdout)
	format := fs.String("format", report.FormatTable, "what to print: "+strings.Join(report.Formats, ", "))
	wide := fs.Bool("wide", false, fmt.Sprintf("print every column of the tables (by default they leave out what does not fit %d columns)", report.Width))
	pos, err := fs.parseInterspersed(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return badInput{fmt.Errorf("report: want exactly one results folder, got %d arguments (see `bench help report`)", len(pos))}
	}
	if err := report.CheckFormat(*format); err != nil {
		return badInput{fmt.Errorf("report: --format %w", err)}
	}
	dir := pos[0]
	res, err := loadResults(dir)
	if err != nil {
		return err
	}
	if err := report.WriteSummary(stdout, res, report.Options{Format: *format, Wide: *wide}); err != nil {
		return err
	}
	files, err := report.WriteCharts(dir, res)
	if err != nil {
		return err
	}
	info, err := report.LoadRunInfo(dir)
	if err != nil {
		return badInput{fmt.Errorf("report: %w", err)}
	}
	if _, err := report.SaveHTML(dir, res, info); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Fprintf(stderr, "bench: %d chart files and %s written\n", len(files), report.HTMLFile)
	if report.MachineReadable(*format) {
		fmt.Fprintln(stderr, dir)
		return nil
	}
	fmt.Fprintln(stdout, dir)
	return nil
}

// loadResults reads a results folder; every way it can be unreadable is bad input, in one line.
func loadResults(dir string) (*experiment.Result, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, badInput{fmt.Errorf("report: %s: no such results folder", dir)}
	}
	res, err := report.Load(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, badInput{fmt.Errorf("report: %s: no summary.csv in this folder (is it a `bench run` results folder?)", dir)}
	case err != nil:
		return nil, badInput{fmt.Errorf("report: %w", err)}
	}
	return res, nil
}

// saveResults writes summary.csv and run.json into dir, reads summary.csv back and draws the charts
// and report.html from what was read: the tables and charts `bench run` shows are then exactly
// those `bench report DIR` shows later (the values rounded as summary.csv stores them), and a
// summary.csv that does not read back is found at once. It returns the result to print.
func saveResults(dir string, res *experiment.Result) (*experiment.Result, error) {
	if _, err := report.SaveCSV(dir, res); err != nil {
		return res, err
	}
	info := report.NewRunInfo(res.Scenario, benchVersion(), res.Started)
	if err := report.SaveRunInfo(dir, info); err != nil {
		return res, err
	}
	saved, err := report.Load(dir)
	if err != nil {
		return res, fmt.Errorf("reading back %s: %w", filepath.Join(dir, "summary.csv"), err)
	}
	if _, err := report.WriteCharts(dir, saved); err != nil {
		return saved, fmt.Errorf("charts: %w", err)
	}
	if _, err := report.SaveHTML(dir, saved, &info); err != nil {
		return saved, fmt.Errorf("%s: %w", report.HTMLFile, err)
	}
	return saved, nil
}
