package balancer

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
)

// Selector picks the backend for one request. Implementations must be safe
// for concurrent use and should not allocate: Select runs once per proxied
// request on a machine where the balancer's CPU is taken from the workers.
//
// Select returns nil when no backend in pool is Available; the balancer then
// answers 503 Service Unavailable.
//
// The request is a *Request, not an *http.Request, because the fast engine
// never builds an *http.Request: it hands the selector a view of the raw
// request head instead.
type Selector interface {
	Select(pool []*Backend, r *Request) *Backend
}

// Request is what a Selector may look at to choose a backend. Strategies that
// ignore the request (round-robin, least-connections, random, p2c) never
// touch it; hashing strategies read Target, RemoteAddr or a header.
//
// The strings of a Request handed to Select may point into the connection's
// read buffer: they are valid only until Select returns. A strategy that
// keeps one must copy it (strings.Clone).
type Request struct {
	// Method is the request method, e.g. "GET".
	Method string
	// Target is the request target as sent on the request line: the path
	// and the query, e.g. "/cart?id=7".
	Target string
	// RemoteAddr is the client's "ip:port".
	RemoteAddr string

	// header looks up request headers; nil means the request has none.
	header headerSource
}

// Header returns the first value of the named request header
// (case-insensitive), or "" when the request has no such header.
func (r *Request) Header(name string) string {
	if r == nil || r.header == nil {
		return ""
	}
	return r.header.get(name)
}

// Path returns Target without its query.
func (r *Request) Path() string {
	if i := strings.IndexByte(r.Target, '?'); i >= 0 {
		return r.Target[:i]
	}
	return r.Target
}

// headerSource is the header lookup behind Request.Header: http.Header for
// the std engine, the raw request head for the fast engine.
type headerSource interface {
	get(name string) string
}

// stdHeader adapts http.Header; a map converts to an interface without
// allocating.
type stdHeader http.Header

func (h stdHeader) get(name string) string { return http.Header(h).Get(name) }

// NewRequest describes r for a Selector, as the std engine does.
func NewRequest(r *http.Request) *Request {
	return &Request{Method: r.Method, Target: r.RequestURI, RemoteAddr: r.RemoteAddr, header: stdHeader(r.Header)}
}

// Strategy names how requests (connections, for EngineL4) are spread over the
// backends. Strategies lists them all.
type Strategy string

// The strategies, in the order Strategies lists them.
const (
	// StrategyRoundRobin hands requests to the available backends in turn.
	StrategyRoundRobin Strategy = "round-robin"
	// StrategyLeastConnections picks the backend with the fewest requests
	// in flight, breaking ties at random.
	StrategyLeastConnections Strategy = "least-connections"
	// StrategyRandom picks an available backend uniformly at random.
	StrategyRandom Strategy = "random"
	// StrategyP2C picks two distinct available backends at random and
	// takes the one with fewer requests in flight ("power of two choices").
	StrategyP2C Strategy = "p2c"
	// StrategyCookieHash sends every request carrying the same session
	// cookie to the same backend, with rendezvous hashing; see CookieHash.
	StrategyCookieHash Strategy = "cookie-hash"
	// StrategyReusePort puts no balancer in front at all: the workers share
	// one port with SO_REUSEPORT and the kernel spreads the connections. It
	// has no Selector, and no engine applies to it.
	StrategyReusePort Strategy = "reuseport"
)

// registration is one strategy of the registry.
type registration struct {
	name        Strategy
	newSelector func(SelectorConfig) (Selector, error)
}

// strategies is the registry of strategies, in the order help and error
// messages list them, each with the constructor of its Selector (nil for
// StrategyReusePort, which has none). It is the one place a new strategy is
// registered.
var strategies = []registration{
	{StrategyRoundRobin, plain(func() Selector { return new(RoundRobin) })},
	{StrategyLeastConnections, plain(func() Selector { return new(LeastConnections) })},
	{StrategyRandom, plain(func() Selector { return new(Random) })},
	{StrategyP2C, plain(func() Selector { return new(P2C) })},
	{StrategyCookieHash, newCookieHash},
	{StrategyReusePort, nil},
}

// Strategies is every strategy a scenario may name, in registry order.
// Callers must not modify it.
var Strategies = registered()

// registered returns the names of the registry's strategies, in its order.
func registered() []Strategy {
	names := make([]Strategy, len(strategies))
	for i, s := range strategies {
		names[i] = s.name
	}
	return names
}

