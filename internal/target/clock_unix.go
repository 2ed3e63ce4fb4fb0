//go:build unix

package target

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPUClock returns a reader of the calling OS thread's CPU time; the
// caller must hold runtime.LockOSThread. It falls back to the wall clock where
// CLOCK_THREAD_CPUTIME_ID is not available.
func threadCPUClock() (func() time.Duration, string) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return wallClock(), "wall"
	}
	return func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
			return 0
		}
		return time.Duration(ts.Nano())
	}, "thread-cpu"
}
