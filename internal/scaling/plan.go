package scaling

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Defaults and thresholds of MakePlan.
const (
	// DefaultCoresPerMachine is the core count of a machine the plan deploys on when the input says 0.
	DefaultCoresPerMachine = 8
	// HarnessShareLimit is the share of the measuring machine's CPU that bench itself (generator and
	// balancer) may use before the plan names the harness as the first bottleneck: above it, the
	// measured capacities say as much about the harness sharing the cores as about the service.
	HarnessShareLimit = 0.25
	// contentionEfficiency: below this efficiency at a full machine, contention rather than the core
	// count is what limits a machine (each added worker buys under ¾ of a worker).
	contentionEfficiency = 0.75
	// maxPlanRows bounds the linear scaling table (1, 2, 4, … workers).
	maxPlanRows = 20
)

// QueueingModel says which queueing model MakePlan uses for latency and why, in plain words, for the
// plan's reader.
const QueueingModel = "M/M/c (Erlang C): Poisson arrivals, exponential service times, one queue per " +
	"machine in front of its workers. It is the standard closed form for \"how many servers keep the wait " +
	"short\". A workload that burns a near-constant CPU time per request (the built-in cpu workload) waits " +
	"about half as long in reality (M/D/c; waiting scales with (1 + CV²)/2), so for it the prediction is " +
	"conservative; for services whose time varies more than exponentially it is optimistic."

// PlanInput is what MakePlan needs: a target and the capacities a run measured.
type PlanInput struct {
	// RPS is the request rate to carry, requests/s. Required, > 0.
	RPS float64
	// P99 is the target 99th percentile response time. Required, > 0.
	P99 time.Duration
	// Points are the capacities measured per worker count (experiment.Result.Capacity).
	Points []Point
	// Service is the mean time a worker is busy with one request. Zero means 1 / PerWorker(Points):
	// the service rate the queueing model needs is the one the run measured as capacity.
	Service time.Duration
	// CoresPerMachine is the core count of one machine of the deployment; 0 means
	// DefaultCoresPerMachine. A worker is single-threaded, so a machine runs at most this many.
	CoresPerMachine int
	// Headroom is the fraction of capacity left unused at RPS, in [0, 1): the plan sizes for
	// RPS / (1 − Headroom) and keeps the p99 target at that load. 0 means none.
	Headroom float64
	// MeasuredCores is the core count of the machine the run measured on; 0 means unknown. Points
	// above it were oversubscribed, and a fitted peak at it may be that machine's limit.
	MeasuredCores int
	// BehindSteps counts the run's steps where the generator fell behind its schedule.
	BehindSteps int
	// BenchCPUShare is the largest share of the measuring machine's CPU bench itself used in a step.
	BenchCPUShare float64
	// CPUBound says the run found the measuring machine's cores to be the limit (its capacities
	// plateau with the CPU saturated). What carries over to a machine of CoresPerMachine cores is
	// then the capacity per core, not the plateau: the plan scales the ceiling with the cores
	// (MeasuredCores must be known) instead of taking it for a resource all machines share.
	CPUBound bool
	// LowerBound says Points include worker counts that were not saturated, taken at their lower
	// bound: every answer is then a bound too, and the plan says so.
	LowerBound bool
}

// PlanRow is one line of the linear scaling-math table next to the model.
type PlanRow struct {
	Workers int
	// Linear is the linear scaling math: Workers × one worker's capacity.
	Linear float64
	// Model is the plan's Curve at Workers: all workers on one machine (one pool).
	Model float64
	// Machines is how many machines of Plan.WorkersPerMachine hold Workers.
	Machines int
	// Spread is the model's throughput with Workers spread over Machines, each at most
	// Plan.WorkersPerMachine: full machines × X(per machine) + X(the rest).
	Spread float64
	// Note marks the plan's own row.
	Note string
}

