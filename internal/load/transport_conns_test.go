package load

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Twenty requests at once through a Transport bounded to two connections: all are served, over
// two connections, the rest waiting their turn.
func TestTransport_MaxConnsPerHost(t *testing.T) {
	t.Parallel()
	var busy, peak atomic.Int64
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := busy.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond) // long enough for the requests to pile up
		busy.Add(-1)
	})
	tr, c := newTestTransport(t, 10*time.Second)
	tr.MaxConnsPerHost = 2

	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Go(func() {
			resp, err := c.Get(srv.URL)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			codes[i] = resp.StatusCode
			resp.Body.Close()
		})
	}
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusOK {
			t.Errorf("request %d: status %d", i, code)
		}
	}
	if n := conns.Load(); n > 2 {
		t.Errorf("server accepted %d connections, want at most MaxConnsPerHost = 2", n)
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("at most %d requests were served at once, want 2: the bound must not serialise more than it says", p)
	}
}

// A request waiting for a connection gives up at its timeout, and its giving up leaves the
// bound's accounting right: once the hung request ends, the next one is served.
func TestTransport_MaxConnsWaitTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	})
	tr, c := newTestTransport(t, 0)
	tr.MaxConnsPerHost = 1

	hung := make(chan error, 1)
	go func() {
		resp, err := c.Get(srv.URL + "/hang")
		if err == nil {
			resp.Body.Close()
		}
		hung <- err
	}()
	waitFor(t, 5*time.Second, "the hung request's connection", func() bool { return conns.Load() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if _, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting request: err = %v, want its deadline", err)
	}
	close(release)
	if err := <-hung; err != nil {
		t.Fatalf("hung request: %v", err)
	}
	if code, _ := get(t, c, srv.URL); code != http.StatusOK {
		t.Errorf("after the wait timed out: status %d", code)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want the one connection reused", n)
	}
}

// Close wakes the requests waiting for a connection.
func TestTransport_CloseWakesWaiters(t *testing.T) {
	t.Parallel()
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	tr, c := newTestTransport(t, 0)
	tr.MaxConnsPerHost = 1
	go func() {
		if resp, err := c.Get(srv.URL); err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, 5*time.Second, "the first connection", func() bool { return conns.Load() == 1 })
	waiting := make(chan error, 1)
	go func() {
		resp, err := c.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		waiting <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it queue; if it has not, Close still fails it
	tr.Close()
	select {
	case err := <-waiting:
		if !errors.Is(err, ErrTransportClosed) {
			t.Errorf("waiting request: err = %v, want ErrTransportClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a request waiting for a connection was not woken by Close")
	}
}
