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
	"time"

	"github.com/bench-dev/bench/internal/target"
)

func workerCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("worker", "[flags]",
		"Runs the built-in worker: an HTTP server on 127.0.0.1 whose every request costs the given CPU\n"+
			"or wait, then holds the resource shared by all workers for --hold. `bench run` starts it\n"+
			"once per worker; it reads PORT and BENCH_WORKER_INDEX.\n"+
			"The session workload answers X-Session: new|hit|miss and keeps sessions in --store;\n"+
			"every workload echoes WebSocket messages on /ws.\n", stdout)
	var cfg target.Config
	fs.StringVar(&cfg.Workload, "workload", "cpu", "workload: cpu (burn CPU), sleep (wait) or session (session lookup, then CPU)")
	fs.DurationVar(&cfg.Cost, "cost", time.Millisecond, "CPU burned (cpu) or time waited (sleep) per request")
	fs.IntVar(&cfg.Concurrency, "concurrency", 0, "requests handled at once; excess requests queue (0 = unlimited)")
	fs.IntVar(&cfg.Threads, "threads", 1, "GOMAXPROCS: 1 is one event loop, like a Node process")
	port := fs.Int("port", envInt("PORT", 0), "port on 127.0.0.1 (default $PORT)")
	host := fs.String("host", envString("BENCH_WORKER_HOST", "127.0.0.1"), "address to listen on (default $BENCH_WORKER_HOST, else 127.0.0.1); 0.0.0.0 in a container, whose port the compose file publishes on the host's loopback")
	fs.StringVar(&cfg.Store, "store", target.StoreMemory, "session store: memory (per worker) or redis (shared)")
	fs.StringVar(&cfg.RedisAddr, "redis", envString("BENCH_REDIS_ADDR", target.DefaultRedisAddr), "Redis host:port on loopback for --store redis and --hold (default $BENCH_REDIS_ADDR, else "+target.DefaultRedisAddr+")")
	fs.DurationVar(&cfg.Hold, "hold", 0, "time each request holds the one resource all workers share (a Redis token at --redis); caps throughput at 1/hold (0 = none)")
	fs.StringVar(&cfg.LockKey, "lock-key", target.DefaultLockKey, "Redis list holding the shared resource's token for --hold")
	fs.IntVar(&cfg.Index, "index", envInt("BENCH_WORKER_INDEX", 1), "worker index shown in X-Worker (default $BENCH_WORKER_INDEX, else 1)")
	fs.BoolVar(&cfg.ReusePort, "reuseport", os.Getenv("BENCH_REUSEPORT") == "1", "listen with SO_REUSEPORT, sharing the port with the other workers; the kernel spreads connections (default $BENCH_REUSEPORT=1)")
	slowdown := fs.String("slowdown", "", "make some workers slower: index=factor pairs, e.g. 1=3 (worker 1 is 3× slower)")
	if err := fs.parse(args); err != nil {
		return err
	}
	var err error
	if cfg.Slowdown, err = target.SlowdownFor(*slowdown, cfg.Index); err != nil {
		return badInput{fmt.Errorf("worker: --slowdown: %w", err)}
	}
	if *port <= 0 || *port > 65535 {
		return badInput{fmt.Errorf("worker: --port or $PORT must name a port in 1-65535, got %d", *port)}
	}
	cfg.Addr = net.JoinHostPort(*host, strconv.Itoa(*port))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return target.Run(ctx, cfg)
}

func envString(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
