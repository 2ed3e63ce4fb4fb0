package balancer

import (
	"net/http"
	"strings"
	"sync"
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

func TestNewSelector(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		strategy string
		wantErr  string
	}{
		{strategy: "round-robin"}, // happy
		{strategy: ""},            // happy: the default
		{strategy: "fastest", wantErr: `unknown "fastest" (known: round-robin)`}, // sad
		{strategy: "Round-Robin", wantErr: `unknown "Round-Robin"`},              // sad: names are exact
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
		if _, ok := sel.(*RoundRobin); !ok {
			t.Errorf("NewSelector(%q): got %T, want *RoundRobin", tc.strategy, sel)
		}
	}
	// Each call gets its own state.
	a, _ := NewSelector("round-robin")
	b, _ := NewSelector("round-robin")
	if a == b {
		t.Error("NewSelector returned the same selector twice")
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

func BenchmarkSelect(b *testing.B) {
	pool := testPool(4)
	sel, err := NewSelector("round-robin")
	if err != nil {
		b.Fatal(err)
	}
	req := &Request{Method: "GET", Target: "/"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if sel.Select(pool, req) == nil {
			b.Fatal("nil backend")
		}
	}
}
