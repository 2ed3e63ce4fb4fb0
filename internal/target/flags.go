package target

import (
	"flag"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The built-in worker's command line: Flags reads it (`bench worker`), Args writes it (the cluster
// that starts workers). Both are here so that a flag added to one cannot be forgotten by the other.

// WorkerFlags is what `bench worker` reads from its command line: a Config, and the run-wide
// slowdown list from which each worker picks its own factor by its index.
type WorkerFlags struct {
	Config
	// Slowdown is the run's --slowdown list, "1=3,2=1.5"; see SlowdownFor.
	Slowdown string
	// Port is the port to listen on ($PORT by default).
	Port int
	// Host is the address to listen on ($BENCH_WORKER_HOST, else 127.0.0.1): 0.0.0.0 inside a
	// container, whose port the compose file publishes on the host's loopback.
	Host string
}

// Register binds f's fields to fs's flags, with the environment's defaults: $PORT,
// $BENCH_WORKER_INDEX, $BENCH_REUSEPORT and $BENCH_REDIS_ADDR, which the cluster sets per process.
func (f *WorkerFlags) Register(fs *flag.FlagSet) {
	f.Workload = WorkloadCPU
	fs.Var(&f.Workload, "workload", "workload `name`: "+describe(workloads))
	fs.DurationVar(&f.Cost, "cost", time.Millisecond, "CPU burned (cpu) or time waited (sleep) per request")
	fs.IntVar(&f.Concurrency, "concurrency", 0, "requests handled at once; excess requests queue (0 = unlimited)")
	fs.IntVar(&f.Threads, "threads", 1, "GOMAXPROCS: 1 is one event loop, like a Node process")
	fs.IntVar(&f.Port, "port", envInt("PORT", 0), "port to listen on (default $PORT)")
	fs.StringVar(&f.Host, "host", envString("BENCH_WORKER_HOST", "127.0.0.1"), "address to listen on (default $BENCH_WORKER_HOST, else 127.0.0.1); 0.0.0.0 in a container, whose port the compose file publishes on the host's loopback")
	f.Store = StoreMemory
	fs.Var(&f.Store, "store", "session store `name`: "+describe(stores))
	fs.StringVar(&f.RedisAddr, "redis", envString("BENCH_REDIS_ADDR", DefaultRedisAddr), "Redis host:port on loopback for --store redis and --hold (default $BENCH_REDIS_ADDR, else "+DefaultRedisAddr+")")
	fs.DurationVar(&f.Hold, "hold", 0, "time each request holds the one resource all workers share (a Redis token at --redis); caps throughput at 1/hold (0 = none)")
	fs.StringVar(&f.LockKey, "lock-key", DefaultLockKey, "Redis list holding the shared resource's token for --hold")
	fs.IntVar(&f.Index, "index", envInt("BENCH_WORKER_INDEX", 1), "worker index shown in X-Worker (default $BENCH_WORKER_INDEX, else 1)")
	fs.BoolVar(&f.ReusePort, "reuseport", os.Getenv("BENCH_REUSEPORT") == "1", "listen with SO_REUSEPORT, sharing the port with the other workers; the kernel spreads connections (default $BENCH_REUSEPORT=1)")
	fs.Float64Var(&f.ItersPerMs, "iters-per-ms", 0, "speed of the cpu workload's loop, iterations per ms of CPU; 0 calibrates it at start (bench run gives every worker of a run the figure it calibrated once)")
	fs.StringVar(&f.Slowdown, "slowdown", "", "make some workers slower: index=factor pairs, e.g. 1=3 (worker 1 is 3× slower)")
}

// Args returns the flags that make `bench worker` run c, with slowdown the run's factors by
// worker index (nil for none). Port, index and reuseport are per process: the cluster passes them
// in the environment. Flags at their zero value are left out.
func Args(c Config, slowdown map[int]float64) []string {
	args := []string{"--workload", string(c.Workload), "--cost", c.Cost.String(),
		"--concurrency", strconv.Itoa(c.Concurrency), "--threads", strconv.Itoa(c.Threads)}
	if len(slowdown) > 0 {
		args = append(args, "--slowdown", slowdownSpec(slowdown))
	}
	if c.ItersPerMs > 0 {
		args = append(args, "--iters-per-ms", strconv.FormatFloat(c.ItersPerMs, 'f', 1, 64))
	}
	if c.Store != "" {
		args = append(args, "--store", string(c.Store))
	}
	if c.Hold > 0 {
		args = append(args, "--hold", c.Hold.String(), "--lock-key", c.LockKey)
	}
	if c.RedisAddr != "" {
		args = append(args, "--redis", c.RedisAddr)
	}
	return args
}

// slowdownSpec writes factors by worker index in --slowdown's form, "1=3,2=1.5".
func slowdownSpec(m map[int]float64) string {
	idx := make([]int, 0, len(m))
	for i := range m {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	parts := make([]string, len(idx))
	for k, i := range idx {
		parts[k] = strconv.Itoa(i) + "=" + strconv.FormatFloat(m[i], 'g', -1, 64)
	}
	return strings.Join(parts, ",")
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
