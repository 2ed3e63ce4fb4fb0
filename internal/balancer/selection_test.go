package balancer

import (
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// testPool returns n in-memory backends, no network involved.
func testPool(n int) []*Backend {
	pool := make([]*Backend, n)
	for i := range pool {
		pool[i] = &Backend{Index: i + 1, Addr: "backend-" + string(rune('a'+i))}
	}
	return pool
}

func TestRoundRobin_Select(t *testing.T) {
	t.Parallel()
	pool := testPool(3)
	var rr RoundRobin

	// happy: in turn, wrapping around
	for i, want := range []int{1, 2, 3, 1, 2, 3, 1} {
		if got := rr.Select(pool, nil); got == nil || got.Index != want {
			t.Fatalf("select %d: got %v, want backend %d", i, got, want)
		}
	}

	// an unavailable backend is skipped, the others keep their turn
	pool[1].SetHealthy(false)
	for i, want := range []int{3, 1, 3, 1, 3} {
		if got := rr.Select(pool, nil); got == nil || got.Index != want {
			t.Fatalf("select %d with backend 2 down: got %v, want backend %d", i, got, want)
		}
	}

	// sad: nothing available, or nothing at all
	pool[0].SetHealthy(false)
	pool[2].SetHealthy(false)
	if got := rr.Select(pool, nil); got != nil {
		t.Fatalf("all down: got backend %d, want nil", got.Index)
	}
	if got := rr.Select(nil, nil); got != nil {
		t.Fatalf("empty pool: got backend %d, want nil", got.Index)
	}

	// back up again
	pool[2].SetHealthy(true)
	if got := rr.Select(pool, nil); got == nil || got.Index != 3 {
		t.Fatalf("backend 3 back: got %v, want backend 3", got)
	}
}

func TestRoundRobin_Concurrent(t *testing.T) {
	t.Parallel()
	pool := testPool(4)
	var rr RoundRobin
	const goroutines, each = 8, 1000
	counts := make([][4]int, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				counts[g][rr.Select(pool, nil).Index-1]++
			}
		}()
	}
	wg.Wait()
	// One atomic add per selection: every slot is taken exactly once, so
	// the spread is exact however the goroutines interleave.
	var total [4]int
	for _, c := range counts {
		for i, n := range c {
			total[i] += n
		}
	}
	for i, n := range total {
		if want := goroutines * each / 4; n != want {
			t.Errorf("backend %d: got %d selections, want %d", i+1, n, want)
		}
	}
}

func TestRequest(t *testing.T) {
	t.Parallel()
	// The std engine's view.
	hr, err := http.NewRequest("GET", "http://example.test/cart?id=7", nil)
	if err != nil {
		t.Fatal(err)
	}
	hr.RequestURI = "/cart?id=7"
	hr.Header.Set("Cookie", "session=abc")
	std := *NewRequest(hr)

	// The fast engine's view of the same request.
	head := "GET /cart?id=7 HTTP/1.1\r\nHost: example.test\r\ncookie:  session=abc \r\n\r\n"
	var h reqHead
	if res := parseRequest([]byte(head), &h); res != parseOK {
		t.Fatalf("parseRequest: %v", res)
	}
	raw := rawHead{lines: h.headers}
	fast := Request{Method: methodString(h.method), Target: bytesString(h.target), header: &raw}

	for name, r := range map[string]*Request{"std": &std, "fast": &fast} {
		if got, want := r.Method, "GET"; got != want {
			t.Errorf("%s: Method = %q, want %q", name, got, want)
		}
		if got, want := r.Path(), "/cart"; got != want {
			t.Errorf("%s: Path() = %q, want %q", name, got, want)
		}
		if got, want := r.Header("COOKIE"), "session=abc"; got != want {
			t.Errorf("%s: Header(COOKIE) = %q, want %q", name, got, want)
		}
		if got := r.Header("X-Missing"); got != "" {
			t.Errorf("%s: Header(X-Missing) = %q, want empty", name, got)
		}
	}
	var none *Request
	if got := none.Header("Host"); got != "" {
		t.Errorf("nil Request: Header = %q, want empty", got)
	}
}

