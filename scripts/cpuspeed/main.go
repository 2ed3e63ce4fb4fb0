// Command cpuspeed records how fast each core of this machine runs a fixed loop, second by second,
// per second of CPU time the loop was given, and says what that drift does to a capacity ratio
// measured one worker count after the other, or with the counts taking turns.
//
//	go run ./scripts/cpuspeed -seconds 300
//
// It loads every core for the whole time: run it on a quiet machine, alone. Work per CPU-second
// that moves while /proc/stat shows no steal is the host's doing (a sibling hyperthread, memory
// bandwidth, the clock): invisible to bench's interference check, and the floor under the
// run-to-run spread of any CPU-bound capacity measured here.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bench-dev/bench/internal/cluster"
)

func main() {
	seconds := flag.Int("seconds", 120, "how long to record")
	window := flag.Int("window", 35, "seconds one worker count is measured for, in the model")
	flag.Parse()
	if *seconds < 10 || *window < 1 {
		fmt.Fprintf(os.Stderr, "cpuspeed: -seconds must be at least 10 (got %d) and -window at least 1 (got %d)\n", *seconds, *window)
		os.Exit(2)
	}
	cores := runtime.NumCPU()
	series := make([][]float64, cores)
	done := make(chan int)
	stealBefore := steal()
	for c := range cores {
		go func() {
			series[c] = record(c, *seconds)
			done <- c
		}()
	}
	for range cores {
		<-done
	}
	fmt.Printf("steal over the %d s: %v\n", *seconds, steal()-stealBefore)
	for c, s := range series {
		p90 := quantile(s, 0.9)
		slow := 0
		for _, v := range s {
			if v < 0.97*p90 {
				slow++
			}
		}
		fmt.Printf("core %d: loop iterations per CPU-µs median %.0f, sd %.2f %%, min %.1f %% below the 90th percentile; %d %% of seconds more than 3 %% below it; autocorrelation at 1 s %.2f, 5 s %.2f\n",
			c, quantile(s, 0.5), 100*sd(s)/mean(s), 100*(1-slices.Min(s)/p90), 100*slow/len(s), autocorr(s, 1), autocorr(s, 5))
	}
	if cores < 2 || *seconds < 2**window+5 {
		return
	}
	fmt.Printf("correlation of core 0 and core 1: %.2f\n", corr(series[0], series[1]))
	// The model: one worker on core 0 for a window, then two workers, one per core, for the
	// next; round-robin holds the pair to its slower core. Taking turns instead, the counts
	// alternate every 2.5 s over both windows.
	a, b := series[0], series[1]
	var seq, turns []float64
	for t := 0; t+2**window <= len(a); t++ {
		one := mean(a[t : t+*window])
		var two []float64
		for i := t + *window; i < t+2**window; i++ {
			two = append(two, math.Min(a[i], b[i]))
		}
		seq = append(seq, 2*mean(two)/one)
		var o, w []float64
		for i := t; i < t+2**window; i++ {
			if (i-t)%5 < 2 || (i-t)%5 == 2 && (i-t)%10 < 5 {
				o = append(o, a[i])
			} else {
				w = append(w, math.Min(a[i], b[i]))
			}
		}
		turns = append(turns, 2*mean(w)/mean(o))
	}
	fmt.Printf("capacity ratio 2/1 from the machine's speed alone (windows of %d s): one count after the other sd %.2f %%, taking turns sd %.2f %%\n",
		*window, 100*sd(seq)/mean(seq), 100*sd(turns)/mean(turns))
}

var sink uint64

// record runs the loop on core c for the given seconds and returns its speed in each second, in
// iterations per µs of the thread's CPU time.
func record(c, seconds int) []float64 {
	runtime.LockOSThread()
	if err := cluster.Pin(c); err != nil {
		fmt.Fprintln(os.Stderr, "cpuspeed:", err)
		os.Exit(1)
	}
	var out []float64
	x := uint64(c + 1)
	for range seconds {
		start, cpu0 := time.Now(), threadCPU()
		n := 0
		for time.Since(start) < time.Second {
			for range 100_000 {
				x = x*6364136223846793005 + 1442695040888963407
			}
			n += 100_000
		}
		out = append(out, float64(n)/float64((threadCPU()-cpu0).Microseconds()))
	}
	sink += x
	return out
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// steal is the time the hypervisor gave this machine's CPUs to others so far (/proc/stat).
func steal() time.Duration {
	m, _ := cluster.ReadMachineCPU()
	return m.Steal
}

func mean(s []float64) float64 {
	var t float64
	for _, v := range s {
		t += v
	}
	return t / float64(len(s))
}

func sd(s []float64) float64 {
	m, t := mean(s), 0.0
	for _, v := range s {
		t += (v - m) * (v - m)
	}
	return math.Sqrt(t / float64(len(s)))
}

func quantile(s []float64, q float64) float64 {
	c := slices.Clone(s)
	slices.Sort(c)
	return c[int(q*float64(len(c)-1))]
}

func autocorr(s []float64, lag int) float64 { return corr(s[:len(s)-lag], s[lag:]) }

func corr(a, b []float64) float64 {
	ma, mb := mean(a), mean(b)
	var t float64
	for i := range a {
		t += (a[i] - ma) * (b[i] - mb)
	}
	return t / float64(len(a)) / sd(a) / sd(b)
}
