package load

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// decodeAll reads a gob stream of results with vegeta's own decoder, as `vegeta report` does.
func decodeAll(t *testing.T, r io.Reader) []vegeta.Result {
	t.Helper()
	dec := vegeta.NewDecoder(r)
	var out []vegeta.Result
	for {
		var res vegeta.Result
		err := dec.Decode(&res)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("decoding result %d: %v", len(out), err)
		}
		out = append(out, res)
	}
}

func TestAttack_RawHoldsExactlyTheMeasuredResults(t *testing.T) {
	t.Parallel()
	srv, served := countingServer(t, nil)
	var raw bytes.Buffer
	step := Step{URL: srv.URL, Rate: 200, Duration: 500 * time.Millisecond, Warmup: 250 * time.Millisecond, Raw: &raw}
	res, err := Attack(context.Background(), step)
	if err != nil {
		t.Fatal(err)
	}
	rs := decodeAll(t, &raw)
	if got, want := uint64(len(rs)), res.Requests; got != want || want == 0 {
		t.Fatalf("raw holds %d results, Result counts %d requests", got, want)
	}
	if got, want := uint64(served.Load()), res.Requests+res.WarmupRequests; got != want {
		t.Errorf("server saw %d requests, want measured+warm-up = %d", got, want)
	}
	// The warm-up is left out: every slot is due at or after the warm-up's end.
	interval := time.Second / 200
	var m vegeta.Metrics
	for i := range rs {
		if due := time.Duration(rs[i].Seq+1) * interval; due < step.Warmup {
			t.Errorf("raw holds warm-up request seq %d (due %v)", rs[i].Seq, due)
		}
		if rs[i].URL != srv.URL || rs[i].Method != "GET" {
			t.Errorf("result %d: %s %s, want GET %s", i, rs[i].Method, rs[i].URL, srv.URL)
		}
		m.Add(&rs[i])
	}
	m.Close()
	if got, want := m.Success, res.Success; got != want {
		t.Errorf("vegeta's success over the raw file = %v, Result says %v", got, want)
	}
	// The histogram keeps 3 significant digits: its max is the top of the max's bucket.
	if got, want := m.Latencies.Max, res.Latency.Max(); !res.Latency.ValuesAreEquivalent(micros(got), want) {
		t.Errorf("vegeta's max latency over the raw file = %v, Result's histogram says %d µs", got, want)
	}
}

// failingWriter fails every write after the first n bytes.
type failingWriter struct {
	mu sync.Mutex
	n  int
}

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(p) > w.n {
		return 0, errDiskFull
	}
	w.n -= len(p)
	return len(p), nil
}

func TestAttack_RawWriteErrorFailsAfterMeasuring(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, nil)
	// More results than the queue and the write buffer hold: the encoder hits the error mid-run
	// and must keep draining, or the attack would hang.
	step := Step{URL: srv.URL, Rate: 2000, Duration: 2500 * time.Millisecond, Raw: &failingWriter{n: 1000}}
	res, err := Attack(context.Background(), step)
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("err = %v, want one wrapping %v", err, errDiskFull)
	}
	if res.Requests == 0 || res.Latency.TotalCount() != int64(res.Requests) {
		t.Errorf("Result lost its measurements: %d requests, %d latencies", res.Requests, res.Latency.TotalCount())
	}
}

func TestAttack_ProgressSnapshots(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, nil)
	var snaps []Progress // appended on the results loop, read after Attack returned
	step := Step{URL: srv.URL, Rate: 200, Duration: 1200 * time.Millisecond, Warmup: 600 * time.Millisecond,
		Progress: func(p Progress) { snaps = append(snaps, p) }}
	res, err := Attack(context.Background(), step)
	if err != nil {
		t.Fatal(err)
	}
	// 1.8 s of schedule at one snapshot per 500 ms: 3, unless the machine stalled the ticker.
	if len(snaps) < 2 || len(snaps) > 4 {
		t.Fatalf("%d snapshots over 1.8 s, want about 3: %+v", len(snaps), snaps)
	}
	first, last := snaps[0], snaps[len(snaps)-1]
	if !first.Warmup || first.Requests != 0 || first.P99 != 0 {
		t.Errorf("first snapshot %+v: want warm-up, no measured requests", first)
	}
	if first.Rate <= 0 {
		t.Errorf("first snapshot %+v: want a live rate during the warm-up", first)
	}
	if last.Warmup || last.Requests == 0 || last.Requests > res.Requests || last.P99 <= 0 {
		t.Errorf("last snapshot %+v: want measured requests (≤ %d) and a p99", last, res.Requests)
	}
	for i := 1; i < len(snaps); i++ {
		if snaps[i].Elapsed <= snaps[i-1].Elapsed || snaps[i].Requests < snaps[i-1].Requests {
			t.Errorf("snapshot %d %+v goes back from %+v", i, snaps[i], snaps[i-1])
		}
	}
}

