package scenario

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bench-dev/bench/internal/balancer"
	"go.yaml.in/yaml/v3"
)

// This file reads what bench does not start itself: target.url, target.endpoints and the scale
// section, and checks how they combine with the rest.

var (
	scaleKeys        = []string{"compose", "command"}
	composeKeys      = []string{"file", "service", "port"}
	scaleCommandKeys = []string{"scale", "endpoints", "allow"}
)

const (
	// scaleLocal is `scale: local`, the default: bench starts the processes.
	scaleLocal = "local"
	// replicaCount is what a scale command's arguments write for the replica count.
	replicaCount = "{n}"

	notForRunning   = "only applies to the processes bench starts (target.builtin or target.command with scale: local)"
	notWithHook     = "cannot be used with a scale hook: the orchestrator starts the replicas (use target.url for a balancer of its own, or nothing for bench's)"
	faultsNotLocal  = "faults strike processes bench starts; not with target.url, target.endpoints or a scale hook"
	reuseNotLocal   = "reuseport needs workers bench starts on one shared port; not with target.url, target.endpoints or a scale hook"
	urlOneWorker    = "target.url without a scale hook is one running service whose replicas bench cannot change: leave workers out (1) or add a scale section"
	targetKindsHelp = "builtin (%s), command, url or endpoints"
)

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
func checkURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return "empty"
	case err != nil:
		return fmt.Sprintf("%s is not a URL like http://127.0.0.1:8080/", quote(s))
	case u.Scheme != "http":
		return fmt.Sprintf("%s: the scheme must be http (bench's generator speaks plain HTTP/1.1)", quote(s))
	case u.Hostname() == "" || u.Port() == "":
		return fmt.Sprintf("%s needs a host and a port, like http://127.0.0.1:8080/", quote(s))
	case u.User != nil || u.Fragment != "":
		return fmt.Sprintf("%s must not carry a user or a #fragment", quote(s))
	}
	if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("%s: port %s must be in 1..65535", quote(s), quote(u.Port()))
	}
	if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return fmt.Sprintf("%s must not contain spaces or control characters", quote(s))
	}
	return ""
}

// checkEndpoint accepts one of target.endpoints: a URL without a path, since the balancer
// forwards each request's own path.
func checkEndpoint(s string) string {
	if msg := checkURL(s); msg != "" {
		return msg
	}
	if u, _ := url.Parse(s); (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Sprintf("%s: an endpoint is http://HOST:PORT; the path requested is target.path", quote(s))
	}
	return ""
}

// urlPath is the path and query of a valid target.url: what the load requests.
func urlPath(s string) string {
	u, _ := url.Parse(s)
	return u.RequestURI()
}

// checkAllow accepts an address prefix (10.0.0.0/8) or one address.
func checkAllow(s string) string {
	if _, err := netip.ParsePrefix(s); err == nil {
		return ""
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return ""
	}
	return fmt.Sprintf("%s is not an address prefix like 10.0.0.0/8 or an address", quote(s))
}

// checkService accepts a compose service name.
func checkService(s string) string {
	if s == "" || strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) >= 0 {
		return fmt.Sprintf("%s is not a compose service name (letters, digits, -, _, .)", quote(s))
	}
	return ""
}

func checkPort(n int) string {
	if n < 1 || n > 65535 {
		return fmt.Sprintf("must be a port in 1..65535, got %d", n)
	}
	return ""
}

// checkScaleArgv accepts the scale command: it must say how many replicas, {n}.
func checkScaleArgv(args []string) string {
	for _, a := range args {
		if strings.Contains(a, replicaCount) {
			return ""
		}
	}
	return "no argument contains {n}, the replica count to scale to"
}

// endpoints reads target.endpoints: a list of distinct http://HOST:PORT.
func (w *walker) endpoints(n *yaml.Node) ([]string, error) {
	const field = "target.endpoints"
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, w.errAt(n, field, "expected a list of replicas like [http://127.0.0.1:8081, http://127.0.0.1:8082], got %s", got(n))
	}
	if len(n.Content) > MaxWorkers {
		return nil, w.errAt(n, field, "%d endpoints; at most %d", len(n.Content), MaxWorkers)
	}
	var eps []string
	for i, c := range n.Content {
		sub := fmt.Sprintf("%s[%d]", field, i)
		c, err := w.visit(c, sub)
		if err != nil {
			return nil, err
		}
		e, err := w.checked(c, sub, checkEndpoint)
		if err != nil {
			return nil, err
		}
		if j := slices.Index(eps, e); j >= 0 {
			return nil, w.errAt(c, sub, "duplicate endpoint %s (also %s[%d])", quote(e), field, j)
		}
		eps = append(eps, e)
	}
	return eps, nil
}

