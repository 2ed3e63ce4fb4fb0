// Package load offers HTTP load at a fixed request rate with vegeta, records
// latencies in HdrHistograms and searches for the highest rate a target
// carries within a latency objective.
//
// Load is open loop: requests are sent on a constant schedule whether or not
// earlier ones were answered, so a slow target shows up as latency, not as a
// lower offered rate. When the generator itself cannot keep the schedule (it
// shares the machine with the target), Result.Behind and Result.Lag say so.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

const (
	// DefaultTimeout is the per-request timeout used when Step.Timeout is zero.
	DefaultTimeout = vegeta.DefaultTimeout
	// DefaultConnections bounds the connections an attack opens to the
	// target, idle or busy (Step.Connections overrides it). A request that
	// is due when all are busy waits for one, and the wait is part of its
	// latency, as in any client with a connection pool: the schedule is kept
	// (the request was sent on time by vegeta's clock), so nothing is hidden.
	// Without a bound, every stall of the machine (a GC cycle, a preempted
	// balancer) leaves behind as many new connections as requests came due
	// during it, each costing bench memory and a connect, accept and
	// upstream dial while the stall is still being worked off.
	DefaultConnections = 256
	// MaxInFlight bounds the requests one attack has in flight (vegeta's
	// workers), those waiting for one of its Connections included. Past it,
	// a send waits for a response: the schedule slips, which the send lag
	// and Behind report, where an unbounded attack on a target that stopped
	// answering would pile up goroutines until the timeout. It is more than
	// a rate of 10,000 rps needs until latency passes 400 ms.
	MaxInFlight = 4096
	// BehindRatio is the fraction of the offered rate below which the
	// achieved send rate marks a step as Behind.
	BehindRatio = 0.99
	// MaxErrorKinds bounds the number of distinct error strings kept in
	// Result.Errors; further kinds are counted under OtherErrors.
	MaxErrorKinds = 20
	// OtherErrors is the Result.Errors key for errors beyond MaxErrorKinds.
	OtherErrors = "other"

	// Histogram range and precision, in microseconds: 1 µs to 60 s, 3
	// significant digits.
	histMin     = 1
	histMax     = 60_000_000
	histDigits  = 3
	attackLabel = "" // an empty name saves vegeta a header per request
)

// ErrNotLoopback is returned by Attack for a URL whose host is not a loopback
// address: bench only ever offers load to its own machine.
var ErrNotLoopback = errors.New("host is not a loopback address")