// Plan answers "how many workers, how many machines, what binds first" for a PlanInput.
type Plan struct {
	// Input is the input with its defaults filled in.
	Input PlanInput
	// PerWorker is one worker's measured capacity, requests/s (PerWorker of the points).
	PerWorker float64
	// Service is the service time the queueing model used; ServiceSource says where it came from.
	Service       time.Duration
	ServiceSource string
	// Fit is the USL fitted over the measured capacities; Fitted is false when there were too few
	// worker counts, and Model is then linear scaling at PerWorker.
	Fit    FitResult
	Fitted bool
	// Model is the USL the plan reports: Fit.Model, or linear scaling without a fit.
	Model Model
	// Bound is the bottleneck model fitted over the same capacities. ByBound is true when it fits
	// them better than the USL with a ceiling in the measured range (a sharp knee: one serialized
	// resource); the plan then scales with it.
	Bound   BoundFit
	ByBound bool
	// Curve is the scaling model the plan computes with: Bound when ByBound, else Model.
	Curve Curve
	// PeakN and PeakX are the model's peak: workers of maximal throughput on one machine and that
	// throughput (+Inf when the model never peaks).
	PeakN, PeakX float64
	// DesignRPS is RPS / (1 − Headroom): the load the plan keeps within the p99 target.
	DesignRPS float64

	// LinearWorkers is the linear scaling math's answer: ⌈RPS / PerWorker⌉; LinearWorkersHeadroom the same for
	// DesignRPS.
	LinearWorkers, LinearWorkersHeadroom int
	// QueueWorkers is the M/M/c answer: the fewest workers in one pool (one queue) whose predicted
	// p99 at DesignRPS meets the target (MinServers).
	QueueWorkers int
	// ReachableOnOne reports whether the model's peak throughput on a single machine with as many
	// cores as it likes reaches DesignRPS.
	ReachableOnOne bool

	// WorkersPerMachine is the deployment's workers per machine: the count in 1..CoresPerMachine
	// that maximises the model's throughput per machine.
	WorkersPerMachine int
	// MachineRPS is the model's throughput of one machine: X(WorkersPerMachine).
	MachineRPS float64
	// MachineService is the effective service time of a worker on a full machine,
	// WorkersPerMachine / MachineRPS: Service stretched by the contention and coherency the model found.
	MachineService time.Duration
	// Machines is how many machines carry DesignRPS within the p99 target; Workers is
	// Machines × WorkersPerMachine.
	Machines, Workers int
	// ThroughputMachines is the machines the throughput alone needs, ⌈DesignRPS / MachineRPS⌉;
	// Machines exceeds it when the p99 target needs more.
	ThroughputMachines int
	// Utilisation is the workers' busy fraction at RPS.
	Utilisation float64
	// P99AtRPS and P99AtDesign are the predicted p99 (M/M/c per machine) at RPS and at DesignRPS.
	P99AtRPS, P99AtDesign time.Duration

	// Bottleneck is the limit that binds first, in plain words; Limits are all that apply, in order.
	Bottleneck string
	Limits     []string
	// Notes are warnings about how far to trust the plan.
	Notes []string
	// Rows is the linear scaling-math table (1, 2, 4, … workers) next to the model, up to the plan.
	Rows []PlanRow
}

// ErrBadPlanInput is wrapped by every MakePlan error about its input.
var ErrBadPlanInput = errors.New("scaling: bad plan input")

