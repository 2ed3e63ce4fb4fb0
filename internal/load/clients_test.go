package load

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestClients_targeter(t *testing.T) {
	t.Parallel()
	c := newClients("http://127.0.0.1:1/", 3)
	tr := c.targeter()
	seqs := map[string][]string{}
	for range 300 {
		var tgt vegeta.Target
		if err := tr(&tgt); err != nil {
			t.Fatal(err)
		}
		cookie := tgt.Header.Get("Cookie")
		seqs[cookie] = append(seqs[cookie], tgt.Header.Get(SessionSeqHeader))
	}
	if len(seqs) != 3 {
		t.Fatalf("%d distinct cookies, want 3", len(seqs))
	}
	// Each client counts its own requests: 1, 2, 3, … in the order they leave.
	for i, id := range c.ids {
		got := seqs[SessionCookie+"="+id]
		if len(got) < 50 {
			t.Errorf("client %d sent %d of 300 requests, want about 100", i, len(got))
		}
		for k, seq := range got {
			if seq != strconv.Itoa(k+1) {
				t.Errorf("client %d request %d carries seq %s, want %d", i, k, seq, k+1)
				break
			}
		}
	}
	if c.ids[0] == c.ids[1] || len(c.ids[0]) != 32 {
		t.Errorf("ids %q, want distinct 32-hex ids", c.ids)
	}
}

// sessionTarget answers like the built-in session workload's memory store, so that the counts
// Attack reports can be checked against what the server saw.
type sessionTarget struct {
	mu   sync.Mutex
	seqs map[string]uint64
	seen map[string]int
}

func (s *sessionTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(SessionCookie)
	seq, _ := strconv.ParseUint(r.Header.Get(SessionSeqHeader), 10, 64)
	if err != nil || seq == 0 {
		http.Error(w, "no session", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	stored, ok := s.seqs[c.Value]
	s.seqs[c.Value] = seq
	s.seen[c.Value]++
	s.mu.Unlock()
	switch {
	case !ok && seq == 1:
		w.Header().Set(SessionHeader, "new")
	case ok && stored+1 == seq:
		w.Header().Set(SessionHeader, "hit")
	default:
		w.Header().Set(SessionHeader, "miss")
	}
}

func TestAttack_clients(t *testing.T) {
	t.Parallel()
	st := &sessionTarget{seqs: map[string]uint64{}, seen: map[string]int{}}
	srv := httptest.NewServer(st)
	defer srv.Close()
	// 200 requests, about ten per client, 100 ms apart: a client is sent again while still
	// waiting only if every one of the 20 is, which takes a stall of the whole machine.
	res, err := Attack(context.Background(), Step{URL: srv.URL, Rate: 200, Duration: time.Second, Clients: 20})
	if err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	// Clients are picked at random among those not waiting: one may, rarely, never be picked.
	sent := uint64(len(st.seen))
	if sent > 20 || sent < 15 {
		t.Errorf("server saw %d sessions, want one per client that sent, of 20", sent)
	}
	s := res.Sessions
	if s.New+s.Hit+s.Miss != res.Successes {
		t.Errorf("sessions = %+v over %d successes, want one state per success", s, res.Successes)
	}
	if s.Overlap > 0 {
		// A stalled machine sent some client twice at once; its requests may have crossed.
		t.Logf("%d requests were sent as a client still waiting: sessions %+v", s.Overlap, s)
	} else {
		if s.New != sent {
			t.Errorf("new sessions = %d, want one per client that sent (%d)", s.New, sent)
		}
		// One server, one store: every later request finds its session.
		if s.Miss != 0 || s.Hit == 0 {
			t.Errorf("sessions = %+v over %d successes, want no miss", s, res.Successes)
		}
		if got := s.MissRatio(); got != 0 {
			t.Errorf("miss ratio = %v, want 0", got)
		}
	}
	for id := range st.seen {
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Errorf("session id %q is not 32 hex digits", id)
		}
	}
}

func TestSessions_MissRatio(t *testing.T) {
	t.Parallel()
	if got, want := (Sessions{New: 5, Hit: 30, Miss: 10}).MissRatio(), 0.25; got != want {
		t.Errorf("MissRatio = %v, want %v", got, want)
	}
	if got := (Sessions{New: 5}).MissRatio(); got != 0 {
		t.Errorf("MissRatio with no hit or miss = %v, want 0", got)
	}
}

func TestAttack_timeline(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	res, err := Attack(context.Background(), Step{URL: srv.URL, Rate: 100, Duration: time.Second, Warmup: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, n := range res.Timeline {
		sum += uint64(n)
	}
	// Every measured success is in one bucket; a second at 100 rps is about 10 buckets of 10.
	if sum != res.Successes || len(res.Timeline) < 9 || len(res.Timeline) > 13 {
		t.Errorf("timeline %v sums to %d over %d buckets, want %d successes in ≈10 buckets", res.Timeline, sum, len(res.Timeline), res.Successes)
	}
}

func TestCountWorker(t *testing.T) {
	t.Parallel()
	var counts []uint64
	for _, v := range []string{"2/100", "1/99", "2/100", "", "x/1", "3/7"} {
		h := http.Header{}
		if v != "" {
			h.Set(WorkerHeader, v)
		}
		counts = countWorker(counts, h)
	}
	if got, want := fmt.Sprint(counts), "[1 2 1]"; got != want {
		t.Errorf("counts = %s, want %s", got, want)
	}
}

func TestClients_overlap(t *testing.T) {
	t.Parallel()
	c := newClients("http://127.0.0.1:1/", 2)
	a, b := c.pick(), c.pick()
	if a == b || c.overlap.Load() != 0 {
		t.Fatalf("two picks of two idle clients gave %d and %d, overlap %d", a, b, c.overlap.Load())
	}
	c.pick() // both wait: one is sent again
	if got := c.overlap.Load(); got != 1 {
		t.Errorf("overlap = %d after a pick with every client waiting, want 1", got)
	}
	c.done(c.urls[a])
	if got := c.pick(); got != a || c.overlap.Load() != 1 {
		t.Errorf("pick = %d (overlap %d), want the client that was answered, %d, and no new overlap", got, c.overlap.Load(), a)
	}
}
