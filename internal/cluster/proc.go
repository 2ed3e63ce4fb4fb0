package cluster

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// waitDelay bounds how long reaping a worker waits for its stderr pipe to close, in case a
// descendant that left the worker's process group still holds it open.
const waitDelay = time.Second

// proc is one worker process and the state shared between its waiter goroutine, Stop and CPU.
type proc struct {
	w    Worker // PID is set before spawn returns and never changes after
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed once the process has been reaped

	mu       sync.Mutex
	exited   bool          // the process has exited: no more signals or /proc reads by pid
	exitedAt time.Time     // when the exit was noticed; zero until then
	readyAt  time.Time     // when it first answered its readiness probe; zero until then
	lastCPU  time.Duration // latest CPU reading; the final one once reaped
}

func (c *Cluster) newProc(index, port int) *proc {
	p := &proc{
		w:    Worker{Index: index, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))},
		out:  newTailBuffer(),
		done: make(chan struct{}),
	}
	env := append(os.Environ(), c.spec.Env...)
	env = append(env, c.spec.PortEnv+"="+strconv.Itoa(port), IndexEnv+"="+strconv.Itoa(index))
	if c.spec.SharedPort {
		env = append(env, ReusePortEnv+"=1")
	}
	p.cmd = &exec.Cmd{
		Path:   c.path,
		Args:   c.spec.Command,
		Env:    env, // exec keeps the last value of a duplicated key
		Stdout: nil, // /dev/null: a chatty worker must not cost the harness CPU
		Stderr: p.out,
		SysProcAttr: &syscall.SysProcAttr{
			// Setpgid puts the worker and whatever it spawns in a group of their own, so one
			// kill(-pgid) reaches all of them and a terminal's ^C does not.
			Setpgid:   true,
			Pdeathsig: syscall.SIGKILL,
		},
		WaitDelay: waitDelay,
	}
	return p
}

// spawn starts p on a goroutine that keeps its OS thread locked until p is reaped.
// Pdeathsig is delivered when the *thread* that forked the child exits, not the process
// (golang/go#27505): without the lock, the Go runtime may retire that thread at any time and
// take a healthy worker with it. A pinned worker inherits its cores from that thread, pinned
// just for the fork.
func (c *Cluster) spawn(p *proc) error {
	started := make(chan error, 1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		runtime.LockOSThread()
		stuck, err := withCores(c.Cores(p.w.Index), p.cmd.Start)
		release := func() {
			if !stuck { // a thread left pinned ends with this goroutine
				runtime.UnlockOSThread()
			}
		}
		if err != nil {
			release()
			started <- err
			return
		}
		p.w.PID = p.cmd.Process.Pid
		started <- nil
		p.wait()
		release()
		close(p.done) // the worker's supervisor takes it from here
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("worker %d (%q): %w", p.w.Index, c.command, err)
	}
	return nil
}

// wait blocks until the worker exits, kills whatever it left in its process group, and reaps it.
func (p *proc) wait() {
	pid := p.cmd.Process.Pid
	var info unix.Siginfo
	for {
		// WNOWAIT leaves the worker a zombie: until it is reaped below, neither its pid nor
		// its process group id can be reused, so the kill(-pid) is safe.
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break // on any other error, cmd.Wait below still reaps and reports
		}
	}
	p.mu.Lock()
	p.exited = true
	p.exitedAt = time.Now()
	// Descendants still in the group would outlive the worker, holding ports and CPU.
	syscall.Kill(-pid, syscall.SIGKILL)
	p.mu.Unlock()

	p.cmd.Wait() // how it ended is read from cmd.ProcessState
	if st := p.cmd.ProcessState; st != nil {
		p.mu.Lock()
		// rusage is exact where the last /proc poll may be stale.
		p.lastCPU = max(p.lastCPU, st.UserTime()+st.SystemTime())
		p.mu.Unlock()
	}
}

// signal sends sig to the worker's process group, or to the worker alone if it left its
// group. Once the worker has exited it sends nothing, so it can never hit a reused pid, and
// returns an error wrapping ErrNotRunning.
func (p *proc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.signalLocked(sig)
}

func (p *proc) signalLocked(sig syscall.Signal) error {
	if p.exited || p.cmd.Process == nil {
		return fmt.Errorf("worker %d (pid %d): %w", p.w.Index, p.w.PID, ErrNotRunning)
	}
	pid := p.cmd.Process.Pid
	err := syscall.Kill(-pid, sig)
	if err == syscall.ESRCH {
		err = syscall.Kill(pid, sig)
	}
	if err != nil && err != syscall.ESRCH {
		return fmt.Errorf("worker %d (pid %d): sending %v: %w", p.w.Index, pid, sig, err)
	}
	return nil
}

