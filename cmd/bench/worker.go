package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/bench-dev/bench/internal/target"
)

func workerCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("worker", "[flags]",
		"Runs the built-in worker: an HTTP server on 127.0.0.1 whose every request costs the given CPU\n"+
			"or wait, then holds the resource shared by all workers for --hold. `bench run` starts it\n"+
			"once per worker; it reads PORT and BENCH_WORKER_INDEX.\n"+
			"The session workload answers X-Session: new|hit|miss and keeps sessions in --store;\n"+
			"every workload echoes WebSocket messages on /ws.\n", stdout)
	var f target.WorkerFlags
	f.Register(fs.FlagSet)
	if err := fs.parse(args); err != nil {
		return err
	}
	cfg := f.Config
	var err error
	if cfg.Slowdown, err = target.SlowdownFor(f.Slowdown, cfg.Index); err != nil {
		return badInput{fmt.Errorf("worker: --slowdown: %w", err)}
	}
	if f.Port <= 0 || f.Port > 65535 {
		return badInput{fmt.Errorf("worker: --port or $PORT must name a port in 1-65535, got %d", f.Port)}
	}
	cfg.Addr = net.JoinHostPort(f.Host, strconv.Itoa(f.Port))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return target.Run(ctx, cfg)
}
