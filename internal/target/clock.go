package target

import "time"

// wallClock returns a reader of the monotonic wall time since the call.
func wallClock() func() time.Duration {
	start := time.Now()
	return func() time.Duration { return time.Since(start) }
}
