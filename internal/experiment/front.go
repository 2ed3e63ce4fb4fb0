package experiment

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/haproxy"
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
	// Health returns the ejections and readmissions so far; nil when unknown.
	Health() []balancer.HealthEvent
}

type inProcess struct {
	*balancer.Balancer
	mu     sync.Mutex
	health []balancer.HealthEvent
}

func (*inProcess) CPU() time.Duration { return 0 }

func (b *inProcess) Health() []balancer.HealthEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]balancer.HealthEvent(nil), b.health...)
}

func (b *inProcess) onHealth(e balancer.HealthEvent) {
	b.mu.Lock()
	b.health = append(b.health, e)
	b.mu.Unlock()
}

type haproxyFront struct{ *haproxy.Proxy }

func (haproxyFront) Counts() []uint64 { return nil }
func (haproxyFront) ResetCounts()     {}
func (haproxyFront) Retries() uint64  { return 0 }

func (haproxyFront) Health() []balancer.HealthEvent { return nil }

// connectionsOnly is the l4 engine: its counters count connections, so Counts says nothing of
// how requests were spread.
type connectionsOnly struct{ *inProcess }

func (connectionsOnly) Counts() []uint64 { return nil }

// direct is no balancer at all: reuseport, where the kernel spreads connections over workers
// that share one port.
type direct struct{}

func (direct) Counts() []uint64               { return nil }
func (direct) ResetCounts()                   {}
func (direct) Retries() uint64                { return 0 }
func (direct) CPU() time.Duration             { return 0 }
func (direct) Health() []balancer.HealthEvent { return nil }

// startFront starts the scenario's balancer engine with one strategy in front of addrs on
// Options.Listen (a free loopback port when empty) and returns it, its address and a function
// that stops it.
func (r *runner) startFront(ctx context.Context, addrs []string, strategy balancer.Strategy) (front, string, func(), error) {
	sc, listen := r.sc, r.opts.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	cookie, bound := "", 0.0
	if strategy == balancer.StrategyCookieHash {
		cookie, bound = sc.Balancer.Cookie, sc.Balancer.BoundedLoad
	}
	if strategy == balancer.StrategyReusePort {
		return direct{}, addrs[0], func() {}, nil // every worker listens on addrs[0]
	}
	if sc.Balancer.Engine == balancer.EngineHAProxy {
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
	if e := sc.Balancer.Engine; e != "" {
		opts = append(opts, balancer.WithEngine(e))
	}
	if sc.Balancer.MaxConns > 0 {
		opts = append(opts, balancer.WithMaxConns(sc.Balancer.MaxConns))
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
	fr := &inProcess{}
	fr.Balancer = balancer.New(addrs, sel, append(opts, balancer.WithOnHealth(fr.onHealth))...)
	bctx, cancel := context.WithCancel(ctx)
	laddr, err := fr.Serve(bctx, listen)
	if err != nil {
		cancel()
		return nil, "", nil, fmt.Errorf("balancer: %w", err)
	}
	if sc.Balancer.Engine == balancer.EngineL4 {
		// It counts connections, not requests: the shares come from the responses instead.
		return connectionsOnly{fr}, laddr, func() { cancel(); fr.Wait() }, nil
	}
	return fr, laddr, func() { cancel(); fr.Wait() }, nil
}
