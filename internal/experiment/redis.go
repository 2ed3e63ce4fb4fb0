package experiment

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/bench-dev/bench/internal/cluster"
	"github.com/bench-dev/bench/internal/target"
)

// redisReadyTimeout bounds how long a started redis-server may take to answer PING.
const redisReadyTimeout = 5 * time.Second

// redisServer is a redis-server bench started for the run.
type redisServer struct {
	addr string
	stop func()
	pid  int
}

// cpu is the CPU the server has used so far: bench's, not interference.
func (s redisServer) cpu() time.Duration {
	d, _ := cluster.ProcCPU(s.pid)
	return d
}

// startRedis starts a redis-server on a free loopback port for the run (no persistence) and
// returns its address and a function that stops it. Like the workers, it gets the parent-death
// signal from a goroutine locked to its OS thread, so that it dies with bench whatever happens.
func startRedis(ctx context.Context) (redisServer, error) {
	addr, stop, pid, err := spawnRedis(ctx)
	return redisServer{addr: addr, stop: stop, pid: pid}, err
}

func spawnRedis(ctx context.Context) (addr string, stop func(), pid int, err error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, 0, errors.New("redis.start: redis-server is not installed (Debian: apt-get install -y redis-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, 0, fmt.Errorf("redis.start: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	cmd := exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "yes")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread() // Pdeathsig follows this thread: keep it for the child's life
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return "", nil, 0, fmt.Errorf("redis.start: %w", err)
	}
	stop = func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	deadline := time.Now().Add(redisReadyTimeout)
	for {
		if err := pingRedis(ctx, addr); err == nil {
			return addr, stop, cmd.Process.Pid, nil
		} else if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return "", nil, 0, fmt.Errorf("redis.start: redis-server on %s did not answer PING within %v: %w", addr, redisReadyTimeout, err)
		}
		select {
		case <-exited:
			return "", nil, 0, fmt.Errorf("redis.start: redis-server on %s exited at once", addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func pingRedis(ctx context.Context, addr string) error {
	c := target.NewRedisClient(addr, 1)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return c.Ping(ctx)
}