// Step is one fixed-rate attack.
type Step struct {
	// URL is requested with GET, unless Requests is set. Its host must be
	// a loopback address (127.0.0.0/8, ::1) or "localhost", or one of
	// AllowHosts.
	URL string
	// AllowHosts are hosts off loopback that URL may name, each exactly as
	// a scenario wrote it (target.url): load leaves the machine only for an
	// address someone wrote down. Nil allows loopback alone.
	AllowHosts []string
	// Requests, when not empty, is the request mix to send instead of GET
	// URL: each request at URL's scheme and host with its own path,
	// method, headers and body, in a fixed order that interleaves them in
	// proportion to their weights (see mixOrder). Clients must then be 0.
	Requests []Request
	// Name labels the step's raw results: it is the attack name of each
	// result written to Raw, so that `vegeta plot` over several steps'
	// files shows one series per step. It is not sent (vegeta would send
	// it as an X-Vegeta-Attack header). Empty means no name.
	Name string
	// Rate is the offered rate in requests per second; it must be > 0.
	// Fractional rates are honoured to 1/1000 request per second.
	Rate float64
	// Duration is the measured window; it must be > 0.
	Duration time.Duration
	// Warmup precedes the measured window at the same rate, with the schedule
	// running on without a pause; requests scheduled during it are not
	// counted. Zero means no warm-up.
	Warmup time.Duration
	// Timeout bounds each request. Zero means DefaultTimeout.
	Timeout time.Duration
	// Clients, when > 0, sends the requests as that many simulated clients in
	// turn, each with its own session cookie and request count (the session
	// workload's protocol); Result.Sessions counts what the target answered.
	// Zero sends plain GETs.
	Clients int
	// Raw, when not nil, receives every measured request's result (exactly
	// those Result.Requests counts: not the warm-up, not requests cut short
	// by a cancellation) in vegeta's own encoding, one gob stream as
	// `vegeta attack` writes it, readable by `vegeta report` and `vegeta
	// plot`. Encoding runs on a goroutine of its own behind a queue and a
	// write buffer; Attack flushes before it returns and leaves closing to
	// the caller. A write error fails the attack after it has run. Nil
	// writes nothing.
	Raw io.Writer
	// MaxInFlight caps the requests in flight; zero means the package's
	// MaxInFlight.
	MaxInFlight int
	// Connections bounds the connections to the target; zero means
	// DefaultConnections.
	Connections int
	// Shard and Shards, when Shards > 1, make this generator one of Shards
	// that together offer Rate: of the constant schedule at Rate, whose
	// send j is due at (j+1)/Rate, this step sends those with j mod Shards
	// = Shard-1, so it runs at Rate/Shards with a phase of (Shard-1)/Rate
	// and the Shards parts interleave into exactly the full schedule.
	// Shard is 1-based. Shards 0 or 1 sends the whole schedule.
	Shard, Shards int
	// Progress, when not nil, is called every ProgressInterval with a
	// snapshot of the attack. It runs on the goroutine that drains vegeta's
	// results, so it must return quickly. Nil means no snapshots.
	Progress func(Progress)
}

