package target

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis client defaults.
const (
	// DefaultRedisAddr is the Redis server the session store uses when
	// Config.RedisAddr is empty.
	DefaultRedisAddr = "127.0.0.1:6379"
	// DefaultRedisPoolSize bounds the connections a RedisClient keeps open
	// when NewRedisClient is given a size ≤ 0. A worker runs one thread; a
	// few connections cover the requests waiting on Redis at once.
	DefaultRedisPoolSize = 4
	// DefaultRedisTimeout bounds dialing and each command's round trip when
	// the caller's context has no earlier deadline. Loopback Redis answers in
	// microseconds: a second means it is gone, not slow.
	DefaultRedisTimeout = 2 * time.Second
)

// ErrRedisClosed is returned by the methods of a RedisClient after Close.
var ErrRedisClosed = errors.New("redis client closed")

// RedisError is an error reply from the server, e.g. "ERR unknown command".
// The connection stays usable after one.
type RedisError string

func (e RedisError) Error() string { return string(e) }

// RedisClient is the Redis client of the session store and the shared
// resource: go-redis, with the errors this package reports ("redis at ADDR:
// CMD: …", RedisError, ErrRedisClosed) and its pool bounded as a worker needs.
// It is safe for concurrent use; create one with NewRedisClient.
//
// go-redis replaced a RESP2 client of this package's own: BenchmarkRedisClients
// (GET then SET EX, as a session request sends, against a real redis-server)
// measured both at the same time per request, 47–53 µs for ours against
// 51–60 µs for go-redis on a busy 2-core machine, the loopback round trips
// dominating; go-redis allocates 16 times and 520 B per request against 12
// and 356 B, which is not worth a protocol parser of our own.
type RedisClient struct {
	addr string
	c    *redis.Client
}

// NewRedisClient returns a client for the server at addr ("host:port") that
// keeps at most size connections open (DefaultRedisPoolSize when size ≤ 0).
// A command's deadline is the caller's context's, at most
// DefaultRedisTimeout. It connects lazily: call Ping to check that the server
// answers.
func NewRedisClient(addr string, size int) *RedisClient {
	return newRedisClient(addr, size, func(o *redis.Options) { o.ContextTimeoutEnabled = true })
}

// quietRedis drops go-redis's log lines ("failed to dial after 1 attempts"):
// every failure already comes back as an error, which the worker reports.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

var silenceRedis sync.Once

func newRedisClient(addr string, size int, configure func(*redis.Options)) *RedisClient {
	silenceRedis.Do(func() { redis.SetLogger(quietRedis{}) })
	if size <= 0 {
		size = DefaultRedisPoolSize
	}
	o := &redis.Options{
		Addr:     addr,
		PoolSize: size,
		// Dialed on demand and kept: no connections opened ahead of the
		// first command.
		MinIdleConns: 0,
		DialTimeout:  DefaultRedisTimeout,
		// One dial per attempt, as a request needs: go-redis would otherwise
		// try 5 times 100 ms apart, and a worker whose Redis is down would
		// answer each request 0.4 s late instead of at once. (After PoolSize
		// failed dials go-redis stops dialing and probes once a second in the
		// background until the server is back.)
		DialerRetries: 1,
		ReadTimeout:   DefaultRedisTimeout,
		WriteTimeout:  DefaultRedisTimeout,
		PoolTimeout:   DefaultRedisTimeout,
		// Never resend: an RPUSH that reached the server before its
		// connection broke would give back the shared token twice.
		MaxRetries: -1,
		// RESP2 and no CLIENT SETINFO: one round trip per command from the
		// first, on any Redis version.
		Protocol:        2,
		DisableIdentity: true,
	}
	if configure != nil {
		configure(o)
	}
	return &RedisClient{addr: addr, c: redis.NewClient(o)}
}

// Addr returns the server address the client was created with.
func (c *RedisClient) Addr() string { return c.addr }

// Ping sends PING and expects PONG.
func (c *RedisClient) Ping(ctx context.Context) error {
	return c.wrap(ctx, "PING", c.c.Ping(ctx).Err())
}

// Set stores val under key. A ttl > 0 sets an expiry with EX, rounded up to
// whole seconds; ttl ≤ 0 stores the key without expiry.
func (c *RedisClient) Set(ctx context.Context, key, val string, ttl time.Duration) error {
	if ttl > 0 {
		ttl = (ttl + time.Second - 1).Truncate(time.Second)
	} else {
		ttl = 0 // go-redis's KeepTTL is -1: keep no old expiry either
	}
	return c.wrap(ctx, "SET", c.c.Set(ctx, key, val, ttl).Err())
}

// Get returns the value stored under key; ok is false when there is none.
func (c *RedisClient) Get(ctx context.Context, key string) (val string, ok bool, err error) {
	val, err = c.c.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, c.wrap(ctx, "GET", err)
	}
	return val, true, nil
}

// Exists reports whether key is stored.
func (c *RedisClient) Exists(ctx context.Context, key string) (bool, error) {
	n, err := c.c.Exists(ctx, key).Result()
	if err != nil {
		return false, c.wrap(ctx, "EXISTS", err)
	}
	return n > 0, nil
}

// do sends any command and returns its reply as go-redis gives it (string,
// int64, []any, …); a nil reply is redis.Nil.
func (c *RedisClient) do(ctx context.Context, args ...any) (any, error) {
	v, err := c.c.Do(ctx, args...).Result()
	if errors.Is(err, redis.Nil) {
		return nil, err
	}
	return v, c.wrap(ctx, fmt.Sprint(args[0]), err)
}

// Close closes the connections, idle or busy, and makes later commands fail
// with ErrRedisClosed. It is idempotent.
func (c *RedisClient) Close() error {
	if err := c.c.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("redis at %s: close: %w", c.addr, err)
	}
	return nil
}

// wrap names the server and the command in err: "redis at ADDR: CMD: …",
// and "redis at ADDR: connection refused" when the connection could not be
// opened (the dial's own "dial tcp ADDR: connect:" would repeat the address).
// An error reply becomes a RedisError; a cancelled or expired ctx says so
// rather than "i/o timeout".
func (c *RedisClient) wrap(ctx context.Context, cmd string, err error) error {
	if err == nil {
		return nil
	}
	var reply redis.Error
	var op *net.OpError
	switch {
	case errors.Is(err, redis.ErrClosed):
		return fmt.Errorf("redis at %s: %w", c.addr, ErrRedisClosed)
	case errors.As(err, &reply) && !errors.As(err, &op):
		return fmt.Errorf("redis at %s: %s: %w", c.addr, cmd, RedisError(reply.Error()))
	case ctx.Err() != nil:
		err = ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded):
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			err = context.DeadlineExceeded
		}
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("redis at %s: %w", c.addr, cause(err))
	}
	return fmt.Errorf("redis at %s: %s: %w", c.addr, cmd, cause(err))
}

// cause strips the net.OpError and os.SyscallError layers whose text repeats
// the address and the operation, keeping them for errors.Is/As through the
// chain of the innermost error (e.g. syscall.ECONNREFUSED).
func cause(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
	}
	var sys *os.SyscallError
	if errors.As(err, &sys) && sys.Err != nil {
		err = sys.Err
	}
	return err
}
