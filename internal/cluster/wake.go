package cluster

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Wake is how long this machine takes to wake a thread on another core: the median round trip
// of one byte through two pipes between threads pinned to cores 0 and 1, back to back (the other
// core has just run) and after a pause (it has gone idle). On a 2-core VM whose host woke idle
// virtual cores slowly it read 21–24 µs and 79–105 µs, and two workers' p99 there was higher at
// 700 rps than at 800: workers that idle between requests pay the slow wake-up on each.
type Wake struct {
	Hot, Idle time.Duration
	Pause     time.Duration // the pause before each idle round trip
}

// Slow reports whether an idle core wakes slowly enough to make latency fall as load rises: at
// least 50 µs and three times a hot round trip.
func (w Wake) Slow() bool { return w.Idle >= 50*time.Microsecond && w.Idle >= 3*w.Hot }

// MeasureWake measures n round trips each way (pause: the idle time before each). It needs two
// cores and Linux.
func MeasureWake(n int, pause time.Duration) (Wake, error) {
	if runtime.NumCPU() < 2 {
		return Wake{}, fmt.Errorf("cluster: wake-up: needs 2 cores, have %d", runtime.NumCPU())
	}
	hot, err := roundTrips(n, 0)
	if err != nil {
		return Wake{}, err
	}
	idle, err := roundTrips(n, pause)
	if err != nil {
		return Wake{}, err
	}
	return Wake{Hot: median(hot), Idle: median(idle), Pause: pause}, nil
}

// roundTrips sends one byte from core 0 to a thread on core 1 and back, n times, pausing before
// each, and returns the round trips' times.
func roundTrips(n int, pause time.Duration) ([]time.Duration, error) {
	var ping, pong [2]int
	if err := unix.Pipe(ping[:]); err != nil {
		return nil, fmt.Errorf("cluster: wake-up: %w", err)
	}
	if err := unix.Pipe(pong[:]); err != nil {
		unix.Close(ping[0])
		unix.Close(ping[1])
		return nil, fmt.Errorf("cluster: wake-up: %w", err)
	}
	// Each end is closed once: by the side that fails, to wake the other, and at the end.
	closePing, closePong := closer(ping[1]), closer(pong[1])
	defer func() {
		closePing()
		closePong()
		unix.Close(ping[0])
		unix.Close(pong[0])
	}()
	echoed := locked(1, func() error {
		defer closePong() // a failed echo wakes the reader
		buf := make([]byte, 1)
		for range n {
			if k, err := unix.Read(ping[0], buf); k != 1 {
				return fmt.Errorf("cluster: wake-up: read: %v", err)
			}
			if _, err := unix.Write(pong[1], buf); err != nil {
				return fmt.Errorf("cluster: wake-up: write: %w", err)
			}
		}
		return nil
	})
	rtt := make([]time.Duration, 0, n)
	err := <-locked(0, func() error {
		defer closePing() // ends the echo, done or not
		buf := make([]byte, 1)
		for range n {
			if pause > 0 {
				unix.Nanosleep(&unix.Timespec{Nsec: pause.Nanoseconds()}, nil)
			}
			t := time.Now()
			if _, err := unix.Write(ping[1], buf); err != nil {
				return fmt.Errorf("cluster: wake-up: write: %w", err)
			}
			if k, err := unix.Read(pong[0], buf); k != 1 {
				return fmt.Errorf("cluster: wake-up: read: %v", err)
			}
			rtt = append(rtt, time.Since(t))
		}
		return nil
	})
	if echoErr := <-echoed; err == nil {
		err = echoErr
	}
	return rtt, err
}

// closer returns a function that closes fd the first time it is called.
func closer(fd int) func() { return sync.OnceFunc(func() { unix.Close(fd) }) }

// locked runs fn in a goroutine locked to a thread of its own, pinned to core for fn's time
// (withCores), and sends its error.
func locked(core int, fn func() error) <-chan error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		stuck, err := withCores([]int{core}, fn)
		if !stuck {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return done
}

// Pin binds the calling thread to cores; call it with the goroutine locked to its thread. No
// cores leaves the thread as it is.
func Pin(cores ...int) error {
	if len(cores) == 0 {
		return nil
	}
	var set unix.CPUSet
	for _, c := range cores {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("cluster: pin to cores %v: %w", cores, err)
	}
	return nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
