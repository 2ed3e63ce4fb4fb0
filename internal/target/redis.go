package target

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
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

// RESP limits: a session store never sends anything near them, so a length
// past them means the stream is out of step, not a big value.
const (
	redisMaxBulk  = 64 << 20
	redisMaxArray = 1 << 16
	redisMaxDepth = 8
)

// ErrRedisClosed is returned by the methods of a RedisClient after Close.
var ErrRedisClosed = errors.New("redis client closed")

// RedisError is an error reply from the server, e.g. "ERR unknown command".
// The connection stays usable after one.
type RedisError string

func (e RedisError) Error() string { return string(e) }

// RedisClient is a minimal RESP2 client for one Redis server: PING, SET with
// EX, GET and EXISTS over a small pool of connections, one command per round
// trip (no pipelining). It is safe for concurrent use; its zero value is not
// usable, create one with NewRedisClient.
type RedisClient struct {
	addr    string
	timeout time.Duration
	// dial opens a connection; tests replace it with a net.Pipe fake.
	dial func(ctx context.Context) (net.Conn, error)
	// slots holds one token per open or opening connection, bounding the pool.
	slots chan struct{}

	mu     sync.Mutex
	idle   []*redisConn // connections free for the next command, LIFO
	closed bool
}

type redisConn struct {
	nc net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
}

// NewRedisClient returns a client for the server at addr ("host:port") that
// keeps at most size connections open (DefaultRedisPoolSize when size ≤ 0).
// It connects lazily: call Ping to check that the server answers.
func NewRedisClient(addr string, size int) *RedisClient {
	if size <= 0 {
		size = DefaultRedisPoolSize
	}
	c := &RedisClient{
		addr:    addr,
		timeout: DefaultRedisTimeout,
		slots:   make(chan struct{}, size),
	}
	c.dial = func(ctx context.Context) (net.Conn, error) {
		d := net.Dialer{Timeout: c.timeout}
		return d.DialContext(ctx, "tcp", c.addr)
	}
	return c
}

// Addr returns the server address the client was created with.
func (c *RedisClient) Addr() string { return c.addr }

// Ping sends PING and expects PONG.
func (c *RedisClient) Ping(ctx context.Context) error {
	rep, err := c.do(ctx, "PING")
	if err != nil {
		return err
	}
	if rep.kind != '+' || rep.str != "PONG" {
		return c.unexpected("PING", rep)
	}
	return nil
}

// Set stores val under key. A ttl > 0 sets an expiry with EX, rounded up to
// whole seconds; ttl ≤ 0 stores the key without expiry.
func (c *RedisClient) Set(ctx context.Context, key, val string, ttl time.Duration) error {
	var rep redisReply
	var err error
	if ttl > 0 {
		secs := int64((ttl + time.Second - 1) / time.Second)
		rep, err = c.do(ctx, "SET", key, val, "EX", strconv.FormatInt(secs, 10))
	} else {
		rep, err = c.do(ctx, "SET", key, val)
	}
	if err != nil {
		return err
	}
	if rep.kind != '+' || rep.str != "OK" {
		return c.unexpected("SET", rep)
	}
	return nil
}

// Get returns the value stored under key; ok is false when there is none.
func (c *RedisClient) Get(ctx context.Context, key string) (val string, ok bool, err error) {
	rep, err := c.do(ctx, "GET", key)
	if err != nil {
		return "", false, err
	}
	if rep.kind != '$' {
		return "", false, c.unexpected("GET", rep)
	}
	return rep.str, !rep.null, nil
}

// Exists reports whether key is stored.
func (c *RedisClient) Exists(ctx context.Context, key string) (bool, error) {
	rep, err := c.do(ctx, "EXISTS", key)
	if err != nil {
		return false, err
	}
	if rep.kind != ':' {
		return false, c.unexpected("EXISTS", rep)
	}
	return rep.num > 0, nil
}