// setLoad sets the in-flight count of each backend of pool, in order.
func setLoad(pool []*Backend, loads ...int64) {
	for i, n := range loads {
		pool[i].inFlight.Store(n)
	}
}

// tally runs n selections and returns how often each backend index was
// chosen; index 0 counts nil.
func tally(t *testing.T, sel Selector, pool []*Backend, r *Request, n int) map[int]int {
	t.Helper()
	got := make(map[int]int)
	for range n {
		if b := sel.Select(pool, r); b == nil {
			got[0]++
		} else {
			got[b.Index]++
		}
	}
	return got
}

// within reports whether got is want ± tol.
func within(got, want, tol int) bool { return got >= want-tol && got <= want+tol }

func TestNewSelector(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		strategy Strategy
		want     Selector // type only
		wantErr  string
	}{
		{strategy: "round-robin", want: (*RoundRobin)(nil)},             // happy
		{strategy: "", want: (*RoundRobin)(nil)},                        // happy: the default
		{strategy: "least-connections", want: (*LeastConnections)(nil)}, // happy
		{strategy: "random", want: (*Random)(nil)},                      // happy
		{strategy: "p2c", want: (*P2C)(nil)},                            // happy
		{strategy: "cookie-hash", want: (*CookieHash)(nil)},             // happy
		// sad: unknown, listing the known ones
		{strategy: "fastest", wantErr: `strategy: unknown "fastest" (known: cookie-hash, least-connections, p2c, random, round-robin)`},
		// sad: names are exact
		{strategy: "Round-Robin", wantErr: `unknown "Round-Robin"`},
	} {
		sel, err := NewSelector(tc.strategy)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewSelector(%q): got error %v, want one containing %q", tc.strategy, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewSelector(%q): %v", tc.strategy, err)
			continue
		}
		if got, want := fmt.Sprintf("%T", sel), fmt.Sprintf("%T", tc.want); got != want {
			t.Errorf("NewSelector(%q): got %s, want %s", tc.strategy, got, want)
		}
	}
	// Each call gets its own state.
	a, _ := NewSelector("round-robin")
	b, _ := NewSelector("round-robin")
	if a == b {
		t.Error("NewSelector returned the same selector twice")
	}
}

func TestNewSelectorConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg     SelectorConfig
		wantErr string
	}{
		{cfg: SelectorConfig{}}, // happy: round-robin
		{cfg: SelectorConfig{Strategy: "cookie-hash", Cookie: "sid", BoundedLoad: 1.25}}, // happy
		{cfg: SelectorConfig{Strategy: "cookie-hash", BoundedLoad: 1}},                   // happy: the tightest bound
		{cfg: SelectorConfig{Strategy: "cookie-hash", BoundedLoad: 0.5}, wantErr: "balancer: bounded_load: must be 0 (unbounded) or at least 1, got 0.5"},
		{cfg: SelectorConfig{Strategy: "cookie-hash", BoundedLoad: -1}, wantErr: "bounded_load: must be 0"},
		{cfg: SelectorConfig{Strategy: "cookie-hash", BoundedLoad: math.NaN()}, wantErr: "bounded_load: must be 0"},
		{cfg: SelectorConfig{Strategy: "cookie-hash", BoundedLoad: math.Inf(1)}, wantErr: "bounded_load: must be 0"},
		{cfg: SelectorConfig{Strategy: "cookie-hash", Cookie: "a;b"}, wantErr: `balancer: cookie: "a;b" is not a valid cookie name`},
		{cfg: SelectorConfig{Strategy: "round-robin", Cookie: "sid"}, wantErr: "balancer: cookie: strategy round-robin takes none (only cookie-hash does)"},
		{cfg: SelectorConfig{Strategy: "p2c", BoundedLoad: 1.25}, wantErr: "balancer: bounded_load: strategy p2c takes none"},
		{cfg: SelectorConfig{Strategy: "ring-hash"}, wantErr: `balancer: strategy: unknown "ring-hash"`},
	} {
		sel, err := NewSelectorConfig(tc.cfg)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewSelectorConfig(%+v): got error %v, want one containing %q", tc.cfg, err, tc.wantErr)
			}
			continue
		}
		if err != nil || sel == nil {
			t.Errorf("NewSelectorConfig(%+v): %v, %v", tc.cfg, sel, err)
		}
	}
	sel, err := NewSelectorConfig(SelectorConfig{Strategy: "cookie-hash", Cookie: "sid", BoundedLoad: 1.25})
	if err != nil {
		t.Fatal(err)
	}
	if ch := sel.(*CookieHash); ch.Cookie != "sid" || ch.BoundedLoad != 1.25 {
		t.Errorf("cookie-hash options not kept: %+v", ch)
	}
}