// MakePlan computes a capacity plan. Bad input (no positive RPS or P99, headroom outside [0, 1), no
// measured capacity, a p99 below the service time) is an error wrapping ErrBadPlanInput, naming the
// field; a p99 below the service time also wraps ErrUnreachable.
func MakePlan(in PlanInput) (Plan, error) {
	bad := func(field, format string, args ...any) (Plan, error) {
		return Plan{}, fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), ErrBadPlanInput)
	}
	switch {
	case !(in.RPS > 0) || math.IsInf(in.RPS, 1):
		return bad("rps", "%v, want a finite rate > 0", in.RPS)
	case in.P99 <= 0:
		return bad("p99", "%v, want > 0", in.P99)
	case !(in.Headroom >= 0 && in.Headroom < 1):
		return bad("headroom", "%v, want a fraction in [0, 1)", in.Headroom)
	case in.CoresPerMachine < 0:
		return bad("cores per machine", "%d, want ≥ 1", in.CoresPerMachine)
	case in.Service < 0:
		return bad("service", "%v, want ≥ 0", in.Service)
	}
	if in.CoresPerMachine == 0 {
		in.CoresPerMachine = DefaultCoresPerMachine
	}
	p := Plan{Input: in}
	var err error
	if p.PerWorker, err = PerWorker(in.Points); err != nil {
		return Plan{}, fmt.Errorf("points: %w: %w", err, ErrBadPlanInput)
	}

	p.Service, p.ServiceSource = in.Service, "given"
	if p.Service == 0 {
		p.Service = seconds(1 / p.PerWorker)
		p.ServiceSource = fmt.Sprintf("1 / %.0f rps, one worker's measured capacity: the queueing model's service rate must be the rate the run saturated at", p.PerWorker)
	}
	if in.P99 < p.Service {
		return Plan{}, fmt.Errorf("p99: %v below the service time %v: %w: %w", in.P99, p.Service, ErrUnreachable, ErrBadPlanInput)
	}
	p.DesignRPS = in.RPS / (1 - in.Headroom)

	// The model: the USL over the measured capacities, or linear scaling when they are too few.
	p.Fit, err = Fit(in.Points)
	switch {
	case err == nil:
		p.Fitted, p.Model = true, p.Fit.Model
		if p.Fit.Warning != "" {
			p.Notes = append(p.Notes, "USL fit: "+p.Fit.Warning)
		}
	case errors.Is(err, ErrInsufficientMeasurements):
		p.Model = Model{Lambda: p.PerWorker}
		p.Notes = append(p.Notes, fmt.Sprintf("no USL fit (%v): linear scaling assumed up to the cores, which flatters every plan", err))
	default:
		return Plan{}, fmt.Errorf("fit: %w", err)
	}
	p.Curve = p.Model
	if p.Fitted {
		if p.Bound, err = FitBound(in.Points); err != nil {
			return Plan{}, fmt.Errorf("fit: %w", err)
		}
		if p.ByBound = PreferBound(p.Fit, p.Bound); p.ByBound {
			p.Curve = p.Bound.Bound
		}
	}
	if in.CPUBound && in.MeasuredCores > 0 {
		// The plateau was the measuring machine's cores: per core it carries ceiling / cores, and
		// a machine of CoresPerMachine cores carries that many times as much.
		if ceiling, _, ok := Plateau(in.Points); ok {
			p.ByBound = true
			p.Bound.Bound = Bound{Lambda: p.PerWorker, Ceiling: ceiling / float64(in.MeasuredCores) * float64(in.CoresPerMachine)}
			p.Curve = p.Bound.Bound
			p.Notes = append(p.Notes, fmt.Sprintf("the cores were the limit: %.0f rps on the %d measured cores is %.0f rps per core, %.0f rps on a machine of %d",
				ceiling, in.MeasuredCores, ceiling/float64(in.MeasuredCores), p.Bound.Ceiling, in.CoresPerMachine))
		}
	}
	if in.LowerBound {
		p.Notes = append(p.Notes, "lower bound: some worker counts were not saturated and count at the highest rate they carried; the service may need fewer workers than this plan says")
	}
	p.PeakN, p.PeakX = p.Curve.Peak()
	p.ReachableOnOne = p.PeakX >= p.DesignRPS

	// (a) the linear scaling math and (b) one pooled M/M/c queue of workers at the measured service time.
	p.LinearWorkers = ceilInt(in.RPS / p.PerWorker)
	p.LinearWorkersHeadroom = ceilInt(p.DesignRPS / p.PerWorker)
	if p.QueueWorkers, err = MinServers(p.DesignRPS, p.Service, in.P99); err != nil {
		return Plan{}, fmt.Errorf("queueing: %w: %w", err, ErrBadPlanInput)
	}

	// (c) the deployment: machines of the workers count that carries most under the model.
	cores := in.CoresPerMachine
	p.WorkersPerMachine = 1
	for n := 2; n <= cores; n++ {
		if p.Curve.Throughput(float64(n)) > p.Curve.Throughput(float64(p.WorkersPerMachine)) {
			p.WorkersPerMachine = n
		}
	}
	wpm := p.WorkersPerMachine
	p.MachineRPS = p.Curve.Throughput(float64(wpm))
	if !(p.MachineRPS > 0) {
		return Plan{}, fmt.Errorf("points: the model predicts no throughput (%+v): %w", p.Curve, ErrBadPlanInput)
	}
	p.MachineService = seconds(float64(wpm) / p.MachineRPS)
	if in.P99 < p.MachineService {
		return Plan{}, fmt.Errorf("p99: %v below a worker's service time on a full machine, %v: %w: %w",
			in.P99, p.MachineService, ErrUnreachable, ErrBadPlanInput)
	}
	p.ThroughputMachines = ceilInt(p.DesignRPS / p.MachineRPS)
	p.Machines = p.minMachines()
	p.Workers = p.Machines * wpm
	perMachine := func(rps float64) float64 { return rps / float64(p.Machines) * p.MachineService.Seconds() }
	p.Utilisation = perMachine(in.RPS) / float64(wpm)
	p.P99AtRPS = ResponseQuantile(wpm, perMachine(in.RPS), p.MachineService, 0.99)
	p.P99AtDesign = ResponseQuantile(wpm, perMachine(p.DesignRPS), p.MachineService, 0.99)

	p.limits()
	p.rows()
	return p, nil
}