// Close closes the idle connections and makes later commands fail with
// ErrRedisClosed; connections busy with a command are closed when it ends.
// It is idempotent.
func (c *RedisClient) Close() error {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.closed = nil, true
	c.mu.Unlock()
	var errs []error
	for _, cn := range idle {
		if err := cn.nc.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("redis at %s: close: %w", c.addr, err)
	}
	return nil
}

func (c *RedisClient) unexpected(cmd string, rep redisReply) error {
	return fmt.Errorf("redis at %s: %s: unexpected reply %s", c.addr, cmd, rep)
}

// do sends one command and reads its reply. An error reply comes back as a
// RedisError and keeps the connection; any other failure drops it, because
// the stream may be left mid-reply.
func (c *RedisClient) do(ctx context.Context, args ...string) (redisReply, error) {
	cn, err := c.get(ctx)
	if err != nil {
		return redisReply{}, err
	}
	rep, err := cn.roundTrip(ctx, c.timeout, args)
	if err != nil {
		c.put(cn, false)
		// A cancellation or a context deadline shows as an i/o timeout on
		// the connection; the context says what really happened.
		if ctx.Err() != nil {
			err = ctx.Err()
		} else if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) && errors.Is(err, os.ErrDeadlineExceeded) {
			err = context.DeadlineExceeded
		}
		return redisReply{}, fmt.Errorf("redis at %s: %s: %w", c.addr, args[0], cause(err))
	}
	c.put(cn, true)
	if rep.kind == '-' {
		return rep, fmt.Errorf("redis at %s: %s: %w", c.addr, args[0], RedisError(rep.str))
	}
	return rep, nil
}

// get takes an idle connection or dials one, waiting for a free slot.
func (c *RedisClient) get(ctx context.Context) (*redisConn, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("redis at %s: wait for a connection: %w", c.addr, ctx.Err())
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.slots
		return nil, fmt.Errorf("redis at %s: %w", c.addr, ErrRedisClosed)
	}
	if n := len(c.idle); n > 0 {
		cn := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return cn, nil
	}
	c.mu.Unlock()

	nc, err := c.dial(ctx)
	if err != nil {
		<-c.slots
		// "redis at 127.0.0.1:6379: connection refused": the address is
		// already in front, the dial's own "dial tcp ...: connect:" repeats it.
		return nil, fmt.Errorf("redis at %s: %w", c.addr, cause(err))
	}
	return &redisConn{nc: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}, nil
}

