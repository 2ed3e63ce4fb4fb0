package balancer

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsEcho answers a WebSocket upgrade by echoing every message until the
// client closes, and a plain request with "ok". The backend helper adds
// X-Worker to both, the 101 response included, so a client can tell which
// backend it reached.
func wsEcho(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		ok(w, r)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return // the client closed, or the deadline passed
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// wsSession opens a WebSocket to url carrying the cookie (none if ""),
// checks that a message comes back echoed, and returns the open connection
// and the X-Worker of the backend that accepted it.
func wsSession(t *testing.T, url, cookie, msg string) (*websocket.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
	if cookie != "" {
		opts.HTTPHeader.Set("Cookie", cookie)
	}
	c, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s with %q: %v", url, cookie, err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		c.CloseNow()
		t.Fatalf("write: %v", err)
	}
	typ, got, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageText || string(got) != msg {
		c.CloseNow()
		t.Fatalf("echo of %q: got %v %q, %v", msg, typ, got, err)
	}
	return c, resp.Header.Get("X-Worker")
}

// TestBalancer_WebSocket proxies real WebSocket connections through each
// engine (the fast one hands Upgrade requests to net/http, whose
// ReverseProxy switches protocols) and checks that cookie-hash keeps a
// session's WebSockets on the worker its plain requests go to.
func TestBalancer_WebSocket(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		var srvs []*httptest.Server
		for i := range 3 {
			srvs = append(srvs, backend(t, i+1, wsEcho))
		}
		sel, err := NewSelectorConfig(SelectorConfig{Strategy: StrategyCookieHash})
		if err != nil {
			t.Fatal(err)
		}
		b := New(addrs(srvs...), sel, WithEngine(e))
		url := serve(t, b)
		wsURL := "ws" + strings.TrimPrefix(url, "http") + "/ws"
		hc := client(t)

		workers := make(map[string]bool)
		for _, session := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
			cookie := "theme=dark; session=" + session
			resp, body := get(t, hc, "GET", url+"/", nil, "Cookie", cookie)
			want := resp.Header.Get("X-Worker")
			if resp.StatusCode != 200 || body != "ok" || want == "" {
				t.Fatalf("%s: plain request: %d %q X-Worker %q", session, resp.StatusCode, body, want)
			}
			workers[want] = true

			// Two WebSockets of the session, open at the same time.
			c1, w1 := wsSession(t, wsURL, cookie, session+" one")
			c2, w2 := wsSession(t, wsURL, cookie, session+" two")
			if w1 != want || w2 != want {
				t.Errorf("%s: WebSockets on workers %q and %q, want both on %q like its requests", session, w1, w2, want)
			}
			// An open WebSocket is a request in flight, so least-loaded
			// strategies and bounded load see it.
			idx, err := strconv.Atoi(want)
			if err != nil || idx < 1 || idx > 3 {
				t.Fatalf("%s: X-Worker %q, want 1, 2 or 3", session, want)
			}
			be := b.Backends()[idx-1]
			if n := be.InFlight(); n != 2 {
				t.Errorf("%s: backend %s has %d in flight with two WebSockets open, want 2", session, want, n)
			}
			c1.Close(websocket.StatusNormalClosure, "")
			c2.Close(websocket.StatusNormalClosure, "")
			if !poll(func() bool { return be.InFlight() == 0 }) {
				t.Errorf("%s: backend %s still has %d in flight after the WebSockets closed", session, want, be.InFlight())
			}
		}
		// The hash is deterministic: six sessions over three workers do
		// not all land on one.
		if len(workers) < 2 {
			t.Errorf("six sessions all on worker(s) %v, want them spread", workers)
		}

		// Without the cookie, WebSockets go round robin like requests.
		seen := make(map[string]bool)
		for i := range 3 {
			c, w := wsSession(t, wsURL, "", fmt.Sprintf("anon %d", i))
			c.Close(websocket.StatusNormalClosure, "")
			seen[w] = true
		}
		if len(seen) != 3 {
			t.Errorf("three WebSockets without a cookie reached workers %v, want all three", seen)
		}
	})
}