func TestStrategies(t *testing.T) {
	t.Parallel()
	got := SelectorStrategies()
	want := []Strategy{"cookie-hash", "least-connections", "p2c", "random", "round-robin"}
	if !slices.Equal(got, want) {
		t.Errorf("SelectorStrategies() = %q, want %q", got, want)
	}
	for _, name := range got {
		if _, err := NewSelector(name); err != nil {
			t.Errorf("NewSelector(%q): %v", name, err)
		}
	}
}

func TestRandom_Select(t *testing.T) {
	t.Parallel()
	pool := testPool(4)
	var sel Random

	// happy: uniform. 40 000 draws, 10 000 ± 600 each is ± 7 standard
	// deviations.
	got := tally(t, &sel, pool, nil, 40000)
	for i := 1; i <= 4; i++ {
		if !within(got[i], 10000, 600) {
			t.Errorf("backend %d: %d of 40000, want 10000 ± 600 (%v)", i, got[i], got)
		}
	}

	// unavailable backends are never chosen, the others share evenly
	pool[1].SetHealthy(false)
	pool[3].SetHealthy(false)
	got = tally(t, &sel, pool, nil, 20000)
	if got[2] != 0 || got[4] != 0 || got[0] != 0 {
		t.Errorf("backends 2 and 4 down: got %v, want only 1 and 3", got)
	}
	if !within(got[1], 10000, 500) {
		t.Errorf("backends 2 and 4 down: got %v, want 10000 ± 500 each for 1 and 3", got)
	}

	// sad: none available, or none at all
	pool[0].SetHealthy(false)
	pool[2].SetHealthy(false)
	if b := sel.Select(pool, nil); b != nil {
		t.Errorf("all down: got backend %d, want nil", b.Index)
	}
	if b := sel.Select(nil, nil); b != nil {
		t.Errorf("empty pool: got backend %d, want nil", b.Index)
	}
}

func TestLeastConnections_Select(t *testing.T) {
	t.Parallel()
	pool := testPool(4)
	var sel LeastConnections

	// happy: the least loaded, every time
	setLoad(pool, 3, 0, 2, 5)
	if got := tally(t, &sel, pool, nil, 100); got[2] != 100 {
		t.Errorf("loads 3,0,2,5: got %v, want backend 2 every time", got)
	}

	// ties are broken at random: over many picks each tied backend gets
	// about its share, none gets all (a first-in-pool tie-break would).
	setLoad(pool, 2, 0, 0, 1)
	got := tally(t, &sel, pool, nil, 2000)
	if got[1] != 0 || got[4] != 0 || !within(got[2], 1000, 150) || !within(got[3], 1000, 150) {
		t.Errorf("loads 2,0,0,1: got %v, want backends 2 and 3 with 1000 ± 150 each", got)
	}
	// A simulation whose work finishes before the next request:
	// everything idle, so everything tied.
	setLoad(pool, 0, 0, 0, 0)
	got = tally(t, &sel, pool, nil, 4000)
	for i := 1; i <= 4; i++ {
		if !within(got[i], 1000, 200) {
			t.Errorf("all idle: backend %d got %d of 4000, want 1000 ± 200 (%v)", i, got[i], got)
		}
	}

	// an unavailable backend is skipped however idle it is
	setLoad(pool, 3, 0, 2, 5)
	pool[1].SetHealthy(false)
	if got := tally(t, &sel, pool, nil, 100); got[3] != 100 {
		t.Errorf("loads 3,0,2,5 with backend 2 down: got %v, want backend 3 every time", got)
	}

	// sad: none available, or none at all
	for _, b := range pool {
		b.SetHealthy(false)
	}
	if b := sel.Select(pool, nil); b != nil {
		t.Errorf("all down: got backend %d, want nil", b.Index)
	}
	if b := sel.Select(nil, nil); b != nil {
		t.Errorf("empty pool: got backend %d, want nil", b.Index)
	}
}

