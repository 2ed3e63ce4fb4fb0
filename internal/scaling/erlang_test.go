package scaling

import (
	"errors"
	"math"
	"testing"
	"time"
)

// erlangCTextbook is the closed form C = (aᶜ/c!)(c/(c−a)) / (Σ_{k<c} aᵏ/k! + (aᶜ/c!)(c/(c−a))),
// computed in logs so it survives moderate c: an independent check of the recursion.
func erlangCTextbook(c int, a float64) float64 {
	term := func(k int) float64 {
		lg, _ := math.Lgamma(float64(k + 1))
		return math.Exp(float64(k)*math.Log(a) - lg)
	}
	top := term(c) * float64(c) / (float64(c) - a)
	var sum float64
	for k := 0; k < c; k++ {
		sum += term(k)
	}
	return top / (sum + top)
}

func TestErlangC(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		c    int
		a    float64
		want float64
	}{
		// Hand-derived closed forms for c = 1..3 (an off-by-one in the recursion breaks all of them):
		// C(1, ρ) = ρ; C(2, a) = a²/(2+a); C(3, a) = a³ / (2(3−a)(1 + a + a²/2) + a³).
		{"M/M/1 rho=0.1", 1, 0.1, 0.1},
		{"M/M/1 rho=0.5", 1, 0.5, 0.5},
		{"M/M/1 rho=0.9", 1, 0.9, 0.9},
		{"c=2 a=1", 2, 1, 1.0 / 3},
		{"c=2 a=0.5", 2, 0.5, 0.25 / 2.5},
		{"c=2 a=1.5", 2, 1.5, 2.25 / 3.5},
		{"c=3 a=2", 3, 2, 4.0 / 9},
		{"c=3 a=1", 3, 1, 1.0 / 11},
		{"c=3 a=2.5", 3, 2.5, 15.625 / (2*0.5*(1+2.5+3.125) + 15.625)},
		// Edges.
		{"no load", 4, 0, 0},
		{"saturated", 2, 2, 1},
		{"overloaded", 2, 3, 1},
		{"no servers", 0, 0.5, 1},
	} {
		if got := ErlangC(tc.c, tc.a); !approx(got, tc.want, 1e-12) {
			t.Errorf("%s: ErlangC(%d, %v) = %v, want %v", tc.name, tc.c, tc.a, got, tc.want)
		}
	}
}

func TestErlangC_matchesTextbook(t *testing.T) {
	t.Parallel()
	for _, c := range []int{1, 2, 5, 10, 50, 150} {
		for _, rho := range []float64{0.1, 0.5, 0.8, 0.95, 0.999} {
			a := rho * float64(c)
			if got, want := ErlangC(c, a), erlangCTextbook(c, a); !relApprox(got, want, 1e-9) {
				t.Errorf("ErlangC(%d, %v) = %v, textbook %v", c, a, got, want)
			}
		}
	}
}

// TestErlangC_large: the factorial form overflows past c ≈ 170; the recursion must not.
func TestErlangC_large(t *testing.T) {
	t.Parallel()
	prev := 1.0
	for _, c := range []int{1000, 1050, 1100, 2000} {
		got := ErlangC(c, 1000)
		if !(got >= 0 && got <= 1) || got >= prev && c > 1000 {
			t.Errorf("ErlangC(%d, 1000) = %v, want in [0, 1] and falling with c", c, got)
		}
		prev = got
	}
}

func TestWaitQuantile(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	for _, tc := range []struct {
		name    string
		c       int
		a       float64
		service time.Duration
		q       float64
		want    time.Duration
	}{
		// M/M/1, ρ = 0.5, 10 ms: P(W > t) = 0.5·e^(−50t) = 0.01 ⇒ t = ln(50)/50 s = 78.24 ms.
		{"M/M/1", 1, 0.5, 10 * ms, 0.99, seconds(math.Log(50) / 50)},
		// C(2, 1) = 1/3, c − a = 1: t = 10 ms · ln((1/3)/0.1) = 12.04 ms.
		{"c=2 p90", 2, 1, 10 * ms, 0.9, seconds(0.01 * math.Log(10.0/3))},
		// 2/3 of requests never wait, so the median wait is zero.
		{"median below the no-wait mass", 2, 1, 10 * ms, 0.5, 0},
		{"no load", 4, 0, 10 * ms, 0.99, 0},
		{"unstable", 2, 2, 10 * ms, 0.99, maxDuration},
		{"q of one", 2, 1, 10 * ms, 1, maxDuration},
	} {
		got := WaitQuantile(tc.c, tc.a, tc.service, tc.q)
		if d := got - tc.want; d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("%s: WaitQuantile(%d, %v, %v, %v) = %v, want %v", tc.name, tc.c, tc.a, tc.service, tc.q, got, tc.want)
		}
	}
}

