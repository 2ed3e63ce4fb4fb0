package target

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Calibration tuning. The loop is timed against the calling thread's own CPU
// clock, so time the thread spends preempted (several workers starting at
// once on 2 cores) does not count as loop time.
const (
	calibrateCPU     = 40 * time.Millisecond // thread CPU time measured
	calibrateMaxWall = 3 * time.Second       // give up waiting for the CPU past this
	calibrateChunk   = 1 << 10               // first chunk; doubled until ≥ calibrateTick
	calibrateTick    = time.Millisecond      // chunk length, keeps clock reads ≪ 1% of the time
)

// Calibration is the measured speed of the cpu workload's compute loop.
type Calibration struct {
	// ItersPerMs is loop iterations per millisecond of thread CPU time, in the fastest chunk
	// (about 1 ms) of the calibration.
	ItersPerMs float64
	// Iterations is the number of iterations timed.
	Iterations uint64
	// CPU is the thread CPU time the timed iterations took.
	CPU time.Duration
	// Wall is the wall time they took; much more than CPU means the thread
	// was preempted while calibrating, which the CPU clock corrects for.
	Wall time.Duration
	// Clock names the clock CPU was read from: "thread-cpu", or "wall" where
	// the platform has no per-thread CPU clock.
	Clock string
}

// Iters returns the loop iterations that burn cost of CPU; at least 1 for a
// positive cost, 0 for a cost ≤ 0.
func (c Calibration) Iters(cost time.Duration) uint64 {
	if cost <= 0 {
		return 0
	}
	n := uint64(c.ItersPerMs * float64(cost) / float64(time.Millisecond))
	return max(n, 1)
}

// String reports the calibration in one line, e.g.
// "412345 iters/ms (the fastest ms of 16494000 iters in 40ms thread-cpu, 81ms wall)".
func (c Calibration) String() string {
	return fmt.Sprintf("%.0f iters/ms (the fastest ms of %d iters in %s %s, %s wall)",
		c.ItersPerMs, c.Iterations, c.CPU.Round(time.Millisecond), c.Clock, c.Wall.Round(time.Millisecond))
}

var (
	calibrateOnce sync.Once
	calibration   Calibration
)

// Calibrate times the cpu workload's loop for about 40 ms of the calling
// thread's CPU time (not wall time) and returns its speed. The first call
// measures; later calls return the cached result, so it is cheap to call
// again for printing.
func Calibrate() Calibration {
	calibrateOnce.Do(func() { calibration = measure() })
	return calibration
}

func measure() Calibration {
	// The thread CPU clock only means something while this goroutine stays
	// on one OS thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	clock, name := threadCPUClock()
	wallStart := time.Now()

	// Warm up and size the chunk: double it until one chunk takes a tick,
	// which also gives the CPU time to leave any idle frequency.
	chunk := uint64(calibrateChunk)
	for time.Since(wallStart) < calibrateMaxWall {
		t0 := clock()
		burnSink(chunk)
		if clock()-t0 >= calibrateTick {
			break
		}
		chunk *= 2
	}

	// The speed is the fastest chunk's: a chunk that an interrupt or a slower moment of the core
	// (a clock still rising) took longer is not the loop's speed. In twelve fresh processes on one
	// quiet machine the mean over all chunks moved by ±1.4 %, the fastest chunk by ±0.55 % (ten of
	// the twelve within 0.01 % of each other).
	var iters uint64
	t0, w0 := clock(), time.Now()
	cpu, best := time.Duration(0), 0.0
	for cpu < calibrateCPU && time.Since(wallStart) < calibrateMaxWall {
		c0 := clock()
		burnSink(chunk)
		c1 := clock()
		if d := c1 - c0; d > 0 {
			best = max(best, float64(chunk)/(float64(d)/float64(time.Millisecond)))
		}
		iters += chunk
		cpu = c1 - t0
	}
	cpu = max(cpu, 1) // a clock that never advanced must not divide by zero
	if best == 0 {
		best = float64(iters) / (float64(cpu) / float64(time.Millisecond))
	}
	return Calibration{
		ItersPerMs: best,
		Iterations: iters,
		CPU:        cpu,
		Wall:       time.Since(w0),
		Clock:      name,
	}
}

// sink keeps the compiler from discarding the loop whose result nobody uses.
var sink atomic.Uint64

// burnSink runs n iterations of the compute loop and publishes the result.
func burnSink(n uint64) { sink.Store(burn(n)) }

// burn runs n rounds of xorshift64: a dependent chain of register-only
// operations, so its speed depends on the core, not on caches or memory, and
// the same n is the same work on every call.
//
//go:noinline
func burn(n uint64) uint64 {
	x := uint64(0x9E3779B97F4A7C15)
	for i := uint64(0); i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}
