// Package target is the built-in worker that `bench worker` runs: a small HTTP
// server whose every request costs a known amount of CPU (workload "cpu") or
// waiting (workload "sleep"), optionally limited to a fixed number of requests
// in progress at once, like a single-threaded event loop. Workload "session"
// adds a login session kept in the worker's memory or in Redis, and every
// workload serves a WebSocket echo on WebSocketPath.
//
// The worker shares a 2-core machine with the load generator and the balancer,
// so the request path is kept free of allocations and of work beyond the
// workload itself: anything it wastes shows up as a bend in the scaling curve.
package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Workload names a built-in workload: what each request costs the worker.
// Workloads lists them all.
type Workload string

// The built-in workloads, in the order Workloads lists them.
const (
	// WorkloadCPU burns Config.Cost of CPU per request with a calibrated
	// compute loop (see Calibrate).
	WorkloadCPU Workload = "cpu"
	// WorkloadSleep waits Config.Cost per request without using CPU.
	WorkloadSleep Workload = "sleep"
	// WorkloadSession looks up or creates the client's session in
	// Config.Store (see SessionHeader), then burns Config.Cost of CPU like
	// WorkloadCPU.
	WorkloadSession Workload = "session"
)

// workloads is the registry of built-in workloads, in the order Workloads and
// `bench worker -h` list them, each with the few words the help shows after
// its name. It is the one place a new workload is registered.
var workloads = []entry[Workload]{
	{WorkloadCPU, "burn CPU"},
	{WorkloadSleep, "wait"},
	{WorkloadSession, "session lookup, then CPU"},
}

// Workloads is every built-in workload, the ones a scenario's target.builtin
// may name, in registry order. Callers must not modify it.
var Workloads = names(workloads)

// Valid reports whether w is one of Workloads. Names are exact.
func (w Workload) Valid() bool { return slices.Contains(Workloads, w) }

// Burns reports whether w burns its cost in the calibrated compute loop (see Calibrate).
func (w Workload) Burns() bool { return w == WorkloadCPU || w == WorkloadSession }

// String returns the name; with Set it makes a *Workload a flag.Value.
func (w *Workload) String() string { return string(*w) }

// Set accepts one of Workloads, so that a mistyped --workload fails as the
// flags are parsed.
func (w *Workload) Set(s string) error { return setName(w, s, Workloads, ErrUnknownWorkload) }

// Defaults applied by Run.
const (
	// DefaultThreads is the GOMAXPROCS Run uses when Config.Threads is 0: one
	// thread running Go code, like Node's single event loop.
	DefaultThreads = 1
	// DefaultShutdownTimeout bounds the graceful shutdown after ctx is done;
	// connections still busy after it are closed.
	DefaultShutdownTimeout = 5 * time.Second
	// DefaultReadHeaderTimeout bounds how long a connection may take to send
	// request headers, so a stuck client cannot pin a connection forever.
	DefaultReadHeaderTimeout = 10 * time.Second
)

// HealthPath answers GET and HEAD with 200 "ok" and does no work, whatever the
// workload.
const HealthPath = "/healthz"

// WorkerHeader is set on every response to "<index>/<pid>", so a balancer test
// or a person with curl can tell which worker answered.
const WorkerHeader = "X-Worker"

// ErrUnknownWorkload is wrapped by the error for a Config.Workload that is not
// one of Workloads.
var ErrUnknownWorkload = errors.New("unknown workload")

