package balancer

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// DefaultCookie is the cookie CookieHash hashes when none is named.
const DefaultCookie = "session"

// CookieHash sends every request carrying the same value of a cookie to the
// same backend, so one client's session stays on one worker, WebSocket
// upgrades included. Requests without the cookie (or with an empty value)
// go round-robin. The balancer never sets the cookie: the worker or the
// client does.
//
// The backend is chosen by rendezvous (highest random weight) hashing: each
// available backend scores hash(value, backend) and the highest score wins.
// When one of N backends becomes unavailable only the keys it held move,
// ≈1/N of them, each to its own second choice, so they spread over the
// others; when it comes back they return to it. Hashing modulo N would move
// most keys (3/4 of them going from 4 backends to 3). Rendezvous needs no
// ring and no virtual nodes to be even, and its O(N) cost per request is a
// few nanoseconds per backend.
//
// A backend is identified by its Index, so a value lands on the same worker
// number in every run whatever ports the workers got: runs are
// reproducible. Backends of a pool must have distinct indexes, as New
// gives them.
//
// With BoundedLoad c ≥ 1 a hot key cannot overload its backend: a backend
// whose requests in flight would exceed ceil(c × (total in flight + 1) /
// available backends) is passed over for the next one in the key's own
// hash order, as HAProxy's hash-balance-factor and Envoy's
// hash_balance_factor do. Some backend is always under that bound. A
// WebSocket connection counts as in flight for its whole life.
//
// Its zero value hashes DefaultCookie without a bound. It is safe for
// concurrent use.
type CookieHash struct {
	// Cookie is the name of the cookie to hash; "" means DefaultCookie.
	// Cookie names are case-sensitive.
	Cookie string
	// BoundedLoad is the load bound c; zero, or anything below 1, means
	// unbounded.
	BoundedLoad float64

	fallback RoundRobin // for requests without the cookie
}

// newCookieHash is StrategyCookieHash's constructor.
func newCookieHash(cfg SelectorConfig) (Selector, error) {
	if cfg.Cookie != "" && !isToken([]byte(cfg.Cookie)) {
		return nil, fmt.Errorf("cookie: %q is not a valid cookie name", cfg.Cookie)
	}
	if c := cfg.BoundedLoad; math.IsNaN(c) || math.IsInf(c, 0) || c < 0 || (c > 0 && c < 1) {
		// Below 1 no backend could take its share of the average.
		return nil, fmt.Errorf("bounded_load: must be 0 (unbounded) or at least 1, got %v", c)
	}
	return &CookieHash{Cookie: cfg.Cookie, BoundedLoad: cfg.BoundedLoad}, nil
}

// Select returns the backend the request's cookie hashes to, the next one
// in its hash order when that one is over the load bound, the next
// round-robin backend for a request without the cookie, or nil when no
// backend is available.
func (s *CookieHash) Select(pool []*Backend, r *Request) *Backend {
	name := s.Cookie
	if name == "" {
		name = DefaultCookie
	}
	value, ok := cookieValue(r.Header("Cookie"), name)
	if !ok || value == "" {
		return s.fallback.Select(pool, r)
	}
	key := hashString(value) // value points into the read buffer: hash it now
	if s.BoundedLoad < 1 {
		return rendezvous(pool, key)
	}
	return s.bounded(pool, key)
}

// rendezvous returns the available backend with the highest score for key,
// the first in pool order on equal scores, or nil when none is available.
func rendezvous(pool []*Backend, key uint64) *Backend {
	var best *Backend
	var top uint64
	for _, b := range pool {
		if !b.Available() {
			continue
		}
		if w := score(key, b); best == nil || w > top {
			best, top = b, w
		}
	}
	return best
}

