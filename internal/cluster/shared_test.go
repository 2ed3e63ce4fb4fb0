package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// spread GETs / on addr over fresh connections until every one of want (X-Worker values)
// answered, failing after a bounded number of requests.
func spread(t *testing.T, addr string, want ...string) {
	t.Helper()
	missing := map[string]bool{}
	for _, w := range want {
		missing[w] = true
	}
	const tries = 300
	for range tries {
		_, hdr := get(t, addr, "/")
		delete(missing, hdr.Get(WorkerHeader))
		if len(missing) == 0 {
			return
		}
	}
	t.Fatalf("after %d requests to %s no answer from %v", tries, addr, missing)
}

func TestStart_SharedPort(t *testing.T) {
	t.Parallel()
	spec, dir := helperSpec(t, "server", envReadyAfter+"=2") // each says 503 to its first probes
	spec.SharedPort = true
	c := startCluster(t, context.Background(), spec, 3)

	ws := c.Workers()
	if got, want := len(ws), 3; got != want {
		t.Fatalf("len(Workers()) = %d, want %d", got, want)
	}
	addr := ws[0].Addr
	var names []string
	var pids []int
	for _, w := range ws {
		if w.Addr != addr || !strings.HasPrefix(w.Addr, "127.0.0.1:") {
			t.Errorf("worker %d: Addr = %q, want the shared %q", w.Index, w.Addr, addr)
		}
		names = append(names, fmt.Sprintf("%d/%d", w.Index, w.PID))
		pids = append(pids, w.PID)
	}
	if got, want := len(recordedPIDs(t, dir)), 3; got != want {
		t.Errorf("%d helper processes ran, want %d", got, want)
	}
	// Only SO_REUSEPORT listeners of this user may join: an ordinary listen is refused.
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Errorf("plain listen on the shared %s succeeded", addr)
	}
	// Every worker was seen answering readiness, so every one listens: all of them are hit.
	spread(t, addr, names...)

	if err := c.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	waitGone(t, pids...)
	// The reservation went with Stop.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Errorf("listen on %s after Stop: %v", addr, err)
	} else {
		ln.Close()
	}
}

func TestStart_SharedPortWorkerNeverAnswers(t *testing.T) {
	t.Parallel()
	spec, dir := helperSpec(t, "server", envSilentIdx+"=2")
	spec.SharedPort = true
	spec.ReadyTimeout = time.Second
	c, err := Start(context.Background(), spec, 3)
	if err == nil {
		c.Stop()
		t.Fatal("Start succeeded with worker 2 never listening")
	}
	if !errors.Is(err, ErrNotReady) {
		t.Errorf("err = %v, want ErrNotReady", err)
	}
	msg := err.Error()
	for _, want := range []string{"worker 2 ", spec.Command[0], "2xx only from X-Worker 1/", "not listening"} {
		if !strings.Contains(msg, want) {
			t.Errorf("err = %q, want it to contain %q", msg, want)
		}
	}
	pids := recordedPIDs(t, dir)
	if len(pids) != 3 {
		t.Errorf("%d helper processes ran, want 3", len(pids))
	}
	waitGone(t, pids...)
}

func TestStart_SharedPortWorkerExits(t *testing.T) {
	t.Parallel()
	spec, dir := helperSpec(t, "server", envExitIndex+"=3", envExitAfter+"=3")
	spec.SharedPort = true
	_, err := Start(context.Background(), spec, 3)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Worker.Index != 3 || !ee.BeforeReady {
		t.Fatalf("err = %v, want worker 3's ExitError before ready", err)
	}
	waitGone(t, recordedPIDs(t, dir)...)
}

// A command that does not name itself in X-Worker is ready at its first 2xx, all alive.
func TestStart_SharedPortAnonymous(t *testing.T) {
	t.Parallel()
	spec, _ := helperSpec(t, "server", envAnonymous+"=1")
	spec.SharedPort = true
	c := startCluster(t, context.Background(), spec, 2)
	for _, w := range c.Workers() {
		assertAlive(t, w.PID)
	}
	_, hdr := get(t, c.Workers()[0].Addr, "/healthz")
	if got := hdr.Get(WorkerHeader); got != "" {
		t.Errorf("anonymous helper sent %s %q", WorkerHeader, got)
	}
}

func TestRestart_SharedPort(t *testing.T) {
	t.Parallel()
	spec, _ := helperSpec(t, "server")
	spec.SharedPort = true
	spec.Restart = RestartPolicy{Enabled: true, MinUptime: time.Nanosecond}
	events := watchEvents(&spec)
	c := startCluster(t, context.Background(), spec, 3)
	before := c.Workers()

	if err := c.Kill(2); err != nil {
		t.Fatal(err)
	}
	ready := events.next(t, is(EventReady, 2))
	after := c.Workers()
	if ready.PID == before[1].PID || after[1].PID != ready.PID {
		t.Fatalf("worker 2: pid %d before, EventReady pid %d, Workers pid %d: want a new pid",
			before[1].PID, ready.PID, after[1].PID)
	}
	if after[1].Addr != before[1].Addr {
		t.Errorf("worker 2: Addr %q after restart, want the shared %q", after[1].Addr, before[1].Addr)
	}
	// Ready means it answered on the shared port itself, so the kernel hands it connections.
	spread(t, after[0].Addr, "2/"+strconv.Itoa(after[1].PID))
	noExit(t, c)
}

func TestParseWorker(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		index int
		ok    bool
	}{
		{"2/41377", 2, true},
		{"12/1", 12, true},
		{"", 0, false},        // sad: no header
		{"2", 0, false},       // sad: no pid
		{"0/5", 0, false},     // sad: indexes start at 1
		{"a/5", 0, false},     // sad: not a number
		{"2/web-1", 0, false}, // sad: pid not a number
	} {
		index, ok := parseWorker(tc.in)
		if index != tc.index || ok != tc.ok {
			t.Errorf("parseWorker(%q) = %d, %v, want %d, %v", tc.in, index, ok, tc.index, tc.ok)
		}
	}
}
