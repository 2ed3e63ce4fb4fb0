package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// eventLog collects a cluster's events through Spec.OnEvent, so a test can wait for one.
type eventLog chan Event

func watchEvents(spec *Spec) eventLog {
	ch := make(eventLog, 1000) // OnEvent must not block; no test records this many
	spec.OnEvent = func(e Event) { ch <- e }
	return ch
}

// next returns the next event matching ok, failing the test after a deadline.
func (l eventLog) next(t *testing.T, ok func(Event) bool) Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-l:
			if ok(e) {
				return e
			}
		case <-deadline:
			t.Fatal("no matching event within 10s")
		}
	}
}

func is(kind EventKind, index int) func(Event) bool {
	return func(e Event) bool { return e.Kind == kind && e.Index == index }
}

// tryGet fetches http://addr/ once with a timeout and returns the body.
func tryGet(addr string, timeout time.Duration) (string, error) {
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func noExit(t *testing.T, c *Cluster) {
	t.Helper()
	select {
	case e := <-c.Exited():
		t.Errorf("Exited delivered %v", e)
	default:
	}
}

func TestRestart_KilledWorkerComesBackOnItsPort(t *testing.T) {
	t.Parallel()
	spec, dir := helperSpec(t, "server")
	// Each kill follows the last restart within milliseconds: a tiny MinUptime keeps every
	// restart immediate, which is the single-crash case being measured.
	spec.Restart = RestartPolicy{Enabled: true, MinUptime: time.Nanosecond}
	events := watchEvents(&spec)
	c := startCluster(t, context.Background(), spec, 2)
	first := c.Workers()
	get(t, first[0].Addr, "/burn?ms=50")

	const kills = 5
	var downtimes, killToReady []time.Duration
	for i := range kills {
		old := c.Workers()[0]
		cpu := c.CPU()
		killed := time.Now()
		if err := c.Kill(1); err != nil {
			t.Fatalf("Kill(1): %v", err)
		}
		exit := events.next(t, is(EventExit, 1))
		restart := events.next(t, is(EventRestart, 1))
		ready := events.next(t, is(EventReady, 1))

		var ee *ExitError
		if !errors.As(exit.Err, &ee) || exit.PID != old.PID || !strings.Contains(ee.Error(), "killed by signal 9") {
			t.Errorf("kill %d: exit event %v, want pid %d killed by signal 9", i, exit, old.PID)
		}
		if restart.PID == old.PID || restart.PID == 0 || restart.Backoff != 0 || restart.Attempt != 1 {
			t.Errorf("kill %d: restart event %v, want a new pid, no back-off, attempt 1", i, restart)
		}
		if ready.PID != restart.PID || ready.Downtime <= 0 || ready.Downtime != ready.Time.Sub(exit.Time) {
			t.Errorf("kill %d: ready event %v, want pid %d with the downtime since the exit", i, ready, restart.PID)
		}
		// Same index and port, new process, and it answers.
		w := c.Workers()[0]
		if w.Index != 1 || w.Addr != old.Addr || w.PID != restart.PID {
			t.Errorf("kill %d: Workers()[0] = %+v, want index 1 on %s with pid %d", i, w, old.Addr, restart.PID)
		}
		if body, _ := get(t, w.Addr, "/"); body != fmt.Sprintf("1 %d ", w.PID) {
			t.Errorf("kill %d: restarted worker answered %q", i, body)
		}
		if gone(w.PID) || !gone(old.PID) {
			t.Errorf("kill %d: new pid %d gone %v, old pid %d gone %v", i, w.PID, gone(w.PID), old.PID, gone(old.PID))
		}
		if got := c.CPU(); got < cpu {
			t.Errorf("kill %d: CPU fell from %v to %v: the dead process's time was lost", i, cpu, got)
		}
		downtimes = append(downtimes, ready.Downtime)
		killToReady = append(killToReady, ready.Time.Sub(killed))
	}
	if got := c.Workers()[1]; got != first[1] {
		t.Errorf("worker 2 = %+v, want it untouched: %+v", got, first[1])
	}
	if got, want := c.Restarts(), kills; got != want {
		t.Errorf("Restarts() = %d, want %d", got, want)
	}
	if got, want := len(recordedPIDs(t, dir)), 2+kills; got != want {
		t.Errorf("%d helper processes ran, want %d", got, want)
	}
	var kinds []string
	for _, e := range c.Events() {
		kinds = append(kinds, string(e.Kind))
	}
	if got, want := strings.Join(kinds, " "), strings.TrimSpace(strings.Repeat("exit restart ready ", kills)); got != want {
		t.Errorf("Events() kinds = %s, want %s", got, want)
	}
	noExit(t, c)

	slices.Sort(downtimes)
	slices.Sort(killToReady)
	t.Logf("restart after SIGKILL, %d kills: median downtime (exit noticed → ready) %v, median kill → ready %v (min %v, max %v)",
		kills, downtimes[kills/2], killToReady[kills/2], killToReady[0], killToReady[kills-1])
	if killToReady[kills/2] > 5*time.Second {
		t.Errorf("median kill → ready %v, want well under 5s", killToReady[kills/2])
	}
}

func TestRestart_GivesUpWithGrowingBackoff(t *testing.T) {
	t.Parallel()
	spec, dir := helperSpec(t, "server")
	broken := filepath.Join(t.TempDir(), "broken")
	spec.Env = append(spec.Env, envExitIf+"="+broken)
	spec.Restart = RestartPolicy{Enabled: true, Max: 5, Within: time.Minute,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 15 * time.Millisecond, MinUptime: time.Nanosecond}
	events := watchEvents(&spec)
	c := startCluster(t, context.Background(), spec, 2)
	second := c.Workers()[1]

	// From now on every new worker process exits at once.
	if err := os.WriteFile(broken, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(1); err != nil {
		t.Fatalf("Kill(1): %v", err)
	}
	gaveUp := events.next(t, is(EventGaveUp, 1))

	var backoffs []time.Duration
	var lastExit time.Time
	exits := 0
	for _, e := range c.Events() {
		if e.Index != 1 {
			t.Errorf("event of worker %d: %v", e.Index, e)
		}
		switch e.Kind {
		case EventExit:
			exits++
			lastExit = e.Time
			var ee *ExitError
			if exits > 1 && (!errors.As(e.Err, &ee) || ee.State.ExitCode() != 5 || !ee.BeforeReady || e.Attempt != exits-1) {
				t.Errorf("restarted worker's exit: %v, want status 5 before ready, attempt %d", e, exits-1)
			}
		case EventRestart:
			backoffs = append(backoffs, e.Backoff)
			// The gap actually waited: a timer never fires early.
			if gap := e.Time.Sub(lastExit); gap < e.Backoff {
				t.Errorf("restart %d came %v after the exit, before its back-off %v", len(backoffs), gap, e.Backoff)
			}
		case EventReady:
			t.Errorf("a broken worker became ready: %v", e)
		}
	}
	// Immediate after a worker that was up, then doubling from MinBackoff up to MaxBackoff.
	ms := time.Millisecond
	if want := []time.Duration{0, 5 * ms, 10 * ms, 15 * ms, 15 * ms}; !slices.Equal(backoffs, want) {
		t.Errorf("back-offs = %v, want %v", backoffs, want)
	}
	for i := 1; i < len(backoffs); i++ {
		if backoffs[i] < backoffs[i-1] {
			t.Errorf("back-off shrank from %v to %v", backoffs[i-1], backoffs[i])
		}
	}
	if got, want := exits, 1+5; got != want {
		t.Errorf("%d exits recorded, want %d", got, want)
	}
	if got, want := c.Restarts(), 5; got != want {
		t.Errorf("Restarts() = %d, want %d", got, want)
	}
	var ee *ExitError
	if !errors.As(gaveUp.Err, &ee) || ee.State.ExitCode() != 5 || !strings.Contains(gaveUp.Err.Error(), "5 restarts within 1m0s, giving up") {
		t.Errorf("gave-up event %v, want it to wrap the last exit with status 5", gaveUp)
	}
	if gaveUp.Downtime <= 0 {
		t.Errorf("gave-up event downtime %v, want > 0", gaveUp.Downtime)
	}

	// Down for good, and reported as such; the other worker is untouched.
	select {
	case e := <-c.Exited():
		if e.Worker.Index != 1 || e.State.ExitCode() != 5 {
			t.Errorf("Exited delivered %v, want worker 1's last exit", e)
		}
	case <-time.After(5 * time.Second):
		t.Error("the given-up worker was not reported on Exited")
	}
	if err := c.Kill(1); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Kill(1) of a given-up worker = %v, want ErrNotRunning", err)
	}
	if got := c.Workers()[1]; got != second {
		t.Errorf("worker 2 = %+v, want %+v", got, second)
	}
	get(t, second.Addr, "/")
	for _, pid := range recordedPIDs(t, dir) {
		if pid != second.PID && !gone(pid) {
			t.Errorf("pid %d of worker 1 still runs", pid)
		}
	}
}

func TestRestart_NotReadyInTimeIsKilledAndRetried(t *testing.T) {
	t.Parallel()
	spec, dir := helperSpec(t, "server")
	hang := filepath.Join(t.TempDir(), "hang")
	spec.Env = append(spec.Env, envHangIf+"="+hang)
	spec.ReadyTimeout = 300 * time.Millisecond
	spec.Restart = RestartPolicy{Enabled: true, Max: 2, MinUptime: time.Nanosecond}
	events := watchEvents(&spec)
	c := startCluster(t, context.Background(), spec, 1)
	if err := os.WriteFile(hang, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(1); err != nil {
		t.Fatal(err)
	}
	events.next(t, is(EventGaveUp, 1))
	var notReady int
	for _, e := range c.Events() {
		if e.Kind == EventExit && errors.Is(e.Err, ErrNotReady) {
			notReady++
			if !gone(e.PID) {
				t.Errorf("worker pid %d not ready in time still runs", e.PID)
			}
		}
	}
	if got, want := notReady, 2; got != want {
		t.Errorf("%d not-ready exits recorded, want %d: %v", got, want, c.Events())
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, recordedPIDs(t, dir)...)
}

func TestNoRestart_KillIsReportedOnExited(t *testing.T) {
	t.Parallel()
	spec, _ := helperSpec(t, "server")
	c := startCluster(t, context.Background(), spec, 2)
	w := c.Workers()[1]
	if err := c.Kill(2); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-c.Exited():
		if e.Worker != w || !strings.Contains(e.Error(), "killed by signal 9") {
			t.Errorf("Exited delivered %v, want worker 2 killed", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit reported")
	}
	if got := c.Events(); len(got) != 1 || got[0].Kind != EventExit || got[0].PID != w.PID {
		t.Errorf("Events() = %v, want one exit of pid %d", got, w.PID)
	}
	if c.Restarts() != 0 || c.Workers()[1] != w {
		t.Errorf("restarted without a policy: %d restarts, worker %+v", c.Restarts(), c.Workers()[1])
	}
	if err := c.Kill(2); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Kill of a dead worker = %v, want ErrNotRunning", err)
	}
	for _, i := range []int{0, 3} {
		if err := c.Pause(i); err == nil || !strings.Contains(err.Error(), "no such worker") {
			t.Errorf("Pause(%d) = %v, want no such worker", i, err)
		}
	}
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	spec, _ := helperSpec(t, "server")
	spec.Restart.Enabled = true
	c := startCluster(t, context.Background(), spec, 1)
	w := c.Workers()[0]
	if err := c.Pause(1); err != nil {
		t.Fatal(err)
	}
	if body, err := tryGet(w.Addr, 200*time.Millisecond); err == nil {
		t.Fatalf("paused worker answered %q", body)
	}
	if err := c.Resume(1); err != nil {
		t.Fatal(err)
	}
	if body, err := tryGet(w.Addr, 10*time.Second); err != nil || body != fmt.Sprintf("1 %d ", w.PID) {
		t.Errorf("resumed worker: %q, %v", body, err)
	}
	// Paused is not dead: nothing was restarted.
	if got := c.Events(); len(got) != 0 || c.Workers()[0] != w {
		t.Errorf("pause/resume caused events %v, worker %+v", got, c.Workers()[0])
	}
}

func TestStop_PausedWorkers(t *testing.T) {
	t.Parallel()
	spec, dir := helperSpec(t, "server")
	spec.Restart.Enabled = true
	spec.Grace = time.Minute // only SIGTERM + SIGCONT can end the test in time
	c := startCluster(t, context.Background(), spec, 2)
	for i := 1; i <= 2; i++ {
		if err := c.Pause(i); err != nil {
			t.Fatal(err)
		}
	}
	stopped := make(chan error, 1)
	go func() { stopped <- c.Stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		// Unblock Stop so the test's cleanup does not hang.
		for _, w := range c.Workers() {
			syscall.Kill(-w.PID, syscall.SIGKILL)
		}
		t.Fatal("Stop did not end paused workers")
	}
	waitGone(t, recordedPIDs(t, dir)...)
	if got := c.Events(); len(got) != 0 {
		t.Errorf("Stop recorded events %v", got)
	}
}

func TestStop_DuringBackoff(t *testing.T) {
	t.Parallel()
	spec, dir := helperSpec(t, "server")
	// A worker killed before MinUptime waits MinBackoff: half a minute.
	spec.Restart = RestartPolicy{Enabled: true, MinUptime: time.Hour, MinBackoff: 30 * time.Second}
	events := watchEvents(&spec)
	c := startCluster(t, context.Background(), spec, 2)
	if err := c.Kill(1); err != nil {
		t.Fatal(err)
	}
	events.next(t, is(EventExit, 1))
	start := time.Now()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Stop took %v: it waited for the back-off", took)
	}
	waitGone(t, recordedPIDs(t, dir)...)
	if got, want := len(recordedPIDs(t, dir)), 2; got != want {
		t.Errorf("%d helper processes ran, want %d", got, want)
	}
	if c.Restarts() != 0 {
		t.Errorf("Restarts() = %d after Stop during back-off", c.Restarts())
	}
	if e, ok := <-c.Exited(); ok {
		t.Errorf("Exited delivered %v: a worker stopped by Stop was not given up on", e)
	}
	if err := c.Kill(2); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Kill after Stop = %v, want ErrNotRunning", err)
	}
}