// Validate reports the first invalid field of s.
func (s Step) Validate() error {
	u, err := url.Parse(s.URL)
	switch {
	case err != nil:
		return fmt.Errorf("load: step url: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("load: step url %q: scheme must be http or https", s.URL)
	case !isLoopback(u.Hostname()) && !slices.Contains(s.AllowHosts, u.Hostname()):
		return fmt.Errorf("load: step url %q: %w", s.URL, ErrNotLoopback)
	case !(s.Rate > 0) || math.IsInf(s.Rate, 0):
		return fmt.Errorf("load: step rate: must be a finite number > 0, got %v", s.Rate)
	case s.Rate < 0.001:
		// The pacer keeps three decimals; below that it would round to
		// zero, which vegeta reads as "as fast as possible".
		return fmt.Errorf("load: step rate: must be >= 0.001, got %v", s.Rate)
	case s.Rate*1000 > math.MaxInt32:
		return fmt.Errorf("load: step rate: %v is beyond any generator", s.Rate)
	case s.Duration <= 0:
		return fmt.Errorf("load: step duration: must be > 0, got %v", s.Duration)
	case s.Warmup < 0:
		return fmt.Errorf("load: step warmup: must be >= 0, got %v", s.Warmup)
	case s.Timeout < 0:
		return fmt.Errorf("load: step timeout: must be >= 0, got %v", s.Timeout)
	case s.Shards < 0 || (s.Shards > 1 && (s.Shard < 1 || s.Shard > s.Shards)):
		return fmt.Errorf("load: step shard: want 1 ≤ shard ≤ shards, got %d/%d", s.Shard, s.Shards)
	case len(s.Requests) > 0 && s.Clients > 0:
		return errors.New("load: step requests: the simulated clients (Clients) send their own requests; set one or the other")
	}
	return validateRequests(s.Requests)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Result is what one Step measured. Only requests scheduled inside the
// measured window (after the warm-up) are counted; while the generator keeps
// its schedule that is the same as the requests sent inside it.
type Result struct {
	// Offered is the scheduled rate in requests per second (Step.Rate as the
	// pacer realises it).
	Offered float64
	// Sent is the achieved send rate: measured requests divided by the time
	// between the first and the last measured send (vegeta's Metrics.Rate).
	// Zero with fewer than two measured requests.
	Sent float64
	// Throughput is successful responses per second: Successes divided by
	// the time from the first measured send to the last measured completion
	// (vegeta's Metrics.Throughput).
	Throughput float64
	// Requests counts the measured requests; Successes those answered with
	// a 2xx or 3xx status and no error.
	Requests, Successes uint64
	// Success is Successes/Requests, zero when Requests is zero.
	Success float64
	// Latency holds every successful measured request's latency in
	// microseconds, from the actual send to the end of the response body.
	// Never nil in a Result returned by Attack.
	Latency *hdrhistogram.Histogram
	// FailLatency holds the failed requests' latencies, kept apart: a
	// balancer's 503 answered in 20 µs must not make the service look fast,
	// nor a timeout make it look slow. Never nil in a Result returned by
	// Attack.
	FailLatency *hdrhistogram.Histogram
	// Elapsed is the measured window as Throughput sees it: first measured
	// send to last measured completion.
	Elapsed time.Duration
	// Errors counts failed requests by error text (an HTTP status such as
	// "500 Internal Server Error", or a transport error). At most
	// MaxErrorKinds keys plus OtherErrors. Nil when there were no errors.
	Errors map[string]int
	// Classes counts the failed requests by where they failed.
	Classes ErrorClasses
	// Behind is true when the generator did not keep up with its schedule:
	// Sent < BehindRatio × Offered, or fewer than two sends in a window
	// whose schedule held more (and the attack was not cancelled). Such a
	// step measures the generator, not the target.
	Behind bool
	// Lag and MaxLag are the 99th percentile and the maximum of how late the
	// measured requests were sent relative to their schedule. A lag of the
	// order of the request interval or more means the generator (or the
	// machine it shares) could not keep pace, even when Sent looks right
	// because vegeta catches up in bursts.
	Lag, MaxLag time.Duration
	// WarmupRequests counts requests scheduled during the warm-up (not
	// measured).
	WarmupRequests uint64
	// Sessions counts the session states the target reported (Step.Clients).
	Sessions Sessions
	// Workers counts successful responses per worker (index 0 is worker 1), from the X-Worker
	// header the built-in worker sets; nil when no response carried it.
	Workers []uint64
	// Timeline counts successful responses per TimelineBucket of the measured
	// window, by completion time: where throughput dipped (a crashed worker).
	Timeline []uint32
}

// Quantile returns the latency at quantile q, given in percent (0-100, so
// 99 is the 99th percentile). Zero when nothing was recorded.
func (r Result) Quantile(q float64) time.Duration {
	if r.Latency == nil {
		return 0
	}
	return time.Duration(r.Latency.ValueAtQuantile(q)) * time.Microsecond
}

// pacer returns the constant pacer closest to rate: whole requests per
// second when rate is whole, otherwise per 1000 s so that fractional rates
// (as a bisecting search produces) keep three decimals.
func pacer(rate float64) vegeta.ConstantPacer {
	if rate == math.Trunc(rate) {
		return vegeta.ConstantPacer{Freq: int(rate), Per: time.Second}
	}
	return vegeta.ConstantPacer{Freq: int(math.Round(rate * 1000)), Per: 1000 * time.Second}
}

// shardPacer paces one of shards interleaved parts of a constant schedule:
// of the full schedule's sends, due at (j+1)·interval, it sends those with j
// mod shards = shard-1, so its n-th send (0-based) is due at
// (n·shards + shard)·interval. Computing each due time from the full
// schedule's interval, rather than pacing at interval·shards from an offset,
// keeps the parts exact complements whatever the rounding of the interval.
type shardPacer struct {
	interval      time.Duration // of the full schedule
	shard, shards uint64        // 1-based part and number of parts
}

func newShardPacer(cp vegeta.ConstantPacer, shard, shards int) shardPacer {
	return shardPacer{
		interval: time.Duration(cp.Per.Nanoseconds() / int64(cp.Freq)),
		shard:    uint64(shard),
		shards:   uint64(shards),
	}
}

// due is when send n of this part is due, from the start of the attack.
func (p shardPacer) due(n uint64) time.Duration {
	return time.Duration((n*p.shards + p.shard) * uint64(p.interval))
}

// Pace implements vegeta.Pacer: a send that is already due goes at once, as
// with vegeta's constant pacer.
func (p shardPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if hits > (math.MaxInt64/uint64(p.interval)-p.shard)/p.shards {
		return 0, true // the due time would overflow
	}
	return p.due(hits) - elapsed, false
}

// Rate implements vegeta.Pacer: the part's share of the full rate.
func (p shardPacer) Rate(time.Duration) float64 {
	return 1e9 / (float64(p.interval) * float64(p.shards))
}

// initialWorkers sizes vegeta's starting worker pool to cover 10 ms of
// latency at rate; vegeta adds workers whenever all are busy, up to
// MaxInFlight, so this only saves the ramp of goroutine spawns.
func initialWorkers(rate float64) uint64 {
	return uint64(min(max(math.Ceil(rate/100), vegeta.DefaultWorkers), 1000))
}

// Attack offers GET s.URL (or s.Requests) at s.Rate for s.Warmup+s.Duration and returns what
// the measured window saw. It makes a fresh vegeta.Attacker (one runs a
// single attack) with redirects not followed, bodies discarded and
// keep-alive. Its workers are capped only at MaxInFlight, far past any
// saturation point: a small pool would delay sends while latency is still
// measured from the actual send, hiding the delay; past the cap the delay
// shows as send lag and the step is marked Behind.
//
// When ctx is done the attack stops, requests in flight are cut (their
// connections closed) and not counted, and Attack returns what was measured
// so far together with ctx.Err(); the pacer notices within one request
// interval. An invalid Step returns an error and sends nothing. Failed
// requests are data in Result, not errors.
//
// Plain http requests go through Transport, not net/http's transport: it
// saves each request the hand-offs to a connection's read and write
// goroutines and two thirds of the allocations (about 21 are left, 5 of
// them the Transport's, the rest vegeta's and http.Client's), about a third
// of the driver's CPU per request; see BenchmarkDriverMax and
// scripts/driver.sh. https goes through net/http's.
//
// Attack leaves the garbage collector's settings alone: they are process
// wide (the balancer shares this process); with a live heap this small, a
// higher GOGC did not lower the driver's CPU per request measurably (see
// BenchmarkAttack), while GOGC=off grew the heap until page faults stalled
// the schedule.
func Attack(ctx context.Context, s Step) (Result, error) {
	return attack(ctx, s, false)
}

// attack is Attack, with net/http's transport instead of ours if std is
// set (to compare them in benchmarks).
func attack(ctx context.Context, s Step, std bool) (Result, error) {
	if err := s.Validate(); err != nil {
		return Result{Latency: newHistogram(), FailLatency: newHistogram()}, err
	}
	cp := pacer(s.Rate)
	rec := newRecorder(cp)
	var p vegeta.Pacer = cp
	if s.Shards > 1 {
		sp := newShardPacer(cp, s.Shard, s.Shards)
		rec.shard(sp)
		p = sp
	}
	if err := ctx.Err(); err != nil {
		return rec.result(), err
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}

	conns := DefaultConnections
	if s.Connections > 0 {
		conns = s.Connections
	}
	ac := newAttackClient(timeout, conns, std)
	defer ac.close()
	var bodies *bodyCounter
	if s.Raw != nil {
		bodies = countBodies(ac.client) // before newAttacker, which copies the client
	}
	maxInFlight := uint64(MaxInFlight)
	if s.MaxInFlight > 0 {
		maxInFlight = uint64(s.MaxInFlight)
	}
	atk := newAttacker(ac, min(initialWorkers(s.Rate), maxInFlight), maxInFlight)
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: s.URL})
	var cl *clients
	switch {
	case s.Clients > 0:
		cl = newClients(s.URL, s.Clients)
		targeter = cl.targeter()
	case len(s.Requests) > 0:
		var err error
		if targeter, err = mixTargeter(s.URL, s.Requests); err != nil {
			return rec.result(), err
		}
	}

	var raw *rawEncoder
	if s.Raw != nil {
		raw = newRawEncoder(s.Raw, s.Name)
	}
	var tick <-chan time.Time // nil, never ready, without a Progress callback
	if s.Progress != nil {
		t := time.NewTicker(ProgressInterval)
		defer t.Stop()
		tick = t.C
	}

	// began is taken just before vegeta takes its own start time, so the
	// schedule we compute lags from is at most a few hundred ns early.
	began := time.Now()
	rec.start(began, s.Warmup, s.Duration)
	results := atk.Attack(targeter, p, s.Warmup+s.Duration, attackLabel)

	done := ctx.Done()
	var err error
	for {
		select {
		case r, ok := <-results:
			if !ok {
				if raw != nil {
					if rerr := raw.close(); rerr != nil && err == nil {
						err = fmt.Errorf("load: raw results: %w", rerr)
					}
				}
				res := rec.result()
				if cl != nil {
					res.Sessions.Overlap = cl.overlap.Load()
				}
				return res, err
			}
			if bodies != nil {
				r.BytesIn = bodies.take(r.Seq)
			}
			if rec.add(r) && raw != nil {
				raw.add(r)
			}
			if cl != nil {
				cl.done(r.URL)
			}
		case now := <-tick:
			s.Progress(rec.progress(now))
		case <-done:
			// Stop pacing, cut requests in flight, and keep reading until
			// vegeta's workers have all returned (they block on the
			// unbuffered results channel otherwise).
			err = ctx.Err()
			done = nil
			rec.cutoff = time.Now()
			atk.Stop()
			ac.close()
		}
	}
}

