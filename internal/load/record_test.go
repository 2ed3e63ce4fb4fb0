package load

import (
	"fmt"
	"math"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// synthetic returns n results of a 100 rps schedule starting at began, each
// sent lateBy after its slot and taking latency.
func synthetic(began time.Time, n int, lateBy, latency time.Duration, code uint16, errText string) []*vegeta.Result {
	rs := make([]*vegeta.Result, n)
	for i := range rs {
		rs[i] = &vegeta.Result{
			Seq:       uint64(i),
			Code:      code,
			Timestamp: began.Add(time.Duration(i+1)*10*time.Millisecond + lateBy),
			Latency:   latency,
			Error:     errText,
		}
	}
	return rs
}

func TestRecorder_MatchesVegetaMetrics(t *testing.T) {
	t.Parallel()
	began := time.Now()
	rs := synthetic(began, 300, 0, 3*time.Millisecond, 200, "")
	for i := 0; i < 300; i += 7 { // a sprinkling of failures and slow answers
		rs[i].Code, rs[i].Error = 503, "503 Service Unavailable"
		rs[i+1].Latency = 40 * time.Millisecond
	}

	rec := newRecorder(pacer(100))
	rec.start(began, time.Second, 2*time.Second) // the first 100 slots are warm-up
	var m vegeta.Metrics
	for _, r := range rs {
		rec.add(r)
		if !r.Timestamp.Before(began.Add(time.Second)) {
			m.Add(r)
		}
	}
	m.Close()
	res := rec.result()

	if got, want := res.Requests, m.Requests; got != want {
		t.Errorf("Requests = %d, want %d", got, want)
	}
	if got, want := res.WarmupRequests, uint64(300)-m.Requests; got != want {
		t.Errorf("WarmupRequests = %d, want %d", got, want)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"Sent", res.Sent, m.Rate},
		{"Throughput", res.Throughput, m.Throughput},
		{"Success", res.Success, m.Success},
		{"Elapsed", float64(res.Elapsed), float64(m.Duration + m.Wait)},
	} {
		if math.Abs(c.got-c.want) > 1e-9*math.Abs(c.want) {
			t.Errorf("%s = %v, vegeta says %v", c.name, c.got, c.want)
		}
	}
	if got, want := res.Errors["503 Service Unavailable"], int(m.Requests-uint64(math.Round(m.Success*float64(m.Requests)))); got != want {
		t.Errorf("Errors = %v, want %d 503s", res.Errors, want)
	}
	if got, want := res.Quantile(99), m.Latencies.P99; got < want*999/1000 || got > want*1001/1000 {
		t.Errorf("p99 = %v, vegeta says %v", got, want)
	}
	if res.Behind || res.Lag != 0 || res.MaxLag != 0 {
		t.Errorf("Behind, Lag, MaxLag = %v, %v, %v on schedule; want false, 0, 0", res.Behind, res.Lag, res.MaxLag)
	}
}

func TestRecorder_WarmupCutOnTheSchedule(t *testing.T) {
	t.Parallel()
	// The generator stalled for the first 300ms: the warm-up's last slots
	// went out late, inside the window, in one burst. They stay warm-up.
	began := time.Now()
	rec := newRecorder(pacer(100))
	rec.start(began, 200*time.Millisecond, 800*time.Millisecond)
	for _, r := range synthetic(began, 100, 0, time.Millisecond, 200, "") {
		if stalled := began.Add(300 * time.Millisecond); r.Timestamp.Before(stalled) {
			r.Timestamp = stalled
		}
		rec.add(r)
	}
	res := rec.result()
	if res.WarmupRequests != 19 || res.Requests != 81 {
		t.Errorf("WarmupRequests, Requests = %d, %d; want 19, 81 (slots due at 10..190ms are warm-up)", res.WarmupRequests, res.Requests)
	}
	if got, want := res.MaxLag, 100*time.Millisecond; got < want || got > want+want/100 {
		t.Errorf("MaxLag = %v, want ≈%v (the slot due at 200ms went out at 300ms)", got, want)
	}
}

