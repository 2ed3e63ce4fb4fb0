package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/load"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func snap(row, workers int, offered float64, elapsed time.Duration, warm bool) experiment.Progress {
	return experiment.Progress{Row: row, Step: experiment.Step{Workers: workers, Strategy: "round-robin", Offered: offered},
		Progress: load.Progress{Elapsed: elapsed, Warmup: warm, Rate: 99, P99: 1234 * time.Microsecond}}
}

func TestProgress_liveRedrawsOneLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1000, 0)}
	// 2 worker counts × 2 rates, 1 s + 200 ms each: 4.8 s of steps.
	p := newProgress(&buf, progressLive, runPlan{groups: 2, stepsPerGroup: 2, stepTime: 1200 * time.Millisecond}, clock.now)

	clock.add(300 * time.Millisecond)
	p.Update(snap(1, 1, 100, 100*time.Millisecond, true))
	// Left: 1.1 s of this step, 1 more step of this group, 2 of the next = 4.7 s.
	if got, want := buf.String(), "\rN=1 step 1/~4 100 rps warm-up 0.1s live 99 rps p99 1.23ms · 0:00 elapsed, ~0:05 left\x1b[K"; got != want {
		t.Errorf("status line\n%q\nwant\n%q", got, want)
	}

	buf.Reset()
	p.Event("something happened")
	if got, want := buf.String(), "\r\x1b[Kbench: something happened\n\rN=1 step 1/~4 100 rps warm-up 0.1s live 99 rps p99 1.23ms · 0:00 elapsed, ~0:05 left\x1b[K"; got != want {
		t.Errorf("an event clears the status line, prints, redraws:\n%q\nwant\n%q", got, want)
	}

	buf.Reset()
	st := experiment.Step{Workers: 1, Strategy: "round-robin", Offered: 100, Throughput: 100, Success: 1}
	p.Step(st)
	if got, want := buf.String(), "\r\x1b[K"+progressLine(st)+"\n"; got != want {
		t.Errorf("a finished step clears the status line and stays:\n%q\nwant\n%q", got, want)
	}

	buf.Reset()
	clock.add(90 * time.Second)
	p.Update(snap(2, 1, 200, 1100*time.Millisecond, false))
	if got := buf.String(); !strings.Contains(got, "step 2/~4 200 rps 1.1s/1.2s ") || !strings.Contains(got, "1:30 elapsed, ~0:03 left") {
		t.Errorf("second step: %q", got)
	}

	buf.Reset()
	p.Done()
	if got := buf.String(); got != "\r\x1b[K" {
		t.Errorf("Done printed %q, want the status line cleared", got)
	}
	buf.Reset()
	p.Done()
	if buf.Len() != 0 {
		t.Errorf("Done with no status line printed %q", buf.String())
	}
}

func TestProgress_searchEstimateShrinks(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1000, 0)}
	p := newProgress(&buf, progressLive, runPlan{groups: 2, stepsPerGroup: 5, search: true, stepTime: time.Second}, clock.now)
	p.Update(snap(1, 1, 50, 0, true))
	if got := buf.String(); !strings.Contains(got, "step 1/≤10 ") || !strings.Contains(got, "≤0:10 left") {
		t.Errorf("at the start, a search is counted at max_steps: %q", got)
	}
	// The first search ends after 2 steps; the second begins: 2 + 5 steps in all, 5 s left.
	p.Step(experiment.Step{Workers: 1, Strategy: "round-robin", Offered: 50, Search: true})
	p.Step(experiment.Step{Workers: 1, Strategy: "round-robin", Offered: 100, Search: true})
	buf.Reset()
	p.Update(snap(3, 2, 80, 0, true))
	if got := buf.String(); !strings.Contains(got, "N=2 step 3/≤7 ") || !strings.Contains(got, "≤0:05 left") {
		t.Errorf("after a short search: %q", got)
	}
}

