package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/load"
	"github.com/bench-dev/bench/internal/scaling"
)

// ShardFile is the file in which the results folder of a sharded run (`bench run --shard I/K`)
// says which of the generators it was.
const ShardFile = "shard.json"

// Shard is what ShardFile holds.
type Shard struct {
	// Shard is the generator's 1-based index among Shards.
	Shard  int `json:"shard"`
	Shards int `json:"shards"`
	// StartAt is the agreed start of the first measured step, RFC 3339; empty without one.
	StartAt string `json:"start_at,omitempty"`
}

// WriteShard writes s to dir/ShardFile.
func WriteShard(dir string, s Shard) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, ShardFile)
	if err := writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	}); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ReadShard reads dir/ShardFile. A folder without one is an error satisfying
// errors.Is(err, fs.ErrNotExist).
func ReadShard(dir string) (Shard, error) {
	path := filepath.Join(dir, ShardFile)
	var s Shard
	data, err := os.ReadFile(path)
	if err != nil {
		return s, err // *PathError names the file
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	if s.Shards < 2 || s.Shard < 1 || s.Shard > s.Shards {
		return s, fmt.Errorf("%s: shard %d of %d: want 1 ≤ shard ≤ shards and shards ≥ 2", path, s.Shard, s.Shards)
	}
	return s, nil
}

// MergeError is a set of folders Merge refuses: not the shards of one run, or not lined up.
type MergeError struct {
	Dir string // the folder at fault; empty when the set as a whole is
	Err error
}

func (e *MergeError) Error() string {
	if e.Dir == "" {
		return e.Err.Error()
	}
	return e.Dir + ": " + e.Err.Error()
}

func (e *MergeError) Unwrap() error { return e.Err }

// Merged is the run the shards of Merge measured together.
type Merged struct {
	*experiment.Result
	// Hists are the merged latency histograms, one per step (nil for a step without a success),
	// also set as each step's Latency.
	Hists []*hdrhistogram.Histogram
}

// Merge combines the results folders of the K generators of one sharded run (`bench run --shard
// I/K`, one folder each, all K of them) into the run they measured together, step by step:
//
//   - each step must be the same in every folder (worker count, strategy, store, repetition and
//     offered rate, which a shard records as the total of all generators);
//   - latencies come from the merged HdrHistograms of the step-NN-….hdr files, exactly, and the
//     percentiles from the merged histogram;
//   - requests, successes (each histogram's count), error classes, sessions, retries and per-worker
//     shares are summed; the success ratio follows from the sums;
//   - the send rate and the throughput are the sums of each generator's own, each computed over
//     its own time window, so that clocks that disagree between machines cannot stretch a window
//     and understate the rate (or overlap and overstate it);
//   - the send lag and the failures' p99 are the worst generator's (their histograms are not
//     saved); CPU times are summed over the generators, cores too, and the window is the longest;
//   - a step is behind when any generator fell behind (the total was then not offered), and
//     failing when the merged success ratio is below experiment.MinSuccess.
//
// Capacities and the scaling table are computed again from the merged steps as a run computes
// them for fixed rates (the best unflagged throughput per worker count, bracketed by the rates that
// kept up), without an SLO, which summary.csv does not record. A sharded run has no capacity
// search. Problems with the set of folders are *MergeError.
func Merge(dirs []string) (*Merged, error) {
	if len(dirs) < 2 {
		return nil, &MergeError{Err: fmt.Errorf("want the folders of at least 2 shards, got %d", len(dirs))}
	}
	shards := make([]*experiment.Result, len(dirs))
	seen := map[int]string{}
	k := 0
	for i, dir := range dirs {
		s, err := ReadShard(dir)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("no %s: not the results of `bench run --shard`", ShardFile)
			}
			return nil, &MergeError{Dir: dir, Err: err}
		}
		if k == 0 {
			k = s.Shards
		} else if s.Shards != k {
			return nil, &MergeError{Dir: dir, Err: fmt.Errorf("shard %d of %d, while %s is of %d", s.Shard, s.Shards, dirs[0], k)}
		}
		if prev, dup := seen[s.Shard]; dup {
			return nil, &MergeError{Dir: dir, Err: fmt.Errorf("shard %d/%d again (also %s)", s.Shard, k, prev)}
		}
		seen[s.Shard] = dir
		res, err := Load(dir)
		if err != nil {
			return nil, &MergeError{Dir: dir, Err: err}
		}
		shards[i] = res
	}
	if len(dirs) != k {
		var missing []int
		for i := 1; i <= k; i++ {
			if _, ok := seen[i]; !ok {
				missing = append(missing, i)
			}
		}
		return nil, &MergeError{Err: fmt.Errorf("%d of %d shards given; missing shard(s) %v", len(dirs), k, missing)}
	}

	first := shards[0]
	out := &Merged{Result: &experiment.Result{Cores: first.Cores}}
	for i, res := range shards[1:] {
		if len(res.Steps) != len(first.Steps) {
			return nil, &MergeError{Dir: dirs[i+1], Err: fmt.Errorf("%d steps, while %s has %d", len(res.Steps), dirs[0], len(first.Steps))}
		}
	}
	for row := range first.Steps {
		st, h, err := mergeStep(dirs, shards, row)
		if err != nil {
			return nil, err
		}
		out.Steps = append(out.Steps, st)
		out.Hists = append(out.Hists, h)
	}
	out.Capacity = fixedCapacities(out.Steps)
	if len(out.Capacity) > 0 {
		out.Scaling, _ = scaling.Table(out.Capacity, out.Cores)
	}
	return out, nil
}

