package balancer

import (
	"io"
	"net/http"
	"testing"
)

// The l4 engine hands whole connections to backends: every request on one keep-alive connection
// reaches the same backend, and new connections go round the backends.
func TestL4_balancesConnections(t *testing.T) {
	t.Parallel()
	b1, b2 := backend(t, 1, ok), backend(t, 2, ok)
	bal := New(addrs(b1, b2), nil, WithEngine(EngineL4))
	url := serve(t, bal)

	get := func(c *http.Client) string {
		resp, err := c.Get(url + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "ok" {
			t.Fatalf("body %q, want ok", body)
		}
		return resp.Header.Get("X-Worker")
	}
	// One keep-alive connection: one backend for all its requests.
	kept := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer kept.CloseIdleConnections()
	first := get(kept)
	for range 5 {
		if got := get(kept); got != first {
			t.Fatalf("request on one connection reached worker %s, then %s", first, got)
		}
	}
	// A new connection each time: both backends see connections.
	seen := map[string]bool{}
	for range 6 {
		fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		seen[get(fresh)] = true
	}
	if !seen["1"] || !seen["2"] {
		t.Errorf("fresh connections reached workers %v, want both", seen)
	}
	if counts := bal.Counts(); counts[0]+counts[1] < 7 {
		t.Errorf("connections counted %v, want ≥ 7", counts)
	}
}

// A refused backend is skipped for the connection and marked down.
func TestL4_skipsRefusedBackend(t *testing.T) {
	t.Parallel()
	live := backend(t, 1, ok)
	dead := backend(t, 2, ok)
	deadAddr := dead.Listener.Addr().String()
	dead.Close()
	bal := New([]string{deadAddr, live.Listener.Addr().String()}, nil, WithEngine(EngineL4))
	url := serve(t, bal)
	for range 4 {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(url + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Worker"); got != "1" {
			t.Errorf("reached worker %q, want 1 (2 is down)", got)
		}
	}
	if bal.Backends()[0].Available() {
		t.Error("refused backend still available")
	}
}
