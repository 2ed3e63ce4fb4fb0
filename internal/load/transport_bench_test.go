package load

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Environment of the driver benchmarks (scripts/driver.sh sets them).
const (
	// driverURLEnv names the target to drive instead of a trivial one
	// started by the benchmark; it must be a loopback URL.
	driverURLEnv = "LOAD_DRIVER_URL"
	// driverDurationEnv sets each measured run's length (default 1s;
	// wrk takes whole seconds).
	driverDurationEnv = "LOAD_DRIVER_DURATION"
	// driverRoundsEnv sets how many runs of each driver are interleaved
	// (default 3).
	driverRoundsEnv = "LOAD_DRIVER_ROUNDS"
	// driverConnsEnv sets the concurrent connections (default 16).
	driverConnsEnv = "LOAD_DRIVER_CONNS"
)

// driverTarget returns the URL the driver benchmarks offer load to.
func driverTarget(b *testing.B) string {
	if u := os.Getenv(driverURLEnv); u != "" {
		if err := (Step{URL: u, Rate: 1, Duration: 1}).Validate(); err != nil {
			b.Fatalf("%s: %v", driverURLEnv, err)
		}
		return u
	}
	return startTarget(b, 1)
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		return d
	}
	return def
}

func envInt(b *testing.B, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("%s: want a positive integer, got %q", name, v)
		}
		return n
	}
	return def
}

// drive is what one closed-loop run at the driver's maximum rate measured.
type drive struct {
	ok, failed uint64
	elapsed    time.Duration
	cpu        time.Duration // of the driver process alone
}

func (d drive) rps() float64 { return float64(d.ok) / d.elapsed.Seconds() }

// cpuPerReq is the driver's CPU per successful request in µs.
func (d drive) cpuPerReq() float64 {
	return float64(d.cpu.Nanoseconds()) / 1e3 / float64(max(d.ok, 1))
}

func (d drive) add(e drive) drive {
	return drive{d.ok + e.ok, d.failed + e.failed, d.elapsed + e.elapsed, d.cpu + e.cpu}
}

// driveVegeta runs vegeta as fast as it goes with conns workers (each one
// request at a time, as wrk's connections) for dur, on net/http's
// transport if std is set, else on ours.
func driveVegeta(b *testing.B, url string, conns int, dur time.Duration, std bool) drive {
	ac := newAttackClient(DefaultTimeout, DefaultConnections, std)
	defer ac.close()
	atk := newAttacker(ac, uint64(conns), uint64(conns))
	tgt := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})
	var d drive
	c0, t0 := cpuTime(b), time.Now()
	for r := range atk.Attack(tgt, vegeta.ConstantPacer{}, dur, attackLabel) { // zero pacer: no pause
		if r.Error == "" && r.Code == http.StatusOK {
			d.ok++
		} else {
			d.failed++
		}
	}
	d.elapsed, d.cpu = time.Since(t0), cpuTime(b)-c0
	return d
}

var wrkRequests = regexp.MustCompile(`(\d+) requests in`)

// driveWrk runs wrk (one thread, conns connections) for dur and reports
// its CPU from the child's rusage.
func driveWrk(b *testing.B, wrk, url string, conns int, dur time.Duration) drive {
	secs := max(int(dur.Round(time.Second)/time.Second), 1)
	cmd := exec.Command(wrk, "-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", secs), url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("wrk: %v\n%s", err, out.Bytes())
	}
	elapsed := time.Since(t0)
	m := wrkRequests.FindSubmatch(out.Bytes())
	if m == nil {
		b.Fatalf("wrk: no request count in\n%s", out.Bytes())
	}
	n, _ := strconv.ParseUint(string(m[1]), 10, 64)
	if bytes.Contains(out.Bytes(), []byte("Non-2xx")) || bytes.Contains(out.Bytes(), []byte("Socket errors")) {
		b.Logf("wrk reported errors:\n%s", out.Bytes())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	// wrk counts over its own -d window; its start-up is not load.
	return drive{ok: n, elapsed: min(elapsed, time.Duration(secs)*time.Second), cpu: cpu}
}

