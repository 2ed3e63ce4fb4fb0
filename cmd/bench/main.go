// Command bench measures what running N copies of a service behind a load balancer buys:
// throughput, tail latency and where the scaling bends, on this machine.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"syscall"
)

// Exit codes, documented in the README.
const (
	exitOK      = 0
	exitFailed  = 1 // the run failed; compare: B is significantly worse than A
	exitBadArgs = 2 // bad scenario, flags, worker command or address
	// exitSLO: `bench run` finished and saved its results, but a judged step missed the SLO (like
	// k6's threshold failure, 99), so that CI can tell a slow service from a broken run.
	exitSLO = 99
	// exitInterrupted: Ctrl-C, 128 + SIGINT as a shell reports a process the signal ended, and as
	// most Unix tools exit after catching it; SIGTERM gives 143 (see signalExit).
	exitInterrupted = 130
)

// signalExit is the exit code after bench stopped because of s: 128 + the signal's number.
func signalExit(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return exitInterrupted
}

// stopSignal is a context's cancel cause when a signal stopped bench.
type stopSignal struct{ os.Signal }

func (s stopSignal) Error() string { return "stopped by " + s.Signal.String() }

type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"run":     {"measure a scenario: workers × load steps → table and summary.csv", runCmd},
	"compare": {"compare two runs row by row: deltas and whether they are significant", compareCmd},
	"merge":   {"combine the results of the generators of a sharded run (bench run --shard I/K)", mergeCmd},
	"init":    {"write a commented starter scenario for your own server", initCmd},
	"plan":    {"plan workers and machines for a request rate and p99 target from a measured run", planCmd},
	"report":  {"print the tables and redraw the charts of a results folder", reportCmd},
	"serve":   {"serve a scenario's workers behind the balancer, supervised and health-checked, until Ctrl-C", serveCmd},
	"worker":  {"run the built-in worker (what `bench run` starts for builtin targets)", workerCmd},
	"version": {"print the version", versionCmd},
}

func main() {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}

// Main runs bench with args and returns the exit code; it is main without the process around it.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitBadArgs
	}
	name := args[0]
	switch name {
	case "--version", "-version", "-v":
		return exitCode(versionCmd(args[1:], stdout, stderr), stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			c, ok := commands[args[1]]
			if !ok {
				hint := ""
				if s := suggest(args[1], commandNames()); s != "" {
					hint = fmt.Sprintf("; did you mean %s?", s)
				}
				fmt.Fprintf(stderr, "bench: help: unknown command %q%s (try `bench help`)\n", args[1], hint)
				return exitBadArgs
			}
			return exitCode(c.run([]string{"-h"}, stdout, stderr), stderr)
		}
		usage(stdout)
		return exitOK
	}
	c, ok := commands[name]
	if !ok {
		if strings.HasPrefix(name, "-") {
			fmt.Fprintf(stderr, "bench: unknown flag %q before a command; flags follow the command, as in `bench run FILE --workers 1,2` (try `bench help`)\n", name)
			return exitBadArgs
		}
		hint := ""
		if s := suggest(name, commandNames()); s != "" {
			hint = fmt.Sprintf("; did you mean %s?", s)
		}
		fmt.Fprintf(stderr, "bench: unknown command %q%s (try `bench help`)\n", name, hint)
		return exitBadArgs
	}
	return exitCode(c.run(args[1:], stdout, stderr), stderr)
}

// badInput marks an error caused by what the user gave bench: exit code 2.
type badInput struct{ err error }

func (b badInput) Error() string { return b.err.Error() }
func (b badInput) Unwrap() error { return b.err }

// exitError carries an exit code for an error already reported.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func exitCode(err error, stderr io.Writer) int {
	var ee exitError
	var bad badInput
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &bad):
		fmt.Fprintf(stderr, "bench: %v\n", oneLine(err))
		return exitBadArgs
	default:
		fmt.Fprintf(stderr, "bench: %v\n", oneLine(err))
		return exitFailed
	}
}

// oneLine keeps an error on one line, whatever a child process printed into it.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " | ")), " ")
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "bench measures what N copies of a service behind a load balancer buy.\n\nUsage:\n  bench <command> [arguments]\n\nCommands:\n")
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nExamples:\n")
	for _, ex := range examples {
		if _, ok := commands[strings.Fields(ex)[1]]; ok {
			fmt.Fprintf(w, "  %s\n", ex)
		}
	}
	fmt.Fprintf(w, "\nExit status: 0 success, 1 a failed run (compare: a significant regression), 2 bad input,\n99 `bench run` missed its SLO, 130 interrupted by Ctrl-C (143 by SIGTERM).\n")
	fmt.Fprintf(w, "Run `bench help <command>` for a command's flags and more examples.\n")
}

// commandNames lists the commands in alphabetical order.
func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// examples are printed by `bench help`, each only when its command exists.
var examples = []string{
	"bench init myserver.yaml                  # a starter scenario for your own server",
	"bench run scenarios/cpu.yaml",
	"bench run scenarios/cpu.yaml --workers 1,2 --rates 200,400 --duration 5s",
	"bench run scenarios/cpu.yaml --slo p99=50ms,success=99.9% --quiet   # exit 99 on a miss",
	"bench report results/cpu-20260101T120000Z --format markdown",
	"bench compare results/cpu-20260101T120000Z results/cpu-20260102T090000Z",
	"bench plan --rps 10000 --p99 50ms --from results/cpu-20260101T120000Z",
	"bench serve scenarios/cpu.yaml --listen 127.0.0.1:9000",
}

// parseInterspersed parses flags that may come before or after the positional arguments
// (`bench run scenario.yaml --workers 1,2`), which the flag package alone does not allow.
func (fs *flagSet) parseInterspersed(args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// defaultProcs is the GOMAXPROCS of bench itself while it drives or serves a cluster. One: the
// generator and the balancer then share one scheduler thread and never wake a second one to steal
// a goroutine, which on a machine with few cores preempts a worker every time. Measured on 2 cores
// (two single-threaded workers, 2 ms of CPU per request, wrk with 16 connections through bench's
// balancer): 706 rps with GOMAXPROCS=2, 929 with 1, where HAProxy (1 thread) carried 903.
const defaultProcs = 1

// addProcsFlag registers --procs on fs.
func addProcsFlag(fs *flagSet) *int {
	return fs.Int("procs", defaultProcs, "GOMAXPROCS of bench itself (generator and balancer); 0 = one per core")
}

// setProcs applies --procs and returns a function that restores the previous setting.
func setProcs(n int) (restore func(), err error) {
	if n < 0 {
		return nil, badInput{fmt.Errorf("--procs: must be ≥ 0, got %d", n)}
	}
	if n == 0 {
		n = runtime.NumCPU()
	}
	prev := runtime.GOMAXPROCS(n)
	return func() { runtime.GOMAXPROCS(prev) }, nil
}

// parseScenarioArgs parses a command's flags around its one scenario argument and applies --procs
// (see addProcsFlag); restore undoes --procs.
func (fs *flagSet) parseScenarioArgs(args []string, procs *int) (path string, restore func(), err error) {
	pos, err := fs.parseInterspersed(args)
	if err != nil {
		return "", nil, err
	}
	if len(pos) != 1 {
		return "", nil, badInput{fmt.Errorf("%s: want exactly one scenario file, got %d arguments (see `bench help %s`)", fs.Name(), len(pos), fs.Name())}
	}
	restore, err = setProcs(*procs)
	if err != nil {
		return "", nil, err
	}
	return pos[0], restore, nil
}