// P2C guarantees: the two backends are distinct and available; the less
// loaded of them wins; so with two or more available, a backend strictly
// more loaded than all others is never chosen, and every other backend
// is, with a probability set by its rank (with 3 backends ranked by load:
// 2/3, 1/3, 0).
func TestP2C_Select(t *testing.T) {
	t.Parallel()
	pool := testPool(3)
	var sel P2C

	// the most loaded of 3 is never chosen when the other two are idle,
	// and the two idle ones share (every pair holds at least one of them)
	setLoad(pool, 0, 0, 5)
	got := tally(t, &sel, pool, nil, 3000)
	if got[3] != 0 || !within(got[1], 1500, 200) || !within(got[2], 1500, 200) {
		t.Errorf("loads 0,0,5: got %v, want never 3, 1500 ± 200 each for 1 and 2", got)
	}

	// loads 1,2,3: pairs {1,2} {1,3} {2,3} equally likely, so backend 1
	// wins 2/3, backend 2 1/3, backend 3 never
	setLoad(pool, 1, 2, 3)
	got = tally(t, &sel, pool, nil, 3000)
	if got[3] != 0 || !within(got[1], 2000, 150) || !within(got[2], 1000, 150) {
		t.Errorf("loads 1,2,3: got %v, want 2000 ± 150, 1000 ± 150, 0", got)
	}

	// equal loads: uniform, as random
	setLoad(pool, 0, 0, 0)
	got = tally(t, &sel, pool, nil, 3000)
	for i := 1; i <= 3; i++ {
		if !within(got[i], 1000, 150) {
			t.Errorf("all idle: backend %d got %d of 3000, want 1000 ± 150 (%v)", i, got[i], got)
		}
	}

	// unavailable backends are never drawn: with backend 1 down only the
	// pair {2,3} is left, and 2 is the less loaded
	setLoad(pool, 0, 0, 5)
	pool[0].SetHealthy(false)
	if got := tally(t, &sel, pool, nil, 100); got[2] != 100 {
		t.Errorf("loads 0,0,5 with backend 1 down: got %v, want backend 2 every time", got)
	}
	// one available: that one, however loaded
	pool[1].SetHealthy(false)
	if got := tally(t, &sel, pool, nil, 100); got[3] != 100 {
		t.Errorf("only backend 3 up: got %v, want backend 3 every time", got)
	}

	// sad: none available, or none at all
	pool[2].SetHealthy(false)
	if b := sel.Select(pool, nil); b != nil {
		t.Errorf("all down: got backend %d, want nil", b.Index)
	}
	if b := sel.Select(nil, nil); b != nil {
		t.Errorf("empty pool: got backend %d, want nil", b.Index)
	}
	if b := sel.Select(testPool(1), nil); b == nil || b.Index != 1 {
		t.Errorf("pool of one: got %v, want backend 1", b)
	}
}

// The registry lists every strategy once, in help order; each has a Selector except
// reuseport, which NewSelector refuses.
func TestStrategyRegistry(t *testing.T) {
	t.Parallel()
	want := []Strategy{"round-robin", "least-connections", "random", "p2c", "cookie-hash", "reuseport"}
	if !slices.Equal(Strategies, want) {
		t.Errorf("Strategies = %q, want %q", Strategies, want)
	}
	for _, s := range Strategies {
		if !s.Valid() {
			t.Errorf("%s.Valid() = false", s)
		}
		_, err := NewSelector(s)
		if hasSel := s != StrategyReusePort; (err == nil) != hasSel {
			t.Errorf("NewSelector(%s): error %v, want a selector: %v", s, err, hasSel)
		}
	}
	for _, s := range []Strategy{"", "Round-Robin", "ring-hash"} {
		if s.Valid() {
			t.Errorf("Strategy(%q).Valid() = true", s)
		}
	}
}