// mergeStep merges row (0-based) of every shard.
func mergeStep(dirs []string, shards []*experiment.Result, row int) (experiment.Step, *hdrhistogram.Histogram, error) {
	base := shards[0].Steps[row]
	if base.Search {
		return base, nil, &MergeError{Dir: dirs[0], Err: fmt.Errorf("step %d is part of a capacity search, which cannot be sharded", row+1)}
	}
	m := experiment.Step{Workers: base.Workers, Strategy: base.Strategy, Store: base.Store, Rep: base.Rep, Offered: base.Offered}
	var merged *hdrhistogram.Histogram
	var successes uint64
	var flags []string
	for i, res := range shards {
		st := res.Steps[row]
		if st.Workers != base.Workers || st.Strategy != base.Strategy || st.Store != base.Store || st.Rep != base.Rep || st.Offered != base.Offered || st.Search {
			return m, nil, &MergeError{Dir: dirs[i], Err: fmt.Errorf("step %d is %s, while in %s it is %s: not the same run",
				row+1, describeStep(st), dirs[0], describeStep(base))}
		}
		h, err := readStepHDR(dirs[i], row+1, st)
		if err != nil {
			return m, nil, &MergeError{Dir: dirs[i], Err: err}
		}
		if h != nil {
			successes += uint64(h.TotalCount())
			if merged == nil {
				merged = hdrhistogram.New(h.LowestTrackableValue(), h.HighestTrackableValue(), int(h.SignificantFigures()))
			}
			if dropped := merged.Merge(h); dropped != 0 {
				return m, nil, &MergeError{Dir: dirs[i], Err: fmt.Errorf("step %d: %d latencies out of the histogram's range", row+1, dropped)}
			}
		}
		m.Sent += st.Sent
		m.Throughput += st.Throughput
		m.Requests += st.Requests
		m.Lag = max(m.Lag, st.Lag)
		m.FailP99 = max(m.FailP99, st.FailP99)
		m.Share = addCounts(m.Share, st.Share)
		m.Elapsed = max(m.Elapsed, st.Elapsed)
		m.WorkerCPU += st.WorkerCPU
		m.BenchCPU += st.BenchCPU
		m.OtherCPU += st.OtherCPU
		m.Steal += st.Steal
		m.Cores += st.Cores
		m.Sessions.New += st.Sessions.New
		m.Sessions.Hit += st.Sessions.Hit
		m.Sessions.Miss += st.Sessions.Miss
		m.Sessions.Overlap += st.Sessions.Overlap
		m.Restarts += st.Restarts
		m.BenchRSS = max(m.BenchRSS, st.BenchRSS)
		m.CtxSwitches += st.CtxSwitches
		m.Retries += st.Retries
		m.Classes.Target += st.Classes.Target
		m.Classes.Balancer += st.Classes.Balancer
		m.Classes.Generator += st.Classes.Generator
		for _, f := range st.Flags {
			if f != experiment.FlagErrors && !slices.Contains(flags, f) {
				flags = append(flags, f)
			}
		}
	}
	if m.Requests > 0 {
		m.Success = float64(successes) / float64(m.Requests)
		if m.Success < experiment.MinSuccess {
			flags = append(flags, experiment.FlagErrors)
		}
	}
	if merged != nil && merged.TotalCount() > 0 {
		q := func(p float64) time.Duration { return time.Duration(merged.ValueAtQuantile(p)) * time.Microsecond }
		m.P50, m.P90, m.P99, m.P999 = q(50), q(90), q(99), q(99.9)
		m.Max = time.Duration(merged.Max()) * time.Microsecond
		m.Latency = merged
	}
	m.Flags = flags
	return m, merged, nil
}

