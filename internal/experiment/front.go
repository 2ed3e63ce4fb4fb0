package experiment

import (
	"context"
	"fmt"
	"time"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/haproxy"
	"github.com/bench-dev/bench/internal/scenario"
)

// front is the load balancer in front of the cluster, as a step sees it: bench's own in-process
// balancer, or an HAProxy in its own process for comparison.
type front interface {
	// Counts returns requests per worker since the last ResetCounts; nil when unknown.
	Counts() []uint64
	ResetCounts()
	// Retries returns requests retried on another worker since the last ResetCounts.
	Retries() uint64
	// CPU returns the CPU the balancer used in a process of its own; zero in bench's process,
	// whose own CPU is measured as a whole.
	CPU() time.Duration
}

type inProcess struct{ *balancer.Balancer }

func (inProcess) CPU() time.Duration { return 0 }

type haproxyFront struct{ *haproxy.Proxy }

func (haproxyFront) Counts() []uint64 { return nil }
func (haproxyFront) ResetCounts()     {}
func (haproxyFront) Retries() uint64  { return 0 }

// startFront starts the scenario's balancer engine with one strategy in front of addrs on listen
// (a free loopback port when empty) and returns it, its address and a function that stops it.
func startFront(ctx context.Context, sc *scenario.Scenario, addrs []string, strategy, listen string) (front, string, func(), error) {
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	cookie, bound := "", 0.0
	if strategy == "cookie-hash" {
		cookie, bound = sc.Balancer.Cookie, sc.Balancer.BoundedLoad
	}
	if sc.Balancer.Engine == "haproxy" {
		p, err := haproxy.Start(ctx, haproxy.Config{Backends: addrs, Listen: listen, Strategy: strategy, Cookie: cookie, BoundedLoad: bound})
		if err != nil {
			return nil, "", nil, err
		}
		return haproxyFront{p}, p.Addr(), func() { p.Stop() }, nil
	}

	sel, err := balancer.NewSelectorConfig(balancer.SelectorConfig{Strategy: strategy, Cookie: cookie, BoundedLoad: bound})
	if err != nil {
		return nil, "", nil, fmt.Errorf("balancer: %w", err)
	}
	var opts []balancer.Option
	if sc.Balancer.Engine == "std" {
		opts = append(opts, balancer.WithEngine(balancer.EngineStd))
	}
	// A hung worker is only noticed by probing it. Capacity runs go without active probes: a
	// saturated single-threaded worker can miss one, and ejecting it would move its load onto the
	// others in the middle of the measurement. Refused connections are noticed without them.
	for _, f := range sc.Faults {
		if f.Stop > 0 {
			opts = append(opts, balancer.WithHealthCheck(sc.Target.ReadyPath, 100*time.Millisecond, 500*time.Millisecond))
			break
		}
	}
	bal := balancer.New(addrs, sel, opts...)
	bctx, cancel := context.WithCancel(ctx)
	laddr, err := bal.Serve(bctx, listen)
	if err != nil {
		cancel()
		return nil, "", nil, fmt.Errorf("balancer: %w", err)
	}
	return inProcess{bal}, laddr, func() { cancel(); bal.Wait() }, nil
}