// scale reads the scale section: `local`, or a mapping with compose or command.
func (w *walker) scale(n *yaml.Node) (Scale, error) {
	var s Scale
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		if n.Value != scaleLocal {
			return s, w.errAt(n, "scale", "unknown scale %s; write local, or a mapping with compose or command", quote(n.Value))
		}
		return s, nil
	}
	keys, err := w.mapping(n, "scale", scaleKeys, func(key string, k, v *yaml.Node) (err error) {
		switch key {
		case "compose":
			s.Compose, err = w.compose(v)
		case "command":
			s.Command, err = w.scaleCommand(v)
		}
		return err
	})
	switch {
	case err != nil:
		return s, err
	case keys["compose"] != nil && keys["command"] != nil:
		return s, w.errAt(keys[keys.first("compose", "command")], "scale", "set compose or command, not both")
	case len(keys) == 0:
		return s, w.errAt(n, "scale", "empty; write local, or a mapping with compose or command")
	}
	return s, nil
}

func (w *walker) compose(n *yaml.Node) (*Compose, error) {
	const f = "scale.compose."
	c := &Compose{}
	keys, err := w.mapping(n, "scale.compose", composeKeys, func(key string, k, v *yaml.Node) (err error) {
		switch key {
		case "file":
			c.File, err = w.checked(v, f+key, func(s string) string {
				if s == "" {
					return "empty; name the compose file"
				}
				return ""
			})
			if err == nil && !filepath.IsAbs(c.File) {
				c.File = filepath.Join(filepath.Dir(w.file), c.File)
			}
		case "service":
			c.Service, err = w.checked(v, f+key, checkService)
		case "port":
			c.Port, err = w.int(v, f+key, checkPort)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, k := range composeKeys {
		if keys[k] == nil {
			return nil, w.errAt(n, f+k, "missing; scale.compose needs file, service and port (the container port each replica publishes on 127.0.0.1)")
		}
	}
	return c, nil
}

func (w *walker) scaleCommand(n *yaml.Node) (*ScaleCommand, error) {
	const f = "scale.command."
	c := &ScaleCommand{}
	keys, err := w.mapping(n, "scale.command", scaleCommandKeys, func(key string, k, v *yaml.Node) (err error) {
		switch key {
		case "scale":
			if c.Scale, err = w.argv(v, f+key); err == nil {
				if msg := checkScaleArgv(c.Scale); msg != "" {
					err = w.errAt(v, f+key, "%s", msg)
				}
			}
		case "endpoints":
			c.Endpoints, err = w.argv(v, f+key)
		case "allow":
			c.Allow, err = w.names(v, f+key, "prefix", checkAllow)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"scale", "endpoints"} {
		if keys[k] == nil {
			return nil, w.errAt(n, f+k, "missing; scale.command needs scale (brings the replicas to {n}) and endpoints (prints them, one per line)")
		}
	}
	return c, nil
}

// remoteChecks checks, with positions, how target.url, target.endpoints and the scale hook
// combine with the other sections; the defaults of workers depend on them.
func (w *walker) remoteChecks(s *Scenario, keys keyNodes) error {
	t := s.Target
	hook := !s.Scale.Local()
	switch {
	case !t.Spawned() && t.URL == "" && t.Endpoints == nil && !hook:
		return w.errAt(w.targetNode, "target", "set "+targetKindsHelp, strings.Join(Workloads, ", "))
	case hook && w.targetKind != "":
		if w.targetKind != "url" {
			return w.errAt(w.targetKindNode, "target."+w.targetKind, "%s", notWithHook)
		}
	}
	if t.Spawned() && !hook {
		return nil
	}
	if keys["faults"] != nil {
		return w.errAt(keys["faults"], "faults", "%s", faultsNotLocal)
	}
	if slices.Contains(s.Balancer.Strategies, balancer.StrategyReusePort) {
		return w.errAt(keys["balancer"], "balancer.strategy", "%s", reuseNotLocal)
	}
	switch {
	case t.URL != "" && !hook && keys["workers"] == nil:
		s.Workers = []int{1}
	case t.URL != "" && !hook && !slices.Equal(s.Workers, []int{1}):
		return w.errAt(keys["workers"], "workers", "%s", urlOneWorker)
	case t.Endpoints != nil && keys["workers"] == nil:
		s.Workers = normalizeWorkers([]int{1, len(t.Endpoints)})
	case t.Endpoints != nil && s.Workers[len(s.Workers)-1] > len(t.Endpoints):
		return w.errAt(keys["workers"], "workers", "%s", tooFewEndpoints(s.Workers, len(t.Endpoints)))
	}
	return nil
}

func tooFewEndpoints(workers []int, n int) string {
	return fmt.Sprintf("%d workers but target.endpoints lists %d replicas", workers[len(workers)-1], n)
}

// remoteProblem is remoteChecks for Validate, without positions.
func (s *Scenario) remoteProblem() (field, msg string) {
	t := s.Target
	hook := !s.Scale.Local()
	if c := s.Scale.Compose; c != nil {
		switch {
		case s.Scale.Command != nil:
			return "scale", "set compose or command, not both"
		case c.File == "":
			return "scale.compose.file", "empty; name the compose file"
		}
		if msg := checkService(c.Service); msg != "" {
			return "scale.compose.service", msg
		}
		if msg := checkPort(c.Port); msg != "" {
			return "scale.compose.port", msg
		}
	}
	if c := s.Scale.Command; c != nil {
		if len(c.Scale) == 0 || len(c.Endpoints) == 0 {
			return "scale.command", "needs scale and endpoints"
		}
		if msg := checkScaleArgv(c.Scale); msg != "" {
			return "scale.command.scale", msg
		}
		for i, a := range c.Allow {
			if msg := checkAllow(a); msg != "" {
				return fmt.Sprintf("scale.command.allow[%d]", i), msg
			}
		}
	}
	if t.Spawned() && !hook {
		return "", ""
	}
	switch {
	case hook && t.Spawned():
		return "target", notWithHook
	case hook && t.Endpoints != nil:
		return "target.endpoints", notWithHook
	case len(s.Faults) > 0:
		return "faults", faultsNotLocal
	case slices.Contains(s.Balancer.strategies(), balancer.StrategyReusePort):
		return "balancer.strategy", reuseNotLocal
	case t.URL != "" && !hook && !slices.Equal(s.Workers, []int{1}):
		return "workers", urlOneWorker
	case t.Endpoints != nil && len(s.Workers) > 0 && s.Workers[len(s.Workers)-1] > len(t.Endpoints):
		return "workers", tooFewEndpoints(s.Workers, len(t.Endpoints))
	}
	return "", ""
}

// remoteTargetProblem checks target.url and target.endpoints for Validate.
func (t *Target) remoteTargetProblem() (field, msg string) {
	switch {
	case t.URL != "" && t.Endpoints != nil:
		return "target", "set url or endpoints, not both"
	case t.URL != "":
		if msg := checkURL(t.URL); msg != "" {
			return "target.url", msg
		}
		if t.Path != urlPath(t.URL) {
			return "target.path", "the path is part of target.url"
		}
	case t.Endpoints != nil:
		if len(t.Endpoints) == 0 {
			return "target.endpoints", "empty list"
		}
		for i, e := range t.Endpoints {
			if msg := checkEndpoint(e); msg != "" {
				return fmt.Sprintf("target.endpoints[%d]", i), msg
			}
		}
	}
	switch {
	case t.Cost != 0 || t.Threads != 0 || t.Concurrency != 0 || len(t.Slowdown) != 0 || t.Hold != 0 || t.LockKey != "":
		return "target", notForRunning
	case t.PortEnv != "" || len(t.Env) != 0:
		return "target", notForRunning
	case t.Store != "" || len(t.Stores) != 0:
		return "target.store", notForSession
	}
	return t.pathsProblem()
}

// hostAllowed reports whether host is on loopback or in one of the prefixes of allow (each
// valid for checkAllow).
func hostAllowed(host string, allow []string) bool {
	if isLoopbackHost(host) {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	for _, a := range allow {
		if p, err := netip.ParsePrefix(a); err == nil && p.Contains(ip.Unmap()) {
			return true
		}
		if b, err := netip.ParseAddr(a); err == nil && b.Unmap() == ip.Unmap() {
			return true
		}
	}
	return false
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
