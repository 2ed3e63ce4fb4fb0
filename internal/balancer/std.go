package balancer

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// This file is the std engine: net/http's server and httputil.ReverseProxy,
// tuned so that it measures the workers rather than connection churn. It is
// also where the fast engine sends the connections it does not handle.

// newTransport returns the Transport every backend's ReverseProxy shares.
// maxConns is WithMaxConns: net/http's MaxConnsPerHost bounds connections
// per backend address the same way, idle ones included, and queues the
// requests that find none free.
func newTransport(d *net.Dialer, maxConns int) *http.Transport {
	return &http.Transport{
		MaxConnsPerHost: maxConns,
		// No Proxy: load goes to loopback workers, never through an
		// HTTP_PROXY from the environment.
		Proxy:       nil,
		DialContext: d.DialContext,
		// net/http's default of 2 idle connections per host makes a loaded
		// proxy dial and close one connection per request.
		MaxIdleConns:        0, // no limit across backends
		MaxIdleConnsPerHost: DefaultMaxIdleConnsPerBackend,
		IdleConnTimeout:     DefaultIdleConnTimeout,
		// Bodies pass through as the backend sent them; asking for gzip
		// would make the proxy decompress.
		DisableCompression:    true,
		ExpectContinueTimeout: time.Second,
		// Workers speak HTTP/1.1 on plain TCP.
		ForceAttemptHTTP2: false,
	}
}

// bufferPool is httputil.BufferPool over 32 KiB buffers, the size
// ReverseProxy would allocate per response without one.
type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) Get() []byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (bp *bufferPool) Put(b []byte) { bp.p.Put(&b) }

var proxyBuffers = new(bufferPool)

// newReverseProxy returns the std engine's proxy to the backend at addr.
// One proxy per backend lets Rewrite aim at its backend without passing the
// choice through the request's context (one allocation fewer).
func newReverseProxy(addr string, t http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = addr
			// Out.Host stays the client's Host, as the fast engine's
			// verbatim copy keeps it. Rewrite mode drops X-Forwarded-*
			// from the inbound request; put them back so both engines
			// pass them through alike.
			for _, h := range forwardedHeaders {
				if v, ok := pr.In.Header[h]; ok {
					pr.Out.Header[h] = v
				}
			}
		},
		Transport:    t,
		BufferPool:   proxyBuffers,
		ErrorHandler: badGateway,
		// Its default logger would print every refused connection.
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

var forwardedHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

// badGateway is every std engine failure to reach a backend: 502, one line.
func badGateway(w http.ResponseWriter, _ *http.Request, err error) {
	w.Header().Set(ErrorHeader, "balancer")
	http.Error(w, "bad gateway: "+err.Error(), http.StatusBadGateway)
}

// backendTransport is the std engine's RoundTripper for one backend: the
// shared Transport, plus the passive health check and the retry of a safe
// request on another backend when be drops it before answering. The
// Transport has already replayed requests that met a stale keep-alive
// connection, so an error here is about the backend, or about the client
// going away.
type backendTransport struct {
	b  *Balancer
	be *Backend
}

func (t *backendTransport) RoundTrip(out *http.Request) (*http.Response, error) {
	b := t.b
	resp, err := b.transport.RoundTrip(out)
	if err == nil || !connFailure(err) {
		return resp, err
	}
	ctx := out.Context()
	b.passiveFailure(ctx, t.be, err)
	// ReverseProxy sends a nil Body for a request without one.
	hasBody := out.Body != nil && out.Body != http.NoBody
	if ctx.Err() != nil || !retryable(out.Method, hasBody) {
		return nil, err
	}
	// Chosen again as for a new request: a backend marked down just now
	// is skipped; one that is alive after all may be chosen again.
	alt := b.sel.Select(b.pool, &Request{Method: out.Method, Target: out.URL.RequestURI(),
		RemoteAddr: out.RemoteAddr, header: stdHeader(out.Header)})
	if alt == nil {
		return nil, err
	}
	t.be.retries.Add(1)
	b.retries.Add(1)
	retry := out.Clone(ctx)
	retry.URL.Host = alt.Addr
	// be stays counted in flight until ServeHTTP returns; it is down, so
	// strategies do not look at its count meanwhile.
	alt.begin()
	resp, err = b.transport.RoundTrip(retry)
	if err != nil {
		alt.end()
		if connFailure(err) {
			b.passiveFailure(ctx, alt, err)
		}
		return nil, err
	}
	resp.Body = endOnClose(resp.Body, alt)
	return resp, nil
}

// endOnClose wraps body so that closing it ends be's in-flight count, as
// ServeHTTP's does for the backend it chose. A writable body (101
// Switching Protocols) stays writable: ReverseProxy needs that.
func endOnClose(body io.ReadCloser, be *Backend) io.ReadCloser {
	eb := &endBody{ReadCloser: body, be: be}
	if w, ok := body.(io.Writer); ok {
		return &endRWBody{endBody: eb, Writer: w}
	}
	return eb
}

type endBody struct {
	io.ReadCloser
	be   *Backend
	once sync.Once
}

func (b *endBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.be.end)
	return err
}

type endRWBody struct {
	*endBody
	io.Writer
}

// ServeHTTP proxies r to the backend the Selector picks, with the std
// engine; no available backend is a 503.
func (b *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// One small allocation: the std path makes dozens more per request.
	be := b.sel.Select(b.pool, NewRequest(r))
	if be == nil {
		w.Header().Set(ErrorHeader, "balancer")
		http.Error(w, errNoBackend.Error(), http.StatusServiceUnavailable)
		return
	}
	be.begin()
	defer be.end()
	be.std.ServeHTTP(w, r)
}

// newServer returns the net/http server of the std engine, also used for
// the connections the fast engine hands over.
func (b *Balancer) newServer() *http.Server {
	return &http.Server{
		Handler:  b,
		ErrorLog: log.New(io.Discard, "", 0),
		// Bounds a client that opens a connection and never sends a head.
		ReadHeaderTimeout: b.limits.headerTimeout,
		IdleTimeout:       b.limits.idleTimeout,
	}
}

// Interface guards.
var (
	_ http.Handler        = (*Balancer)(nil)
	_ httputil.BufferPool = (*bufferPool)(nil)
	_ http.RoundTripper   = (*backendTransport)(nil)
	_ io.ReadWriteCloser  = (*endRWBody)(nil)
)