// Config describes one built-in worker.
type Config struct {
	// Workload is one of Workloads; empty means WorkloadCPU.
	Workload Workload
	// Cost is the CPU burned (cpu) or the time waited (sleep) per request;
	// zero means no work at all, which measures the HTTP overhead alone.
	Cost time.Duration
	// Concurrency limits how many requests are worked on at once; the rest
	// queue inside the worker in arrival order. Zero means no limit; 1 is a
	// single busy event loop.
	Concurrency int
	// Threads is the GOMAXPROCS that Run sets for the process; zero means
	// DefaultThreads. Handler ignores it.
	Threads int
	// Index is the worker's 1-based index, reported in the X-Worker header;
	// zero means unknown and is reported as 0.
	Index int
	// Addr is the address Run listens on, e.g. "127.0.0.1:8080"; it must not
	// be empty. Handler ignores it.
	Addr string
	// Store is where the session workload keeps sessions, one of Stores;
	// empty means StoreMemory. Other workloads ignore it.
	Store Store
	// RedisAddr is the loopback host:port of the Redis server for
	// StoreRedis; empty means DefaultRedisAddr.
	RedisAddr string
	// SessionTTL is how long a session lives in the store; zero means
	// DefaultSessionTTL.
	SessionTTL time.Duration
	// ItersPerMs is the speed of the cpu workload's compute loop to use instead of calibrating
	// (see Calibrate); zero means calibrate. A harness calibrates once and gives every worker of
	// a run the same figure, so that all of them do the same work per request: each worker
	// calibrating on its own lands within about ±0.5 % of the others, which moves a measured
	// capacity, and a ratio of two, by as much.
	ItersPerMs float64
	// Slowdown multiplies Cost for this worker, to make workers purposely
	// uneven (a worker on a slower core, a noisy neighbour); zero means 1.
	Slowdown float64
	// Hold is how long each request holds the one resource shared by all
	// workers (a single token in Redis at RedisAddr, see ResetLock), after
	// its workload cost and inside its concurrency slot, like a handler
	// awaiting a serialized database call. Requests queue for it in Redis in
	// arrival order, so the cluster's throughput cannot pass 1/Hold. Zero
	// means no shared resource (and no Redis).
	Hold time.Duration
	// LockKey is the Redis list holding the shared resource's token; empty
	// means DefaultLockKey. Only used when Hold > 0.
	LockKey string
	// ReusePort makes Run listen with SO_REUSEPORT, so several workers can
	// listen on the same Addr and the kernel spreads new connections over
	// them, as Node's cluster workers share a port: no balancer hop. False
	// means an exclusive listener. Only Linux supports it (Run fails
	// elsewhere); every sharer must set it and run as the same user.
	ReusePort bool
}

// validate checks the fields Handler uses and fills in the default workload.
func (c *Config) validate() error {
	switch {
	case c.Workload == "":
		c.Workload = WorkloadCPU
	case !c.Workload.Valid():
		return fmt.Errorf("target: workload: %w", unknown(c.Workload, Workloads, ErrUnknownWorkload))
	}
	if c.Cost < 0 {
		return fmt.Errorf("target: cost: must not be negative, got %s", c.Cost)
	}
	if c.Concurrency < 0 {
		return fmt.Errorf("target: concurrency: must not be negative, got %d", c.Concurrency)
	}
	if c.Threads < 0 {
		return fmt.Errorf("target: threads: must not be negative, got %d", c.Threads)
	}
	if c.Index < 0 {
		return fmt.Errorf("target: index: must not be negative, got %d", c.Index)
	}
	switch {
	case c.Store == "":
		c.Store = StoreMemory
	case !c.Store.Valid():
		return fmt.Errorf("target: store: %w", unknown(c.Store, Stores, ErrUnknownStore))
	}
	if c.RedisAddr == "" {
		c.RedisAddr = DefaultRedisAddr
	}
	if c.Hold < 0 {
		return fmt.Errorf("target: hold: must not be negative, got %s", c.Hold)
	}
	if c.LockKey == "" {
		c.LockKey = DefaultLockKey
	}
	if c.Workload == WorkloadSession && c.Store == StoreRedis || c.Hold > 0 {
		if err := validateRedisAddr(c.RedisAddr); err != nil {
			return err
		}
	}
	if c.Slowdown < 0 {
		return fmt.Errorf("target: slowdown: must not be negative, got %g", c.Slowdown)
	}
	if c.Slowdown > 0 {
		c.Cost = time.Duration(float64(c.Cost) * c.Slowdown)
	}
	if c.SessionTTL < 0 {
		return fmt.Errorf("target: session ttl: must not be negative, got %s", c.SessionTTL)
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	return nil
}

// Run serves the worker described by cfg on cfg.Addr until ctx is done, then
// shuts down gracefully, closing connections still busy after
// DefaultShutdownTimeout. It sets GOMAXPROCS to cfg.Threads (DefaultThreads
// when 0) for as long as it runs and restores the previous value on return.
// A cancelled ctx is a normal stop and returns nil; failing to listen returns
// an error naming the address. With cfg.ReusePort it shares cfg.Addr with the
// other SO_REUSEPORT listeners there.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Addr == "" {
		return errors.New("target: addr: must not be empty")
	}
	threads := cfg.Threads
	if threads == 0 {
		threads = DefaultThreads
	}
	// Set before Handler, so that calibration runs under the same scheduler
	// settings as the requests will.
	if threads > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
	}
	// Validates cfg, calibrates and checks the session store before the
	// port opens, so the worker is never ready with a store it cannot use.
	h, err := newHandler(cfg)
	if err != nil {
		return err
	}
	var ln net.Listener
	if cfg.ReusePort {
		ln, err = listenReusePort(ctx, cfg.Addr)
	} else {
		ln, err = net.Listen("tcp", cfg.Addr)
	}
	if err != nil {
		h.Close()
		return fmt.Errorf("target: listen on %s: %w", cfg.Addr, err)
	}
	err = serve(ctx, ln, h)
	if cerr := h.Close(); err == nil {
		err = cerr
	}
	return err
}

