package cluster

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// CPU affinity: bench can keep its own generator and balancer on one core and the workers on the
// others, so that the harness never preempts a worker while they fit (see Pin). A child process
// inherits the affinity of the thread that forks it, which is how workers get theirs (Spec.CPUs).

// AllowedCPUs lists the cores this process may run on, in order: all the machine's, unless bench
// itself was started under taskset or in a cpuset.
func AllowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	var cpus []int
	for c := 0; len(cpus) < set.Count(); c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

func cpuSet(cpus []int) unix.CPUSet {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return set
}

// Pin restricts every thread of this process to cpus (threads started later inherit it from the
// one that starts them) and returns a function that gives them back the affinity they had.
func Pin(cpus []int) (restore func(), err error) {
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		return nil, fmt.Errorf("pin: %w", err)
	}
	set := cpuSet(cpus)
	if err := setAll(&set); err != nil {
		_ = setAll(&before)
		return nil, fmt.Errorf("pin to cores %v: %w", cpus, err)
	}
	return func() { _ = setAll(&before) }, nil
}

// setAll sets the affinity of every thread of this process.
func setAll(set *unix.CPUSet) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		// A thread that exited meanwhile is gone (ESRCH): nothing to pin.
		if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
			return err
		}
	}
	return nil
}

// forkOn runs start, which forks a child, with the calling thread's affinity set to cpus, so that
// the child starts with it; the thread gets its own back afterwards. Empty cpus changes nothing.
// The caller must hold its OS thread (runtime.LockOSThread): affinity belongs to a thread.
func forkOn(cpus []int, start func() error) error {
	var before unix.CPUSet
	if len(cpus) == 0 || unix.SchedGetaffinity(0, &before) != nil {
		return start()
	}
	set := cpuSet(cpus)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return start()
	}
	defer unix.SchedSetaffinity(0, &before)
	return start()
}