// cldStopped is the si_code of a child's stop in its SIGCHLD siginfo (CLD_STOPPED; not in
// x/sys/unix).
const cldStopped = 5

// pauseTimeout bounds how long pause waits for a worker to stop.
const pauseTimeout = time.Second

// pause sends SIGSTOP to the worker's process group and returns once the worker is stopped.
// kill returns before that: a group stop completes only when every thread of the worker has
// been scheduled to take part, and until then a thread woken by a new connection can still
// answer it. Only the worker itself is waited for, not its descendants.
func (p *proc) pause() error {
	p.mu.Lock()
	defer p.mu.Unlock() // held throughout, so the pid cannot be reaped and reused meanwhile
	if err := p.signalLocked(syscall.SIGSTOP); err != nil {
		return err
	}
	pid := p.cmd.Process.Pid
	deadline := time.Now().Add(pauseTimeout)
	for {
		// WNOWAIT leaves the stop (or an exit) to be reported again: the waiter goroutine
		// must still see the exit, and a second pause the stop.
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WSTOPPED|unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("worker %d (pid %d): waiting for it to stop: %w", p.w.Index, pid, err)
		case info.Signo == int32(syscall.SIGCHLD) && info.Code == cldStopped:
			return nil
		case info.Signo == int32(syscall.SIGCHLD):
			return fmt.Errorf("worker %d (pid %d): exited while pausing: %w", p.w.Index, pid, ErrNotRunning)
		case time.Now().After(deadline):
			return fmt.Errorf("worker %d (pid %d): not stopped %v after SIGSTOP", p.w.Index, pid, pauseTimeout)
		}
		time.Sleep(100 * time.Microsecond) // poll interval; a stop takes microseconds
	}
}

func (p *proc) cpu() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.exited && p.cmd.Process != nil {
		if d, err := ProcCPU(p.cmd.Process.Pid); err == nil {
			p.lastCPU = max(p.lastCPU, d)
		}
	}
	return p.lastCPU
}

// markReady records that p answered its readiness probe.
func (p *proc) markReady() {
	p.mu.Lock()
	p.readyAt = time.Now()
	p.mu.Unlock()
}

// times returns when p became ready and when it exited; either is zero until it happened.
func (p *proc) times() (ready, exited time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readyAt, p.exitedAt
}

// exitError describes how p ended; call it only after p.done is closed.
func (p *proc) exitError(command string, beforeReady bool) *ExitError {
	return &ExitError{
		Worker:      p.w,
		Command:     command,
		State:       p.cmd.ProcessState,
		Stderr:      p.out.Tail(),
		BeforeReady: beforeReady,
	}
}

// withCores runs fn on the calling thread, which must be locked to its goroutine, pinned to
// cores, then gives the thread back the cores it had; with no cores it just runs fn. stuck
// reports that they could not be given back: the caller must then let the thread end with its
// goroutine instead of unlocking it.
func withCores(cores []int, fn func() error) (stuck bool, err error) {
	if len(cores) == 0 {
		return false, fn()
	}
	var own unix.CPUSet
	if err := unix.SchedGetaffinity(0, &own); err != nil {
		return false, fmt.Errorf("cluster: the cores of this thread: %w", err)
	}
	if err := Pin(cores...); err != nil {
		return false, err
	}
	err = fn()
	return unix.SchedSetaffinity(0, &own) != nil, err
}

// pinnable returns the cores a cluster pinning per cores to each worker deals out: those bench
// may use, in order. Nil when per is zero or covers them all, which pins nothing.
func pinnable(per int) ([]int, error) {
	if per <= 0 {
		return nil, nil
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("cluster: the cores bench may use: %w", err)
	}
	cores := coresIn(&set)
	if per >= len(cores) {
		return nil, nil
	}
	return cores, nil
}

// coresOf deals worker index (1-based) its per cores out of cores, round: worker 1 the first
// per, worker 2 the next, and past the last core from the first again. Nil for no cores.
func coresOf(index, per int, cores []int) []int {
	if len(cores) == 0 {
		return nil
	}
	out := make([]int, per)
	for k := range out {
		out[k] = cores[((index-1)*per+k)%len(cores)]
	}
	return out
}

// coresIn lists the cores in set, in order.
func coresIn(set *unix.CPUSet) []int {
	var cores []int
	for c := 0; len(cores) < set.Count(); c++ {
		if set.IsSet(c) {
			cores = append(cores, c)
		}
	}
	return cores
}