// Valid reports whether s is one of Strategies. Names are exact.
func (s Strategy) Valid() bool { return slices.Contains(Strategies, s) }

// SelectorConfig names a strategy and its options, as NewSelectorConfig
// takes them. Its zero value is round-robin.
type SelectorConfig struct {
	// Strategy is one of SelectorStrategies(); "" means StrategyRoundRobin.
	Strategy Strategy
	// Cookie is the name of the cookie StrategyCookieHash hashes; ""
	// means DefaultCookie. Other strategies take no cookie.
	Cookie string
	// BoundedLoad is StrategyCookieHash's load bound c: a backend is
	// skipped for the next one in hash order while its requests in flight
	// would exceed c × the average. Zero means unbounded; otherwise it
	// must be at least 1 (1.25 is a common choice). Other strategies take
	// no bound.
	BoundedLoad float64
}

// plain adapts the constructor of a strategy that takes no options: an
// option it would ignore is an error, so a typo in a scenario shows.
func plain(newSel func() Selector) func(SelectorConfig) (Selector, error) {
	return func(cfg SelectorConfig) (Selector, error) {
		switch {
		case cfg.Cookie != "":
			return nil, fmt.Errorf("cookie: strategy %s takes none (only %s does)", cfg.Strategy, StrategyCookieHash)
		case cfg.BoundedLoad != 0:
			return nil, fmt.Errorf("bounded_load: strategy %s takes none (only %s does)", cfg.Strategy, StrategyCookieHash)
		}
		return newSel(), nil
	}
}

// SelectorStrategies returns the strategies NewSelector accepts, sorted:
// every strategy but StrategyReusePort.
func SelectorStrategies() []Strategy {
	var names []Strategy
	for _, s := range strategies {
		if s.newSelector != nil {
			names = append(names, s.name)
		}
	}
	slices.Sort(names)
	return names
}

// NewSelector returns a new Selector for the named strategy with its
// default options; "" means StrategyRoundRobin. An unknown name is an error
// listing the known ones.
func NewSelector(strategy Strategy) (Selector, error) {
	return NewSelectorConfig(SelectorConfig{Strategy: strategy})
}

// NewSelectorConfig returns a new Selector for cfg. An unknown strategy, or
// an option the strategy does not take or cannot use, is an error naming
// the field.
func NewSelectorConfig(cfg SelectorConfig) (Selector, error) {
	if cfg.Strategy == "" {
		cfg.Strategy = StrategyRoundRobin
	}
	newSel := selectorFor(cfg.Strategy)
	if newSel == nil {
		return nil, fmt.Errorf("balancer: strategy: unknown %q (known: %s)", cfg.Strategy, join(SelectorStrategies()))
	}
	sel, err := newSel(cfg)
	if err != nil {
		return nil, fmt.Errorf("balancer: %w", err)
	}
	return sel, nil
}

// selectorFor returns the constructor of strategy s's Selector; nil when s is
// unknown or has no Selector.
func selectorFor(s Strategy) func(SelectorConfig) (Selector, error) {
	for _, r := range strategies {
		if r.name == s {
			return r.newSelector
		}
	}
	return nil
}

// join lists names for a message: "a, b, c".
func join[T ~string](names []T) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(n))
	}
	return b.String()
}

// RoundRobin hands requests to the available backends in turn, skipping the
// unavailable ones. Its zero value is ready to use; its state is one atomic
// counter, so it is safe for concurrent use.
type RoundRobin struct {
	next atomic.Uint64
}

// Select returns the next available backend after the one chosen last, or
// nil when none is available.
func (rr *RoundRobin) Select(pool []*Backend, _ *Request) *Backend {
	n := uint64(len(pool))
	if n == 0 {
		return nil
	}
	// Each try claims a slot with one atomic add. Skipping an unavailable
	// backend claims the next slot rather than walking on from this one,
	// so its share is spread evenly over the others instead of all going
	// to its successor.
	var slot uint64
	for range n {
		slot = rr.next.Add(1) - 1
		if b := pool[slot%n]; b.Available() {
			return b
		}
	}
	// Concurrent Selects claim slots in between, so n claims need not have visited every
	// backend: walk the pool once from the last slot before answering that none is available.
	for i := range n {
		if b := pool[(slot+1+i)%n]; b.Available() {
			return b
		}
	}
	return nil
}

