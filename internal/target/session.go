package target

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The session workload's protocol: what a client (or the load generator)
// sends and reads.
//
// A session's state is a counter: how many requests the client made in it.
// The client sends its own count in SessionSeqHeader; the worker compares it
// with what its store remembers. A worker that never saw the session, or saw
// an older state of it (another worker served the requests in between), has
// lost the client's state: that is a miss, "in-memory sessions break across
// workers", measured.
const (
	// LoginPath, requested with POST, always starts a new session.
	LoginPath = "/login"
	// SessionCookie is the cookie carrying the session id: 32 lowercase hex
	// digits (128 random bits).
	SessionCookie = "session"
	// SessionHeader is set on every session workload response to
	// SessionNew, SessionHit or SessionMiss.
	SessionHeader = "X-Session"
	// SessionSeqHeader carries the client's count of its requests in the
	// session, this one included (1 for the first). Without it the worker
	// counts by itself and a request is a hit whenever the session is known.
	SessionSeqHeader = "X-Session-Seq"

	// SessionNew: a login, or a request without a well-formed session
	// cookie. The response sets a new cookie.
	SessionNew = "new"
	// SessionHit: the store held the session in the state the client expects.
	SessionHit = "hit"
	// SessionMiss: the cookie is well formed but the store does not hold the
	// session, or holds an older state of it: with the memory store, another
	// worker created or advanced it. The status is still 200; the worker
	// stores the client's state under the same id so that the client can
	// carry on. It keeps the id because the id stands for the client here, not
	// for a login to verify: issuing a new one would also defeat a balancer
	// that hashes the cookie, on every request.
	SessionMiss = "miss"
)

// Store names where the session workload keeps its sessions. Stores lists
// them all.
type Store string

// The session stores, in the order Stores lists them.
const (
	// StoreMemory keeps sessions in a map inside each worker process: a
	// session is only known to the worker that created it.
	StoreMemory Store = "memory"
	// StoreRedis keeps sessions in the Redis server at Config.RedisAddr,
	// shared by every worker.
	StoreRedis Store = "redis"
)

// stores is the registry of session stores, in the order Stores and
// `bench worker -h` list them, each with the few words the help shows after
// its name. It is the one place a new store is registered.
var stores = []entry[Store]{
	{StoreMemory, "per worker"},
	{StoreRedis, "shared"},
}

// Stores is every session store, the ones a scenario's target.store may
// name, in registry order. Callers must not modify it.
var Stores = names(stores)

// Valid reports whether s is one of Stores. Names are exact.
func (s Store) Valid() bool { return slices.Contains(Stores, s) }

// String returns the name; with Set it makes a *Store a flag.Value.
func (s *Store) String() string { return string(*s) }

// Set accepts one of Stores, so that a mistyped --store fails as the flags
// are parsed.
func (s *Store) Set(name string) error { return setName(s, name, Stores, ErrUnknownStore) }

// DefaultSessionTTL is how long a session lives when Config.SessionTTL is 0.
const DefaultSessionTTL = 30 * time.Minute

// redisSessionPrefix namespaces the session keys in a Redis that may be
// shared with other things.
const redisSessionPrefix = "bench:session:"

// ErrUnknownStore is wrapped by the error for a Config.Store that is neither
// StoreMemory nor StoreRedis.
var ErrUnknownStore = errors.New("unknown store")

// sessionStore holds each session's state: its request count. Implementations
// are safe for concurrent use.
type sessionStore interface {
	// put stores seq as the state of session id, for the store's ttl.
	put(ctx context.Context, id string, seq uint64) error
	// get returns the stored state of id and whether it is stored and not
	// expired.
	get(ctx context.Context, id string) (seq uint64, ok bool, err error)
	Close() error
}

// newSessionStore opens the store cfg names; for Redis it checks that the
// server answers PING, so that a worker with an unreachable store fails at
// startup instead of answering every request with an error.
func newSessionStore(cfg Config) (sessionStore, error) {
	if cfg.Store != StoreRedis {
		return newMemoryStore(cfg.SessionTTL), nil
	}
	rc := NewRedisClient(cfg.RedisAddr, 0)
	ctx, cancel := context.WithTimeout(context.Background(), DefaultRedisTimeout)
	defer cancel()
	if err := rc.Ping(ctx); err != nil {
		rc.Close()
		return nil, fmt.Errorf("target: store redis: %w", err)
	}
	return &redisStore{c: rc, ttl: cfg.SessionTTL}, nil
}

// memoryStore is an in-process session map: fast, and lost to every other
// worker.
type memoryStore struct {
	ttl time.Duration
	now func() time.Time // time.Now; tests move it

	mu       sync.Mutex
	sessions map[string]memorySession
	// sweepAt is the size at which the next create drops expired sessions:
	// doubling it after each sweep keeps the cost O(1) per create without a
	// goroutine, and bounds the map to about twice the live sessions.
	sweepAt int
}