// Searches that take turns come back to a group: it is one group, not a new one each time, so
// the groups not started yet are still counted in the estimate.
func TestProgress_groupsTakingTurns(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1000, 0)}
	p := newProgress(&buf, progressLive, runPlan{groups: 3, stepsPerGroup: 5, search: true, stepTime: time.Second}, clock.now)
	for _, n := range []int{1, 2, 1, 2} {
		p.Step(experiment.Step{Workers: n, Strategy: "round-robin", Offered: 50, Search: true})
	}
	buf.Reset()
	// Two groups started with two steps each, the third not yet: in 2's next step, 2 more of 2's
	// and 5 of the third are left.
	p.Update(snap(5, 2, 80, 0, true))
	if got := buf.String(); !strings.Contains(got, "≤0:08 left") {
		t.Errorf("groups taking turns: %q, want ≤0:08 left", got)
	}
}

func TestProgress_plainAndQuiet(t *testing.T) {
	t.Parallel()
	st := experiment.Step{Workers: 2, Strategy: "round-robin", Offered: 400, Throughput: 399, Success: 1}
	plan := runPlan{groups: 1, stepsPerGroup: 1, stepTime: time.Second}

	var plain bytes.Buffer
	p := newProgress(&plain, progressPlain, plan, time.Now)
	p.Update(snap(1, 2, 400, time.Second, false))
	p.Event("starting 2 worker(s)")
	p.Step(st)
	p.Done()
	if got, want := plain.String(), "bench: starting 2 worker(s)\n"+progressLine(st)+"\n"; got != want {
		t.Errorf("plain progress\n%q\nwant\n%q", got, want)
	}

	var quiet bytes.Buffer
	q := newProgress(&quiet, progressQuiet, plan, time.Now)
	q.Update(snap(1, 2, 400, time.Second, false))
	q.Event("starting 2 worker(s)")
	q.Step(st)
	q.Done()
	if quiet.Len() != 0 {
		t.Errorf("quiet progress printed %q", quiet.String())
	}
}

func TestProgressModeFor(t *testing.T) {
	t.Parallel()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tc := range []struct {
		w     io.Writer
		quiet bool
		want  progressMode
	}{
		{&bytes.Buffer{}, false, progressPlain},
		{f, false, progressPlain}, // a regular file: a log, not a terminal
		{f, true, progressQuiet},
	} {
		if got := progressModeFor(tc.w, tc.quiet); got != tc.want {
			t.Errorf("progressModeFor(%T, %v) = %v, want %v", tc.w, tc.quiet, got, tc.want)
		}
	}
}

// openPTY opens a pseudo-terminal pair: what bench's stderr is in a terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pts: %v", err)
	}
	return m, s
}

// On a terminal, `bench run` redraws a status line while a step runs.
func TestRun_liveProgressOnATerminal(t *testing.T) {
	t.Parallel()
	master, slave := openPTY(t)
	defer master.Close()
	sc := strings.Replace(sloScenario, "slo: {p99: 1us}\n", "", 1)
	sc = strings.Replace(sc, "duration: 300ms", "duration: 1200ms", 1) // two snapshots at least
	cmd, mark := benchCommand(t, "run", writeScenario(t, sc), "--out", t.TempDir())
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close() // the child holds its own copy; reads on master end (EIO) when it exits
	var tty bytes.Buffer
	read := make(chan struct{})
	go func() { io.Copy(&tty, master); close(read) }()
	err := cmd.Wait()
	assertNoProcesses(t, mark)
	select {
	case <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal never closed")
	}
	if err != nil {
		t.Fatalf("bench run: %v\n%s", err, tty.String())
	}
	out := tty.String()
	if !strings.Contains(out, "\rN=1 step 1/~1 100 rps ") || !strings.Contains(out, " left\x1b[K") {
		t.Errorf("no status line on the terminal:\n%q", out)
	}
	if !strings.Contains(out, "offered    100 rps") {
		t.Errorf("no finished-step line on the terminal:\n%q", out)
	}
}

func TestProgress_cutToTheTerminal(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := newProgress(&buf, progressLive, runPlan{groups: 1, stepsPerGroup: 1, stepTime: time.Second}, time.Now)
	p.width = 20
	p.Update(snap(1, 1, 100, 0, true))
	if got, want := buf.String(), "\rN=1 step 1/~1 100 r\x1b[K"; got != want {
		t.Errorf("status line on 20 columns: %q, want %q", got, want)
	}
}