// Every engine a scenario may name is listed once; only those that see requests queue them.
func TestEngineRegistry(t *testing.T) {
	t.Parallel()
	if want := []Engine{"fast", "std", "l4", "haproxy"}; !slices.Equal(Engines, want) {
		t.Errorf("Engines = %q, want %q", Engines, want)
	}
	for _, e := range Engines {
		if !e.Valid() {
			t.Errorf("%s.Valid() = false", e)
		}
		if got, want := e.Queues(), e == EngineFast || e == EngineStd; got != want {
			t.Errorf("%s.Queues() = %v, want %v", e, got, want)
		}
	}
	if Engine("Fast").Valid() || Engine("").Valid() {
		t.Error("Valid accepted a name not in Engines")
	}
}

// TestSelectors_Concurrent runs every strategy from several goroutines that
// also move the in-flight counts and the health of one backend, for the
// race detector, and checks that no unavailable backend is ever chosen
// while at least one other stays up.
func TestSelectors_Concurrent(t *testing.T) {
	t.Parallel()
	for _, name := range SelectorStrategies() {
		t.Run(string(name), func(t *testing.T) {
			t.Parallel()
			sel, err := NewSelector(name)
			if err != nil {
				t.Fatal(err)
			}
			pool := testPool(4)
			pool[3].SetHealthy(false) // stays down
			var wg sync.WaitGroup
			var bad, none atomic.Int64
			for g := range 4 {
				wg.Go(func() {
					r := cookieRequest(fmt.Sprintf("session=user-%d", g%2))
					for i := range 2000 {
						if g == 0 {
							pool[0].SetHealthy(i%2 == 0) // flaps
						}
						b := sel.Select(pool, r)
						switch {
						case b == nil:
							none.Add(1)
						case b == pool[3]:
							bad.Add(1)
						default:
							b.begin()
							b.end()
						}
					}
				})
			}
			wg.Wait()
			if bad.Load() != 0 || none.Load() != 0 {
				t.Errorf("%d selections of the down backend, %d nil, want 0 and 0", bad.Load(), none.Load())
			}
			for _, b := range pool {
				if n := b.InFlight(); n != 0 {
					t.Errorf("backend %d: %d in flight after all ended", b.Index, n)
				}
			}
		})
	}
}

// cookieRequest is a request carrying a Cookie header, as the std engine
// describes it.
func cookieRequest(cookie string) *Request {
	return &Request{Method: "GET", Target: "/", header: stdHeader(http.Header{"Cookie": {cookie}})}
}

// rawRequest is a request as the fast engine describes it, parsed from a
// raw head.
func rawRequest(tb testing.TB, head string) *Request {
	tb.Helper()
	var h reqHead
	if res := parseRequest([]byte(head), &h); res != parseOK {
		tb.Fatalf("parseRequest(%q): %v", head, res)
	}
	return &Request{Method: methodString(h.method), Target: bytesString(h.target), header: &rawHead{lines: h.headers}}
}

// BenchmarkSelect measures one Select of each strategy over 4 idle
// backends, with a request as the fast engine describes it (a cookie-hash
// request carries a realistic Cookie header).
func BenchmarkSelect(b *testing.B) {
	const head = "GET /cart HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n" +
		"Cookie: theme=dark; session=0f3c9a7e-5b2d-4c1e-9a8f-1d2e3f4a5b6c; lang=en\r\n\r\n"
	configs := make(map[string]SelectorConfig)
	for _, name := range SelectorStrategies() {
		configs[string(name)] = SelectorConfig{Strategy: name}
	}
	configs["cookie-hash-bounded"] = SelectorConfig{Strategy: StrategyCookieHash, BoundedLoad: 1.25}
	names := slices.Sorted(maps.Keys(configs))
	for _, name := range names {
		b.Run(name, func(b *testing.B) {
			pool := testPool(4)
			sel, err := NewSelectorConfig(configs[name])
			if err != nil {
				b.Fatal(err)
			}
			req := rawRequest(b, head)
			b.ReportAllocs()
			for b.Loop() {
				if sel.Select(pool, req) == nil {
					b.Fatal("nil backend")
				}
			}
		})
	}
}
