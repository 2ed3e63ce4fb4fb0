package scaling

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrUnreachable is returned by MinServers when no number of servers meets the target: a response
// can never be faster than its own service time.
var ErrUnreachable = errors.New("scaling: latency target below the service time")

// ErlangC returns the probability that a request has to wait in an M/M/c queue: Poisson arrivals,
// exponential service, c servers (workers), offered load a = λ/μ in Erlangs (arrival rate × mean
// service time). With a ≥ c, or c < 1, the queue grows without bound and every request waits: 1.
// With a ≤ 0 nobody waits: 0.
//
// It runs the Erlang B recursion B(0) = 1, B(k) = a·B(k−1) / (k + a·B(k−1)), which stays in [0, 1]
// for any c, and converts: C = c·B / (c − a(1 − B)). The textbook closed form with aᶜ/c! overflows
// past c ≈ 170 and loses precision well before.
func ErlangC(c int, a float64) float64 {
	switch {
	case math.IsNaN(a):
		return math.NaN()
	case c < 1 || a >= float64(c):
		return 1
	case a <= 0:
		return 0
	}
	b := 1.0
	for k := 1; k <= c; k++ {
		b = a * b / (float64(k) + a*b)
	}
	return float64(c) * b / (float64(c) - a*(1-b))
}

// maxDuration stands for "never": the quantile of an unstable queue.
const maxDuration = time.Duration(math.MaxInt64)

// WaitQuantile returns the q-quantile of the time a request waits for a free server in an M/M/c
// queue with c servers, offered load a Erlangs and mean service time service. q is a fraction in
// [0, 1), e.g. 0.99 — not a percentage. The waiting time is 0 with probability 1 − C and otherwise
// exponential with rate cμ − λ, so P(W > t) = C·e^−(cμ−λ)t and
//
//	t_q = service · ln(C / (1 − q)) / (c − a),   0 when 1 − q ≥ C.
//
// An unstable queue (a ≥ c, or c < 1) or q ≥ 1 returns the maximum Duration, standing for
// "unbounded"; no load (a ≤ 0), q ≤ 0 or a non-positive service time returns 0.
func WaitQuantile(c int, a float64, service time.Duration, q float64) time.Duration {
	switch {
	case service <= 0 || q <= 0 || a <= 0:
		return 0
	case c < 1 || a >= float64(c) || q >= 1 || math.IsNaN(a) || math.IsNaN(q):
		return maxDuration
	}
	pw := ErlangC(c, a)
	if 1-q >= pw {
		return 0
	}
	t := service.Seconds() * math.Log(pw/(1-q)) / (float64(c) - a)
	return seconds(t)
}

// ResponseQuantile approximates the q-quantile of the response time (wait + service) of an M/M/c
// queue as service + WaitQuantile(c, a, service, q): it treats the service time as the fixed cost
// it is for the built-in workloads, and only the wait as random.
//
// The approximation errs both ways. For service times that really are exponential it ignores the
// service's own tail (the exact M/M/c response p99 is up to 4.6× the mean service time at light load,
// this returns 1×), so it is optimistic. For near-constant service (a CPU burn of fixed cost) the
// M/M/c wait overstates the true M/D/c wait, roughly twofold in heavy traffic
// (Allen–Cunneen: waiting scales with (1 + CV²)/2, CV the service time's coefficient of variation), so it is conservative there.
// Compare with measured quantiles before trusting it for exponential-like services.
func ResponseQuantile(c int, a float64, service time.Duration, q float64) time.Duration {
	w := WaitQuantile(c, a, service, q)
	if w == maxDuration || service < 0 {
		return w
	}
	if w > maxDuration-service {
		return maxDuration
	}
	return w + service
}

// MinServers returns the smallest number of servers c for which the predicted p99 response time
// (ResponseQuantile at q = 0.99) of an M/M/c queue fed lambda requests/s with mean service time
// service is at most p99. At least one server is returned, even at zero load. A p99 below the service
// time is an error wrapping ErrUnreachable; bad inputs are errors naming the argument.
func MinServers(lambda float64, service time.Duration, p99 time.Duration) (int, error) {
	switch {
	case !(lambda >= 0) || math.IsInf(lambda, 1):
		return 0, fmt.Errorf("lambda: %v requests/s, want a finite rate ≥ 0", lambda)
	case service <= 0:
		return 0, fmt.Errorf("service: %v, want > 0", service)
	case p99 <= 0:
		return 0, fmt.Errorf("p99: %v, want > 0", p99)
	case p99 < service:
		return 0, fmt.Errorf("p99: %v below the service time %v: %w", p99, service, ErrUnreachable)
	}
	a := lambda * service.Seconds()
	if a >= math.MaxInt32 {
		return 0, fmt.Errorf("lambda: offered load %.3g Erlangs, too many servers to plan", a)
	}
	ok := func(c int) bool { return ResponseQuantile(c, a, service, 0.99) <= p99 }

	// The response quantile falls as c grows (Erlang C falls, c − a grows), so search: double the
	// headroom above the load until the target is met, then bisect. Once C ≤ 1 % the wait quantile
	// is zero and the response is the service time, which meets any reachable target.
	return firstAbove(int(math.Floor(a)), ok), nil // floor(a) servers are too few (a ≥ c: unstable), or 0
}

// firstAbove returns the smallest n > lo for which ok holds, where ok is false up to some count and
// true from it on, and lo is known to be too few: it doubles the step above lo until ok holds, then
// bisects.
func firstAbove(lo int, ok func(int) bool) int {
	hi, step := lo+1, 1
	for !ok(hi) {
		lo, step = hi, step*2
		hi = lo + step
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if ok(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// seconds converts seconds to a Duration, saturating at the maximum Duration.
func seconds(s float64) time.Duration {
	ns := s * 1e9
	if ns >= math.MaxInt64 {
		return maxDuration
	}
	return time.Duration(math.Round(ns))
}
