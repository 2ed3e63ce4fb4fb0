package scaling

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestMakePlan_linear(t *testing.T) {
	t.Parallel()
	// 500 rps per worker, no contention, no coherency: 2 ms of service per request.
	pts := curve(Model{Lambda: 500}, 1, 2, 3, 4, 6, 8)
	p, err := MakePlan(PlanInput{RPS: 10000, P99: 50 * time.Millisecond, Points: pts})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Service, 2*time.Millisecond; got != want {
		t.Errorf("Service = %v, want %v (1 / 500 rps)", got, want)
	}
	if !p.Fitted || p.Model.Sigma != 0 || p.Model.Kappa != 0 {
		t.Errorf("model = %+v (fitted %v), want σ = κ = 0", p.Model, p.Fitted)
	}
	if got, want := p.LinearWorkers, 20; got != want {
		t.Errorf("LinearWorkers = %d, want %d (10000 / 500)", got, want)
	}
	if got, want := p.LinearWorkersHeadroom, 20; got != want {
		t.Errorf("LinearWorkersHeadroom = %d, want %d without headroom", got, want)
	}
	// 20 Erlangs of load need more than 20 servers to wait at all finitely, and the p99 leaves room:
	// MinServers must land just above the load.
	if p.QueueWorkers <= 20 || p.QueueWorkers > 24 {
		t.Errorf("QueueWorkers = %d, want 21..24", p.QueueWorkers)
	}
	if got, want := p.WorkersPerMachine, DefaultCoresPerMachine; got != want {
		t.Errorf("WorkersPerMachine = %d, want every core (%d): the model never peaks", got, want)
	}
	if got, want := p.Machines, (p.QueueWorkers+7)/8; got != want {
		t.Errorf("Machines = %d, want ⌈%d workers / 8⌉ = %d", got, p.QueueWorkers, want)
	}
	if p.Workers < 20 || p.Workers != p.Machines*8 {
		t.Errorf("Workers = %d with %d machines, want ≥ 20 and 8 per machine", p.Workers, p.Machines)
	}
	if p.P99AtRPS <= p.Service || p.P99AtRPS > 50*time.Millisecond {
		t.Errorf("P99AtRPS = %v, want between the service time and the 50 ms target", p.P99AtRPS)
	}
	if !p.ReachableOnOne || !math.IsInf(p.PeakN, 1) {
		t.Errorf("peak = (%v, %v), reachable on one = %v: want an unbounded model", p.PeakN, p.PeakX, p.ReachableOnOne)
	}
	if !strings.HasPrefix(p.Bottleneck, "CPU cores") {
		t.Errorf("Bottleneck = %q, want CPU cores", p.Bottleneck)
	}
	if got, want := p.Utilisation, 10000.0/float64(p.Workers*500); !approx(got, want, 1e-9) {
		t.Errorf("Utilisation = %v, want %v", got, want)
	}
}