// minMachines returns the fewest machines of WorkersPerMachine whose predicted p99 at DesignRPS,
// each machine one M/M/c queue of its workers, meets the target. The p99 falls as machines are
// added (less load on each), so: double from the throughput's lower bound, then bisect.
func (p *Plan) minMachines() int {
	ok := func(m int) bool {
		a := p.DesignRPS / float64(m) * p.MachineService.Seconds()
		return ResponseQuantile(p.WorkersPerMachine, a, p.MachineService, 0.99) <= p.Input.P99
	}
	return firstAbove(p.ThroughputMachines-1, ok) // fewer than the throughput needs are too few
}

// limits names what binds, first things first: a harness that limited the measurement makes every
// number after it suspect; then what caps a machine; then the latency target.
func (p *Plan) limits() {
	in, m := p.Input, p.Model
	cores, wpm := in.CoresPerMachine, p.WorkersPerMachine
	if in.BehindSteps > 0 || in.BenchCPUShare > HarnessShareLimit {
		why := fmt.Sprintf("bench used up to %.0f%% of the CPU", 100*in.BenchCPUShare)
		if in.BehindSteps > 0 {
			why = fmt.Sprintf("the generator fell behind in %d step(s); %s", in.BehindSteps, why)
		}
		p.Limits = append(p.Limits, fmt.Sprintf("the balancer / the harness (%s): the measured capacities may be the harness's, not the service's", why))
	}

	eff := p.MachineRPS / (float64(wpm) * p.Curve.Throughput(1))
	var machine string
	switch {
	case in.CPUBound && p.ByBound:
		machine = fmt.Sprintf("CPU cores (%d per machine): the run saturated its machine's cores, so a machine carries what its cores can (≈%.0f rps with %d workers); bigger machines carry more each",
			cores, p.MachineRPS, wpm)
	case p.ByBound:
		b := p.Bound
		machine = fmt.Sprintf("a shared resource (bottleneck fit: ceiling ≈%.0f rps from N≈%.1f workers): the plan puts %d workers on each machine, as many as reach it, and assumes each machine has its own; "+
			"if all machines share it (one database, one lock), no number of machines carries more than %.0f rps", b.Ceiling, b.Knee(), wpm, b.Ceiling)
		if p.DesignRPS > b.Ceiling {
			machine += fmt.Sprintf(", and %s rps needs it %.1f× faster, or partitioned", strconv.FormatFloat(math.Round(p.DesignRPS), 'f', 0, 64), p.DesignRPS/b.Ceiling)
		}
	case wpm < cores && (m.Sigma >= 1 || m.Kappa == 0):
		machine = fmt.Sprintf("contention (σ=%s): throughput stops rising at %d worker(s) per machine", num(m.Sigma), wpm)
	case wpm < cores:
		machine = fmt.Sprintf("coherency (κ=%s, peak at N≈%.1f): more than %d workers per machine lower its throughput, so the %d cores cannot all be used",
			num(m.Kappa), p.PeakN, wpm, cores)
	case eff < contentionEfficiency:
		machine = fmt.Sprintf("contention (σ=%s): %d workers per machine carry %.0f%% of %d× one worker", num(m.Sigma), wpm, 100*eff, wpm)
	default:
		machine = fmt.Sprintf("CPU cores (%d per machine, one single-threaded worker each): the model still gains at %d workers (%.0f%% efficiency); bigger machines would carry more each",
			cores, wpm, 100*eff)
	}
	// A run that oversubscribed its own few cores shows a peak at its core count whatever the
	// service does: say so, since the plan inherits that peak.
	maxMeasured := 0
	for _, pt := range in.Points {
		if pt.Capacity > 0 {
			maxMeasured = max(maxMeasured, pt.Workers)
		}
	}
	if mc := in.MeasuredCores; p.Fitted && wpm < cores && mc > 0 && mc < cores && maxMeasured > mc && wpm <= mc+1 {
		machine += fmt.Sprintf(" — but the peak sits at the measuring machine's %d cores: the run may have measured its cores rather than the service; rerun with up to %d workers on a machine with ≥ %d cores",
			mc, cores, cores)
	}
	p.Limits = append(p.Limits, machine)

	if p.Machines > p.ThroughputMachines {
		p.Limits = append(p.Limits, fmt.Sprintf("the p99 target (%v, %.1f× the service time): %d machine(s) carry the load, %d keep its p99",
			in.P99, float64(in.P99)/float64(p.MachineService), p.ThroughputMachines, p.Machines))
	}
	p.Bottleneck = p.Limits[0]
}