// BenchmarkDriverMax measures the driver at its maximum rate against one
// target in another process: vegeta on net/http's transport ("std"), on
// Transport ("lean"), and wrk if it is installed, interleaved in rounds so
// that drift of a shared machine hits all alike. It reports requests per
// second, the driver's CPU per request, and their ratios. The target is
// LOAD_DRIVER_URL or a trivial net/http server (GOMAXPROCS=1).
func BenchmarkDriverMax(b *testing.B) {
	url := driverTarget(b)
	dur := envDuration(b, driverDurationEnv, time.Second)
	rounds := envInt(b, driverRoundsEnv, 3)
	conns := envInt(b, driverConnsEnv, 16)
	wrk, _ := exec.LookPath("wrk")
	// Warm the target (and the page cache of wrk) before measuring.
	driveVegeta(b, url, conns, 200*time.Millisecond, false)

	for range b.N {
		var std, lean, w drive
		for range rounds {
			std = std.add(driveVegeta(b, url, conns, dur, true))
			lean = lean.add(driveVegeta(b, url, conns, dur, false))
			if wrk != "" {
				w = w.add(driveWrk(b, wrk, url, conns, dur))
			}
		}
		if std.failed+lean.failed > 0 {
			b.Fatalf("failed requests: std %d, lean %d", std.failed, lean.failed)
		}
		b.ReportMetric(std.rps(), "std-rps")
		b.ReportMetric(lean.rps(), "lean-rps")
		b.ReportMetric(std.cpuPerReq(), "std-cpu-µs/req")
		b.ReportMetric(lean.cpuPerReq(), "lean-cpu-µs/req")
		b.ReportMetric(lean.rps()/std.rps(), "lean/std-rps")
		b.ReportMetric(lean.cpuPerReq()/std.cpuPerReq(), "lean/std-cpu")
		if wrk != "" {
			b.ReportMetric(w.rps(), "wrk-rps")
			b.ReportMetric(w.cpuPerReq(), "wrk-cpu-µs/req")
			b.ReportMetric(lean.rps()/w.rps(), "lean/wrk-rps")
			b.ReportMetric(std.rps()/w.rps(), "std/wrk-rps")
		} else {
			b.Log("wrk not installed: no wrk comparison")
		}
	}
}

// BenchmarkAttackTransport offers fixed rates, as `bench run` does, to a
// trivial target in another process, on both transports, and reports what
// the driver process spends per request.
func BenchmarkAttackTransport(b *testing.B) {
	url := driverTarget(b)
	for _, rate := range []float64{1000, 4000} {
		for _, std := range []bool{true, false} {
			name := fmt.Sprintf("%v/lean", rate)
			if std {
				name = fmt.Sprintf("%v/std", rate)
			}
			b.Run(name, func(b *testing.B) {
				var ms0, ms1 runtime.MemStats
				var reqs, mallocs uint64
				var cpu time.Duration
				for range b.N {
					runtime.ReadMemStats(&ms0)
					c0 := cpuTime(b)
					res, err := attack(context.Background(), Step{URL: url, Rate: rate, Duration: time.Second, Warmup: 200 * time.Millisecond}, std)
					if err != nil {
						b.Fatal(err)
					}
					cpu += cpuTime(b) - c0
					runtime.ReadMemStats(&ms1)
					mallocs += ms1.Mallocs - ms0.Mallocs
					reqs += res.Requests + res.WarmupRequests
					if res.Success != 1 {
						b.Fatalf("success %v: %v", res.Success, res.Errors)
					}
				}
				b.ReportMetric(float64(cpu.Microseconds())/float64(reqs), "cpu-µs/req")
				b.ReportMetric(float64(mallocs)/float64(reqs), "allocs/req")
			})
		}
	}
}

// BenchmarkRoundTrip sends requests one at a time through an http.Client
// on each transport, as vegeta does, to a target in another process: the
// allocations are the transport's and the client's.
func BenchmarkRoundTrip(b *testing.B) {
	u := driverTarget(b)
	pu, err := url.Parse(u)
	if err != nil {
		b.Fatal(err)
	}
	for _, std := range []bool{true, false} {
		name := "lean"
		if std {
			name = "std"
		}
		b.Run(name, func(b *testing.B) {
			ac := newAttackClient(0, DefaultConnections, std)
			defer ac.close()
			req := &http.Request{Method: http.MethodGet, URL: pu, Host: pu.Host, Header: http.Header{"X-Vegeta-Seq": {"1"}}}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				resp, err := ac.client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Length") == "" {
					b.Fatalf("status %d, header %v", resp.StatusCode, resp.Header)
				}
			}
		})
	}
}