// serve runs an http.Server for h on ln until ctx is done. It owns ln.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		// Keep-alives stay on (the default): the balancer and the load
		// generator reuse connections, and a new TCP handshake per request
		// would be measured as the worker's cost.
		IdleTimeout: 2 * time.Minute,
		// No BaseContext from ctx: on shutdown, requests already queued for
		// a slot should still be served within the shutdown bound, not
		// cancelled the moment the signal arrives.
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("target: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	// ctx is already done: the shutdown deadline needs a context of its own.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultShutdownTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(sctx)
	if shutdownErr != nil {
		// Deadline passed with requests still running: cut them off rather
		// than leave the process hanging past its supervisor's grace period.
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("target: serve on %s: %w", ln.Addr(), err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("target: shutdown on %s: %w", ln.Addr(), shutdownErr)
	}
	return nil
}

// Handler returns the worker's HTTP handler for cfg: HealthPath answers at
// once, WebSocketPath serves the WebSocket echo, every other path does the
// workload (after waiting for a slot when cfg.Concurrency > 0). For the cpu
// and session workloads it calibrates first (see Calibrate), which takes
// about 40 ms of CPU the first time in a process. For the session workload
// with StoreRedis, and for any workload with cfg.Hold > 0, it fails unless
// the server at cfg.RedisAddr answers PING.
//
// The handler also implements io.Closer: Close ends open WebSocket
// connections, waits for them, and closes the Redis connections. Run calls
// it on return; a test that builds a handler should too.
func Handler(cfg Config) (http.Handler, error) {
	h, err := newHandler(cfg)
	if err != nil {
		return nil, err
	}
	return h, nil
}

func newHandler(cfg Config) (*handler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := &handler{
		workload: cfg.Workload,
		cost:     cfg.Cost,
		worker:   []string{strconv.Itoa(cfg.Index) + "/" + strconv.Itoa(os.Getpid())},
	}
	if cfg.Concurrency > 0 {
		h.sem = make(chan struct{}, cfg.Concurrency)
	}
	if cfg.Workload.Burns() && cfg.Cost > 0 {
		cal := Calibration{ItersPerMs: cfg.ItersPerMs}
		if cal.ItersPerMs <= 0 {
			cal = Calibrate()
		}
		h.iters = cal.Iters(cfg.Cost)
	}
	h.closing, h.close = context.WithCancel(context.Background())
	if cfg.Workload == WorkloadSession {
		s, err := newSessionStore(cfg)
		if err != nil {
			h.close()
			return nil, err
		}
		h.sessions = s
	}
	if cfg.Hold > 0 {
		l, err := newSharedLock(cfg, h.closing)
		if err != nil {
			h.close()
			if h.sessions != nil {
				h.sessions.Close()
			}
			return nil, err
		}
		h.lock = l
	}
	return h, nil
}

// Header values shared by every response. net/http only reads header value
// slices, so assigning these saves an allocation per header per request.
var (
	okBody        = []byte("ok\n")
	contentLength = []string{strconv.Itoa(len(okBody))}
	// Setting the type spares net/http sniffing the body on every response.
	contentType = []string{"text/plain; charset=utf-8"}
	busyLength  = []string{"0"}
)

type handler struct {
	workload Workload
	cost     time.Duration
	iters    uint64 // cpu: loop iterations per request
	// sem holds one token per request being worked on; nil means unlimited.
	// Blocked senders on a Go channel are woken in arrival order, which gives
	// the FIFO queue of an event loop.
	sem    chan struct{}
	worker []string // X-Worker value, computed once
	// sessions is the session workload's store; nil for other workloads.
	sessions sessionStore
	// lock is the shared resource each request holds; nil when Config.Hold
	// is 0.
	lock *sharedLock

	// closing is cancelled by Close, which then waits for conns: the
	// WebSocket connections still open.
	closing  context.Context
	close    context.CancelFunc
	conns    sync.WaitGroup
	mu       sync.Mutex // guards isClosed against conns.Add racing Close
	isClosed bool
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr[WorkerHeader] = h.worker

	if r.URL.Path == HealthPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		h.reply(w, hdr)
		return
	}
	if r.URL.Path == WebSocketPath {
		h.serveWebSocket(w, r)
		return
	}
	// The store is consulted before taking a slot: a Node worker awaiting
	// Redis leaves its event loop free for other requests meanwhile.
	if h.sessions != nil && !h.session(w, r, hdr) {
		return
	}

	if h.sem != nil {
		select {
		case h.sem <- struct{}{}:
		default:
			select {
			case h.sem <- struct{}{}:
			case <-r.Context().Done():
				// The client (or the server's shutdown) gave up while this
				// request queued: don't spend the work on nobody.
				hdr["Content-Length"] = busyLength
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		defer func() { <-h.sem }()
	}

	switch h.workload {
	case WorkloadCPU, WorkloadSession:
		if h.iters > 0 {
			burnSink(h.iters)
		}
	case WorkloadSleep:
		if h.cost > 0 {
			// time.Sleep reuses the goroutine's own timer: no allocation,
			// unlike time.NewTimer with a select on the request context.
			time.Sleep(h.cost)
		}
	}
	if h.lock != nil && h.lock.run(r.Context()) != nil {
		// No token within the deadline (or Redis failed): the request was
		// not served, as a database timing out on its lock would not be.
		hdr["Content-Length"] = busyLength
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	h.reply(w, hdr)
}

func (h *handler) reply(w http.ResponseWriter, hdr http.Header) {
	hdr["Content-Length"] = contentLength
	hdr["Content-Type"] = contentType
	w.WriteHeader(http.StatusOK)
	w.Write(okBody) //nolint:errcheck // the client went away; nothing to do
}

// Close ends the open WebSocket connections with 1001 Going Away, waits for
// their handlers to return, interrupts the waits for the shared resource, and
// closes the session store and the shared resource's connections. Later
// WebSocket upgrades get 503. It is idempotent.
func (h *handler) Close() error {
	h.mu.Lock()
	already := h.isClosed
	h.isClosed = true
	h.mu.Unlock()
	if already {
		return nil
	}
	h.close()
	h.conns.Wait()
	var errs []error
	if h.sessions != nil {
		errs = append(errs, h.sessions.Close())
	}
	if h.lock != nil {
		errs = append(errs, h.lock.Close())
	}
	return errors.Join(errs...)
}

// Interface guards.
var (
	_ http.Handler = (*handler)(nil)
	_ io.Closer    = (*handler)(nil)
)

// SlowdownFor returns the factor spec gives worker index: spec lists
// "index=factor" pairs separated by commas ("1=3,4=1.5"); workers it does
// not name get 1.
func SlowdownFor(spec string, index int) (float64, error) {
	if spec == "" {
		return 1, nil
	}
	factor := 1.0
	for _, pair := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		i, err1 := strconv.Atoi(k)
		f, err2 := strconv.ParseFloat(v, 64)
		if !ok || err1 != nil || err2 != nil || i < 1 || !(f > 0) {
			return 0, fmt.Errorf("target: slowdown: %q is not index=factor (like 1=3)", pair)
		}
		if i == index {
			factor = f
		}
	}
	return factor, nil
}
