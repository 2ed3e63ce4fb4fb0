//go:build !unix

package target

import "time"

// threadCPUClock returns the wall clock: this platform has no per-thread CPU
// clock that x/sys exposes, so calibration is only right on an idle machine.
func threadCPUClock() (func() time.Duration, string) { return wallClock(), "wall" }
