package cluster

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, stat string
		want       time.Duration
		wantErr    bool
	}{
		{ // happy: utime 150 + stime 25 ticks of 10 ms
			name: "plain",
			stat: "42 (node) S 1 42 42 0 -1 4194560 100 0 0 0 150 25 0 0 20 0 1 0 100 1000 50\n",
			want: 1750 * time.Millisecond,
		},
		{ // happy: a command name with spaces and parentheses does not shift the fields
			name: "tricky comm",
			stat: "7 (a) b (c d) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 1 1",
			want: 70 * time.Millisecond,
		},
		{name: "truncated", stat: "7 (x) R 1 7 7 0", wantErr: true},
		{name: "no comm", stat: "7 x R", wantErr: true},
		{name: "not a number", stat: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 abc 4", wantErr: true},
	} {
		got, err := parseStatCPU([]byte(tc.stat))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, wantErr %v", tc.name, err, tc.wantErr)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestProcCPUAndSelfCPU(t *testing.T) {
	t.Parallel()
	start, err := SelfCPU()
	if err != nil {
		t.Fatal(err)
	}
	// Burn some CPU of our own so both readings have something to show.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if now, _ := SelfCPU(); now-start >= 50*time.Millisecond {
			break
		}
	}
	self, _ := SelfCPU()
	if self < 50*time.Millisecond {
		t.Fatalf("SelfCPU = %v after burning 50ms", self)
	}
	proc, err := ProcCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Same clock read two ways; /proc has 10 ms ticks and was read a little later.
	if proc < self-20*time.Millisecond {
		t.Errorf("ProcCPU(self) = %v, SelfCPU = %v", proc, self)
	}
	if _, err := ProcCPU(-1); err == nil {
		t.Error("ProcCPU(-1) succeeded")
	}
}

func TestCluster_CPU(t *testing.T) {
	t.Parallel()
	spec, _ := helperSpec(t, "server")
	c := startCluster(t, context.Background(), spec, 2)
	before := c.CPU()
	w := c.Workers()[0]
	get(t, w.Addr, "/burn?ms=100")
	after := c.CPU()
	if got := after - before; got < 80*time.Millisecond {
		t.Errorf("CPU grew by %v while a worker burned 100ms", got)
	}

	// An exited worker keeps counting with its final reading.
	client := &http.Client{Timeout: 5 * time.Second}
	if resp, err := client.Get("http://" + w.Addr + "/exit?code=0"); err == nil {
		resp.Body.Close()
	}
	select {
	case <-c.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("no exit reported")
	}
	if _, err := ProcCPU(w.PID); err == nil {
		t.Errorf("ProcCPU of reaped worker %d succeeded", w.PID)
	}
	if got := c.CPU(); got < after {
		t.Errorf("CPU fell from %v to %v after a worker exited", after, got)
	}
}
