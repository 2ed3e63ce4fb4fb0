package load

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMixOrder(t *testing.T) {
	t.Parallel()
	for _, weights := range [][]int{{1}, {3, 1}, {2, 4}, {5, 3, 1}, {1, 1, 1, 1}, {0, 2}, {7, 100, 13}} {
		rs := make([]Request, len(weights))
		for i, w := range weights {
			rs[i] = Request{Path: "/", Weight: w}
		}
		order := mixOrder(rs)
		if !slices.Equal(order, mixOrder(rs)) {
			t.Errorf("weights %v: two orders differ", weights)
		}
		g, total := mixGCD(rs), 0
		for _, r := range rs {
			total += r.weight()
		}
		if len(order) != total/g {
			t.Fatalf("weights %v: cycle of %d requests, want %d", weights, len(order), total/g)
		}
		// Every prefix of the cycle carries each request in proportion to its weight, within
		// two: the requests are spread over the cycle, not sent in runs.
		counts := make([]int, len(rs))
		for l, i := range order {
			counts[i]++
			for j, r := range rs {
				want := float64(l+1) * float64(r.weight()) / float64(total)
				if d := math.Abs(float64(counts[j]) - want); d > 2 {
					t.Fatalf("weights %v: after %d requests, request %d sent %d times, want about %.1f: order %v",
						weights, l+1, j, counts[j], want, order)
				}
			}
		}
		for j, r := range rs {
			if counts[j] != r.weight()/g {
				t.Errorf("weights %v: request %d appears %d times per cycle, want %d", weights, j, counts[j], r.weight()/g)
			}
		}
	}
}

// seenRequest is what a recording server saw of one request.
type seenRequest struct {
	method, uri, body, contentType string
	length                         int64
	attack                         bool // it carried an X-Vegeta-Attack header
}

// recordingServer answers every request with a body of respBody bytes and records it.
func recordingServer(t *testing.T, respBody int) (url string, seen func() []seenRequest) {
	var mu sync.Mutex
	var got []seenRequest
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s := seenRequest{method: r.Method, uri: r.RequestURI, body: string(b), contentType: r.Header.Get("Content-Type"),
			length: r.ContentLength, attack: r.Header["X-Vegeta-Attack"] != nil}
		mu.Lock()
		got = append(got, s)
		mu.Unlock()
		w.Header().Set("Content-Length", strconv.Itoa(respBody))
		w.Write(bytes.Repeat([]byte{'x'}, respBody))
	})
	return srv.URL, func() []seenRequest {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// A step with a request mix sends exactly those requests, in their proportions; its raw results
// carry the step's name and the bytes each request sent and received.
func TestAttack_RequestMix(t *testing.T) {
	t.Parallel()
	url, seen := recordingServer(t, 123)
	mix := []Request{
		{Method: "POST", Path: "/orders", Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"item":1}`), Weight: 3},
		{Method: "PUT", Path: "/items/7?v=2", Body: []byte("seven"), Weight: 1},
		{Path: "/health"}, // GET, weight 1
	}
	var raw bytes.Buffer
	step := Step{URL: url + "/ignored", Requests: mix, Rate: 200, Duration: 500 * time.Millisecond, Name: "step-01-w1", Raw: &raw}
	res, err := Attack(context.Background(), step)
	if err != nil {
		t.Fatal(err)
	}
	if res.Success != 1 {
		t.Fatalf("success %v, errors %v", res.Success, res.Errors)
	}
	got := seen()
	if uint64(len(got)) != res.Requests {
		t.Fatalf("server saw %d requests, the step measured %d", len(got), res.Requests)
	}
	counts := map[string]int{}
	for _, s := range got {
		switch {
		case s.method == "POST" && s.uri == "/orders" && s.body == `{"item":1}` && s.length == 10 && s.contentType == "application/json":
		case s.method == "PUT" && s.uri == "/items/7?v=2" && s.body == "seven" && s.length == 5 && s.contentType == "":
		case s.method == "GET" && s.uri == "/health" && s.body == "" && s.length == 0 && s.contentType == "":
		default:
			t.Fatalf("server saw a request not in the mix: %+v", s)
		}
		if s.attack {
			t.Errorf("%s %s carried an X-Vegeta-Attack header: the step's name is for the raw results only", s.method, s.uri)
		}
		counts[s.method]++
	}
	// Whole cycles of 5 requests (3 POST, 1 PUT, 1 GET) and at most one partial one.
	n := len(got)
	for method, share := range map[string]int{"POST": 3, "PUT": 1, "GET": 1} {
		if want := float64(n*share) / 5; math.Abs(float64(counts[method])-want) > 3 {
			t.Errorf("%d %s requests of %d, want about %.0f (weights 3:1:1)", counts[method], method, n, want)
		}
	}

	rs := decodeAll(t, &raw)
	if uint64(len(rs)) != res.Requests {
		t.Fatalf("raw holds %d results, the step measured %d", len(rs), res.Requests)
	}
	for _, r := range rs {
		if r.Attack != step.Name {
			t.Fatalf("raw result %d: attack %q, want the step's name %q", r.Seq, r.Attack, step.Name)
		}
		if r.BytesIn != 123 {
			t.Errorf("raw result %d: %d bytes in, the server sent 123", r.Seq, r.BytesIn)
		}
		want := map[string]uint64{"POST": 10, "PUT": 5, "GET": 0}[r.Method]
		if r.BytesOut != want || !strings.HasPrefix(r.URL, url+"/") || strings.Contains(r.URL, "ignored") {
			t.Errorf("raw result %d: %s %s with %d bytes out, want %d bytes out at %s", r.Seq, r.Method, r.URL, r.BytesOut, want, url)
		}
	}
}

// A Host header is the request's host, however the user spelt the header's name.
func TestAttack_RequestMixHost(t *testing.T) {
	t.Parallel()
	hosts := make(chan string, 100)
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case hosts <- r.Host + " " + strings.Join(r.Header.Values("Host"), ","):
		default:
		}
	})
	mix := []Request{{Path: "/", Header: http.Header{"host": {"shop.example"}}}}
	res, err := Attack(context.Background(), Step{URL: srv.URL, Requests: mix, Rate: 50, Duration: 100 * time.Millisecond})
	if err != nil || res.Requests == 0 {
		t.Fatalf("%d requests, err %v", res.Requests, err)
	}
	for range res.Requests {
		if h := <-hosts; h != "shop.example " {
			t.Fatalf("server saw host and Host headers %q, want the request's Host alone", h)
		}
	}
	if mix[0].Header["host"] == nil {
		t.Error("the step's request was changed")
	}
}

// Bytes in count the whole body however it is framed, chunked included.
func TestAttack_RawBytesInChunked(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("chunk", 1000)
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < len(body); i += 1000 {
			w.Write([]byte(body[i : i+1000]))
			w.(http.Flusher).Flush() // no Content-Length: chunked
		}
	})
	var raw bytes.Buffer
	res, err := Attack(context.Background(), Step{URL: srv.URL, Rate: 100, Duration: 200 * time.Millisecond, Raw: &raw})
	if err != nil || res.Success != 1 {
		t.Fatalf("success %v, errors %v, err %v", res.Success, res.Errors, err)
	}
	rs := decodeAll(t, &raw)
	if len(rs) == 0 {
		t.Fatal("no raw results")
	}
	for _, r := range rs {
		if r.BytesIn != uint64(len(body)) || r.Attack != "" {
			t.Errorf("raw result %d: %d bytes in, attack %q; want %d and no name", r.Seq, r.BytesIn, r.Attack, len(body))
		}
	}
}
