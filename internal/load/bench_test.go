package load

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// cpuTime is this process's user+system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAttack offers a fixed rate to a trivial target in another process
// (GOMAXPROCS=1) and reports what the driver alone spends per request.
func BenchmarkAttack(b *testing.B) {
	for _, rate := range []float64{1000, 4000} {
		b.Run(vegeta.ConstantPacer{Freq: int(rate), Per: time.Second}.String(), func(b *testing.B) {
			url := startTarget(b, 1)
			var ms0, ms1 runtime.MemStats
			var reqs, mallocs, bytes, gcs uint64
			var cpu, lag time.Duration
			var sent float64
			b.ResetTimer()
			for range b.N {
				runtime.ReadMemStats(&ms0)
				c0 := cpuTime(b)
				res, err := Attack(context.Background(), Step{URL: url, Rate: rate, Duration: time.Second, Warmup: 200 * time.Millisecond})
				if err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime(b) - c0
				runtime.ReadMemStats(&ms1)
				mallocs += ms1.Mallocs - ms0.Mallocs
				bytes += ms1.TotalAlloc - ms0.TotalAlloc
				gcs += uint64(ms1.NumGC - ms0.NumGC)
				reqs += res.Requests + res.WarmupRequests
				sent += res.Sent
				lag = max(lag, res.Lag) // worst step's p99
				if res.Success != 1 {
					b.Fatalf("success %v: %v", res.Success, res.Errors)
				}
			}
			n := float64(reqs)
			b.ReportMetric(sent/float64(b.N), "sent-rps")
			b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/req")
			b.ReportMetric(float64(mallocs)/n, "allocs/req")
			b.ReportMetric(float64(bytes)/n, "B/req")
			b.ReportMetric(float64(gcs)/float64(b.N), "gc/step")
			b.ReportMetric(float64(lag.Microseconds()), "p99-lag-µs")
		})
	}
}

// BenchmarkAttackMax finds the highest rate the driver sustains against a
// trivial target in another process (GOMAXPROCS=1) on this machine: a
// capacity search whose only bound is the generator falling behind.
func BenchmarkAttackMax(b *testing.B) {
	url := startTarget(b, 1)
	cfg := SearchConfig{P99: time.Second, Success: 0.99, Start: 1000, MaxSteps: 10}
	for range b.N {
		c, err := FindCapacity(context.Background(), cfg, func(ctx context.Context, rate float64) (Result, error) {
			return Attack(ctx, Step{URL: url, Rate: rate, Duration: 700 * time.Millisecond, Warmup: 200 * time.Millisecond})
		})
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range c.Steps {
			b.Logf("offered %6.0f sent %6.0f p99 %8v lag %8v behind %v success %.4f", s.Offered, s.Sent, s.Quantile(99), s.Lag, s.Behind, s.Success)
		}
		b.ReportMetric(c.Best, "max-rps")
		if c.GeneratorLimited {
			b.ReportMetric(1, "generator-limited")
		} else {
			b.ReportMetric(0, "generator-limited")
		}
	}
}

// BenchmarkRecord measures the per-result path the results channel reader
// runs for every response.
func BenchmarkRecord(b *testing.B) {
	began := time.Now()
	rs := synthetic(began, 1024, time.Millisecond, 3*time.Millisecond, 200, "")
	for i := 0; i < len(rs); i += 10 {
		rs[i].Code, rs[i].Error = 500, "500 Internal Server Error"
	}
	rec := newRecorder(pacer(100))
	rec.start(began, 0, time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		rec.add(rs[i%len(rs)])
	}
}
