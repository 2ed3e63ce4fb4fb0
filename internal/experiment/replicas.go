package experiment

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/bench-dev/bench/internal/cluster"
	"github.com/bench-dev/bench/internal/scale"
)

// workerSet is what a step reads of the workers and does to them: their CPU, their
// supervisor's events, and the faults. A *cluster.Cluster is one; replicas bench did not start
// are another.
type workerSet interface {
	CPU() time.Duration
	Events() []cluster.Event
	Kill(index int) error
	Pause(index int) error
	Resume(index int) error
}

// errNotOurs: faults strike processes bench started (the scenario refuses them otherwise).
var errNotOurs = errors.New("the replicas run elsewhere: bench cannot signal them")

// elsewhere is replicas bench did not start and cannot see (target.url, target.endpoints, a
// scale command): their CPU is unknown, so a step cannot tell it from interference and is not
// checked for it.
type elsewhere struct{}

func (elsewhere) CPU() time.Duration      { return 0 }
func (elsewhere) Events() []cluster.Event { return nil }
func (elsewhere) Kill(int) error          { return errNotOurs }
func (elsewhere) Pause(int) error         { return errNotOurs }
func (elsewhere) Resume(int) error        { return errNotOurs }

// replicaProcs is replicas bench did not start but whose processes it can read on this
// machine (compose: the containers' processes and the proxies of their published ports).
type replicaProcs struct {
	elsewhere
	pids []int
}

func (p replicaProcs) CPU() time.Duration {
	var sum time.Duration
	for _, pid := range p.pids {
		if d, err := cluster.ProcCPU(pid); err == nil {
			sum += d
		}
	}
	return sum
}

// pidLister is a scaler that knows the processes of its replicas on this machine.
type pidLister interface {
	PIDs(ctx context.Context) ([]int, error)
}

// start brings n workers up: through the scale hook, as the running target.url or the first n
// of target.endpoints, or as processes of spec. It returns them, the addresses bench's balancer
// goes in front of (nil when the load goes straight to target.url) and what stops them.
func (r *runner) start(ctx context.Context, spec cluster.Spec, n int) (workerSet, []string, func(), error) {
	t := r.sc.Target
	nothing := func() {}
	ready := scale.Ready{Path: t.ReadyPath, Timeout: t.ReadyTimeout}
	var ws workerSet = elsewhere{}
	var addrs []string
	switch {
	case r.scaler != nil:
		var err error
		if addrs, err = r.scaler.Scale(ctx, n); err != nil {
			return nil, nil, nil, &StartError{err}
		}
		if pl, ok := r.scaler.(pidLister); ok {
			if pids, err := pl.PIDs(ctx); err == nil {
				ws = replicaProcs{pids: pids}
			}
		}
	case t.Endpoints != nil:
		for _, e := range t.Endpoints[:n] {
			u, _ := url.Parse(e) // checked by the scenario
			addrs = append(addrs, u.Host)
		}
		if err := scale.WaitReady(ctx, addrs, ready); err != nil {
			return nil, nil, nil, &StartError{fmt.Errorf("target.endpoints: %w", err)}
		}
	case t.URL == "":
		cl, err := cluster.Start(ctx, spec, n)
		if err != nil {
			return nil, nil, nil, &StartError{err}
		}
		var pins []string
		for _, w := range cl.Workers() {
			addrs = append(addrs, w.Addr)
			if cores := cl.Cores(w.Index); cores != nil {
				pins = append(pins, fmt.Sprintf("%d→%s", w.Index, cluster.CoresText(cores)))
			}
		}
		if pins != nil {
			r.event("workers pinned to cores (worker→cores): %s", strings.Join(pins, ", "))
		}
		return cl, addrs, func() { cl.Stop() }, nil
	}
	if t.URL != "" {
		u, _ := url.Parse(t.URL) // checked by the scenario
		if err := scale.WaitReady(ctx, []string{u.Host}, ready); err != nil {
			return nil, nil, nil, &StartError{fmt.Errorf("target.url: %w", err)}
		}
		addrs = nil // the service's own balancer, or a single instance: no balancer of bench's
	}
	return ws, addrs, nothing, nil
}