// Stop begins exactly between a worker's death and its (immediate) restart: the restart must
// not happen, and nothing may outlive Stop.
func TestStop_NoRestartOnceStopBegan(t *testing.T) {
	t.Parallel()
	spec, dir := helperSpec(t, "server")
	spec.Restart = RestartPolicy{Enabled: true, MinUptime: time.Nanosecond}
	var cl atomic.Pointer[Cluster]
	stopBegan := make(chan struct{})
	spec.OnEvent = func(e Event) {
		c := cl.Load()
		if e.Kind != EventExit || c == nil {
			return
		}
		// Stop waits for this goroutine, so it runs on another; this one continues only once
		// Stop has begun.
		go c.Stop()
		for deadline := time.Now().Add(5 * time.Second); !c.stopping.Load() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond) // poll interval
		}
		close(stopBegan)
	}
	c := startCluster(t, context.Background(), spec, 2)
	cl.Store(c)
	if err := c.Kill(1); err != nil {
		t.Fatal(err)
	}
	<-stopBegan
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		// A process started after Stop's snapshot is never signalled, so Stop waits for it
		// forever: kill it here so the cleanup's Stop can return.
		for _, pid := range recordedPIDs(t, dir) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Fatal("Stop did not finish: a worker was restarted after it began")
	}
	for _, w := range c.Workers() {
		if !gone(w.PID) {
			t.Errorf("worker %d pid %d runs after Stop", w.Index, w.PID)
		}
	}
	waitGone(t, recordedPIDs(t, dir)...)
	if c.Restarts() != 0 || len(recordedPIDs(t, dir)) != 2 {
		t.Errorf("restarted after Stop began: %d restarts, %d processes ran", c.Restarts(), len(recordedPIDs(t, dir)))
	}
}

// Kills and Stop racing: whatever interleaving, Stop leaves nothing running (run with -race).
func TestStop_RacingKills(t *testing.T) {
	t.Parallel()
	for i := range 3 {
		spec, dir := helperSpec(t, "server")
		spec.Restart = RestartPolicy{Enabled: true, MinUptime: time.Nanosecond}
		c := startCluster(t, context.Background(), spec, 2)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 20 {
				c.Kill(1)
				c.Pause(2)
				c.Resume(2)
				c.CPU()
				c.Workers()
			}
		}()
		if i > 0 {
			<-done // let the kills land first in some rounds
		}
		if err := c.Stop(); err != nil {
			t.Errorf("round %d: Stop: %v", i, err)
		}
		<-done
		for _, w := range c.Workers() {
			if !gone(w.PID) {
				t.Errorf("round %d: worker %d pid %d runs after Stop", i, w.Index, w.PID)
			}
		}
		waitGone(t, recordedPIDs(t, dir)...)
	}
}