// readStepHDR reads the histogram of a shard's step; nil when the step had no success (WriteHDR
// then writes none). A step with successes and no histogram is an error: its latencies would be
// missing from the merge.
func readStepHDR(dir string, row int, st experiment.Step) (*hdrhistogram.Histogram, error) {
	path := filepath.Join(dir, StepFile(row, st, HDRExt))
	h, err := ReadHDR(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && (st.Requests == 0 || st.Success == 0):
		return nil, nil
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("step %d: no %s, which the merged latencies need", row, filepath.Base(path))
	case err != nil:
		return nil, err
	}
	return h, nil
}

func describeStep(st experiment.Step) string {
	s := fmt.Sprintf("%d worker(s), %s", st.Workers, st.Strategy)
	if st.Store != "" {
		s += ", " + st.Store
	}
	if st.Rep > 1 {
		s += fmt.Sprintf(", rep %d", st.Rep)
	}
	if st.Search {
		s += ", search"
	}
	return s + fmt.Sprintf(", %s rps", rateText(st.Offered))
}

func addCounts(sum, c []uint64) []uint64 {
	for len(sum) < len(c) {
		sum = append(sum, 0)
	}
	for i, v := range c {
		sum[i] += v
	}
	return sum
}

// fixedCapacities computes each worker count's capacity from fixed-rate steps as a run does: per
// store, strategy and repetition the best unflagged throughput, bracketed by the offered rates that
// kept up (throughput and success) and those that did not; the median over repetitions; the best
// over strategies and stores.
func fixedCapacities(steps []experiment.Step) []scaling.Point {
	type cellKey struct {
		workers         int
		store, strategy string
	}
	type rep struct {
		rates    []float64
		results  []load.Result
		capacity float64
		noisy    bool
	}
	var workers []int
	var cells []cellKey
	reps := map[cellKey]map[int]*rep{}
	for _, st := range steps {
		if !slices.Contains(workers, st.Workers) {
			workers = append(workers, st.Workers)
		}
		k := cellKey{st.Workers, st.Store, st.Strategy}
		if reps[k] == nil {
			reps[k] = map[int]*rep{}
			cells = append(cells, k)
		}
		r := reps[k][st.Rep]
		if r == nil {
			r = &rep{}
			reps[k][st.Rep] = r
		}
		r.rates = append(r.rates, st.Offered)
		r.results = append(r.results, load.Result{Offered: st.Offered, Throughput: st.Throughput, Requests: st.Requests,
			Success: st.Success, Behind: st.Has(experiment.FlagBehind)})
		if !st.Flagged() && st.Throughput > r.capacity {
			r.capacity = st.Throughput
		}
		r.noisy = r.noisy || st.Has(experiment.FlagNoisy)
	}
	keptUp := func(r load.Result) bool {
		return r.Requests > 0 && r.Throughput >= experiment.LostThroughput*r.Offered && r.Success >= experiment.MinSuccess
	}
	best := map[int]scaling.Point{}
	for _, k := range cells {
		var caps, los, his []float64
		p := scaling.Point{Workers: k.workers}
		for _, r := range reps[k] {
			if r.capacity == 0 {
				continue
			}
			lo, hi := load.Bracket(r.rates, r.results, keptUp)
			rp := scaling.Point{Workers: k.workers, Capacity: r.capacity, Unsaturated: hi == 0, Lo: min(lo, r.capacity), Hi: max(hi, r.capacity)}
			if lo == 0 {
				rp.Lo = r.capacity
			}
			if rp.Unsaturated {
				rp.Hi = math.Inf(1)
			}
			caps, los, his = append(caps, rp.Capacity), append(los, rp.Lo), append(his, rp.Hi)
			p.Unsaturated = p.Unsaturated || rp.Unsaturated
			p.Disturbed = p.Disturbed || r.noisy
		}
		if len(caps) == 0 {
			continue
		}
		p.Capacity, p.Lo, p.Hi = scaling.Median(caps), scaling.Median(los), scaling.Median(his)
		if p.Capacity > best[k.workers].Capacity {
			best[k.workers] = p
		}
	}
	var points []scaling.Point
	for _, n := range workers {
		if p, ok := best[n]; ok {
			points = append(points, p)
		}
	}
	return points
}
