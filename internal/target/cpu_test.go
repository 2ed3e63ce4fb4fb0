package target

import (
	"io"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCalibrate(t *testing.T) {
	t.Parallel()
	c := Calibrate()
	t.Log(c)
	if c.ItersPerMs <= 0 || math.IsInf(c.ItersPerMs, 0) || math.IsNaN(c.ItersPerMs) {
		t.Fatalf("ItersPerMs = %v, want a positive finite number", c.ItersPerMs)
	}
	if runtime.GOOS == "linux" && c.Clock != "thread-cpu" {
		t.Errorf("Clock = %q, want thread-cpu on linux", c.Clock)
	}
	if c.CPU < calibrateCPU {
		t.Errorf("CPU = %s, want ≥ %s measured", c.CPU, calibrateCPU)
	}
	if again := Calibrate(); again != c {
		t.Errorf("second Calibrate = %+v, want the cached %+v", again, c)
	}
	if got := c.Iters(0); got != 0 {
		t.Errorf("Iters(0) = %d, want 0", got)
	}
	if got := c.Iters(time.Nanosecond); got < 1 {
		t.Errorf("Iters(1ns) = %d, want ≥ 1", got)
	}
	one, two := c.Iters(time.Millisecond), c.Iters(2*time.Millisecond)
	if d := int64(two) - 2*int64(one); d < -2 || d > 2 {
		t.Errorf("Iters(2ms) = %d, want ≈ 2 × Iters(1ms) = %d", two, 2*one)
	}
	if s := c.String(); !strings.Contains(s, "iters/ms") {
		t.Errorf("String() = %q, want it to mention iters/ms", s)
	}
}

// TestCalibrate_UnderContention runs four calibrations at once on a machine
// with fewer cores, as when a cluster of workers starts together. Each thread
// gets only part of the wall time; a calibration timed on the wall clock
// would come out about 2× too slow, one on the thread CPU clock stays close.
// Not parallel: the process must be otherwise quiet for the comparison.
func TestCalibrate_UnderContention(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs a per-thread CPU clock")
	}
	solo := measure()
	const n = 4
	results := make([]Calibration, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = measure()
		}()
	}
	wg.Wait()
	for i, c := range results {
		ratio := c.ItersPerMs / solo.ItersPerMs
		t.Logf("contended %d: %s (%.2f× solo)", i, c, ratio)
		if ratio < 0.6 || ratio > 1.6 {
			t.Errorf("contended calibration %d = %.0f iters/ms, %.2f× the solo %.0f, want within [0.6, 1.6]",
				i, c.ItersPerMs, ratio, solo.ItersPerMs)
		}
	}
}

// A given loop speed replaces the worker's own calibration: every worker of a run burns the same
// iterations per request.
func TestHandler_ItersPerMs(t *testing.T) {
	t.Parallel()
	h, err := Handler(Config{Workload: WorkloadCPU, Cost: 2 * time.Millisecond, ItersPerMs: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer h.(io.Closer).Close()
	if got := h.(*handler).iters; got != 2000 {
		t.Errorf("iters = %d with 1000 iters/ms and a 2ms cost, want 2000", got)
	}
}
