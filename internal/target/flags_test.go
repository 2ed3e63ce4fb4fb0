package target

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// What Args writes, Register reads back: the cluster's argv and the worker's parser agree on
// every flag.
func TestArgs_roundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg      Config
		slowdown map[int]float64
	}{
		{Config{Workload: WorkloadCPU, Cost: 2 * time.Millisecond, Threads: 1}, nil},
		{Config{Workload: WorkloadCPU, Cost: 2 * time.Millisecond, Threads: 1, ItersPerMs: 607446.5}, nil},
		{Config{Workload: WorkloadSleep, Cost: 10 * time.Millisecond, Concurrency: 1, Threads: 2}, map[int]float64{1: 4, 3: 1.5}},
		{Config{Workload: WorkloadSession, Cost: 500 * time.Microsecond, Threads: 1, Store: StoreRedis, RedisAddr: "127.0.0.1:7001",
			Hold: 2 * time.Millisecond, LockKey: "bench:lock"}, nil},
	} {
		fs := flag.NewFlagSet("worker", flag.ContinueOnError)
		var f WorkerFlags
		f.Register(fs)
		if err := fs.Parse(Args(c.cfg, c.slowdown)); err != nil {
			t.Fatal(err)
		}
		want := c.cfg
		if want.Store == "" {
			want.Store = StoreMemory
		}
		if want.RedisAddr == "" {
			want.RedisAddr = f.RedisAddr // the environment's default
		}
		if want.LockKey == "" {
			want.LockKey = DefaultLockKey
		}
		got := f.Config
		got.Index, got.ReusePort = 0, false // per process, from the environment
		if got != want {
			t.Errorf("Args(%+v) read back as %+v", want, got)
		}
		if c.slowdown != nil {
			if got, err := SlowdownFor(f.Slowdown, 1); err != nil || got != c.slowdown[1] {
				t.Errorf("slowdown of worker 1 = %v, %v; want %v", got, err, c.slowdown[1])
			}
		}
	}
}

// The worker's parser checks --workload and --store against the registries as it reads them.
func TestRegister_checksNames(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--workload", "session", "--store", "redis"}, ""},
		{[]string{"--workload", "nope"}, `unknown workload "nope" (known: cpu, sleep, session)`},
		{[]string{"--workload", "CPU"}, `unknown workload "CPU"`},
		{[]string{"--store", "disk"}, `unknown store "disk" (known: memory, redis)`},
	} {
		fs := flag.NewFlagSet("worker", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var f WorkerFlags
		f.Register(fs)
		err := fs.Parse(c.args)
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", c.args, err, c.wantErr)
		}
	}
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var f WorkerFlags
	f.Register(fs)
	if err := fs.Parse(nil); err != nil || f.Workload != WorkloadCPU || f.Store != StoreMemory {
		t.Errorf("defaults: workload %q, store %q, err %v; want cpu, memory, nil", f.Workload, f.Store, err)
	}
}

// Every registered workload and store says what it does, for the help that lists them.
func TestRegistries_describeEveryName(t *testing.T) {
	t.Parallel()
	for _, e := range workloads {
		if e.name == "" || e.about == "" {
			t.Errorf("workload %q has no description", e.name)
		}
	}
	for _, e := range stores {
		if e.name == "" || e.about == "" {
			t.Errorf("store %q has no description", e.name)
		}
	}
	if got, want := describe(stores), "memory (per worker) or redis (shared)"; got != want {
		t.Errorf("describe(stores) = %q, want %q", got, want)
	}
}