// LeastConnections picks the available backend with the fewest requests in
// flight (Backend.InFlight), choosing uniformly at random among the ones
// tied for fewest. It has no state; its zero value is ready to use.
//
// The random tie-break matters more than it looks. When requests finish
// before the next one arrives, every backend is at zero in flight and all
// are tied: breaking ties by position would send everything to the first
// backend (what a simulation with synchronous work shows), while random
// ties degrade gracefully to random selection. Concurrent Selects may also
// see the same minimum before either request is counted and pick the same
// backend; the counts correct that on the next requests.
type LeastConnections struct{}

// Select returns a least loaded available backend, or nil when none is
// available.
func (*LeastConnections) Select(pool []*Backend, _ *Request) *Backend {
	var best *Backend
	var least int64
	ties := 0
	for _, b := range pool {
		if !b.Available() {
			continue
		}
		switch n := b.InFlight(); {
		case best == nil || n < least:
			best, least, ties = b, n, 1
		case n == least:
			// Reservoir sampling: the k-th tied backend replaces the
			// choice with probability 1/k, so each of them ends up chosen
			// with probability 1/ties, in one pass and without a buffer.
			ties++
			if rand.IntN(ties) == 0 {
				best = b
			}
		}
	}
	return best
}

// Random picks an available backend uniformly at random. It has no state;
// its zero value is ready to use.
type Random struct{}

// Select returns a random available backend, or nil when none is
// available.
func (*Random) Select(pool []*Backend, _ *Request) *Backend {
	n := len(pool)
	if n == 0 {
		return nil
	}
	if b := pool[rand.IntN(n)]; b.Available() {
		return b
	}
	// Drawing again among the available ones keeps the choice uniform:
	// each of them had the same chance on the first draw too.
	k := countAvailable(pool)
	if k == 0 {
		return nil
	}
	return nthAvailable(pool, rand.IntN(k))
}

// P2C is the "power of two random choices": it draws two distinct
// available backends at random and picks the one with fewer requests in
// flight (the first drawn on a tie). It has no state; its zero value is
// ready to use.
//
// Unlike LeastConnections it never sends every concurrent Select to the one
// least loaded backend, yet it never picks the most loaded of the two it
// drew: with two or more backends available, a backend whose in-flight
// count is strictly the highest is never chosen.
type P2C struct{}

// Select returns the less loaded of two random available backends, the
// only one when just one is available, or nil when none is.
func (*P2C) Select(pool []*Backend, _ *Request) *Backend {
	n := len(pool)
	switch n {
	case 0:
		return nil
	case 1:
		if pool[0].Available() {
			return pool[0]
		}
		return nil
	}
	i, j := twoDistinct(n)
	a, b := pool[i], pool[j]
	if !a.Available() || !b.Available() {
		// Drawing again among the available ones keeps every pair of them
		// equally likely, as it is on the first draw.
		k := countAvailable(pool)
		switch k {
		case 0:
			return nil
		case 1:
			return nthAvailable(pool, 0)
		}
		i, j = twoDistinct(k)
		a, b = nthAvailable(pool, i), nthAvailable(pool, j)
		if a == nil || b == nil || a == b { // health changed meanwhile
			return firstNonNil(a, b)
		}
	}
	if b.InFlight() < a.InFlight() {
		return b
	}
	return a
}

// twoDistinct returns two distinct random integers in [0, n), n ≥ 2, in
// random order.
func twoDistinct(n int) (int, int) {
	i := rand.IntN(n)
	j := rand.IntN(n - 1)
	if j >= i {
		j++
	}
	return i, j
}

// countAvailable returns how many backends of pool are available.
func countAvailable(pool []*Backend) int {
	k := 0
	for _, b := range pool {
		if b.Available() {
			k++
		}
	}
	return k
}

// nthAvailable returns the k-th (0-based) available backend of pool. If
// fewer are available now than when k was drawn, it returns the last
// available one, or nil if none is.
func nthAvailable(pool []*Backend, k int) *Backend {
	var last *Backend
	for _, b := range pool {
		if !b.Available() {
			continue
		}
		if k == 0 {
			return b
		}
		k--
		last = b
	}
	return last
}

func firstNonNil(a, b *Backend) *Backend {
	if a != nil {
		return a
	}
	return b
}

// Interface guards.
var (
	_ Selector     = (*RoundRobin)(nil)
	_ Selector     = (*LeastConnections)(nil)
	_ Selector     = (*Random)(nil)
	_ Selector     = (*P2C)(nil)
	_ Selector     = (*CookieHash)(nil)
	_ headerSource = stdHeader(nil)
	_ headerSource = (*rawHead)(nil)
)
