package report

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/bench-dev/bench/internal/experiment"
)

// shardRun writes the results folder of one shard: one step per rate at one worker, each with
// n latencies drawn around mean, its histogram and shard.json.
func shardRun(t *testing.T, shard, shards int, rates []float64, n int, mean time.Duration, seed uint64) (string, []*hdrhistogram.Histogram) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(seed, 1))
	res := &experiment.Result{Cores: 2}
	var hists []*hdrhistogram.Histogram
	for _, rate := range rates {
		h := hdrhistogram.New(1, 60_000_000, 3)
		for range n {
			h.RecordValue(int64(float64(mean.Microseconds()) * (0.5 + rng.ExpFloat64())))
		}
		share := rate / float64(shards)
		st := experiment.Step{Workers: 1, Strategy: "round-robin", Offered: rate, Sent: share, Throughput: share * 0.99,
			Requests: uint64(n) + 1, Success: float64(n) / float64(n+1), Latency: h, Elapsed: time.Second, Cores: 2,
			Share: []uint64{uint64(n)}}
		st.P99 = time.Duration(h.ValueAtQuantile(99)) * time.Microsecond
		res.Steps = append(res.Steps, st)
		if _, err := WriteHDR(dir, len(res.Steps), st); err != nil {
			t.Fatal(err)
		}
		hists = append(hists, h)
	}
	if _, err := SaveCSV(dir, res); err != nil {
		t.Fatal(err)
	}
	if err := WriteShard(dir, Shard{Shard: shard, Shards: shards}); err != nil {
		t.Fatal(err)
	}
	return dir, hists
}

func TestMerge_sumsCountsAndMergesHistograms(t *testing.T) {
	rates := []float64{300, 600}
	a, ha := shardRun(t, 1, 2, rates, 1000, 2*time.Millisecond, 1)
	b, hb := shardRun(t, 2, 2, rates, 1500, 5*time.Millisecond, 2) // a slower generator, another count
	m, err := Merge([]string{b, a})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Steps) != len(rates) {
		t.Fatalf("%d merged steps, want %d", len(m.Steps), len(rates))
	}
	for i, st := range m.Steps {
		want := hdrhistogram.New(1, 60_000_000, 3)
		want.Merge(ha[i])
		want.Merge(hb[i])
		if st.Requests != 1001+1501 {
			t.Errorf("step %d: %d requests, want the sum 2502", i+1, st.Requests)
		}
		if got, want := st.P99, time.Duration(want.ValueAtQuantile(99))*time.Microsecond; got != want {
			t.Errorf("step %d: p99 %v, want the merged histograms' %v", i+1, got, want)
		}
		// Neither shard's own p99: the merge is not an average of percentiles.
		if st.Latency.TotalCount() != 2500 || st.Success != 2500.0/2502 {
			t.Errorf("step %d: %d latencies, success %v", i+1, st.Latency.TotalCount(), st.Success)
		}
		if st.Offered != rates[i] || !within(st.Sent, rates[i], 1e-9) || !within(st.Throughput, 0.99*rates[i], 1e-9) {
			t.Errorf("step %d: offered %v sent %v throughput %v, want %v and the sums of the shards' own rates", i+1, st.Offered, st.Sent, st.Throughput, rates[i])
		}
		if st.Share[0] != 2500 {
			t.Errorf("step %d: share %v", i+1, st.Share)
		}
	}
	if p, ok := m.PointAt(1); !ok || !within(p.Capacity, 0.99*600, 1e-9) {
		t.Errorf("capacity at 1 worker = %+v, want the best merged throughput", p)
	}
}

func within(got, want, frac float64) bool {
	return got >= want*(1-frac) && got <= want*(1+frac)
}

func TestMerge_refusesFoldersThatDoNotLineUp(t *testing.T) {
	a, _ := shardRun(t, 1, 2, []float64{300}, 10, time.Millisecond, 1)
	b, _ := shardRun(t, 2, 2, []float64{300}, 10, time.Millisecond, 2)
	otherRate, _ := shardRun(t, 2, 2, []float64{400}, 10, time.Millisecond, 3)
	twoSteps, _ := shardRun(t, 2, 2, []float64{300, 600}, 10, time.Millisecond, 4)
	ofThree, _ := shardRun(t, 2, 3, []float64{300}, 10, time.Millisecond, 5)
	firstOfThree, _ := shardRun(t, 1, 3, []float64{300}, 10, time.Millisecond, 6)
	plain := t.TempDir()
	if _, err := SaveCSV(plain, &experiment.Result{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, want string
		dirs       []string
	}{
		{"one folder", "at least 2", []string{a}},
		{"the same shard twice", "shard 2/2 again", []string{b, b}},
		{"another rate", "400 rps, while", []string{a, otherRate}},
		{"more steps", "2 steps, while", []string{a, twoSteps}},
		{"shards of another run", "shard 2 of 3", []string{a, ofThree}},
		{"not a shard", "no shard.json", []string{a, plain}},
		{"a shard missing", "missing shard(s) [3]", []string{firstOfThree, ofThree}},
	} {
		_, err := Merge(c.dirs)
		var me *MergeError
		if !errors.As(err, &me) {
			t.Errorf("%s: err = %v, want a *MergeError", c.name, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want it to say %q", c.name, err, c.want)
		}
	}
}
