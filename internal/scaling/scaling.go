// Package scaling holds the arithmetic of "what does N workers buy": the linear scaling math
// next to what was measured. Everything here is a pure function of measurements.
package scaling

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// ErrNoBaseline is returned when no worker count has a positive capacity to scale from.
var ErrNoBaseline = errors.New("scaling: no worker count with a measured capacity")

// Point is one worker count and the capacity measured with it, in requests per second.
type Point struct {
	Workers  int
	Capacity float64
	// Lo and Hi bound the capacity (an interval of about 95 %): Lo is what was shown to pass,
	// Hi what was shown to fail. Hi is +Inf when the worker count was not saturated. Both zero
	// mean unknown (a point built in code): the interval is the capacity itself.
	Lo, Hi float64
	// Unsaturated marks a worker count whose capacity was not reached (no step went over the
	// objective or lost throughput): Capacity is only a lower bound.
	Unsaturated bool
	// Disturbed marks a capacity measured while other processes used the machine (steps still
	// noisy after being measured again).
	Disturbed bool
}

// Saturated reports whether the capacity was reached, i.e. is a measurement and not a bound.
func (p Point) Saturated() bool { return !p.Unsaturated }

// Interval returns Lo and Hi, or the capacity itself twice when they are unknown.
func (p Point) Interval() (lo, hi float64) {
	if p.Lo == 0 && p.Hi == 0 {
		return p.Capacity, p.Capacity
	}
	return p.Lo, p.Hi
}

// Saturated returns the points whose capacity was reached: what the fits may use.
func Saturated(points []Point) []Point {
	var out []Point
	for _, p := range points {
		if p.Saturated() {
			out = append(out, p)
		}
	}
	return out
}

// Row is one line of the scaling table: a measured capacity next to the naive scaling math.
type Row struct {
	Workers  int
	Capacity float64 // measured requests/s at this worker count
	// Linear is the linear scaling math: one worker's capacity × Workers. When one worker was not
	// measured, the per-worker capacity of the smallest measured count stands in for it.
	Linear     float64
	Speedup    float64 // Capacity / capacity of one worker
	Efficiency float64 // Speedup / Workers: 1 is perfectly linear
	Note       string
	// CapacityLo and CapacityHi are the capacity's interval (Point.Lo, Point.Hi); CapacityHi is
	// +Inf when the worker count was not saturated.
	CapacityLo, CapacityHi float64
	// SpeedupLo and SpeedupHi bound the speedup: this count's interval over one worker's, ends
	// crossed (the lowest capacity over the highest baseline and the other way round). SpeedupHi
	// is +Inf when this count was not saturated; both are 0 when the baseline was not (a speedup
	// over a lower bound says nothing).
	SpeedupLo, SpeedupHi float64
	// Saturated is false when the capacity is only a lower bound.
	Saturated bool
}

// SpeedupKnown reports whether the speedup is a measurement: both this count and the baseline
// were saturated.
func (r Row) SpeedupKnown() bool { return r.SpeedupLo > 0 && !math.IsInf(r.SpeedupHi, 1) }

// PerWorker returns the capacity of one worker: measured at N=1 when present, otherwise the
// smallest measured worker count's capacity divided by that count.
func PerWorker(points []Point) (float64, error) {
	p, err := baseline(points)
	return p.Capacity / float64(p.Workers), err
}

// baseline is the point PerWorker scales from.
func baseline(points []Point) (Point, error) {
	best := Point{}
	for _, p := range points {
		if p.Capacity <= 0 || p.Workers <= 0 {
			continue
		}
		if best.Workers == 0 || p.Workers < best.Workers {
			best = p
		}
	}
	if best.Workers == 0 {
		return Point{Workers: 1}, ErrNoBaseline
	}
	return best, nil
}

// Table computes the scaling table, sorted by worker count. cores is the machine's core count, used
// for the notes ("N > cores: oversubscribed"). A point without capacity keeps zero derived values.
func Table(points []Point, cores int) ([]Row, error) {
	base, err := baseline(points)
	if err != nil {
		return nil, err
	}
	one := base.Capacity / float64(base.Workers)
	baseLo, baseHi := base.Interval()
	rows := make([]Row, 0, len(points))
	for _, p := range points {
		r := Row{Workers: p.Workers, Capacity: p.Capacity, Note: Note(p.Workers, cores), Saturated: p.Saturated()}
		r.CapacityLo, r.CapacityHi = p.Interval()
		r.Linear = one * float64(p.Workers)
		// Over a baseline that was not saturated there is no speedup: a ratio to a lower bound
		// could be anything.
		if p.Capacity > 0 && (base.Saturated() || p.Workers == base.Workers) {
			r.Speedup = p.Capacity / one
			r.Efficiency = r.Speedup / float64(p.Workers)
			if base.Saturated() && baseLo > 0 {
				// Per worker, as Speedup is: the baseline's interval scaled to one worker.
				perLo, perHi := baseLo/float64(base.Workers), baseHi/float64(base.Workers)
				r.SpeedupLo, r.SpeedupHi = r.CapacityLo/perHi, r.CapacityHi/perLo
			}
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Workers < rows[j].Workers })
	return rows, nil
}

// Note describes a worker count the way the scaling table's note column does.
func Note(workers, cores int) string {
	switch {
	case workers == 1:
		return "single process"
	case cores > 0 && workers > cores:
		return fmt.Sprintf("> %d cores: oversubscribed", cores)
	default:
		return fmt.Sprintf("%d workers (1 machine)", workers)
	}
}

// Plateau reports whether the measured capacities level off: the largest worker count still
// carries at least 90 % of the best capacity, and at least two counts reach 90 % of it. x is the
// best capacity and from the smallest worker count within 5 % of it.
func Plateau(points []Point) (x float64, from int, ok bool) {
	sorted := append([]Point(nil), points...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Workers < sorted[j].Workers })
	if len(sorted) < 3 {
		return 0, 0, false
	}
	for _, p := range sorted {
		x = max(x, p.Capacity)
	}
	near := 0
	for _, p := range sorted {
		if p.Capacity >= 0.9*x {
			near++
		}
		if from == 0 && p.Capacity >= 0.95*x {
			from = p.Workers
		}
	}
	last := sorted[len(sorted)-1]
	return x, from, x > 0 && near >= 2 && last.Capacity >= 0.9*x && from < last.Workers
}

// Diagnose names what limits scaling in plain words, from the fitted models and the measurements
// themselves. A sharp knee that the bottleneck model fits better than the USL is one serialized
// resource; so is a plateau that does not fall, even when the USL fit, following the knee, puts it
// in κ.
func Diagnose(points []Point, usl FitResult, bound BoundFit) string {
	if PreferBound(usl, bound) {
		return fmt.Sprintf("%s: a sharp knee, as a lock or a one-connection pool gives (Amdahl); "+
			"the bottleneck model's worst point is %+.0f%%, the USL's %+.0f%%",
			bound.Verdict(), 100*WorstResidual(bound.Residuals), 100*WorstResidual(usl.Residuals))
	}
	if x, from, ok := Plateau(points); ok && usl.Kappa > 0 {
		return fmt.Sprintf("contention-limited: throughput plateaus at ≈%.0f rps from %d workers on and does not fall, "+
			"the mark of one serialized resource (Amdahl); the USL fit reads the sharp knee as coherency (κ=%.3g)", x, from, usl.Kappa)
	}
	return usl.Verdict()
}
