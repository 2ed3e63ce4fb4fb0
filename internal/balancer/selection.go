package balancer

import (
	"fmt"
	"net/http"
	"sort"
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

// Strategy names accepted by NewSelector.
const (
	// StrategyRoundRobin hands requests to the available backends in turn.
	StrategyRoundRobin = "round-robin"
)

// selectors maps each strategy name to its constructor. It is the one place
// a new strategy is registered.
var selectors = map[string]func() Selector{
	StrategyRoundRobin: func() Selector { return new(RoundRobin) },
}

// Strategies returns the strategy names NewSelector accepts, sorted.
func Strategies() []string {
	names := make([]string, 0, len(selectors))
	for name := range selectors {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// NewSelector returns a new Selector for the named strategy; "" means
// StrategyRoundRobin. An unknown name is an error listing the known ones.
func NewSelector(strategy string) (Selector, error) {
	if strategy == "" {
		strategy = StrategyRoundRobin
	}
	newSel, ok := selectors[strategy]
	if !ok {
		return nil, fmt.Errorf("balancer: strategy: unknown %q (known: %s)", strategy, strings.Join(Strategies(), ", "))
	}
	return newSel(), nil
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
	for range n {
		if b := pool[(rr.next.Add(1)-1)%n]; b.Available() {
			return b
		}
	}
	return nil
}

// Interface guards.
var (
	_ Selector     = (*RoundRobin)(nil)
	_ headerSource = stdHeader(nil)
	_ headerSource = (*rawHead)(nil)
)