// rows builds the linear scaling table: 1, 2, 4, … workers until every answer of the plan is passed,
// and the plan's own count.
func (p *Plan) rows() {
	wpm := p.WorkersPerMachine
	limit := max(p.Workers, p.LinearWorkersHeadroom, p.QueueWorkers)
	var counts []int
	for n := 1; len(counts) < maxPlanRows; n *= 2 {
		if prev := n / 2; p.Workers > prev && p.Workers < n {
			counts = append(counts, p.Workers)
		}
		counts = append(counts, n)
		if n >= limit {
			break
		}
	}
	for _, n := range counts {
		full, rest := n/wpm, n%wpm
		r := PlanRow{
			Workers:  n,
			Linear:   float64(n) * p.PerWorker,
			Model:    p.Curve.Throughput(float64(n)),
			Machines: ceilInt(float64(n) / float64(wpm)),
			Spread:   float64(full) * p.MachineRPS,
		}
		if rest > 0 { // X(0) is 0/0 for σ = 1
			r.Spread += p.Curve.Throughput(float64(rest))
		}
		if n == p.Workers {
			r.Note = "← plan"
		}
		p.Rows = append(p.Rows, r)
	}
}

// Curve is a fitted scaling model: the USL (Model) or the bottleneck model (Bound).
type Curve interface {
	Throughput(n float64) float64
	// Peak returns the worker count where throughput stops rising and that throughput.
	Peak() (n, x float64)
	Verdict() string
}

// ceilInt is ⌈x⌉ as an int, at least 1, for the counts of a plan (x is finite and positive by
// construction).
func ceilInt(x float64) int {
	// A ratio that is whole in exact arithmetic may come out a hair above it in floating point;
	// 1e-9 of slack keeps 10000/500 at 20 workers rather than 21.
	return max(1, int(math.Ceil(x-1e-9)))
}
