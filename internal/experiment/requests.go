package experiment

import (
	"github.com/bench-dev/bench/internal/load"
	"github.com/bench-dev/bench/internal/scenario"
)

// loadRequests returns the scenario's request mix (load.requests, or the targets of
// load.targets) as the load generator sends it: each path at the balancer's address in place of
// target.path. Nil when the scenario has none: the load is GET target.path.
func loadRequests(sc *scenario.Scenario) []load.Request {
	if len(sc.Load.Requests) == 0 {
		return nil
	}
	rs := make([]load.Request, len(sc.Load.Requests))
	for i, r := range sc.Load.Requests {
		rs[i] = load.Request{Method: r.Method, Path: r.Path, Header: r.Header, Body: r.Body, Weight: r.Weight}
	}
	return rs
}
