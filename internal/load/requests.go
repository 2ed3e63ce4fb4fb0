package load

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/bench-dev/bench/internal/httpwire"
)

// MaxMix bounds the length of a request mix's cycle: the sum of the weights (after dividing out
// their greatest common divisor). It keeps the order a few MB at most.
const MaxMix = 1 << 20

// Request is one request of a mix (Step.Requests), as a user writes it: sent exactly so, apart
// from Content-Length (the length of Body), Host (from the Header's Host, else the URL) and
// X-Vegeta-Seq, which the generator adds.
type Request struct {
	// Method is the HTTP method; empty means GET.
	Method string
	// Path is the request target: a path from "/" with an optional query. It replaces the path
	// and query of Step.URL, whose scheme and host are kept.
	Path string
	// Header holds the request's headers, sent as written (names are not canonicalised).
	Header http.Header
	// Body is sent with a Content-Length; nil or empty sends none.
	Body []byte
	// Weight is the request's share of the mix relative to the others; 0 counts as 1.
	Weight int
}

func (r Request) weight() int { return max(r.Weight, 1) }

// validateRequests reports the first invalid request of a mix.
func validateRequests(rs []Request) error {
	total := 0
	for i, r := range rs {
		switch {
		case r.Method != "" && !httpwire.IsToken(r.Method):
			return fmt.Errorf("load: step requests[%d]: method %q is not an HTTP token", i, r.Method)
		case len(r.Path) == 0 || r.Path[0] != '/':
			return fmt.Errorf("load: step requests[%d]: path %q must start with /", i, r.Path)
		case r.Weight < 0:
			return fmt.Errorf("load: step requests[%d]: weight must be >= 0, got %d", i, r.Weight)
		case r.Weight > MaxMix:
			return fmt.Errorf("load: step requests[%d]: weight %d is above %d", i, r.Weight, MaxMix)
		}
		if _, err := url.ParseRequestURI(r.Path); err != nil {
			return fmt.Errorf("load: step requests[%d]: path: %w", i, err)
		}
		total += r.weight()
	}
	if len(rs) > MaxMix || total/mixGCD(rs) > MaxMix {
		return fmt.Errorf("load: step requests: the mix repeats after %d requests, at most %d", total/mixGCD(rs), MaxMix)
	}
	return nil
}

// mixGCD returns the greatest common divisor of the weights of rs (1 for none).
func mixGCD(rs []Request) int {
	g := 0
	for _, r := range rs {
		a, b := g, r.weight()
		for b != 0 {
			a, b = b, a%b
		}
		g = a
	}
	return max(g, 1)
}

// mixOrder returns the order in which a mix sends its requests, as indexes into rs: one cycle,
// in which each request appears weight/gcd times, spread evenly over the cycle rather than in
// runs (weights 3 and 1 give 0 1 0 0, not 0 0 0 1), so that any stretch of the step carries
// the proportions, and the same for every step so that steps are comparable. Each occurrence k
// of a request with n occurrences is placed at (k+½)/n of the cycle; ties go to the earlier
// request.
func mixOrder(rs []Request) []int32 {
	g := mixGCD(rs)
	type slot struct {
		at  float64
		req int32
	}
	var slots []slot
	for i, r := range rs {
		n := r.weight() / g
		for k := range n {
			slots = append(slots, slot{at: (float64(k) + 0.5) / float64(n), req: int32(i)})
		}
	}
	slices.SortFunc(slots, func(a, b slot) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.req, b.req)
	})
	order := make([]int32, len(slots))
	for i, s := range slots {
		order[i] = s.req
	}
	return order
}

// hostFirst returns h with a Host header spelt in any case as "Host": vegeta takes the request's
// Host from that key alone, and the Transport never writes a Host header from the map, so a
// "host" would otherwise be dropped. h itself is not changed.
func hostFirst(h http.Header) http.Header {
	for k, vs := range h {
		if k != "Host" && httpwire.EqualFold(k, "Host") {
			h = h.Clone()
			delete(h, k)
			h["Host"] = vs
			return h
		}
	}
	return h
}

// mixTargeter returns a targeter sending rs, at base's scheme and host, in mixOrder, cycling.
// It is safe for concurrent use, as vegeta's workers call it; the targets it hands out share
// their Header and Body, which vegeta copies into each request and never changes.
func mixTargeter(base string, rs []Request) (vegeta.Targeter, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("load: step url: %w", err)
	}
	origin := u.Scheme + "://" + u.Host
	targets := make([]vegeta.Target, len(rs))
	for i, r := range rs {
		method := r.Method
		if method == "" {
			method = http.MethodGet
		}
		targets[i] = vegeta.Target{Method: method, URL: origin + r.Path, Header: hostFirst(r.Header), Body: r.Body}
	}
	order := mixOrder(rs)
	var next atomic.Uint64
	n := uint64(len(order))
	return func(t *vegeta.Target) error {
		if t == nil {
			return vegeta.ErrNilTarget
		}
		*t = targets[order[(next.Add(1)-1)%n]]
		return nil
	}, nil
}
