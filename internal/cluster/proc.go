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

	mu      sync.Mutex
	exited  bool          // the process has exited: no more signals or /proc reads by pid
	lastCPU time.Duration // latest CPU reading; the final one once reaped
}

func (c *Cluster) newProc(path string, index, port int) *proc {
	p := &proc{
		w:    Worker{Index: index, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))},
		out:  newTailBuffer(),
		done: make(chan struct{}),
	}
	env := append(os.Environ(), c.spec.Env...)
	env = append(env, c.spec.PortEnv+"="+strconv.Itoa(port), IndexEnv+"="+strconv.Itoa(index))
	p.cmd = &exec.Cmd{
		Path:   path,
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
// take a healthy worker with it.
func (c *Cluster) spawn(p *proc) error {
	started := make(chan error, 1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		runtime.LockOSThread()
		if err := p.cmd.Start(); err != nil {
			runtime.UnlockOSThread()
			started <- err
			return
		}
		p.w.PID = p.cmd.Process.Pid
		started <- nil
		p.wait()
		runtime.UnlockOSThread()
		close(p.done)
		if !c.stopping.Load() {
			// Never blocks: the channel has room for every worker, and each exits once.
			select {
			case c.exits <- p.exitError(c.command, false):
			default:
			}
		}
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
// group. It does nothing once the worker has exited, so it can never hit a reused pid.
func (p *proc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited || p.cmd.Process == nil {
		return nil
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