// put returns cn to the pool, or closes it when it is broken or the client
// is closed, and frees its slot.
func (c *RedisClient) put(cn *redisConn, healthy bool) {
	c.mu.Lock()
	if healthy && !c.closed {
		c.idle = append(c.idle, cn)
		cn = nil
	}
	c.mu.Unlock()
	if cn != nil {
		cn.nc.Close()
	}
	<-c.slots
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

// aLongTimeAgo is a deadline in the past, which interrupts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip writes one command and reads one reply, within timeout or ctx's
// deadline, whichever is earlier; cancelling ctx interrupts it.
func (cn *redisConn) roundTrip(ctx context.Context, timeout time.Duration, args []string) (redisReply, error) {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := cn.nc.SetDeadline(deadline); err != nil {
		return redisReply{}, err
	}
	stop := context.AfterFunc(ctx, func() { cn.nc.SetDeadline(aLongTimeAgo) })
	defer stop()

	writeCommand(cn.w, args)
	if err := cn.w.Flush(); err != nil {
		return redisReply{}, err
	}
	return readReply(cn.r, 0)
}

// writeCommand encodes args as a RESP array of bulk strings. Errors are left
// in w for Flush to report.
func writeCommand(w *bufio.Writer, args []string) {
	var num [20]byte
	w.WriteByte('*')
	w.Write(strconv.AppendInt(num[:0], int64(len(args)), 10))
	w.WriteString("\r\n")
	for _, a := range args {
		w.WriteByte('$')
		w.Write(strconv.AppendInt(num[:0], int64(len(a)), 10))
		w.WriteString("\r\n")
		w.WriteString(a)
		w.WriteString("\r\n")
	}
}

// redisReply is one RESP2 value.
type redisReply struct {
	// kind is the type byte: '+' simple string, '-' error, ':' integer,
	// '$' bulk string, '*' array.
	kind  byte
	str   string       // '+', '-', '$'
	num   int64        // ':'
	elems []redisReply // '*'
	null  bool         // '$' or '*' sent with length -1 (a nil reply)
}

// String shows the reply for error messages, e.g. `bulk "x"` or `integer 1`.
func (r redisReply) String() string {
	switch r.kind {
	case '+':
		return fmt.Sprintf("simple string %q", r.str)
	case '-':
		return fmt.Sprintf("error %q", r.str)
	case ':':
		return fmt.Sprintf("integer %d", r.num)
	case '$':
		if r.null {
			return "nil bulk string"
		}
		return fmt.Sprintf("bulk string %q", r.str)
	case '*':
		if r.null {
			return "nil array"
		}
		return fmt.Sprintf("array of %d", len(r.elems))
	}
	return fmt.Sprintf("reply type %q", r.kind)
}

// errProtocol is wrapped by every error for a malformed reply.
var errProtocol = errors.New("RESP protocol error")

// parseLength reads the length of a bulk string or an array: -1 is RESP2's null, anything else
// must be within 0..max.
func parseLength(body []byte, max int64, what string) (int64, error) {
	n, err := parseInt(body)
	switch {
	case err != nil:
		return 0, err
	case n == -1:
		return -1, nil
	case n < 0 || n > max:
		return 0, fmt.Errorf("%w: %s length %d", errProtocol, what, n)
	}
	return n, nil
}

// readReply reads one RESP2 value from r; depth counts enclosing arrays.
func readReply(r *bufio.Reader, depth int) (redisReply, error) {
	line, err := readLine(r)
	if err != nil {
		return redisReply{}, err
	}
	if len(line) == 0 {
		return redisReply{}, fmt.Errorf("%w: empty line", errProtocol)
	}
	rep := redisReply{kind: line[0]}
	body := line[1:]
	switch rep.kind {
	case '+', '-':
		rep.str = string(body)
		return rep, nil
	case ':':
		rep.num, err = parseInt(body)
		return rep, err
	case '$':
		n, err := parseLength(body, redisMaxBulk, "bulk")
		if err != nil || n < 0 {
			rep.null = n < 0
			return rep, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return rep, unexpectedEOF(err)
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return rep, fmt.Errorf("%w: bulk string of %d bytes not followed by CRLF", errProtocol, n)
		}
		rep.str = string(buf[:n])
		return rep, nil
	case '*':
		n, err := parseLength(body, redisMaxArray, "array")
		if err != nil || n < 0 {
			rep.null = n < 0
			return rep, err
		}
		if depth >= redisMaxDepth {
			return rep, fmt.Errorf("%w: arrays nested deeper than %d", errProtocol, redisMaxDepth)
		}
		rep.elems = make([]redisReply, n)
		for i := range rep.elems {
			if rep.elems[i], err = readReply(r, depth+1); err != nil {
				return rep, err
			}
		}
		return rep, nil
	}
	return rep, fmt.Errorf("%w: unknown reply type %q", errProtocol, rep.kind)
}

// readLine returns the next line without its CRLF. The slice is only valid
// until the next read from r.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: line longer than %d bytes", errProtocol, r.Size())
		}
		return nil, unexpectedEOF(err)
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: line %q does not end in CRLF", errProtocol, line)
	}
	return line[:len(line)-2], nil
}

// unexpectedEOF turns io.EOF inside a reply into io.ErrUnexpectedEOF: the
// server closing a connection that owes a reply is a failure.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func parseInt(b []byte) (int64, error) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: bad integer %q", errProtocol, b)
	}
	return n, nil
}
