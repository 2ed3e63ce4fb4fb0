package load

import (
	crand "crypto/rand"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The session protocol of the built-in session workload, as the simulated clients speak it: each
// client carries its own session id in a cookie and counts its requests in SessionSeqHeader; the
// worker answers SessionHeader with new, hit or miss (see internal/target).
const (
	SessionCookie    = "session"
	SessionHeader    = "X-Session"
	SessionSeqHeader = "X-Session-Seq"
)

// Sessions counts the session states the target reported in the measured window.
type Sessions struct {
	New, Hit, Miss uint64
	// Overlap counts the requests of the step, warm-up included, sent as a client still waiting
	// for its last answer, because every client was: the rate outran the clients. Such a request
	// can arrive before the one it follows, and both then count as misses.
	Overlap uint64
}

// MissRatio is the share of requests on an existing session whose state the serving worker did
// not have: Miss / (Hit + Miss). Zero when there were none.
func (s Sessions) MissRatio() float64 {
	if s.Hit+s.Miss == 0 {
		return 0
	}
	return float64(s.Miss) / float64(s.Hit+s.Miss)
}

// clients simulates many users, each with a session id of its own (chosen by the client, like a
// device id, so that a balancer hashing the cookie can place the very first request) and a count
// of its requests. Each request is sent as a client picked at random among those not waiting for
// a response, as a person waits for a page: in turn, a client count that is a multiple of the
// worker count would meet round-robin in lockstep and land every client on one worker, hiding
// exactly what the session workload is there to show; and two requests of one client in flight
// at once could arrive out of order and count as a lost session.
type clients struct {
	mu    []sync.Mutex // one per client: a client's count advances in the order its requests leave
	ids   []string
	seqs  []uint64
	busy  []atomic.Bool
	urls  []string       // per client: the URL with ?client=i, how a result finds its client
	byURL map[string]int // urls → client

	overlap atomic.Uint64 // requests sent as a busy client (Sessions.Overlap)
}

func newClients(url string, n int) *clients {
	c := &clients{mu: make([]sync.Mutex, n), ids: make([]string, n), seqs: make([]uint64, n),
		busy: make([]atomic.Bool, n), urls: make([]string, n), byURL: make(map[string]int, n)}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	var b [16]byte
	for i := range c.ids {
		crand.Read(b[:])
		c.ids[i] = hex.EncodeToString(b[:])
		c.urls[i] = url + sep + "client=" + strconv.Itoa(i)
		c.byURL[c.urls[i]] = i
	}
	return c
}

// pick returns a random client not waiting for a response (any client when all are), marked busy.
func (c *clients) pick() int {
	n := len(c.ids)
	start := rand.IntN(n)
	for k := range n {
		i := (start + k) % n
		if c.busy[i].CompareAndSwap(false, true) {
			return i
		}
	}
	c.overlap.Add(1)
	c.busy[start].Store(true)
	return start
}

// done marks the client of a finished request idle again.
func (c *clients) done(url string) {
	if i, ok := c.byURL[url]; ok {
		c.busy[i].Store(false)
	}
}

// targeter returns a vegeta Targeter that sends each request as the next client.
func (c *clients) targeter() vegeta.Targeter {
	return func(t *vegeta.Target) error {
		i := c.pick()
		c.mu[i].Lock()
		c.seqs[i]++
		seq := c.seqs[i]
		c.mu[i].Unlock()
		t.Method = http.MethodGet
		t.URL = c.urls[i]
		t.Header = http.Header{
			"Cookie":         {SessionCookie + "=" + c.ids[i]},
			SessionSeqHeader: {strconv.FormatUint(seq, 10)},
		}
		return nil
	}
}

// countSession adds the session state a response reported to s.
func countSession(s *Sessions, h http.Header) {
	if h == nil {
		return
	}
	switch v := h[SessionHeader]; {
	case len(v) == 0:
	case v[0] == "hit":
		s.Hit++
	case v[0] == "miss":
		s.Miss++
	case v[0] == "new":
		s.New++
	}
}

// WorkerHeader is the response header in which a worker names itself, "<index>/<pid>" (the
// built-in worker's; see internal/target).
const WorkerHeader = "X-Worker"

// countWorker adds one to counts at the index a response's WorkerHeader names (1-based, so
// counts[0] is worker 1), growing counts as needed; responses without it are not counted.
func countWorker(counts []uint64, h http.Header) []uint64 {
	v := h[WorkerHeader]
	if len(v) == 0 {
		return counts
	}
	idx, _, _ := strings.Cut(v[0], "/")
	i, err := strconv.Atoi(idx)
	if err != nil || i < 1 || i > 4096 {
		return counts
	}
	for len(counts) < i {
		counts = append(counts, 0)
	}
	counts[i-1]++
	return counts
}
