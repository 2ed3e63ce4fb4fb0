package cluster

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file holds the readers of the machine's /proc files that the experiment needs around each
// step: all CPU time spent on the machine (to find what other processes used), context switches,
// bench's own resident memory. Per-process readers are in cpu.go.

// MachineCPU is the CPU time spent by all cores since boot, from the first line of /proc/stat.
type MachineCPU struct {
	// Busy is the time processes ran and the time the hypervisor took: user, nice, system and
	// steal (guest time is already inside user and nice). Interrupt time is apart: it is not any
	// process's.
	Busy time.Duration
	// Interrupts is the time spent in hardware and soft interrupts (irq, softirq): mostly the
	// network stack carrying the run's own traffic over loopback. On a 2-core machine one worker
	// at 450 rps left 3.7 % of the machine there while a core sat idle: counted as other
	// processes' CPU, it flagged every such step noisy.
	Interrupts time.Duration
	// Steal is the time the hypervisor gave this machine's virtual CPUs to someone else: the
	// noisiest neighbour, invisible as a process.
	Steal time.Duration
	// Ctxt counts context switches since boot.
	Ctxt uint64
}

// ReadMachineCPU reads /proc/stat. Where there is none (not Linux), it returns an error.
func ReadMachineCPU() (MachineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}, fmt.Errorf("cluster: machine CPU: %w", err)
	}
	return parseProcStat(b)
}

// parseProcStat extracts MachineCPU from the contents of /proc/stat.
func parseProcStat(b []byte) (MachineCPU, error) {
	var m MachineCPU
	found := false
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "cpu":
			// cpu user nice system idle iowait irq softirq steal guest guest_nice
			if len(f) < 9 {
				return m, fmt.Errorf("cluster: /proc/stat: cpu line has %d fields, want at least 9", len(f))
			}
			var ticks [8]uint64
			for i := range ticks {
				v, err := strconv.ParseUint(f[i+1], 10, 64)
				if err != nil {
					return m, fmt.Errorf("cluster: /proc/stat: cpu field %d: %w", i+1, err)
				}
				ticks[i] = v
			}
			user, nice, system, irq, softirq, steal := ticks[0], ticks[1], ticks[2], ticks[5], ticks[6], ticks[7]
			m.Busy = jiffies(user + nice + system + steal)
			m.Interrupts = jiffies(irq + softirq)
			m.Steal = jiffies(steal)
			found = true
		case "ctxt":
			if len(f) == 2 {
				m.Ctxt, _ = strconv.ParseUint(f[1], 10, 64)
			}
		}
	}
	if !found {
		return m, fmt.Errorf("cluster: /proc/stat: no cpu line")
	}
	return m, nil
}

func jiffies(n uint64) time.Duration { return time.Duration(n) * time.Second / userHZ }

// SelfRSS is this process's resident set size in bytes from /proc/self/status; 0 where there is
// none.
func SelfRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Busiest lists the processes that used the most CPU over the interval d (sampled from
// /proc/PID/stat at its start and end), most first, leaving out the pids in skip. Each entry is
// "name (pid N): P % of one core". At most limit entries, only those above minShare of one core.
func Busiest(d time.Duration, limit int, minShare float64, skip map[int]bool) []string {
	before := procTimes()
	time.Sleep(d)
	after := procTimes()
	type use struct {
		pid   int
		name  string
		share float64
	}
	var uses []use
	for pid, a := range after {
		if skip[pid] {
			continue
		}
		b, ok := before[pid]
		if !ok {
			continue
		}
		share := (a.cpu - b.cpu).Seconds() / d.Seconds()
		if share >= minShare {
			uses = append(uses, use{pid, a.name, share})
		}
	}
	sort.Slice(uses, func(i, j int) bool { return uses[i].share > uses[j].share })
	var out []string
	for i, u := range uses {
		if i == limit {
			break
		}
		out = append(out, fmt.Sprintf("%s (pid %d): %.0f %% of one core", u.name, u.pid, 100*u.share))
	}
	return out
}

type procTime struct {
	name string
	cpu  time.Duration
}

// procTimes reads the CPU time of every process in /proc; processes that vanish are skipped.
func procTimes() map[int]procTime {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := make(map[int]procTime, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		cpu, err := parseStatCPU(data)
		if err != nil {
			continue
		}
		name := ""
		if i, j := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')'); i >= 0 && j > i {
			name = string(data[i+1 : j])
		}
		out[pid] = procTime{name: name, cpu: cpu}
	}
	return out
}
