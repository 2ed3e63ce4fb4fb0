package load

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// dueTimes lists the first n due times of a pacer, asked as vegeta asks it at the start of an
// attack (elapsed 0, hits sent so far): the wait is then the send's due time.
func dueTimes(p vegeta.Pacer, n int) []time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		d[i], _ = p.Pace(0, uint64(i))
	}
	return d
}

func TestShardPacer_PartsInterleaveIntoTheFullSchedule(t *testing.T) {
	t.Parallel()
	for _, rate := range []float64{100, 7, 333.5, 2500} {
		for shards := 1; shards <= 5; shards++ {
			const perShard = 200
			full := dueTimes(pacer(rate), perShard*shards)
			var union []time.Duration
			var rates float64
			for i := 1; i <= shards; i++ {
				sp := newShardPacer(pacer(rate), i, shards)
				part := dueTimes(sp, perShard)
				for n, d := range part {
					// Send n of shard i is send n·K+i-1 of the full schedule.
					if want := full[n*shards+i-1]; d != want {
						t.Fatalf("rate %v, shard %d/%d: send %d due at %v, want %v", rate, i, shards, n, d, want)
					}
				}
				union = append(union, part...)
				rates += sp.Rate(0)
			}
			slices.Sort(union)
			if !slices.Equal(union, full) {
				t.Errorf("rate %v, %d shards: the parts together are not the full schedule", rate, shards)
			}
			if !within(rates, pacer(rate).Rate(0), 1e-6) {
				t.Errorf("rate %v, %d shards: the parts' rates sum to %v", rate, shards, rates)
			}
		}
	}
}

func TestRecorder_ShardSchedule(t *testing.T) {
	t.Parallel()
	// Shard 2 of 3 at 300 rps: its sends are slots 1, 4, 7 … of the full 300 rps schedule, due
	// at (3n+2)·(1/300 s). Sent exactly on time, they lag by nothing; the warm-up is cut on
	// those due times.
	began := time.Now()
	sp := newShardPacer(pacer(300), 2, 3)
	rec := newRecorder(pacer(300))
	rec.shard(sp)
	rec.start(began, 500*time.Millisecond, time.Second)
	const sends = 150 // 1.5 s at 100 rps
	for n := range sends {
		due := sp.due(uint64(n))
		rec.add(&vegeta.Result{Seq: uint64(n), Code: 200, Timestamp: began.Add(due), Latency: time.Millisecond})
	}
	res := rec.result()
	if !within(res.Offered, 100, 1e-6) {
		t.Errorf("Offered = %v, want the shard's 100 rps", res.Offered)
	}
	// Due before 500 ms: (3n+2)/300 s < 0.5 s ⇔ n < 49.33, so sends 0..49 are warm-up.
	if res.WarmupRequests != 50 || res.Requests != sends-50 {
		t.Errorf("warm-up %d, measured %d; want 50 and %d", res.WarmupRequests, res.Requests, sends-50)
	}
	if res.MaxLag != 0 {
		t.Errorf("MaxLag = %v for sends made on their shard's schedule", res.MaxLag)
	}
	if res.Behind || !within(res.Sent, 100, 0.02) { // n sends over n-1 intervals
		t.Errorf("Sent = %v (Behind %v), want 100", res.Sent, res.Behind)
	}
}

func TestAttack_ShardsTogetherOfferTheFullRate(t *testing.T) {
	t.Parallel()
	srv, served := countingServer(t, nil)
	const rate, shards = 300, 3
	d := 500 * time.Millisecond
	results := make([]Result, shards)
	errs := make([]error, shards)
	var wg sync.WaitGroup
	for i := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = Attack(context.Background(), Step{URL: srv.URL, Rate: rate, Duration: d, Shard: i + 1, Shards: shards})
		}()
	}
	wg.Wait()
	var sum uint64
	for i, r := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !within(r.Offered, rate/shards, 1e-6) {
			t.Errorf("shard %d offered %v, want %v", i+1, r.Offered, rate/shards)
		}
		sum += r.Requests
	}
	if got := uint64(served.Load()); got != sum {
		t.Errorf("the target saw %d requests, the shards counted %d", got, sum)
	}
	// The full schedule holds rate·d sends; each shard may send one more whose due time falls
	// just past the end (vegeta checks the duration before it waits for the next send).
	if want := uint64(rate * d.Seconds()); sum < want-shards || sum > want+shards {
		t.Errorf("shards sent %d requests together, want %d ± %d", sum, want, shards)
	}
}

func TestStep_ValidateShard(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ shard, shards int }{{0, 2}, {3, 2}, {1, -1}} {
		s := Step{URL: "http://127.0.0.1:1/", Rate: 10, Duration: time.Second, Shard: c.shard, Shards: c.shards}
		if err := s.Validate(); err == nil {
			t.Errorf("shard %d/%d accepted", c.shard, c.shards)
		}
	}
}