func TestMakePlan_headroom(t *testing.T) {
	t.Parallel()
	pts := curve(Model{Lambda: 500}, 1, 2, 4, 8)
	none, err := MakePlan(PlanInput{RPS: 10000, P99: 50 * time.Millisecond, Points: pts})
	if err != nil {
		t.Fatal(err)
	}
	p, err := MakePlan(PlanInput{RPS: 10000, P99: 50 * time.Millisecond, Points: pts, Headroom: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.DesignRPS, 20000.0; !approx(got, want, 1e-9) {
		t.Errorf("DesignRPS = %v, want %v", got, want)
	}
	if got, want := p.LinearWorkersHeadroom, 40; got != want {
		t.Errorf("LinearWorkersHeadroom = %d, want %d", got, want)
	}
	if p.Workers <= none.Workers || p.Utilisation > 0.5 {
		t.Errorf("with 50%% headroom: %d workers at %.2f utilisation; without: %d", p.Workers, p.Utilisation, none.Workers)
	}
	if p.P99AtDesign < p.P99AtRPS || p.P99AtDesign > 50*time.Millisecond {
		t.Errorf("p99 at design load %v, at target %v: want target ≤ design ≤ 50ms", p.P99AtDesign, p.P99AtRPS)
	}
	// A fewer-than-6-counts fit is used, with a warning.
	if len(p.Notes) == 0 || !strings.Contains(p.Notes[0], "distinct worker counts") {
		t.Errorf("Notes = %q, want the fit's warning", p.Notes)
	}
}

func TestMakePlan_coherencyCapsMachine(t *testing.T) {
	t.Parallel()
	m := Model{Lambda: 500, Sigma: 0.05, Kappa: 0.02} // N* = √(0.95/0.02) ≈ 6.9
	p, err := MakePlan(PlanInput{RPS: 10000, P99: 50 * time.Millisecond, Points: curve(m, 1, 2, 3, 4, 6, 8, 10, 12),
		CoresPerMachine: 16})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.WorkersPerMachine; got < 6 || got > 7 {
		t.Errorf("WorkersPerMachine = %d, want the peak 6 or 7, not the 16 cores", got)
	}
	wantMachines := int(math.Ceil(10000 / m.Throughput(float64(p.WorkersPerMachine))))
	if p.Machines < wantMachines {
		t.Errorf("Machines = %d, want ≥ %d (10000 / X(%d))", p.Machines, wantMachines, p.WorkersPerMachine)
	}
	if p.ReachableOnOne {
		t.Errorf("ReachableOnOne with peak X = %.0f < 10000 rps", p.PeakX)
	}
	if !strings.HasPrefix(p.Bottleneck, "coherency (κ=0.02") {
		t.Errorf("Bottleneck = %q, want coherency with κ", p.Bottleneck)
	}
	// The effective service time on a full machine is stretched by the model's losses.
	if p.MachineService <= p.Service {
		t.Errorf("MachineService = %v, want above the one-worker service %v", p.MachineService, p.Service)
	}
}

func TestMakePlan_contention(t *testing.T) {
	t.Parallel()
	m := Model{Lambda: 500, Sigma: 0.2} // Amdahl: 8 workers give 8/2.4 = 3.3×
	p, err := MakePlan(PlanInput{RPS: 10000, P99: 50 * time.Millisecond, Points: curve(m, 1, 2, 3, 4, 6, 8)})
	if err != nil {
		t.Fatal(err)
	}
	if p.WorkersPerMachine != 8 || !strings.HasPrefix(p.Bottleneck, "contention (σ=0.2)") {
		t.Errorf("%d workers per machine, bottleneck %q: want 8 and contention", p.WorkersPerMachine, p.Bottleneck)
	}
}

func TestMakePlan_oversubscribedRun(t *testing.T) {
	t.Parallel()
	// A 2-core machine measured 1..4 workers: the curve falls past 2 because the cores ran out.
	pts := []Point{{Workers: 1, Capacity: 450}, {Workers: 2, Capacity: 800}, {Workers: 3, Capacity: 700}, {Workers: 4, Capacity: 600}}
	p, err := MakePlan(PlanInput{RPS: 10000, P99: 50 * time.Millisecond, Points: pts, MeasuredCores: 2})
	if err != nil {
		t.Fatal(err)
	}
	if p.WorkersPerMachine > 3 || !strings.Contains(p.Bottleneck, "measuring machine's 2 cores") {
		t.Errorf("%d per machine, bottleneck %q: want the peak near 2 and a warning about the 2 cores", p.WorkersPerMachine, p.Bottleneck)
	}
}

func TestMakePlan_harnessFirst(t *testing.T) {
	t.Parallel()
	pts := curve(Model{Lambda: 500}, 1, 2, 4)
	for _, in := range []PlanInput{
		{RPS: 1000, P99: 50 * time.Millisecond, Points: pts, BehindSteps: 2},
		{RPS: 1000, P99: 50 * time.Millisecond, Points: pts, BenchCPUShare: 0.4},
	} {
		p, err := MakePlan(in)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.Bottleneck, "the balancer / the harness") || len(p.Limits) < 2 {
			t.Errorf("%+v: bottleneck %q, limits %q: want the harness first", in, p.Bottleneck, p.Limits)
		}
	}
	p, err := MakePlan(PlanInput{RPS: 1000, P99: 50 * time.Millisecond, Points: pts, BenchCPUShare: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.Bottleneck, "harness") {
		t.Errorf("bench at 10%% CPU: bottleneck %q, want no harness", p.Bottleneck)
	}
}

func TestMakePlan_tightP99(t *testing.T) {
	t.Parallel()
	// 2.5 ms p99 for 2 ms of service: the throughput fits on 2 machines, the tail needs more.
	p, err := MakePlan(PlanInput{RPS: 10000, P99: 2500 * time.Microsecond, Points: curve(Model{Lambda: 500}, 1, 2, 4, 8)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Machines <= p.ThroughputMachines || p.P99AtDesign > 2500*time.Microsecond {
		t.Errorf("%d machines (throughput alone %d), p99 %v: want more machines for the tail", p.Machines, p.ThroughputMachines, p.P99AtDesign)
	}
	if last := p.Limits[len(p.Limits)-1]; !strings.HasPrefix(last, "the p99 target") {
		t.Errorf("limits %q, want the p99 target among them", p.Limits)
	}
}

func TestMakePlan_noFit(t *testing.T) {
	t.Parallel()
	p, err := MakePlan(PlanInput{RPS: 2000, P99: 50 * time.Millisecond, Points: []Point{{Workers: 1, Capacity: 400}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Fitted || p.Model != (Model{Lambda: 400}) || len(p.Notes) == 0 {
		t.Errorf("fitted %v, model %+v, notes %q: want linear scaling with a note", p.Fitted, p.Model, p.Notes)
	}
	if got, want := p.LinearWorkers, 5; got != want {
		t.Errorf("LinearWorkers = %d, want %d", got, want)
	}
}

func TestMakePlan_rows(t *testing.T) {
	t.Parallel()
	p, err := MakePlan(PlanInput{RPS: 10000, P99: 50 * time.Millisecond, Points: curve(Model{Lambda: 500}, 1, 2, 4, 8)})
	if err != nil {
		t.Fatal(err)
	}
	var plan int
	for i, r := range p.Rows {
		if r.Linear != 500*float64(r.Workers) {
			t.Errorf("row %d: linear %v for %d workers", i, r.Linear, r.Workers)
		}
		if i > 0 && r.Workers <= p.Rows[i-1].Workers {
			t.Errorf("rows not increasing: %+v", p.Rows)
		}
		if r.Note != "" {
			plan++
			if r.Workers != p.Workers {
				t.Errorf("row %+v marked as the plan, which has %d workers", r, p.Workers)
			}
		}
	}
	if plan != 1 || p.Rows[0].Workers != 1 || p.Rows[len(p.Rows)-1].Workers < p.Workers {
		t.Errorf("rows %+v: want 1 … past %d workers, the plan's row marked once", p.Rows, p.Workers)
	}
}

func TestMakePlan_badInput(t *testing.T) {
	t.Parallel()
	pts := curve(Model{Lambda: 500}, 1, 2, 4)
	for _, tc := range []struct {
		name  string
		in    PlanInput
		field string
	}{
		{"no rps", PlanInput{P99: time.Second, Points: pts}, "rps"},
		{"NaN rps", PlanInput{RPS: math.NaN(), P99: time.Second, Points: pts}, "rps"},
		{"no p99", PlanInput{RPS: 100, Points: pts}, "p99"},
		{"headroom 1", PlanInput{RPS: 100, P99: time.Second, Points: pts, Headroom: 1}, "headroom"},
		{"negative headroom", PlanInput{RPS: 100, P99: time.Second, Points: pts, Headroom: -0.1}, "headroom"},
		{"negative cores", PlanInput{RPS: 100, P99: time.Second, Points: pts, CoresPerMachine: -1}, "cores"},
		{"no capacity", PlanInput{RPS: 100, P99: time.Second, Points: []Point{{Workers: 1, Capacity: 0}}}, "points"},
		{"p99 below service", PlanInput{RPS: 100, P99: time.Millisecond, Points: pts}, "p99"},
	} {
		_, err := MakePlan(tc.in)
		if !errors.Is(err, ErrBadPlanInput) || !strings.HasPrefix(err.Error(), tc.field) {
			t.Errorf("%s: err = %v, want ErrBadPlanInput naming %s", tc.name, err, tc.field)
		}
	}
	if _, err := MakePlan(PlanInput{RPS: 100, P99: time.Millisecond, Points: pts}); !errors.Is(err, ErrUnreachable) {
		t.Errorf("p99 below the service time: err = %v, want ErrUnreachable", err)
	}
}