// bounded returns the first available backend in key's hash order that
// stays within the load bound.
func (s *CookieHash) bounded(pool []*Backend, key uint64) *Backend {
	avail := 0
	var total int64
	for _, b := range pool {
		if b.Available() {
			avail++
			total += b.InFlight()
		}
	}
	if avail == 0 {
		return nil
	}
	// Concurrent Selects read the same counts and may each add one: the
	// bound holds up to the requests being selected at the same instant.
	limit := int64(math.Ceil(s.BoundedLoad * float64(total+1) / float64(avail)))

	// Scores are computed once; the walk below finds each next one by a
	// scan, which for a handful of backends beats sorting and needs no
	// buffer beyond this stack array.
	var buf [64]uint64
	scores := buf[:0]
	if len(pool) > len(buf) {
		scores = make([]uint64, 0, len(pool))
	}
	for _, b := range pool {
		scores = append(scores, score(key, b))
	}
	var first *Backend
	prev := -1 // the backend tried last
	for range avail {
		next := -1
		for i, b := range pool {
			if !b.Available() || (prev >= 0 && !ranksBefore(scores, prev, i)) {
				continue
			}
			if next < 0 || ranksBefore(scores, i, next) {
				next = i
			}
		}
		if next < 0 {
			break // health changed meanwhile
		}
		b := pool[next]
		if b.InFlight()+1 <= limit {
			return b
		}
		if first == nil {
			first = b
		}
		prev = next
	}
	// Only reachable when counts moved under us: fall back to the key's
	// own backend rather than none.
	return first
}

// ranksBefore reports whether backend i comes before backend j in hash
// order: higher score first, pool order on equal scores.
func ranksBefore(scores []uint64, i, j int) bool {
	return scores[i] > scores[j] || (scores[i] == scores[j] && i < j)
}

// score is backend b's rendezvous weight for key.
func score(key uint64, b *Backend) uint64 {
	// mix64 is a bijection with full avalanche, so the scores of one key
	// for different backends behave as independent uniform draws.
	return mix64(key ^ mix64(uint64(b.Index)+0x9e3779b97f4a7c15))
}

// hashString hashes s eight bytes at a time, with xxHash64's round,
// without the allocation of hash/fnv (and three times faster than byte-wise
// FNV-1a on a session id). It need not be strong: score mixes every bit.
func hashString(s string) uint64 {
	const k1, k2 = 0x9e3779b185ebca87, 0xc2b2ae3d27d4eb4f
	h := uint64(len(s)) * k1
	for ; len(s) >= 8; s = s[8:] {
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = bits.RotateLeft64(h^(w*k2), 31) * k1
	}
	if len(s) > 0 {
		var w uint64
		for i := range len(s) {
			w |= uint64(s[i]) << (8 * i)
		}
		h = bits.RotateLeft64(h^(w*k2), 31) * k1
	}
	return h
}

// mix64 is MurmurHash3's 64-bit finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// cookieValue returns the value of the first cookie called name in a Cookie
// header ("a=1; session=xyz"), without surrounding double quotes, and
// whether there is one. It is a hand-written scan for one name because
// http.Request.Cookie would parse every cookie into a new slice; the value
// it returns is a substring of header.
func cookieValue(header, name string) (string, bool) {
	if name == "" {
		return "", false
	}
	for off := 0; ; {
		i := strings.Index(header[off:], name)
		if i < 0 {
			return "", false
		}
		start, end := off+i, off+i+len(name)
		off = start + 1
		// A cookie name starts the header or follows a ';' (values cannot
		// hold one), and is followed by '='; spaces may come between.
		j := start
		for j > 0 && isSpace(header[j-1]) {
			j--
		}
		if j > 0 && header[j-1] != ';' {
			continue // inside another name or a value
		}
		for end < len(header) && isSpace(header[end]) {
			end++
		}
		if end == len(header) || header[end] != '=' {
			continue // a longer name, or no value
		}
		v := header[end+1:]
		if k := strings.IndexByte(v, ';'); k >= 0 {
			v = v[:k]
		}
		for len(v) > 0 && isSpace(v[0]) {
			v = v[1:]
		}
		for len(v) > 0 && isSpace(v[len(v)-1]) {
			v = v[:len(v)-1]
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v, true
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }
