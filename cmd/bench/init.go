package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

const initHelp = `Writes a commented starter scenario for your own server to FILE (default scenario.yaml): a command
target that listens on $PORT, a ready path, worker counts 1, 2 and one per core, and a capacity
search under a p99 objective. Edit the command, then ` + "`bench run FILE`" + `. An existing file is never
overwritten.

Examples:
  bench init
  bench init myserver.yaml && $EDITOR myserver.yaml && bench run myserver.yaml

Exit status: 0 written, 1 writing failed midway, 2 FILE exists already, cannot be created, or bad
arguments.
`

// starterScenario is what `bench init` writes. TestInit_writesAScenarioThatLoads keeps it
// parseable as the schema changes.
const starterScenario = `# A bench scenario for your own server: how much more does it carry as 1, 2, … copies behind
# bench's load balancer, and at what tail latency? Run it with:  bench run THIS_FILE
# Every key is in docs/scenario.md of bench's repository; unknown keys are errors, so typos
# are caught.

# name: myserver          # default: this file's name without .yaml; names the results folder
description: my server, one process vs a cluster

target:
  # Your server, one process per worker, started from the folder you run bench in (argv, no
  # shell). It must listen on 127.0.0.1:$PORT; BENCH_WORKER_INDEX (1, 2, …) tells copies apart.
  command: ["node", "server.js"]
  port_env: PORT             # the env var that carries the port
  env: {NODE_ENV: production}
  ready_path: /              # polled until it answers 2xx before a worker counts as up
  ready_timeout: 10s
  path: /                    # what the load requests (GET); put your hot endpoint here
  # pin: 1                   # bind each worker to one core of its own (a single-threaded server
  #                          # like Node's): repeatable numbers; 0, the default, lets the kernel place them

workers: [1, 2, auto]        # worker counts to compare; auto = one per core

balancer:
  strategy: round-robin

load:
  # Capacity search: per worker count, the highest rate whose p99 stays within the objective
  # (and whose success ratio stays at 99.9 %). Or fixed rates instead:  rates: [200, 400, 800]
  search:
    p99: 50ms
    max_steps: 10
  # The requests sent, instead of GET target.path: inline, in proportion to their weights...
  # requests:
  #   - {method: POST, path: /orders, headers: {Content-Type: application/json}, body: '{"item": 1}', weight: 3}
  #   - {path: /orders/1}
  # ...or a vegeta targets file (http or json format), relative to this file:
  # targets: targets.txt
  duration: 5s               # measured per step
  warmup: 1s                 # sent first, not counted

# Judge the run: exit 99 when a step misses (a fixed-rate step, or a search's capacity step).
# slo: {p99: 50ms, success: 99.9%}
`

func initCmd(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("init", "[FILE]", initHelp, stdout)
	pos, err := flags.parseInterspersed(args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return badInput{fmt.Errorf("init: want at most one file, got %d arguments (see `bench help init`)", len(pos))}
	}
	path := "scenario.yaml"
	if len(pos) == 1 {
		path = pos[0]
	}
	// O_EXCL: refuse an existing file even if it appears between a check and the write.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return badInput{fmt.Errorf("init: %s exists already; not overwriting it (name another file)", path)}
	}
	if err != nil {
		return badInput{fmt.Errorf("init: %w", err)}
	}
	if _, err := io.WriteString(f, starterScenario); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("init: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("init: %w", err)
	}
	fmt.Fprintf(stderr, "bench: wrote %s; edit target.command, then: bench run %s\n", path, path)
	return nil
}
