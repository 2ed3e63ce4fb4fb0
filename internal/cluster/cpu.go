package cluster

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// userHZ is the unit of the times in /proc/PID/stat. The kernel reports them in USER_HZ,
// which is 100 on every architecture Go supports on Linux, whatever the kernel's own HZ.
const userHZ = 100

// ProcCPU returns the user+system CPU time process pid has used, from /proc/PID/stat (fields
// 14 and 15). It excludes the time of the process's children. Its resolution is 10 ms.
func ProcCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("cluster: CPU of pid %d: %w", pid, err)
	}
	d, err := parseStatCPU(data)
	if err != nil {
		return 0, fmt.Errorf("cluster: CPU of pid %d: /proc/%d/stat: %w", pid, pid, err)
	}
	return d, nil
}

// parseStatCPU extracts utime+stime from the contents of /proc/PID/stat.
func parseStatCPU(data []byte) (time.Duration, error) {
	// Field 2, the command name, is in parentheses and may itself hold spaces and
	// parentheses; everything after the last ')' is space-separated, starting at field 3.
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, fmt.Errorf("no ')' closing the command name")
	}
	fields := bytes.Fields(data[end+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("%d fields after the command name, want at least %d", len(fields), stime+1)
	}
	var ticks uint64
	for _, i := range []int{utime, stime} {
		v, err := strconv.ParseUint(string(fields[i]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("field %d: %w", i+3, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// SelfCPU returns the user+system CPU time of the calling process (getrusage RUSAGE_SELF),
// all its threads together and none of its children: the harness's own share.
func SelfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("cluster: getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