// TestWaitQuantile_isQuantile checks the defining property P(W > t_q) = 1 − q against the tail
// formula, for quantiles beyond the no-wait mass.
func TestWaitQuantile_isQuantile(t *testing.T) {
	t.Parallel()
	service := 5 * time.Millisecond
	for _, c := range []int{1, 3, 8} {
		a := 0.9 * float64(c)
		pw := ErlangC(c, a)
		for _, q := range []float64{0.9, 0.99, 0.999} {
			tq := WaitQuantile(c, a, service, q).Seconds()
			mu := 1 / service.Seconds()
			tail := pw * math.Exp(-(float64(c)*mu-a*mu)*tq)
			if !relApprox(tail, 1-q, 1e-4) {
				t.Errorf("c=%d q=%v: P(W > %v s) = %v, want %v", c, q, tq, tail, 1-q)
			}
		}
	}
}

func TestResponseQuantile(t *testing.T) {
	t.Parallel()
	s := 10 * time.Millisecond
	if got, want := ResponseQuantile(2, 1, s, 0.99), s+WaitQuantile(2, 1, s, 0.99); got != want {
		t.Errorf("ResponseQuantile = %v, want service + wait = %v", got, want)
	}
	if got, want := ResponseQuantile(4, 0.1, s, 0.99), s; got != want {
		t.Errorf("light load: ResponseQuantile = %v, want the service time %v", got, want)
	}
	if got := ResponseQuantile(1, 1, s, 0.99); got != maxDuration {
		t.Errorf("unstable: ResponseQuantile = %v, want the maximum Duration", got)
	}
}

func TestMinServers(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	// λ = 100/s, 10 ms: a = 1 Erlang. Hand-computed p99 responses: c=2: 10 + 10·ln(33.3) = 45.1 ms;
	// c=3 (C = 1/11): 10 + 10·ln(9.09)/2 = 21.0 ms; c=4 (C = 0.0204): 12.4 ms; c=5 (C = 0.0038 <
	// 1 %): 10 ms.
	for _, tc := range []struct {
		p99  time.Duration
		want int
	}{
		{50 * ms, 2}, {46 * ms, 2}, {45 * ms, 3}, {25 * ms, 3}, {21 * ms, 4}, {15 * ms, 4}, {12 * ms, 5}, {10 * ms, 5},
	} {
		got, err := MinServers(100, 10*ms, tc.p99)
		if err != nil || got != tc.want {
			t.Errorf("MinServers(100, 10ms, %v) = %d, %v; want %d", tc.p99, got, err, tc.want)
		}
	}
	if got, err := MinServers(0, 10*ms, 10*ms); err != nil || got != 1 {
		t.Errorf("no load: MinServers = %d, %v; want 1", got, err)
	}
}

// TestMinServers_isMinimal compares the search with a linear scan: the answer meets the target and
// one server fewer does not.
func TestMinServers_isMinimal(t *testing.T) {
	t.Parallel()
	for _, lambda := range []float64{1, 50, 480, 999, 2000, 25000} {
		for _, p99 := range []time.Duration{2 * time.Millisecond, 2100 * time.Microsecond, 3 * time.Millisecond, 10 * time.Millisecond} {
			service := 2 * time.Millisecond
			got, err := MinServers(lambda, service, p99)
			if err != nil {
				t.Fatal(err)
			}
			a := lambda * service.Seconds()
			want := 1
			for ResponseQuantile(want, a, service, 0.99) > p99 {
				want++
			}
			if got != want {
				t.Errorf("MinServers(%v, %v, %v) = %d, linear scan says %d", lambda, service, p99, got, want)
			}
		}
	}
}

func TestMinServers_errors(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	if _, err := MinServers(100, 10*ms, 9*ms); !errors.Is(err, ErrUnreachable) {
		t.Errorf("p99 below service: err = %v, want ErrUnreachable", err)
	}
	for _, tc := range []struct {
		lambda       float64
		service, p99 time.Duration
	}{
		{-1, ms, ms}, {math.NaN(), ms, ms}, {math.Inf(1), ms, ms}, {1, 0, ms}, {1, ms, 0},
	} {
		if _, err := MinServers(tc.lambda, tc.service, tc.p99); err == nil {
			t.Errorf("MinServers(%v, %v, %v): no error", tc.lambda, tc.service, tc.p99)
		}
	}
}

func TestFirstAbove(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ lo, want int }{{0, 1}, {0, 7}, {3, 4}, {3, 1000}, {10, 11}} {
		calls := 0
		got := firstAbove(tc.lo, func(n int) bool { calls++; return n >= tc.want })
		if got != tc.want {
			t.Errorf("firstAbove(%d, n ≥ %d) = %d", tc.lo, tc.want, got)
		}
		if calls > 40 {
			t.Errorf("firstAbove(%d, n ≥ %d) asked %d times, want a logarithmic search", tc.lo, tc.want, calls)
		}
	}
}
