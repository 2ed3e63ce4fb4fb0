package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/bench-dev/bench/internal/report"
)

// previousRun lists the files of an earlier `bench run` in dir: its summary.csv and step files.
func previousRun(dir string) ([]string, error) {
	var files []string
	if _, err := os.Stat(filepath.Join(dir, "summary.csv")); err == nil {
		files = append(files, filepath.Join(dir, "summary.csv"))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	steps, err := filepath.Glob(filepath.Join(dir, "step-*"))
	if err != nil {
		return nil, err
	}
	return append(files, steps...), nil
}

// clearPreviousRun refuses a results folder that holds a previous run, unless force; with force
// it deletes that run's files, so that no step file of the old run sits next to the new ones
// (a run with fewer steps would otherwise leave some behind).
func clearPreviousRun(dir string, force bool) error {
	files, err := previousRun(dir)
	if err != nil {
		return fmt.Errorf("--out %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil
	}
	if !force {
		return fmt.Errorf("--out %s holds a previous run (%s and %d other file(s)); name another folder, or add --force to replace it",
			dir, filepath.Base(files[0]), len(files)-1)
	}
	for _, name := range report.ChartNames {
		files = append(files, filepath.Join(dir, name+".png"), filepath.Join(dir, name+".svg"))
	}
	files = append(files, filepath.Join(dir, "report.html"), filepath.Join(dir, "run.json"), filepath.Join(dir, report.ShardFile))
	for _, f := range files {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--force: deleting the previous run: %w", err)
		}
	}
	return nil
}

// checkListen rejects a --listen address the balancer could not use, before any worker starts:
// one that does not parse, one off loopback (bench sends load only to loopback), and one it cannot
// bind (in use, or a privileged port). The trial listener is closed at once; the balancer binds
// the address again when it starts.
func checkListen(addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT on loopback, e.g. 127.0.0.1:9000", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("--listen %q: port %q is not a number in 0-65535", addr, port)
	}
	if !isLoopbackHost(host) {
		return fmt.Errorf("--listen %s: %q is not a loopback address; bench sends load only to 127.0.0.0/8 or [::1] (e.g. 127.0.0.1:%s)", addr, host, port)
	}
	return bindable(addr)
}

// bindable tries to listen on addr and closes the listener at once.
func bindable(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", addr, err)
	}
	return ln.Close()
}
