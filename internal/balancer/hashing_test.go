package balancer

import (
	"fmt"
	"math"
	"testing"
)

func TestCookieValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header, name string
		want         string
		wantOK       bool
	}{
		{"session=abc", "session", "abc", true},                       // happy
		{"a=1; session=abc; b=2", "session", "abc", true},             // happy: among others
		{"a=1;session=abc", "session", "abc", true},                   // happy: no space after ;
		{"  session = abc  ", "session", "abc", true},                 // lenient about spaces
		{`session="abc"`, "session", "abc", true},                     // quotes dropped, as net/http does
		{"session=abc; session=def", "session", "abc", true},          // the first wins, as Request.Cookie
		{"sessionx=1; xsession=2; session=3", "session", "3", true},   // whole names only
		{"a=session; session=3", "session", "3", true},                // the name inside a value does not count
		{"a=b session=3", "session", "", false},                       // sad: not after a ';'
		{"session\t= abc ;x=1", "session", "abc", true},               // tabs and spaces around '='
		{"session=a=b", "session", "a=b", true},                       // '=' in the value
		{"session=", "session", "", true},                             // empty value (the selector falls back)
		{"Session=abc", "session", "", false},                         // sad: names are case-sensitive
		{"a=1; b=2", "session", "", false},                            // sad: absent
		{"session", "session", "", false},                             // sad: no '='
		{"", "session", "", false},                                    // sad: no header
		{"sid=7; session=abc", "sid", "7", true},                      // another name
		{"theme=dark; sid=7 ; lang=en", "sid", "7", true},             // trailing space before ;
		{"x=\"q\"; session=\"\"", "session", "", true},                // quoted empty
		{"session=\"unterminated", "session", "\"unterminated", true}, // half-quoted: kept as is
	} {
		got, ok := cookieValue(tc.header, tc.name)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("cookieValue(%q, %q) = %q, %v; want %q, %v", tc.header, tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestCookieHash_Sticky(t *testing.T) {
	t.Parallel()
	pool := testPool(4)
	var sel CookieHash
	for i := range 50 {
		id := fmt.Sprintf("user-%d", i)
		// The std engine's and the fast engine's view of one cookie agree,
		// whatever else the header carries.
		want := sel.Select(pool, cookieRequest("session="+id))
		if want == nil {
			t.Fatal("nil backend")
		}
		for _, r := range []*Request{
			cookieRequest("session=" + id),
			cookieRequest("theme=dark; session=" + id + "; lang=en"),
			rawRequest(t, "GET /x HTTP/1.1\r\nHost: h\r\nCookie: session="+id+"\r\n\r\n"),
			rawRequest(t, "GET /y HTTP/1.1\r\nHost: h\r\ncookie: a=1; session=\""+id+"\"\r\n\r\n"),
		} {
			for range 5 {
				if got := sel.Select(pool, r); got != want {
					t.Fatalf("%s: got backend %d, want %d every time", id, got.Index, want.Index)
				}
			}
		}
	}
}

// keyPlacement returns the backend index each of n session cookies goes to.
func keyPlacement(t *testing.T, sel Selector, pool []*Backend, n int) []int {
	t.Helper()
	out := make([]int, n)
	for i := range out {
		b := sel.Select(pool, cookieRequest(fmt.Sprintf("session=%016x", i*7919)))
		if b == nil {
			t.Fatal("nil backend")
		}
		out[i] = b.Index
	}
	return out
}

func TestCookieHash_Consistent(t *testing.T) {
	t.Parallel()
	const keys, n = 10000, 4
	pool := testPool(n)
	var sel CookieHash
	before := keyPlacement(t, &sel, pool, keys)

	// Even: each backend holds 1/4 ± 0.03 of the keys.
	count := make([]int, n+1)
	for _, idx := range before {
		count[idx]++
	}
	for i := 1; i <= n; i++ {
		if share := float64(count[i]) / keys; math.Abs(share-0.25) > 0.03 {
			t.Errorf("backend %d holds %.3f of the keys, want 0.25 ± 0.03", i, share)
		}
	}

	for removed := 1; removed <= n; removed++ {
		// Removed either way: marked down, or left out of the pool.
		down := testPool(n)
		down[removed-1].SetHealthy(false)
		var without []*Backend
		for _, b := range testPool(n) {
			if b.Index != removed {
				without = append(without, b)
			}
		}
		for how, p := range map[string][]*Backend{"down": down, "left out": without} {
			after := keyPlacement(t, &sel, p, keys)
			moved := 0
			gained := make([]int, n+1)
			for k := range after {
				if after[k] == before[k] {
					continue
				}
				moved++
				gained[after[k]]++
				if before[k] != removed {
					t.Fatalf("backend %d %s: key %d moved from backend %d, which is still there", removed, how, k, before[k])
				}
			}
			share := float64(moved) / keys
			t.Logf("backend %d of %d %s: %.4f of the keys moved", removed, n, how, share)
			if math.Abs(share-0.25) > 0.03 {
				t.Errorf("backend %d %s: %.4f of the keys moved, want 0.25 ± 0.03", removed, how, share)
			}
			// Its keys spread over all the others instead of piling on one.
			for i := 1; i <= n; i++ {
				if i != removed && gained[i] < moved/6 {
					t.Errorf("backend %d %s: backend %d took %d of its %d keys, want about a third", removed, how, i, gained[i], moved)
				}
			}
		}
	}

	// When it comes back, every key goes home.
	pool[1].SetHealthy(false)
	pool[1].SetHealthy(true)
	for k, idx := range keyPlacement(t, &sel, pool, keys) {
		if idx != before[k] {
			t.Fatalf("key %d on backend %d after backend 2 came back, want %d", k, idx, before[k])
		}
	}

	// For comparison, hashing modulo N: a key stays only where h%4 == h%3,
	// for h%12 in {0, 1, 2}, so about 3/4 of the keys move instead of 1/4.
	modMoved := 0
	for i := range keys {
		h := mix64(hashString(fmt.Sprintf("%016x", i*7919)))
		if h%4 != h%3 {
			modMoved++
		}
	}
	modShare := float64(modMoved) / keys
	t.Logf("modulo hashing, 4 backends to 3: %.4f of the keys moved", modShare)
	if math.Abs(modShare-0.75) > 0.03 {
		t.Errorf("modulo hashing moved %.4f of the keys, want about 0.75", modShare)
	}
}

func TestCookieHash_BoundedLoad(t *testing.T) {
	t.Parallel()
	r := cookieRequest("session=hot")

	// The key's order: its own backend, then the one it goes to when that
	// one is down.
	pool := testPool(4)
	first := rendezvous(pool, hashString("hot"))
	first.SetHealthy(false)
	second := rendezvous(pool, hashString("hot"))
	first.SetHealthy(true)

	// Its own backend over the bound sends it to the second choice:
	// ceil(1.25 × (10 + 1) / 4) = 4, and 10 + 1 > 4.
	first.inFlight.Store(10)
	if got := (&CookieHash{BoundedLoad: 1.25}).Select(pool, r); got != second {
		t.Errorf("first choice at 10 in flight: got backend %d, want the second choice %d", got.Index, second.Index)
	}
	// Unbounded, it stays.
	if got := (&CookieHash{}).Select(pool, r); got != first {
		t.Errorf("unbounded: got backend %d, want %d", got.Index, first.Index)
	}
	// At the bound exactly: others at 2, itself at 3, total 9, bound
	// ceil(1.25 × 10 / 4) = 4 and 3 + 1 ≤ 4: it stays. One more in
	// flight: bound ceil(1.25 × 11 / 4) = 4, 4 + 1 > 4: it moves.
	setLoad(pool, 2, 2, 2, 2)
	first.inFlight.Store(3)
	if got := (&CookieHash{BoundedLoad: 1.25}).Select(pool, r); got != first {
		t.Errorf("first choice at the bound: got backend %d, want %d", got.Index, first.Index)
	}
	first.inFlight.Store(4)
	if got := (&CookieHash{BoundedLoad: 1.25}).Select(pool, r); got != second {
		t.Errorf("first choice one over the bound: got backend %d, want %d", got.Index, second.Index)
	}

	// A hot key: 200 requests with one cookie that do not finish. Bounded,
	// no backend ever holds more than ceil(c × total / 4); unbounded, one
	// backend holds them all.
	for _, c := range []float64{1, 1.25, 2} {
		pool := testPool(4)
		sel := &CookieHash{BoundedLoad: c}
		for total := 1; total <= 200; total++ {
			sel.Select(pool, r).begin()
			limit := int64(math.Ceil(c * float64(total) / 4))
			for _, b := range pool {
				if b.InFlight() > limit {
					t.Fatalf("c=%v, %d in flight: backend %d holds %d, over the bound %d", c, total, b.Index, b.InFlight(), limit)
				}
			}
		}
		if n := pool[first.Index-1].InFlight(); n != int64(math.Ceil(c*200/4)) {
			t.Errorf("c=%v: the key's own backend holds %d of 200, want it full at %v", c, n, math.Ceil(c*200/4))
		}
	}
	pool = testPool(4)
	for range 200 {
		(&CookieHash{}).Select(pool, r).begin()
	}
	if n := pool[first.Index-1].InFlight(); n != 200 {
		t.Errorf("unbounded: the key's backend holds %d of 200, want all", n)
	}

	// Unavailable backends neither take the key nor count in the average.
	pool = testPool(4)
	for _, b := range pool {
		if b != pool[first.Index-1] && b != pool[second.Index-1] {
			b.SetHealthy(false)
			b.inFlight.Store(100)
		}
	}
	sel := &CookieHash{BoundedLoad: 1.25}
	for range 100 {
		b := sel.Select(pool, r)
		if b.Index != first.Index && b.Index != second.Index {
			t.Fatalf("got backend %d, which is down", b.Index)
		}
		b.begin()
	}
	if a, b := pool[first.Index-1].InFlight(), pool[second.Index-1].InFlight(); a > 63 || b > 63 {
		t.Errorf("two up, 100 in flight: %d and %d, want each ≤ ceil(1.25 × 100 / 2) = 63", a, b)
	}
	for _, b := range pool {
		b.SetHealthy(false)
	}
	if b := sel.Select(pool, r); b != nil {
		t.Errorf("all down: got backend %d, want nil", b.Index)
	}
}

func TestCookieHash_Fallback(t *testing.T) {
	t.Parallel()
	pool := testPool(3)
	sel := &CookieHash{Cookie: "sid"}
	// Without the cookie, with another one, or with an empty value: round
	// robin, in turn.
	reqs := []*Request{
		nil,
		{Method: "GET", Target: "/"},
		cookieRequest("session=abc"),
		cookieRequest("sid="),
		rawRequest(t, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
		cookieRequest("theme=dark"),
		cookieRequest("sid=\"\""),
	}
	for i, r := range reqs {
		if got, want := sel.Select(pool, r), pool[i%3]; got != want {
			t.Errorf("request %d without the cookie: got backend %d, want %d (round robin)", i, got.Index, want.Index)
		}
	}
	// The named cookie sticks, the default one no longer counts.
	want := sel.Select(pool, cookieRequest("sid=42"))
	for range 10 {
		if got := sel.Select(pool, cookieRequest("session=x; sid=42")); got != want {
			t.Fatalf("sid=42: got backend %d, want %d every time", got.Index, want.Index)
		}
	}
	for _, b := range pool {
		b.SetHealthy(false)
	}
	if b := sel.Select(pool, nil); b != nil {
		t.Errorf("all down, no cookie: got backend %d, want nil", b.Index)
	}
	if b := sel.Select(pool, cookieRequest("sid=42")); b != nil {
		t.Errorf("all down: got backend %d, want nil", b.Index)
	}
}
