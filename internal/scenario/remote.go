package scenario

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/bench-dev/bench/internal/balancer"
)

// This file holds the rules of what bench does not start itself: target.url, target.endpoints
// and the scale section, and how they combine with the rest.

const (
	// scaleLocal is `scale: local`, the default: bench starts the processes.
	scaleLocal = "local"
	// replicaCount is what a scale command's arguments write for the replica count.
	replicaCount = "{n}"

	urlOneWorker = "target.url without a scale hook is one running service whose replicas bench cannot change: leave workers out (1) or add a scale section"
)

var (
	errNotForRunning = errors.New("only applies to the processes bench starts (target.builtin or target.command with scale: local)")
	errNotWithHook   = errors.New("cannot be used with a scale hook: the orchestrator starts the replicas (use target.url for a balancer of its own, or nothing for bench's)")
)

// targetKinds names what a target can be, for messages.
func targetKinds() string {
	return "builtin (" + strings.Join(Workloads, ", ") + "), command, url or endpoints"
}

// remoteRules checks how target.url, target.endpoints and the scale hook combine with the other
// sections.
func (s *Scenario) remoteRules(r *rules) {
	t, hook := &s.Target, !s.Scale.Local()
	s.Scale.rules(r)
	for _, k := range t.kinds(r.given) {
		if hook && k != "target.url" {
			r.key(k, errNotWithHook)
		}
	}
	if t.Spawned() && !hook {
		return
	}
	r.key("faults", errUnless(len(s.Faults) == 0,
		"faults strike processes bench starts; not with target.url, target.endpoints or a scale hook"))
	r.key("balancer.strategy", errUnless(!slices.Contains(s.Balancer.strategies(), balancer.StrategyReusePort),
		"reuseport needs workers bench starts on one shared port; not with target.url, target.endpoints or a scale hook"))
	switch {
	case t.URL != "" && !hook && !slices.Equal(s.Workers, []int{1}):
		r.key("workers", errors.New(urlOneWorker))
	case t.Endpoints != nil && len(s.Workers) > 0 && s.Workers[len(s.Workers)-1] > len(t.Endpoints):
		r.key("workers", fmt.Errorf("%d workers but target.endpoints lists %d replicas", s.Workers[len(s.Workers)-1], len(t.Endpoints)))
	}
}

// rules checks the scale hook: compose or command, each complete.
func (sc *Scale) rules(r *rules) {
	if c := sc.Compose; c != nil {
		if sc.Command != nil {
			r.conflict("scale.command", "scale.compose", "scale through one of them")
		}
		r.value("scale.compose.file", errUnless(c.File != "", "empty; name the compose file"))
		r.value("scale.compose.service", errUnless(c.Service != "" && strings.IndexFunc(c.Service, notServiceRune) < 0,
			"%s is not a compose service name (letters, digits, -, _, .)", quote(c.Service)))
		r.value("scale.compose.port", errUnless(c.Port >= 1 && c.Port <= 65535, "must be a port in 1..65535, got %d", c.Port))
	}
	if c := sc.Command; c != nil {
		argvRules(r, "scale.command.scale", c.Scale)
		argvRules(r, "scale.command.endpoints", c.Endpoints)
		hasN := slices.ContainsFunc(c.Scale, func(a string) bool { return strings.Contains(a, replicaCount) })
		r.value("scale.command.scale", errUnless(len(c.Scale) == 0 || hasN, "no argument contains {n}, the replica count to scale to"))
		r.value("scale.command.allow", errUnless(c.Allow == nil || len(c.Allow) > 0, "empty list; name a prefix, or list several"))
		for i, a := range c.Allow {
			_, perr := netip.ParsePrefix(a)
			_, aerr := netip.ParseAddr(a)
			r.value(fmt.Sprintf("scale.command.allow[%d]", i), errUnless(perr == nil || aerr == nil,
				"%s is not an address prefix like 10.0.0.0/8 or an address", quote(a)))
		}
	}
}

// urlHost returns the host of a URL, "" when it does not parse.
func urlHost(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// isLoopbackHost reports whether host is localhost or an address in 127.0.0.0/8 or ::1.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// checkURL accepts target.url: http, a host and a port, no user, no fragment.
func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return errors.New("empty")
	case err != nil:
		return fmt.Errorf("%s is not a URL like http://127.0.0.1:8080/", quote(s))
	case u.Scheme != "http":
		return fmt.Errorf("%s: the scheme must be http (bench's generator speaks plain HTTP/1.1)", quote(s))
	case u.Hostname() == "" || u.Port() == "":
		return fmt.Errorf("%s needs a host and a port, like http://127.0.0.1:8080/", quote(s))
	case u.User != nil || u.Fragment != "":
		return fmt.Errorf("%s must not carry a user or a #fragment", quote(s))
	}
	if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%s: port %s must be in 1..65535", quote(s), quote(u.Port()))
	}
	if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return fmt.Errorf("%s must not contain spaces or control characters", quote(s))
	}
	return nil
}

// checkEndpoint accepts one of target.endpoints: a URL without a path, since the balancer
// forwards each request's own path.
func checkEndpoint(s string) error {
	if err := checkURL(s); err != nil {
		return err
	}
	if u, _ := url.Parse(s); (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("%s: an endpoint is http://HOST:PORT; the path requested is target.path", quote(s))
	}
	return nil
}

// urlPath is the path and query of a valid target.url: what the load requests.
func urlPath(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.RequestURI()
}

// allows reports whether a, an entry of scale.command.allow, is an address prefix (10.0.0.0/8)
// that holds ip, or ip itself. Neither for an invalid entry.
func allows(a string, ip netip.Addr) bool {
	p, perr := netip.ParsePrefix(a)
	b, berr := netip.ParseAddr(a)
	return perr == nil && p.Contains(ip.Unmap()) || berr == nil && b.Unmap() == ip.Unmap()
}

// hostAllowed reports whether host is on loopback or allowed by an entry of allow.
func hostAllowed(host string, allow []string) bool {
	ip, err := netip.ParseAddr(host)
	return isLoopbackHost(host) || err == nil && slices.ContainsFunc(allow, func(a string) bool { return allows(a, ip) })
}

// CheckEndpoint checks one line a scale hook printed: HOST:PORT or http://HOST:PORT, the host
// on loopback or in one of allow (scale.command.allow). It returns the endpoint as HOST:PORT.
func CheckEndpoint(line string, allow []string) (string, error) {
	addr := strings.TrimPrefix(strings.TrimSpace(line), "http://")
	addr = strings.TrimSuffix(addr, "/")
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return "", fmt.Errorf("%q is not HOST:PORT or http://HOST:PORT", line)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: port %q must be in 1..65535", line, port)
	}
	if !hostAllowed(host, allow) {
		return "", fmt.Errorf("%q is not on loopback; list its prefix in scale.command.allow if load may go there", line)
	}
	return addr, nil
}

func notServiceRune(r rune) bool {
	return !(r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
}
