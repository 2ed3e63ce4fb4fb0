// Command wakeup measures how long this machine takes to wake a thread on an idle core
// (cluster.MeasureWake): the round trip of one byte between threads pinned to two cores, back to
// back and after a pause.
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
	"time"

	"github.com/bench-dev/bench/internal/cluster"
)

func main() {
	n := flag.Int("n", 3000, "round trips per measurement")
	pause := flag.Duration("pause", 200*time.Microsecond, "pause before each round trip after which the other core is idle")
	flag.Parse()
	if *n < 100 || *pause <= 0 {
		fmt.Fprintf(os.Stderr, "wakeup: -n must be at least 100 (got %d) and -pause positive (got %v)\n", *n, *pause)
		os.Exit(2)
	}
	w, err := cluster.MeasureWake(*n, *pause)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wakeup:", err)
		os.Exit(1)
	}
	fmt.Printf("cross-core round trip, median: back to back %v, after %v %v (slow: %v)\n",
		w.Hot.Round(100*time.Nanosecond), w.Pause, w.Idle.Round(100*time.Nanosecond), w.Slow())
}