// BenchmarkAttackRaw measures what writing the raw results file costs the driver: CPU per request
// with and without Step.Raw (a real file), interleaved in one run, and their ratio.
func BenchmarkAttackRaw(b *testing.B) {
	for _, rate := range []float64{1000, 4000} {
		b.Run(vegeta.ConstantPacer{Freq: int(rate), Per: time.Second}.String(), func(b *testing.B) {
			url := startTarget(b, 1)
			dir := b.TempDir()
			var cpu [2]time.Duration
			var reqs [2]uint64
			var size int64
			var measured uint64 // requests in the raw files
			b.ResetTimer()
			for range b.N {
				for i, withRaw := range []bool{false, true} {
					step := Step{URL: url, Rate: rate, Duration: time.Second, Warmup: 200 * time.Millisecond}
					var f *os.File
					if withRaw {
						var err error
						if f, err = os.CreateTemp(dir, "raw"); err != nil {
							b.Fatal(err)
						}
						step.Raw = f
					}
					c0 := cpuTime(b)
					res, err := Attack(context.Background(), step)
					if err != nil {
						b.Fatal(err)
					}
					cpu[i] += cpuTime(b) - c0
					reqs[i] += res.Requests + res.WarmupRequests
					if f != nil {
						fi, _ := f.Stat()
						size += fi.Size()
						measured += res.Requests
						f.Close()
						os.Remove(f.Name())
					}
				}
			}
			off := float64(cpu[0].Nanoseconds()) / float64(reqs[0]) / 1000
			on := float64(cpu[1].Nanoseconds()) / float64(reqs[1]) / 1000
			b.ReportMetric(off, "cpu-µs/req-off")
			b.ReportMetric(on, "cpu-µs/req-raw")
			b.ReportMetric(on/off, "raw/off")
			b.ReportMetric(float64(size)/float64(measured), "raw-B/req")
		})
	}
}

// BenchmarkRawEncode measures the encoder goroutine's work per result: vegeta's gob encoding of a
// result as a plain GET to a built-in worker returns it, into a buffered discarding writer.
func BenchmarkRawEncode(b *testing.B) {
	r := &vegeta.Result{
		Seq: 1, Code: 200, Timestamp: time.Now(), Latency: 1234567, BytesIn: 3,
		Method: "GET", URL: "http://127.0.0.1:40000/",
		Headers: map[string][]string{
			"Content-Length": {"3"}, "Content-Type": {"text/plain; charset=utf-8"},
			"Date": {"Thu, 26 Nov 2026 09:00:00 GMT"}, "X-Worker": {"1/41377"},
		},
	}
	e := newRawEncoder(io.Discard, "")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		e.add(r) // the same result each time: the encoder only reads it
	}
	if err := e.close(); err != nil {
		b.Fatal(err)
	}
}

// gatedWriter blocks every write until open is closed.
type gatedWriter struct {
	open chan struct{}
	buf  bytes.Buffer
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	<-w.open
	return w.buf.Write(p)
}

// The encoder falling a full queue behind (a stalled disk) blocks the results loop but neither
// loses results nor deadlocks once the writer moves again.
func TestRawEncoder_FullQueueDrains(t *testing.T) {
	t.Parallel()
	w := &gatedWriter{open: make(chan struct{})}
	e := newRawEncoder(w, "")
	const n = 40*rawBatch + 10 // more than the write buffer, the queue, a batch in the encoder and one filling
	r := &vegeta.Result{Code: 200, Timestamp: time.Now(), Latency: time.Millisecond, Method: "GET", URL: "http://127.0.0.1/"}
	added := make(chan struct{})
	go func() {
		defer close(added)
		for range n {
			e.add(r)
		}
	}()
	waitFor(t, 10*time.Second, "a full queue", func() bool { return len(e.batches) == rawBatches })
	close(w.open)
	<-added
	closed := make(chan error, 1)
	go func() { closed <- e.close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("close did not return: the encoder is stuck")
	}
	if got := len(decodeAll(t, &w.buf)); got != n {
		t.Errorf("decoded %d results, want the %d added", got, n)
	}
}
