package experiment

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bench-dev/bench/internal/cluster"
)

// A preflight looks at the machine before a run, the way pyperf's `system tune` does, and says
// once for each problem what it will do to the numbers and what to do about it. It changes
// nothing: tuning a machine is its owner's decision.

// Thresholds of the preflight.
const (
	// preflightLoad: a one-minute load average above this per core means other work is running.
	preflightLoad = 0.25
	// preflightBusy: a process using more than this share of one core now is named.
	preflightBusy = 0.05
	// preflightFiles: fewer open files than this limits the generator's connections and the
	// balancer's (256 + 256 by default, plus the workers').
	preflightFiles = 4096
	// preflightPorts: an ephemeral port range narrower than this runs out under churn (every
	// closed connection holds its port in TIME_WAIT for a minute).
	preflightPorts = 16384
	// preflightWakes round trips after preflightPause each measure how slowly an idle core
	// wakes (cluster.MeasureWake): about 0.15 s.
	preflightWakes = 500
	preflightPause = 200 * time.Microsecond
)

// Preflight returns the machine's problems for measuring, one line each with the advice. root
// is the file system root to read /proc and /sys from ("/" for the machine; tests give a
// folder). sample is how long the busiest processes are watched (0 skips that check, which only
// reads the real /proc).
func Preflight(root string, cores int, sample time.Duration) []string {
	var out []string
	read := func(path string) string {
		b, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	var busy []string
	if sample > 0 {
		busy = cluster.Busiest(sample, 3, preflightBusy, map[int]bool{os.Getpid(): true})
	}
	if f := strings.Fields(read("proc/loadavg")); len(f) > 0 && cores > 0 {
		if load, err := strconv.ParseFloat(f[0], 64); err == nil && load > preflightLoad*float64(cores) {
			line := fmt.Sprintf("load average %.2f over the last minute on %d cores: other work shares the machine and will move the numbers; wait for it or stop it", load, cores)
			if len(busy) > 0 {
				line += " (busiest now: " + strings.Join(busy, "; ") + ")"
				busy = nil
			}
			out = append(out, line)
		}
	}
	if len(busy) > 0 {
		out = append(out, "processes using CPU now: "+strings.Join(busy, "; ")+": stop them before measuring; steps they disturb are flagged noisy and measured again")
	}
	if sample > 0 && cores >= 2 {
		if w, err := cluster.MeasureWake(preflightWakes, preflightPause); err == nil {
			out = append(out, wakeLine(w)...)
		}
	}
	if gov := governors(root, read); len(gov) > 0 {
		out = append(out, fmt.Sprintf("CPU frequency governor %s: the clock moves with the load, and so do the numbers; "+
			"`cpupower frequency-set -g performance` (what pyperf system tune does) holds it", strings.Join(gov, ", ")))
	}
	if read("sys/devices/system/cpu/intel_pstate/no_turbo") == "0" || read("sys/devices/system/cpu/cpufreq/boost") == "1" {
		out = append(out, "turbo boost is on: the clock depends on temperature and on how many cores are busy, so 1 and 2 workers run at different speeds; "+
			"`echo 1 > /sys/devices/system/cpu/intel_pstate/no_turbo` (or `echo 0 > /sys/devices/system/cpu/cpufreq/boost`) turns it off")
	}
	if root == "/" {
		var lim syscall.Rlimit
		// The Go runtime raised the soft limit to the hard one at start: that is what bench has.
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < preflightFiles {
			out = append(out, fmt.Sprintf("open-file limit %d: the generator and the balancer need a descriptor per connection; `ulimit -n 65536` before running", lim.Cur))
		}
	}
	if f := strings.Fields(read("proc/sys/net/ipv4/ip_local_port_range")); len(f) == 2 {
		lo, err1 := strconv.Atoi(f[0])
		hi, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil && hi-lo+1 < preflightPorts {
			out = append(out, fmt.Sprintf("ephemeral port range %d–%d (%d ports): connection churn can run out of ports; "+
				"`sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"` widens it", lo, hi, hi-lo+1))
		}
	}
	return out
}

// wakeLine is the preflight's line for an idle core that wakes slowly, none when it does not.
func wakeLine(w cluster.Wake) []string {
	if !w.Slow() {
		return nil
	}
	return []string{fmt.Sprintf("idle cores wake slowly: a thread on another core answers in %v after a %v pause, %v back to back "+
		"(a virtual machine's host, or deep idle states): the kernel is then slow to spread busy workers over the cores, and "+
		"latency can fall as load rises (a search flags it p99-fell); target.pin gives each worker a core of its own; "+
		"on bare metal `cpupower idle-set -D 2` keeps cores out of deep idle states, on a virtual machine it is the host's to tune",
		w.Idle.Round(time.Microsecond), w.Pause, w.Hot.Round(time.Microsecond))}
}

// governors returns the CPU frequency governors other than performance, with how many cores
// use each ("powersave on 2 cores"); nil where there is no cpufreq (many virtual machines).
func governors(root string, read func(string) string) []string {
	paths, _ := filepath.Glob(filepath.Join(root, "sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor"))
	count := map[string]int{}
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		if g := read(rel); g != "" && g != "performance" {
			count[g]++
		}
	}
	var out []string
	for g, n := range count {
		out = append(out, fmt.Sprintf("%s on %d core(s)", g, n))
	}
	sort.Strings(out)
	return out
}
