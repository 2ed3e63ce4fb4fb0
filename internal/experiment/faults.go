package experiment

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/cluster"
	"github.com/bench-dev/bench/internal/load"
	"github.com/bench-dev/bench/internal/scenario"
)

// FaultResult is what one injected fault cost, as seen from the clients and the supervisor.
type FaultResult struct {
	Fault scenario.Fault
	// Injected is when the fault struck, from the start of the step (warm-up included); zero
	// when it could not be injected (see Err).
	Injected time.Duration
	// Downtime is from the SIGKILL to the replacement answering its readiness probe (kills
	// only; zero when no replacement became ready during the step).
	Downtime time.Duration
	// Ejected is from the SIGSTOP to the balancer ejecting the hung worker (stops only; zero
	// when it was not ejected during the step).
	Ejected time.Duration
	// Dip is the capacity dip: 1 − the lowest throughput in the 2 s after the fault over the
	// median throughput before it (0 = no dip, 1 = nothing served), from the step's timeline.
	Dip float64
	Err string
}

// String describes the fault, e.g. "kill worker 1 at 5s".
func (f FaultResult) String() string {
	if f.Fault.Kill > 0 {
		return fmt.Sprintf("kill worker %d at %v", f.Fault.Kill, f.Fault.At)
	}
	return fmt.Sprintf("stop worker %d at %v for %v", f.Fault.Stop, f.Fault.At, f.Fault.For)
}

// injector strikes a step's faults on schedule and remembers when.
type injector struct {
	cl      workerSet
	start   time.Time     // when the step began: faults strike at start + Fault.At
	warmup  time.Duration // the step's warm-up: the measured window starts at start + warmup
	mu      sync.Mutex
	results []FaultResult
	timers  []*time.Timer
	paused  map[int]bool
}

// injectFaults schedules the faults that apply to n workers, from now, the start of a step with
// that warm-up.
func injectFaults(cl workerSet, faults []scenario.Fault, n int, warmup time.Duration) *injector {
	start := time.Now()
	in := &injector{cl: cl, start: start, warmup: warmup, paused: map[int]bool{}}
	for _, f := range faults {
		if max(f.Kill, f.Stop) > n {
			continue
		}
		i := len(in.results)
		in.results = append(in.results, FaultResult{Fault: f})
		in.timers = append(in.timers, time.AfterFunc(f.At, func() { in.strike(i, start) }))
	}
	return in
}

func (in *injector) strike(i int, start time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	r := &in.results[i]
	r.Injected = time.Since(start)
	var err error
	if idx := r.Fault.Kill; idx > 0 {
		err = in.cl.Kill(idx)
	} else if idx := r.Fault.Stop; idx > 0 {
		if err = in.cl.Pause(idx); err == nil {
			in.paused[idx] = true
			in.timers = append(in.timers, time.AfterFunc(r.Fault.For, func() { in.resume(idx) }))
		}
	}
	if err != nil {
		r.Err = err.Error()
	}
}

func (in *injector) resume(idx int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.paused[idx] {
		in.cl.Resume(idx)
		delete(in.paused, idx)
	}
}

// finish cancels faults not yet struck, resumes paused workers and computes each fault's figures
// from the cluster's events since the step began, the balancer's health events and the step's
// success timeline.
func (in *injector) finish(events []cluster.Event, health []balancer.HealthEvent, lr load.Result) []FaultResult {
	in.mu.Lock()
	for _, t := range in.timers {
		t.Stop()
	}
	for idx := range in.paused {
		in.cl.Resume(idx)
	}
	in.paused = map[int]bool{}
	results := append([]FaultResult(nil), in.results...)
	in.mu.Unlock()

	for i := range results {
		r := &results[i]
		if r.Injected == 0 {
			continue
		}
		at := in.start.Add(r.Injected)
		if r.Fault.Kill > 0 {
			for _, e := range events {
				if e.Index == r.Fault.Kill && e.Kind == cluster.EventReady && !e.Time.Before(at) {
					r.Downtime = e.Time.Sub(at)
					break
				}
			}
		}
		if r.Fault.Stop > 0 {
			for _, e := range health {
				if e.Index == r.Fault.Stop && !e.Healthy && !e.Time.Before(at) {
					r.Ejected = e.Time.Sub(at)
					break
				}
			}
		}
		r.Dip = dip(lr.Timeline, r.Injected-in.warmup)
	}
	return results
}

// dip compares the lowest throughput in the two seconds after a fault at offset (from the start of
// the measured window) with the median before it.
func dip(timeline []uint32, offset time.Duration) float64 {
	at := int(offset / load.TimelineBucket)
	if at <= 0 || at >= len(timeline) {
		return 0
	}
	before := append([]uint32(nil), timeline[:at]...)
	sort.Slice(before, func(i, j int) bool { return before[i] < before[j] })
	median := float64(before[len(before)/2])
	if median == 0 {
		return 0
	}
	end := min(len(timeline)-1, at+int(2*time.Second/load.TimelineBucket)) // the last bucket is partial
	low := median
	for _, v := range timeline[at:max(end, at+1)] {
		low = min(low, float64(v))
	}
	return 1 - low/median
}

// restartsIn counts the restarts among events.
func restartsIn(events []cluster.Event) int {
	n := 0
	for _, e := range events {
		if e.Kind == cluster.EventRestart {
			n++
		}
	}
	return n
}
