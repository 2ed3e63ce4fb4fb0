package experiment

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/cluster"
)

// Each problem of the machine is named once, with what to do about it; a tuned machine has none.
func TestPreflight(t *testing.T) {
	t.Parallel()
	write := func(root, path, body string) {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bad := t.TempDir()
	write(bad, "proc/loadavg", "1.70 0.90 0.40 3/200 1234\n")
	write(bad, "proc/sys/net/ipv4/ip_local_port_range", "32768\t40000\n")
	write(bad, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "powersave\n")
	write(bad, "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor", "powersave\n")
	write(bad, "sys/devices/system/cpu/intel_pstate/no_turbo", "0\n")
	got := strings.Join(Preflight(bad, 2, 0), "\n")
	for _, want := range []string{"load average 1.70", "powersave on 2 core(s)", "cpupower frequency-set -g performance",
		"turbo boost is on", "ephemeral port range 32768–40000", "ip_local_port_range"} {
		if !strings.Contains(got, want) {
			t.Errorf("preflight lacks %q:\n%s", want, got)
		}
	}

	good := t.TempDir()
	write(good, "proc/loadavg", "0.05 0.10 0.20 1/200 1234\n")
	write(good, "proc/sys/net/ipv4/ip_local_port_range", "1024\t65535\n")
	write(good, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "performance\n")
	write(good, "sys/devices/system/cpu/intel_pstate/no_turbo", "1\n")
	if got := Preflight(good, 2, 0); len(got) != 0 {
		t.Errorf("a tuned machine: %q, want no problem", got)
	}
}

// A process burning a core is named, with its pid, by the preflight's look at the busiest
// processes.
func TestPreflight_busiest(t *testing.T) {
	t.Parallel()
	burner := exec.Command(os.Args[0])
	burner.Env = append(os.Environ(), burnEnv+"=3s")
	if err := burner.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { burner.Process.Kill(); burner.Wait() })
	got := strings.Join(Preflight(t.TempDir(), 2, 500*time.Millisecond), "\n")
	if want := "(pid " + strconv.Itoa(burner.Process.Pid) + ")"; !strings.Contains(got, want) {
		t.Errorf("preflight does not name the burner %s:\n%s", want, got)
	}
}

// An idle core that wakes slowly gets a line; a fast one, or a pause that costs no more than
// three hot round trips, none.
func TestPreflight_wake(t *testing.T) {
	t.Parallel()
	us := time.Microsecond
	got := strings.Join(wakeLine(cluster.Wake{Hot: 21 * us, Idle: 83 * us, Pause: 200 * us}), "\n")
	for _, want := range []string{"idle cores wake slowly", "answers in 83µs after a 200µs pause, 21µs back to back", "p99-fell", "target.pin"} {
		if !strings.Contains(got, want) {
			t.Errorf("slow wake-up: %q lacks %q", got, want)
		}
	}
	for _, w := range []cluster.Wake{{Hot: 5 * us, Idle: 12 * us}, {Hot: 30 * us, Idle: 80 * us}, {Hot: 10 * us, Idle: 45 * us}} {
		if got := wakeLine(w); got != nil {
			t.Errorf("%+v: %q, want no line", w, got)
		}
	}
}