type memorySession struct {
	seq     uint64
	expires time.Time
}

const memorySweepMin = 1024

func newMemoryStore(ttl time.Duration) *memoryStore {
	return &memoryStore{ttl: ttl, now: time.Now, sessions: make(map[string]memorySession), sweepAt: memorySweepMin}
}

func (s *memoryStore) put(_ context.Context, id string, seq uint64) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) >= s.sweepAt {
		for k, ms := range s.sessions {
			if !now.Before(ms.expires) {
				delete(s.sessions, k)
			}
		}
		s.sweepAt = max(2*len(s.sessions), memorySweepMin)
	}
	s.sessions[id] = memorySession{seq: seq, expires: now.Add(s.ttl)}
	return nil
}

func (s *memoryStore) get(_ context.Context, id string) (uint64, bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ms, ok := s.sessions[id]
	if ok && !now.Before(ms.expires) {
		delete(s.sessions, id)
		return 0, false, nil
	}
	return ms.seq, ok, nil
}

func (s *memoryStore) Close() error { return nil }

// redisStore keeps sessions in Redis as bench:session:<id> → request count,
// with the TTL set by SET EX so Redis expires them.
type redisStore struct {
	c   *RedisClient
	ttl time.Duration
}

func (s *redisStore) put(ctx context.Context, id string, seq uint64) error {
	return s.c.Set(ctx, redisSessionPrefix+id, strconv.FormatUint(seq, 10), s.ttl)
}

func (s *redisStore) get(ctx context.Context, id string) (uint64, bool, error) {
	v, ok, err := s.c.Get(ctx, redisSessionPrefix+id)
	if err != nil || !ok {
		return 0, false, err
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("redis: session %s holds %q, not a count", id, v)
	}
	return seq, true, nil
}

func (s *redisStore) Close() error { return s.c.Close() }

// newSessionID returns 128 random bits as 32 hex digits.
func newSessionID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b[:])
}

// validSessionID reports whether id looks like one newSessionID made. Other
// values are treated as no cookie at all rather than looked up.
func validSessionID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// session runs the session protocol for r and sets SessionHeader (and
// Set-Cookie for a new session). It returns false when it has already
// answered the request, with 503 for a store that failed.
func (h *handler) session(w http.ResponseWriter, r *http.Request, hdr http.Header) bool {
	ctx := r.Context()
	var id string
	if !(r.Method == http.MethodPost && r.URL.Path == LoginPath) {
		if c, err := r.Cookie(SessionCookie); err == nil && validSessionID(c.Value) {
			id = c.Value
		}
	}
	clientSeq, _ := strconv.ParseUint(r.Header.Get(SessionSeqHeader), 10, 64)
	state := SessionNew
	seq := uint64(1)
	if id == "" {
		id = newSessionID()
		hdr["Set-Cookie"] = []string{SessionCookie + "=" + id + "; Path=/; HttpOnly"}
		if clientSeq > 0 {
			seq = clientSeq
		}
	} else {
		stored, found, err := h.sessions.get(ctx, id)
		if err != nil {
			h.storeFailed(w, hdr, err)
			return false
		}
		switch {
		case clientSeq == 0 && found: // a client that does not count: the worker counts
			state, seq = SessionHit, stored+1
		case clientSeq == 0:
			state = SessionMiss
		case found && stored+1 == clientSeq:
			state, seq = SessionHit, clientSeq
		case !found && clientSeq == 1: // a client starting its session with an id of its own
			seq = 1
		default: // never seen here, or seen in an older state
			state, seq = SessionMiss, clientSeq
		}
	}
	if err := h.sessions.put(ctx, id, seq); err != nil {
		h.storeFailed(w, hdr, err)
		return false
	}
	hdr[SessionHeader] = stateValues[state]
	return true
}

var stateValues = map[string][]string{SessionNew: {SessionNew}, SessionHit: {SessionHit}, SessionMiss: {SessionMiss}}

// storeFailed answers 503 with the store's error: the load side counts it as
// a failed request, and a person with curl sees why.
func (h *handler) storeFailed(w http.ResponseWriter, hdr http.Header, err error) {
	hdr.Del("Set-Cookie")
	http.Error(w, "session store: "+err.Error(), http.StatusServiceUnavailable)
}

// validateRedisAddr checks that addr is host:port on a loopback host: the
// worker only ever talks to the machine it runs on.
func validateRedisAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("target: redis addr: %w", err)
	}
	if port == "" {
		return fmt.Errorf("target: redis addr: %q has no port", addr)
	}
	if ip := net.ParseIP(host); !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("target: redis addr: %q is not a loopback address (want 127.0.0.1:PORT, [::1]:PORT or localhost:PORT)", addr)
	}
	return nil
}
