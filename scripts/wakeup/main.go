// Command wakeup measures how long this machine takes to wake a thread on an idle core: the round
// trip of one byte through two pipes between threads pinned to different cores, back to back (the
// other core has just run) and after a pause (the other core has gone idle).
//
//	go run ./scripts/wakeup
//
// Run it on a quiet machine. On a virtual machine whose host wakes idle virtual cores slowly, the
// pause costs tens of microseconds per wake-up, and a service's latency can fall as its load rises
// (bench flags such a search p99-fell): print this next to a run to tell the host's state.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	n := flag.Int("n", 3000, "round trips per measurement")
	pause := flag.Duration("pause", 200*time.Microsecond, "pause before each round trip after which the other core is idle")
	flag.Parse()
	if runtime.NumCPU() < 2 || *n < 100 {
		fmt.Fprintln(os.Stderr, "wakeup: needs 2 cores and -n of at least 100")
		os.Exit(2)
	}
	hot := roundTrips(*n, 0)
	idle := roundTrips(*n, *pause)
	fmt.Printf("cross-core round trip, back to back: p50 %v p99 %v\n", q(hot, 0.5), q(hot, 0.99))
	fmt.Printf("cross-core round trip after %v:  p50 %v p99 %v\n", *pause, q(idle, 0.5), q(idle, 0.99))
}

// roundTrips sends one byte from core 0 to a thread on core 1 and back, n times, pausing before
// each, and returns the round trips' times.
func roundTrips(n int, pause time.Duration) []time.Duration {
	var ping, pong [2]int
	if unix.Pipe(ping[:]) != nil || unix.Pipe(pong[:]) != nil {
		fmt.Fprintln(os.Stderr, "wakeup: pipe failed")
		os.Exit(1)
	}
	defer func() {
		for _, fd := range []int{ping[0], ping[1], pong[0], pong[1]} {
			unix.Close(fd)
		}
	}()
	go func() {
		pin(1)
		buf := make([]byte, 1)
		for range n {
			if k, _ := unix.Read(ping[0], buf); k != 1 {
				return
			}
			unix.Write(pong[1], buf)
		}
	}()
	out := make(chan []time.Duration)
	go func() {
		pin(0)
		buf := make([]byte, 1)
		rtt := make([]time.Duration, 0, n)
		for range n {
			if pause > 0 {
				unix.Nanosleep(&unix.Timespec{Nsec: pause.Nanoseconds()}, nil)
			}
			t := time.Now()
			unix.Write(ping[1], buf)
			unix.Read(pong[0], buf)
			rtt = append(rtt, time.Since(t))
		}
		out <- rtt
	}()
	return <-out
}

// pin locks the goroutine to its thread and the thread to core c.
func pin(c int) {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(c)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		fmt.Fprintln(os.Stderr, "wakeup:", err)
		os.Exit(1)
	}
}

func q(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))].Round(100 * time.Nanosecond)
}