func TestRecorder_Lag(t *testing.T) {
	t.Parallel()
	began := time.Now()
	rec := newRecorder(pacer(100))
	rec.start(began, 0, time.Second)
	for _, r := range synthetic(began, 100, 7*time.Millisecond, time.Millisecond, 200, "") {
		rec.add(r)
	}
	res := rec.result()
	if got, want := res.Lag, 7*time.Millisecond; got < want || got > want+want/100 {
		t.Errorf("Lag = %v, want ≈%v", got, want)
	}
	if res.MaxLag < res.Lag {
		t.Errorf("MaxLag %v < Lag %v", res.MaxLag, res.Lag)
	}
}

func TestRecorder_Behind(t *testing.T) {
	t.Parallel()
	// Scheduled at 100 rps, sent at 50 rps: the generator fell behind.
	began := time.Now()
	rec := newRecorder(pacer(100))
	rec.start(began, 0, time.Second)
	for i := range 100 {
		rec.add(&vegeta.Result{Seq: uint64(i), Code: 200, Timestamp: began.Add(time.Duration(i+1) * 20 * time.Millisecond), Latency: time.Millisecond})
	}
	res := rec.result()
	if !res.Behind || !(res.Sent < 51 && res.Sent > 49) {
		t.Errorf("Behind, Sent = %v, %v; want true, ≈50", res.Behind, res.Sent)
	}
	if res.MaxLag < 900*time.Millisecond {
		t.Errorf("MaxLag = %v, want ≈1s (the last send was due at 1s, sent at 2s)", res.MaxLag)
	}
}

func TestRecorder_BoundsErrorKinds(t *testing.T) {
	t.Parallel()
	began := time.Now()
	rec := newRecorder(pacer(100))
	rec.start(began, 0, time.Second)
	for i := range 3 * MaxErrorKinds {
		rec.add(&vegeta.Result{Seq: uint64(i), Timestamp: began.Add(time.Millisecond), Error: fmt.Sprintf("error %d", i)})
	}
	res := rec.result()
	if got, want := len(res.Errors), MaxErrorKinds+1; got != want {
		t.Errorf("%d error kinds, want %d", got, want)
	}
	if got, want := res.Errors[OtherErrors], 2*MaxErrorKinds; got != want {
		t.Errorf("Errors[%q] = %d, want %d", OtherErrors, got, want)
	}
	if res.Successes != 0 || res.Requests != uint64(3*MaxErrorKinds) {
		t.Errorf("Successes, Requests = %d, %d", res.Successes, res.Requests)
	}
}

func TestRecorder_DropsResultsCutByCancel(t *testing.T) {
	t.Parallel()
	began := time.Now()
	rec := newRecorder(pacer(100))
	rec.start(began, 0, time.Second)
	rec.cutoff = began.Add(500 * time.Millisecond)
	for _, r := range synthetic(began, 100, 0, time.Millisecond, 200, "") {
		rec.add(r)
	}
	// Sends at 10ms..1s; those ending after 500ms were cut.
	if got, want := rec.result().Requests, uint64(49); got != want {
		t.Errorf("Requests = %d, want %d", got, want)
	}
}

func TestRecorder_NothingSentIsBehind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		duration  time.Duration
		sends     int
		cancelled bool
		want      bool
	}{
		{"starved", time.Second, 1, false, true},               // sad: 100 due, 1 sent
		{"starved, nothing sent", time.Second, 0, false, true}, // sad
		{"cancelled", time.Second, 0, true, false},
		{"one slot", 15 * time.Millisecond, 1, false, false}, // a window of one slot has no rate
	} {
		rec := newRecorder(pacer(100))
		began := time.Now()
		rec.start(began, 0, tc.duration)
		if tc.cancelled {
			rec.cutoff = began
		}
		for _, r := range synthetic(began, tc.sends, 0, 0, 200, "") {
			rec.add(r)
		}
		if got := rec.result().Behind; got != tc.want {
			t.Errorf("%s: Behind = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestResult_QuantileOfZeroValue(t *testing.T) {
	t.Parallel()
	if got := (Result{}).Quantile(99); got != 0 {
		t.Errorf("Quantile on a zero Result = %v, want 0", got)
	}
}
