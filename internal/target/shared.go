package target

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The shared resource (Config.Hold): one token in a Redis list, taken with
// BLPOP and given back with RPUSH, so that at most one request of all the
// workers holds it at a time. It models a serialized section outside the
// workers, like a table lock in a shared database: whatever the worker count,
// throughput cannot pass 1/Hold.
const (
	// DefaultLockKey is the Redis list holding the token when
	// Config.LockKey is empty.
	DefaultLockKey = "bench:lock"
	// DefaultLockWait bounds how long a request waits for the token when its
	// context has no deadline; after it the request gets 503.
	DefaultLockWait = 10 * time.Second
	// DefaultLockConns bounds the connections a worker with no
	// Config.Concurrency limit keeps for waiting on the token: each waiting
	// request occupies one (a blocked BLPOP holds its connection), and the
	// requests past it queue for a connection inside the worker.
	DefaultLockConns = 64
)

// lockToken is the list element that stands for the resource.
const lockToken = "token"

// ErrLockTimeout is wrapped by the error of a request that waited for the
// shared resource until its deadline (or DefaultLockWait) without getting it.
var ErrLockTimeout = errors.New("timed out waiting for the shared resource")

// ResetLock makes the list key at the Redis server addr hold exactly one
// token: DEL, then RPUSH. Call it with no worker running against key (before
// starting a cluster): a token held by a worker at the time would be given
// back on top of the new one, and one held by a killed worker is lost until
// the next reset. An empty key means DefaultLockKey.
func ResetLock(ctx context.Context, addr, key string) error {
	if key == "" {
		key = DefaultLockKey
	}
	if err := validateRedisAddr(addr); err != nil {
		return err
	}
	c := NewRedisClient(addr, 1)
	defer c.Close()
	if _, err := c.do(ctx, "DEL", key); err != nil {
		return fmt.Errorf("target: reset lock %q: %w", key, err)
	}
	n, err := c.do(ctx, "RPUSH", key, lockToken)
	if err != nil {
		return fmt.Errorf("target: reset lock %q: %w", key, err)
	}
	if n != int64(1) {
		// Someone pushed between DEL and RPUSH: a worker is already running.
		return fmt.Errorf("target: reset lock %q: redis at %s: RPUSH: %v elements in the list, want 1", key, addr, n)
	}
	return nil
}

// sharedLock is one worker's side of the shared resource.
type sharedLock struct {
	key  string
	hold time.Duration
	// acquire carries the BLPOPs, which block in the server; release carries
	// the RPUSHes. Separate pools, so that requests waiting for the token
	// can never take every connection from the request about to give it back.
	acquire *RedisClient
	release *RedisClient
	// slots holds one token per BLPOP in flight, as many as acquire has
	// connections: a request takes one before it computes how long its BLPOP
	// may wait, so that the time it queued inside the worker counts.
	slots chan struct{}
	// closing is cancelled by the handler's Close: it interrupts the waits.
	closing context.Context
}

// newSharedLock connects to cfg.RedisAddr and checks that it answers PING, so
// that a worker whose Redis is unreachable fails at startup.
func newSharedLock(cfg Config, closing context.Context) (*sharedLock, error) {
	conns := cfg.Concurrency
	if conns == 0 {
		conns = DefaultLockConns
	}
	l := &sharedLock{
		key:  cfg.LockKey,
		hold: cfg.Hold,
		// Once BLPOP is sent, only the server's own timeout ends the wait:
		// cutting the connection while the server hands over the token would
		// lose the token for every worker. So the request's context does not
		// reach the connection (ContextTimeoutEnabled off), and its read
		// deadline comes DefaultRedisTimeout after the longest wait. Only
		// Close (the worker stopping) interrupts, by closing the connections.
		acquire: newRedisClient(cfg.RedisAddr, conns, func(o *redis.Options) {
			o.ReadTimeout = DefaultLockWait + DefaultRedisTimeout
		}),
		// RPUSH never blocks in the server: one connection, two for overlap.
		release: NewRedisClient(cfg.RedisAddr, 2),
		slots:   make(chan struct{}, conns),
		closing: closing,
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultRedisTimeout)
	defer cancel()
	if err := l.release.Ping(ctx); err != nil {
		l.Close()
		return nil, fmt.Errorf("target: hold: shared resource in redis: %w", err)
	}
	return l, nil
}

// run takes the token, holds it for l.hold and gives it back. ctx is the
// request's: its deadline (DefaultLockWait when it has none) bounds the wait,
// and a request cancelled while waiting gives the token back at once, without
// the hold, when it comes.
func (l *sharedLock) run(ctx context.Context) error {
	if err := l.take(ctx); err != nil {
		return err
	}
	gone := ctx.Err()
	if gone == nil {
		// Sleep, not CPU: the serialized section runs elsewhere (the DB).
		time.Sleep(l.hold)
	}
	if err := l.give(); err != nil {
		return err
	}
	return gone
}

// take waits for the token with BLPOP.
func (l *sharedLock) take(ctx context.Context) error {
	deadline := time.Now().Add(DefaultLockWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	// Queuing for a connection is still inside this worker: a client that
	// goes away meanwhile just leaves the queue.
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("target: hold: %w", ctx.Err())
	case <-time.After(time.Until(deadline)):
		return fmt.Errorf("target: hold: %w", ErrLockTimeout)
	case <-l.closing.Done():
		return fmt.Errorf("target: hold: %w", ErrRedisClosed)
	}
	defer func() { <-l.slots }()
	wait := time.Until(deadline)
	if wait < time.Millisecond {
		return fmt.Errorf("target: hold: %w", ErrLockTimeout)
	}
	secs := strconv.FormatFloat(wait.Seconds(), 'f', 3, 64) // Redis ≥ 6 takes fractions
	reply, err := l.acquire.do(l.closing, "BLPOP", l.key, secs)
	switch {
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("target: hold: %w (%s)", ErrLockTimeout, wait.Round(time.Millisecond))
	case err != nil:
		return fmt.Errorf("target: hold: %w", err)
	}
	if kv, ok := reply.([]any); !ok || len(kv) != 2 {
		return fmt.Errorf("target: hold: redis at %s: BLPOP: unexpected reply %v", l.acquire.addr, reply)
	}
	return nil
}

// give puts the token back with RPUSH, even when the request was cancelled.
func (l *sharedLock) give() error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultRedisTimeout)
	defer cancel()
	if _, err := l.release.do(ctx, "RPUSH", l.key, lockToken); err != nil {
		// The token is lost until the next ResetLock: every later request
		// will time out, which the run shows as errors rather than hiding.
		return fmt.Errorf("target: hold: give back the token: %w", err)
	}
	return nil
}

// Close closes both connection pools.
func (l *sharedLock) Close() error {
	return errors.Join(l.acquire.Close(), l.release.Close())
}
