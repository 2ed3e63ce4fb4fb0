package load

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// recorder folds vegeta results into a Result. add is the per-request path
// and allocates nothing (bar the first sighting of an error string): it runs
// on the goroutine that drains vegeta's unbuffered results channel, so any
// time spent here delays the workers.
type recorder struct {
	offered  float64
	interval time.Duration // between scheduled sends, as the pacer computes it

	// stride and phase place this generator's sends in the full schedule
	// (see shardPacer): its send i is due at began+(i*stride+phase)*interval.
	// Both are 1 when it sends the whole schedule.
	stride, phase uint64

	began    time.Time     // start of the schedule
	warmup   time.Duration // sends due before began+warmup are warm-up
	duration time.Duration // the measured window that follows
	cutoff   time.Time     // if set, results ending after it were cut short by us

	lat, failLat, lag *hdrhistogram.Histogram

	requests, successes, warmupRequests uint64
	earliest, latest, end               time.Time
	errors                              map[string]int
	classes                             ErrorClasses
	sessions                            Sessions
	workers                             []uint64 // successes per worker, from WorkerHeader
	timeline                            []uint32 // successes per TimelineBucket, by completion

	seen, lastSeen uint64    // results received (warm-up included); seen at the last progress tick
	lastTick       time.Time // the last progress tick
}

func newRecorder(p vegeta.ConstantPacer) *recorder {
	return &recorder{
		offered:  p.Rate(0),
		interval: time.Duration(p.Per.Nanoseconds() / int64(p.Freq)),
		stride:   1,
		phase:    1,
		lat:      newHistogram(),
		failLat:  newHistogram(),
		lag:      newHistogram(),
	}
}

// newHistogram holds 1 µs to 60 s in microseconds to 3 significant digits.
func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMin, histMax, histDigits)
}

// shard makes the recorder count the sends of one part of the schedule, as p
// paces them: the offered rate is the part's, lags are measured from the
// part's own due times.
func (rc *recorder) shard(p shardPacer) {
	rc.offered = p.Rate(0)
	rc.stride, rc.phase = p.shards, p.shard
}

// due is when the send numbered seq (vegeta's Seq: send order) was due, from
// the start of the schedule.
func (rc *recorder) due(seq uint64) time.Duration {
	return time.Duration(seq*rc.stride+rc.phase) * rc.interval
}

func (rc *recorder) start(began time.Time, warmup, duration time.Duration) {
	rc.began = began
	rc.warmup = warmup
	rc.duration = duration
}

// micros converts d to whole microseconds within the histograms' range.
func micros(d time.Duration) int64 {
	return min(max(d.Microseconds(), 0), histMax)
}

// add folds r into the recorder and reports whether it was counted (a measured request, not a
// warm-up one nor one we cut short).
func (rc *recorder) add(r *vegeta.Result) bool {
	// The window is cut on the schedule, not on the actual send time:
	// vegeta numbers requests in send order, so Seq is the schedule slot.
	// The two agree while the generator keeps up; when it stalls, a cut on
	// send time would move late warm-up requests (sent in a catch-up burst)
	// into the window and inflate both the count and the send rate.
	rc.seen++
	due := rc.due(r.Seq)
	if due < rc.warmup {
		rc.warmupRequests++
		return false
	}
	end := r.Timestamp.Add(r.Latency)
	if !rc.cutoff.IsZero() && end.After(rc.cutoff) {
		return false
	}

	rc.requests++
	rc.lag.RecordValue(micros(r.Timestamp.Sub(rc.began) - due))

	if rc.earliest.IsZero() || r.Timestamp.Before(rc.earliest) {
		rc.earliest = r.Timestamp
	}
	if r.Timestamp.After(rc.latest) {
		rc.latest = r.Timestamp
	}
	if end.After(rc.end) {
		rc.end = end
	}

	if r.Error == "" && r.Code >= 200 && r.Code < 400 {
		rc.lat.RecordValue(micros(r.Latency))
		rc.successes++
		countSession(&rc.sessions, r.Headers)
		rc.workers = countWorker(rc.workers, r.Headers)
		rc.mark(end)
		return true
	}
	// A failure's latency says how fast it failed (a balancer's 503 takes microseconds), not how
	// fast the service answers: it is kept apart, as k6 keeps expected_response apart.
	rc.failLat.RecordValue(micros(r.Latency))
	rc.classes.add(r)
	rc.addError(r.Error)
	return true
}

