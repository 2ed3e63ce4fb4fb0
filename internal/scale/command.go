package scale

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bench-dev/bench/internal/scenario"
)

// Command scales through two commands: one that brings the replicas to {n}, one that prints
// the ready ones, one per line. It works with any orchestrator (kubectl, nomad, docker).
type Command struct {
	cfg     scenario.ScaleCommand
	ready   Ready
	onEvent func(string)

	mu sync.Mutex
	// start is the replica count before the first Scale, what Close scales back to; -1 until
	// the first Scale read it.
	start int
}

// NewCommand returns the scaler of a scale.command section. It runs nothing yet.
func NewCommand(cfg scenario.ScaleCommand, ready Ready, onEvent func(string)) *Command {
	return &Command{cfg: cfg, ready: ready, onEvent: onEvent, start: -1}
}

func (c *Command) event(format string, args ...any) {
	if c.onEvent != nil {
		c.onEvent(fmt.Sprintf(format, args...))
	}
}

// Scale remembers, the first time, how many replicas the endpoints command prints before
// anything is scaled (Close comes back to that); then runs the scale command with n, waits
// until the endpoints command prints n endpoints, and until each answers the ready path.
func (c *Command) Scale(ctx context.Context, n int) ([]string, error) {
	c.mu.Lock()
	first := c.start < 0
	c.mu.Unlock()
	if first {
		before, err := c.endpoints(ctx, 0)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.start = len(before)
		c.mu.Unlock()
		c.event("scale.command: %d replica(s) before the run; scaled back to that at the end", len(before))
	}
	argv := substitute(c.cfg.Scale, n)
	c.event("%s", strings.Join(argv, " "))
	if _, err := run(ctx, argv); err != nil {
		return nil, fmt.Errorf("scale.command.scale: %w", err)
	}
	addrs, err := c.await(ctx, n)
	if err != nil {
		return nil, err
	}
	if err := WaitReady(ctx, addrs, c.ready); err != nil {
		return nil, fmt.Errorf("scale.command: %w", err)
	}
	c.event("%d replica(s) ready: %s", n, strings.Join(addrs, " "))
	return addrs, nil
}

// await runs the endpoints command until it prints n endpoints, within the ready timeout.
func (c *Command) await(ctx context.Context, n int) ([]string, error) {
	deadline := time.Now().Add(c.ready.Timeout)
	for {
		addrs, err := c.endpoints(ctx, n)
		switch {
		case err != nil:
			return nil, err
		case len(addrs) == n:
			return addrs, nil
		case time.Now().After(deadline):
			return nil, fmt.Errorf("scale.command.endpoints printed %d endpoint(s), not %d, for %v (target.ready_timeout)", len(addrs), n, c.ready.Timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(4 * pollInterval):
		}
	}
}

// endpoints runs the endpoints command with {n} and checks every line it printed.
func (c *Command) endpoints(ctx context.Context, n int) ([]string, error) {
	out, err := run(ctx, substitute(c.cfg.Endpoints, n))
	if err != nil {
		return nil, fmt.Errorf("scale.command.endpoints: %w", err)
	}
	var addrs []string
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		addr, err := scenario.CheckEndpoint(line, c.cfg.Allow)
		if err != nil {
			return nil, fmt.Errorf("scale.command.endpoints: %w", err)
		}
		addrs = append(addrs, addr)
	}
	return addrs, nil
}

// Close scales back to the count before the first Scale, if Scale ever ran.
func (c *Command) Close() error {
	c.mu.Lock()
	start := c.start
	c.start = -1
	c.mu.Unlock()
	if start < 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	argv := substitute(c.cfg.Scale, start)
	c.event("%s", strings.Join(argv, " "))
	if _, err := run(ctx, argv); err != nil {
		return fmt.Errorf("scale.command.scale back to %d: %w", start, err)
	}
	return nil
}
