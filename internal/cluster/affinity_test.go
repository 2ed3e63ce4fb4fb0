package cluster

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// allowedList reads a thread's or process's Cpus_allowed_list from its status file.
func allowedList(t *testing.T, status string) string {
	t.Helper()
	b, err := os.ReadFile(status)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("%s has no Cpus_allowed_list", status)
	return ""
}

// Pin moves every thread of the process to the given core, a child forked by forkOn gets the
// cores it was given, and restoring gives the threads back what they had. Not parallel: it pins
// the whole test process.
func TestPin(t *testing.T) {
	cores, err := AllowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(cores) < 2 {
		t.Skip("needs two cores")
	}
	last := cores[len(cores)-1]
	before := allowedList(t, "/proc/self/status")
	restore, err := Pin([]int{last})
	if err != nil {
		t.Fatal(err)
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		if got := allowedList(t, "/proc/self/task/"+task.Name()+"/status"); got != strconv.Itoa(last) {
			t.Errorf("thread %s may run on %s after Pin(%d)", task.Name(), got, last)
		}
	}

	cmd := exec.Command("cat", "/proc/self/status")
	var out strings.Builder
	cmd.Stdout = &out
	runtime.LockOSThread()
	err = forkOn([]int{cores[0]}, cmd.Start)
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Cpus_allowed_list:\t"+strconv.Itoa(cores[0])+"\n") {
		t.Errorf("a child forked on core %d reports:\n%s", cores[0], out.String())
	}

	restore()
	if got := allowedList(t, "/proc/self/status"); got != before {
		t.Errorf("after restore the process may run on %s, want %s as before", got, before)
	}
}
