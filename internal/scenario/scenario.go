// Package scenario reads, defaults and validates bench scenario files (YAML).
//
// Every problem is reported as one line naming the file, the position and the field:
//
//	cpu.yaml:4:9: target.cost: "fast" is not a duration like 2ms
//
// The schema is described in DESIGN.md; the defaults are listed in defaults.go.
package scenario

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Scenario is one experiment: which target to run, how many copies of it, behind which
// balancer strategy, under which load. Parse returns it with every default filled in.
type Scenario struct {
	// File is the path the scenario was read from; it prefixes error messages.
	// Empty for a scenario built in code.
	File string
	// Name names the results folder. Parse defaults it to File's base name without extension.
	Name string
	// Description is free text for reports; empty means none.
	Description string
	Target      Target
	// Workers are the worker counts to compare, ascending, without duplicates, each in
	// 1..MaxWorkers. Parse defaults it to DefaultWorkers.
	Workers  []int
	Balancer Balancer
	Load     LoadSpec
}

// Target is the service under test: a built-in workload of `bench worker` (Builtin set) or the
// user's own server (Command set), never both.
type Target struct {
	// Builtin names a workload from Workloads; empty for a command target.
	Builtin string
	// Cost is what one request costs a built-in worker (CPU burned for cpu, time waited for
	// sleep). Zero for a command target.
	Cost time.Duration
	// Threads is GOMAXPROCS of each built-in worker, 1..MaxThreads. Zero for a command target.
	Threads int
	// Concurrency caps the requests a built-in worker handles at once; 0 = unlimited.
	Concurrency int
	// Command is the user's server, one process per worker (argv, no shell). Nil for a
	// built-in target.
	Command []string
	// PortEnv names the env var carrying the port a command worker must listen on
	// (DefaultPortEnv). Empty for a built-in target, which always reads PORT.
	PortEnv string
	// Env is added to each worker's environment; nil means nothing extra.
	Env map[string]string
	// ReadyPath is polled until it answers 2xx before a worker counts as up.
	ReadyPath string
	// ReadyTimeout bounds how long a worker may take to become ready.
	ReadyTimeout time.Duration
	// Path is the request path (and query) the load hits; it starts with "/".
	Path string
}

// Balancer configures the in-process load balancer.
type Balancer struct {
	// Strategy is one of Strategies; Parse defaults it to DefaultStrategy.
	Strategy string
}

// LoadSpec describes the load offered at each worker count: either fixed Rates or a Search for the
// highest rate that keeps the latency SLO, never both. (It is the Scenario.Load field; the type
// cannot be called Load because the package's Load function reads a file.)
type LoadSpec struct {
	// Rates are the offered request rates (requests/s), one load step each, in file order.
	// Nil when Search is set.
	Rates []float64
	// Search, when not nil, asks for a capacity search instead of fixed rates.
	Search *Search
	// Duration is the length of each measured step.
	Duration time.Duration
	// Warmup is unmeasured load sent before each step; 0 = none.
	Warmup time.Duration
	// Timeout is the per-request timeout.
	Timeout time.Duration
}

// Search is a capacity search: the highest rate whose p99 latency stays under P99 while at
// least Success of the requests succeed.
type Search struct {
	// P99 is the latency SLO; required.
	P99 time.Duration
	// Success is the fraction of requests that must succeed, in (0, 1]; DefaultSuccess.
	Success float64
	// MaxSteps bounds the number of steps of the search, 1..MaxSteps; DefaultMaxSteps.
	MaxSteps int
}

// Load reads the scenario file at path and parses it with Parse. A file that cannot be read
// gives an *Error "PATH: cannot read: ..." that unwraps to the underlying error.
func Load(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, readError(path, err)
	}
	defer f.Close()
	// Read one byte past the limit so that Parse can tell a too-large file, without reading
	// all of a huge one (or of /dev/zero) into memory.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, readError(path, err)
	}
	return Parse(path, data)
}

func readError(path string, err error) error {
	cause := err
	// The path is already the prefix of the message; don't repeat it.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		cause = pe.Err
	}
	return &Error{File: path, Msg: "cannot read: " + cause.Error(), Err: err}
}

// Parse parses a scenario from data; file names it in errors and gives the default Name. It
// fills in the defaults (see defaults.go) and validates everything. The error, if any, is an
// *Error for the first problem in file order. Parse never panics, whatever data holds.
func Parse(file string, data []byte) (*Scenario, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{File: file, Msg: fmt.Sprintf("file too large: more than %d bytes; a scenario is a few hundred", MaxFileSize)}
	}
	root, err := decodeRoot(file, data)
	if err != nil {
		return nil, err
	}
	w := &walker{file: file}
	s, err := w.scenario(root)
	if err != nil {
		return nil, err
	}
	// The walker checked every value it read, with positions. Validate runs the same checks
	// over the finished struct, defaults included, so the two can never disagree silently.
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// defaultName returns file's base name without its extension, or "scenario" when that is
// empty (no file name, stdin, or a file named ".yaml").
func defaultName(file string) string {
	if file == "" || file == "-" {
		return "scenario"
	}
	base := filepath.Base(file)
	name := strings.TrimSuffix(base, filepath.Ext(base))
	if name == "" || name == "." || name == string(filepath.Separator) {
		return "scenario"
	}
	return name
}