// ErrorSourceHeader is the header with which bench's balancer marks its own error responses
// (value "balancer"): a 502 or 503 carrying it was the balancer's, not a worker's.
const ErrorSourceHeader = "X-Bench-Error"

// ErrorClasses counts failed requests by where they failed.
type ErrorClasses struct {
	// Target: a response with an error status from the service (a worker's 500, 503, 404 …).
	Target uint64
	// Balancer: the balancer's own 502 (a worker could not be reached) or 503 (none available).
	Balancer uint64
	// Generator: no response at all: a timeout, a refused or reset connection, as the generator
	// saw it.
	Generator uint64
}

// Total is the number of failed requests.
func (e ErrorClasses) Total() uint64 { return e.Target + e.Balancer + e.Generator }

func (e *ErrorClasses) add(r *vegeta.Result) {
	switch {
	case r.Code == 0:
		e.Generator++
	case r.Headers != nil && r.Headers.Get(ErrorSourceHeader) == "balancer":
		e.Balancer++
	default:
		e.Target++
	}
}

// mark counts a success completing at end in its timeline bucket, measured from the start of
// the measured window.
func (rc *recorder) mark(end time.Time) {
	i := int(end.Sub(rc.began.Add(rc.warmup)) / TimelineBucket)
	if i < 0 || i > maxTimelineBuckets {
		return
	}
	for len(rc.timeline) <= i {
		rc.timeline = append(rc.timeline, 0)
	}
	rc.timeline[i]++
}

// TimelineBucket is the width of Result.Timeline's buckets.
const TimelineBucket = 100 * time.Millisecond

// maxTimelineBuckets bounds the timeline (an hour of buckets).
const maxTimelineBuckets = int(time.Hour / TimelineBucket)

func (rc *recorder) addError(e string) {
	if e == "" {
		e = "no error and no 2xx/3xx status"
	}
	if rc.errors == nil {
		rc.errors = make(map[string]int, MaxErrorKinds+1)
	}
	if _, ok := rc.errors[e]; !ok && len(rc.errors) >= MaxErrorKinds {
		e = OtherErrors
	}
	rc.errors[e]++
}

// result computes the summary the way vegeta's Metrics.Close does.
func (rc *recorder) result() Result {
	res := Result{
		Offered:        rc.offered,
		Requests:       rc.requests,
		Successes:      rc.successes,
		Latency:        rc.lat,
		FailLatency:    rc.failLat,
		Errors:         rc.errors,
		Classes:        rc.classes,
		WarmupRequests: rc.warmupRequests,
		Sessions:       rc.sessions,
		Workers:        rc.workers,
		Timeline:       rc.timeline,
		Lag:            time.Duration(rc.lag.ValueAtQuantile(99)) * time.Microsecond,
		MaxLag:         time.Duration(rc.lag.Max()) * time.Microsecond,
	}
	if rc.requests > 0 {
		res.Success = float64(rc.successes) / float64(rc.requests)
		res.Elapsed = rc.end.Sub(rc.earliest)
	}
	if window := rc.latest.Sub(rc.earliest); window > 0 {
		res.Sent = float64(rc.requests) / window.Seconds()
		res.Throughput = float64(rc.successes) / res.Elapsed.Seconds()
		res.Behind = res.Sent < BehindRatio*res.Offered
	} else {
		// Too few sends to measure a rate. If the schedule called for
		// more and nobody stopped the attack, the generator never got
		// going: a starved generator, not an idle target.
		due := rc.duration / (rc.interval * time.Duration(rc.stride))
		res.Behind = rc.cutoff.IsZero() && due >= 2
	}
	return res
}
