package load

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

const (
	// rawBatch is how many results the results loop hands the raw encoder
	// at once: one channel send and at most one goroutine wake-up per batch
	// rather than per result, which is most of the cost of handing over.
	rawBatch = 256
	// rawBatches is how many batches may wait for the encoder before the
	// results loop blocks on it (4096 results, about a second at 4000 rps),
	// so that a slow write (a page-cache flush) does not stall the schedule.
	rawBatches = 16
	// rawBuffer is the write buffer in front of Step.Raw: one write(2) per
	// few hundred results rather than one per result.
	rawBuffer = 64 << 10
)

// rawEncoder writes results to Step.Raw with vegeta's own encoder (gob, one
// stream per attack, as `vegeta attack` writes) on a goroutine of its own.
// gob allocates for every value it encodes (about 10 allocations and 1.5-2
// µs per result, see BenchmarkRawEncode); keeping it off the goroutine that
// drains vegeta's unbuffered results channel keeps that loop as lean as it
// is without raw output, and the queue absorbs the encoder's pauses. vegeta
// allocates a fresh *Result per request and never touches it after sending
// it, so handing the pointer over needs no copy.
type rawEncoder struct {
	batch   []*vegeta.Result      // being filled by the results loop
	batches chan []*vegeta.Result // full batches, to the encoder
	free    chan []*vegeta.Result // emptied batches, back to the results loop
	done    chan struct{}
	err     error  // the first write error; read only after done is closed
	name    string // the attack name each result is written with (Step.Name)
}

func newRawEncoder(w io.Writer, name string) *rawEncoder {
	e := &rawEncoder{
		name:    name,
		batch:   make([]*vegeta.Result, 0, rawBatch),
		batches: make(chan []*vegeta.Result, rawBatches),
		free:    make(chan []*vegeta.Result, rawBatches),
		done:    make(chan struct{}),
	}
	go e.run(w)
	return e
}

func (e *rawEncoder) run(w io.Writer) {
	defer close(e.done)
	bw := bufio.NewWriterSize(w, rawBuffer)
	enc := vegeta.NewEncoder(bw)
	for batch := range e.batches {
		for i, r := range batch {
			if e.err == nil { // after an error, keep draining: the results loop must never block
				e.err = enc.Encode(r)
			}
			batch[i] = nil // let the result go
		}
		select {
		case e.free <- batch[:0]:
		default: // free is full (the last batches of a stream): let this one go
		}
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
}

// add queues r for encoding; it blocks only while rawBatches full batches wait.
func (e *rawEncoder) add(r *vegeta.Result) {
	if e.name != "" {
		r.Attack = e.name
	}
	e.batch = append(e.batch, r)
	if len(e.batch) < rawBatch {
		return
	}
	e.batches <- e.batch
	select {
	case e.batch = <-e.free:
	default:
		e.batch = make([]*vegeta.Result, 0, rawBatch)
	}
}

// close encodes what is queued, flushes, and returns the first write error.
func (e *rawEncoder) close() error {
	if len(e.batch) > 0 {
		e.batches <- e.batch
	}
	close(e.batches)
	<-e.done
	return e.err
}

// bodyCounter counts the response body bytes of each request of an attack, for the raw
// results' BytesIn: vegeta counts only the bytes it keeps (none: bodies are discarded, see
// newAttacker), and a result does not lead back to its response. It wraps the attack's
// transport and keys each response by the sequence number vegeta puts in the request's
// X-Vegeta-Seq header and in its result. A body's count is recorded when vegeta closes it,
// before the result is sent on the results channel, so the results loop finds it there.
type bodyCounter struct {
	rt http.RoundTripper
	mu sync.Mutex
	n  map[uint64]uint64 // by sequence number, until the results loop takes it
}

// countBodies makes c's transport count response bodies; take returns the counts.
func countBodies(c *http.Client) *bodyCounter {
	bc := &bodyCounter{rt: c.Transport, n: make(map[uint64]uint64)}
	c.Transport = bc
	return bc
}

func (bc *bodyCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := bc.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if v := req.Header[seqHeader]; len(v) == 1 {
		if seq, err := strconv.ParseUint(v[0], 10, 64); err == nil {
			resp.Body = &countedBody{ReadCloser: resp.Body, bc: bc, seq: seq}
		}
	}
	return resp, nil
}

// take returns and forgets the body bytes of the request with sequence number seq; 0 when it
// had no response.
func (bc *bodyCounter) take(seq uint64) uint64 {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	n := bc.n[seq]
	delete(bc.n, seq)
	return n
}

// seqHeader is the request header vegeta numbers its requests in, as it spells it.
const seqHeader = "X-Vegeta-Seq"

type countedBody struct {
	io.ReadCloser
	bc     *bodyCounter
	seq    uint64
	n      uint64
	closed bool
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += uint64(n)
	return n, err
}

func (b *countedBody) Close() error {
	if !b.closed {
		b.closed = true
		b.bc.mu.Lock()
		b.bc.n[b.seq] = b.n
		b.bc.mu.Unlock()
	}
	return b.ReadCloser.Close()
}

// ProgressInterval is how often Step.Progress is called while an attack runs.
const ProgressInterval = 500 * time.Millisecond

// Progress is a snapshot of a running attack, for a live status line.
type Progress struct {
	// Elapsed is the time since the schedule began, warm-up included.
	Elapsed time.Duration
	// Warmup is true while the schedule is still in the warm-up.
	Warmup bool
	// Requests and Successes count the measured requests answered so far
	// (zero during the warm-up).
	Requests, Successes uint64
	// Rate is responses per second over the last interval, warm-up
	// responses included: what the target is answering right now.
	Rate float64
	// P99 is the 99th percentile latency of the measured requests so far;
	// zero before the first one.
	P99 time.Duration
}

// progress takes a snapshot at now. It runs on the results loop, every
// ProgressInterval: a quantile walks the histogram's buckets (a few µs),
// which is nothing at that interval.
func (rc *recorder) progress(now time.Time) Progress {
	p := Progress{
		Elapsed:   now.Sub(rc.began),
		Requests:  rc.requests,
		Successes: rc.successes,
	}
	p.Warmup = p.Elapsed < rc.warmup
	since := rc.lastTick
	if since.IsZero() {
		since = rc.began
	}
	if d := now.Sub(since); d > 0 {
		p.Rate = float64(rc.seen-rc.lastSeen) / d.Seconds()
	}
	rc.lastTick, rc.lastSeen = now, rc.seen
	if rc.requests > 0 {
		p.P99 = time.Duration(rc.lat.ValueAtQuantile(99)) * time.Microsecond
	}
	return p
}