// attackClient is the HTTP client of one attack: our Transport for plain
// http, net/http's for https (and for comparison). Closing it closes every
// connection the attack opened, cutting requests in flight: vegeta's
// requests carry no context, and a cancelled step would otherwise wait for
// every slow response, up to the request timeout.
type attackClient struct {
	client *http.Client
	lean   *Transport
	std    *http.Transport
	conns  *connTracker // the std transport's connections
}

func newAttackClient(timeout time.Duration, conns int, std bool) *attackClient {
	ac := &attackClient{conns: newConnTracker(&net.Dialer{KeepAlive: 30 * time.Second})}
	ac.std = &http.Transport{
		Proxy:               nil, // loopback only; never route through a proxy
		DialContext:         ac.conns.DialContext,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		DisableCompression:  true, // bodies are discarded; don't ask for gzip
	}
	if std {
		ac.client = &http.Client{Transport: ac.std, Timeout: timeout}
		return ac
	}
	// The timeout goes on the Transport, not the Client: with a
	// RoundTripper net/http does not know, Client.Timeout costs a
	// goroutine and a timer per request.
	ac.lean = &Transport{
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		Timeout:             timeout,
		Fallback:            ac.std, // https; Timeout applies to it through the context
	}
	ac.client = &http.Client{Transport: ac.lean}
	return ac
}

// close closes every connection, idle or busy, and refuses new ones.
func (ac *attackClient) close() {
	if ac.lean != nil {
		_ = ac.lean.Close()
	}
	ac.std.CloseIdleConnections()
	ac.conns.closeAll()
}

// newAttacker makes the vegeta attacker of one attack on ac's client:
// redirects not followed, bodies discarded, workers started and capped as
// given. Options that type-assert vegeta's own *http.Transport
// (Connections, KeepAlive) are not used: the client's transport is
// configured above.
func newAttacker(ac *attackClient, workers, maxWorkers uint64) *vegeta.Attacker {
	return vegeta.NewAttacker(
		vegeta.Client(ac.client),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.MaxBody(0),
		vegeta.Workers(workers),
		vegeta.MaxWorkers(maxWorkers),
	)
}
