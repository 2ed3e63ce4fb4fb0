package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bench-dev/bench/internal/report"
)

const mergeHelp = `Combines the results folders of the K generators of one sharded run (` + "`bench run --shard I/K`" + `, all
K folders) into the results of the run they offered together, and prints its tables as ` + "`bench run`" + `
does. Nothing is measured.

Step by step: the latency histograms (step-NN-….hdr) are merged exactly and the percentiles read
from the merged histogram; request counts are summed; the send rate and the throughput are the sums
of each generator's own, each over its own time window, so that clocks that disagree between
machines cannot inflate the rate. The folders must hold the same steps (worker counts, strategies,
offered rates) in the same order. See docs/generators.md.

The merged folder gets summary.csv, the step histograms and the charts, like a run's.

Examples:
  bench merge results/shard-1 results/shard-2 results/shard-3 --out results/merged
  bench merge results/shard-* --format markdown

Exit status: 0 success, 1 the results could not be written, 2 folders that are not the shards of one
run, or do not line up (the message names the folder and the step).
`

func mergeCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("merge", "DIR... [flags]", mergeHelp, stdout)
	out := fs.String("out", "", "folder for the merged results (default results/merged-<UTC time>)")
	force := fs.Bool("force", false, "let --out replace a previous run in the folder (its files are deleted first)")
	format := fs.String("format", report.FormatTable, "summary on stdout: "+strings.Join(report.Formats, ", "))
	wide := fs.Bool("wide", false, fmt.Sprintf("print every column of the tables (by default they leave out what does not fit %d columns)", report.Width))
	dirs, err := fs.parseInterspersed(args)
	if err != nil {
		return err
	}
	if len(dirs) < 2 {
		return badInput{fmt.Errorf("merge: want the results folders of at least 2 shards, got %d (see `bench help merge`)", len(dirs))}
	}
	if err := report.CheckFormat(*format); err != nil {
		return badInput{fmt.Errorf("merge: --format %w", err)}
	}
	for _, d := range dirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return badInput{fmt.Errorf("merge: %s: no such results folder", d)}
		}
	}
	merged, err := report.Merge(dirs)
	if err != nil {
		return badInput{fmt.Errorf("merge: %w", err)}
	}

	dir := *out
	if dir == "" {
		dir = filepath.Join("results", "merged-"+time.Now().UTC().Format("20060102T150405Z"))
	}
	for _, d := range dirs {
		if filepath.Clean(d) == filepath.Clean(dir) {
			return badInput{fmt.Errorf("merge: --out %s is one of the shards' folders; name another", dir)}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return badInput{fmt.Errorf("merge: --out: %w", err)}
	}
	if err := clearPreviousRun(dir, *force); err != nil {
		return badInput{fmt.Errorf("merge: %w", err)}
	}
	for i, st := range merged.Steps {
		if _, err := report.WriteHDR(dir, i+1, st); err != nil {
			return fmt.Errorf("saving results: %w", err)
		}
	}
	shown, err := saveResults(dir, merged.Result)
	if err != nil {
		return fmt.Errorf("saving results: %w", err)
	}
	if err := report.WriteSummary(stdout, shown, report.Options{Format: *format, Wide: *wide}); err != nil {
		return err
	}
	if report.MachineReadable(*format) {
		fmt.Fprintln(stderr, dir)
	} else {
		fmt.Fprintln(stdout, dir)
	}
	return nil
}
