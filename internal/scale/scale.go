// Package scale brings a service to N replicas through the orchestrator that runs it (Docker
// Compose, or any through two commands) and reports where they listen, so that bench measures
// replicas it does not run itself. It stops whatever it started when closed.
package scale

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bench-dev/bench/internal/scenario"
)

// Scaler brings the replicas of a service to a count.
type Scaler interface {
	// Scale brings the service to n replicas and returns their addresses, HOST:PORT, once each
	// answers the ready path with 2xx.
	Scale(ctx context.Context, n int) ([]string, error)
	// Close stops what the scaler started (compose: down; command: back to the count before the
	// first Scale). It runs on a context of its own, so that it also cleans up after the run's
	// context was cancelled (Ctrl-C).
	Close() error
}

// Sized is a Scaler that knows the CPU quota of each replica: the machine size of the
// measurement ("N machines of 0.5 CPU").
type Sized interface {
	// CPUs is each replica's CPU limit; 0 when it has none.
	CPUs() float64
}

// Ready says how a replica is seen to be up.
type Ready struct {
	// Path is requested with GET until it answers 2xx.
	Path string
	// Timeout bounds the wait for every replica of one Scale (and, for a command, for the
	// endpoints command to print them all).
	Timeout time.Duration
}

// closeTimeout bounds Close: a `down` of a few containers takes seconds.
const closeTimeout = 2 * time.Minute

// New returns the Scaler of sc's scale section, nil for scale: local. onEvent, when set,
// receives one-line progress messages.
func New(sc *scenario.Scenario, onEvent func(string)) (Scaler, error) {
	ready := Ready{Path: sc.Target.ReadyPath, Timeout: sc.Target.ReadyTimeout}
	switch {
	case sc.Scale.Compose != nil:
		c, err := NewCompose(*sc.Scale.Compose, ready, onEvent)
		if err != nil {
			return nil, err
		}
		return c, nil
	case sc.Scale.Command != nil:
		return NewCommand(*sc.Scale.Command, ready, onEvent), nil
	}
	return nil, nil
}

// run runs argv in a process group of its own, so that a Ctrl-C at the terminal reaches bench
// alone, which then cleans up in order; a cancelled ctx kills the whole group (docker-compose
// runs as a child of its own launcher). It returns stdout, or an error carrying stderr.
func run(ctx context.Context, argv []string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("%s: %w", strings.Join(argv, " "), ctx.Err())
		}
		msg := lastLine(stderr.String())
		if msg == "" {
			msg = lastLine(stdout.String())
		}
		return "", fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, msg)
	}
	return stdout.String(), nil
}

// lastLine is the last non-empty line of s: what a failed command says last is usually why.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// substitute replaces {n} by n in every argument.
func substitute(argv []string, n int) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = strings.ReplaceAll(a, "{n}", strconv.Itoa(n))
	}
	return out
}

// WaitReady polls every address's ready path until each answers 2xx, within r.Timeout.
func WaitReady(ctx context.Context, addrs []string, r Ready) error {
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	for i, addr := range addrs {
		var last error
		for {
			if last = probe(ctx, client, "http://"+addr+r.Path); last == nil {
				break
			}
			select {
			case <-ctx.Done():
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					return fmt.Errorf("replica %d (%s) did not answer %s with 2xx within %v (target.ready_timeout): %v", i+1, addr, r.Path, r.Timeout, last)
				}
				return ctx.Err()
			case <-time.After(pollInterval):
			}
		}
	}
	return nil
}

// pollInterval is how often a replica that is not ready yet is asked again.
const pollInterval = 50 * time.Millisecond

func probe(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
