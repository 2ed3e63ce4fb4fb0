package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/target"
	"go.yaml.in/yaml/v3"
)

// The keys each mapping accepts, in the order docs/scenario.md lists them (error messages list
// them in this order too; doc_test.go checks the two agree).
var (
	scenarioKeys = []string{"name", "description", "target", "workers", "balancer", "load", "redis", "restart", "faults", "slo", "scale"}
	targetKeys   = []string{"builtin", "cost", "threads", "concurrency", "command", "port_env", "env", "ready_path", "ready_timeout", "path", "store", "slowdown", "hold", "lock_key", "url", "endpoints"}
	balancerKeys = []string{"strategy", "cookie", "bounded_load", "engine", "max_conns"}
	loadKeys     = []string{"rates", "search", "requests", "targets", "duration", "warmup", "timeout", "clients", "connections", "repeat", "noise_threshold"}
	searchKeys   = []string{"p99", "success", "max_steps"}
	redisKeys    = []string{"start", "addr"}
	restartKeys  = []string{"enabled", "max", "within"}
	faultKeys    = []string{"at", "kill", "stop", "for"}
	sloKeys      = []string{"p99", "success"}
)

// decodeRoot parses data into a YAML node tree and returns its root mapping. Parsing into a
// yaml.Node does not expand aliases (an alias node points at its anchor), so its cost is
// linear in the input, which Parse has already bounded to MaxFileSize.
func decodeRoot(file string, data []byte) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 turns its own failures into errors but re-panics anything else; a parser
		// bug must still not take the CLI down with a stack trace.
		if r := recover(); r != nil {
			root, err = nil, &Error{File: file, Msg: oneLine(fmt.Sprintf("invalid YAML: parser failed: %v", r))}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, emptyFile(file)
		}
		return nil, yamlError(file, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlError(file, err)
	default:
		return nil, &Error{File: file, Line: extra.Line, Col: extra.Column, Msg: "a second YAML document (---); a scenario file holds one"}
	}
	root = &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, emptyFile(file)
		}
		root = root.Content[0]
	}
	if isNull(root) {
		return nil, emptyFile(file)
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: root.Line, Col: root.Column,
			Msg: fmt.Sprintf("a scenario is a mapping of keys (%s), got %s", strings.Join(scenarioKeys, ", "), got(root))}
	}
	return root, nil
}

func emptyFile(file string) error {
	return &Error{File: file, Msg: "empty scenario; it needs at least target: and load:"}
}

// yamlLine matches yaml.v3's "yaml: line N: problem" messages. yaml.v3 keeps the column to
// itself, so syntax errors carry a line only.
var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

func yamlError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Err: err}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	e.Msg = "invalid YAML: " + oneLine(msg)
	return e
}

// walker turns a yaml.Node tree into a Scenario, checking each value where it stands so that
// errors carry its line and column.
type walker struct {
	file string
	// visits counts the nodes looked at, aliases once per use: the bound on the work an input
	// can cause however its anchors are arranged.
	visits int

	// Nodes kept for the checks that span sections, made once the whole file is read (workers
	// may follow target, and load may follow faults).
	slowdownKeys map[int]*yaml.Node // target.slowdown: worker index → its key
	faultNodes   []faultNodes       // faults, in file order
	cookieNode   *yaml.Node         // balancer.cookie's value, nil when defaulted
	mixNode      *yaml.Node         // the key of load.requests or load.targets, nil when neither
	// targetKind is the key that says what the target is (builtin, command, url or endpoints),
	// "" when none does (the scale hook's replicas); targetKindNode is that key.
	targetKind     string
	targetKindNode *yaml.Node
	targetNode     *yaml.Node // the target mapping
}

func (w *walker) errAt(n *yaml.Node, field, format string, args ...any) error {
	return &Error{File: w.file, Line: n.Line, Col: n.Column, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// visit resolves an alias to the node it names and counts the visit. The resolved node is a
// shallow copy placed at the alias, so an error about it points where it is used.
func (w *walker) visit(n *yaml.Node, field string) (*yaml.Node, error) {
	w.visits++
	if w.visits > maxNodes {
		return nil, w.errAt(n, field, "more than %d YAML nodes, aliases expanded; a scenario is small (alias bomb?)", maxNodes)
	}
	if n.Kind != yaml.AliasNode {
		return n, nil
	}
	if n.Alias == nil || n.Alias.Kind == yaml.AliasNode {
		// yaml.v3 never builds these; refuse rather than loop.
		return nil, w.errAt(n, field, "unresolvable alias *%s", oneLine(n.Value))
	}
	c := *n.Alias
	c.Line, c.Column = n.Line, n.Column
	return &c, nil
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// got describes a node for "expected X, got Y" messages.
func got(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case isNull(n):
		return "nothing"
	case n.Kind == yaml.ScalarNode:
		return quote(n.Value)
	}
	return "an alias"
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// keyNodes maps the keys present in a mapping to their key nodes, for checks that span keys.
type keyNodes map[string]*yaml.Node

// first returns the earliest in the file of the named keys that are present, or "".
func (ks keyNodes) first(names ...string) string {
	best := ""
	for _, name := range names {
		if k := ks[name]; k != nil && (best == "" || before(k, ks[best])) {
			best = name
		}
	}
	return best
}

func before(a, b *yaml.Node) bool {
	return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
}

// mapping walks the mapping n at field, calling fn for each key/value in file order. allowed
// lists the keys accepted; nil accepts any key (env). It rejects non-mappings, non-scalar and
// merge keys, duplicates and unknown keys.
func (w *walker) mapping(n *yaml.Node, field string, allowed []string, fn func(key string, k, v *yaml.Node) error) (keyNodes, error) {
	if n.Kind != yaml.MappingNode {
		want := "NAME: value pairs"
		if allowed != nil {
			want = "keys " + strings.Join(allowed, ", ")
		}
		if isNull(n) {
			return nil, w.errAt(n, field, "empty; expected a mapping with %s", want)
		}
		return nil, w.errAt(n, field, "expected a mapping with %s, got %s", want, got(n))
	}
	keys := keyNodes{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, err := w.visit(n.Content[i], field)
		if err != nil {
			return nil, err
		}
		if k.Kind != yaml.ScalarNode {
			return nil, w.errAt(k, field, "keys must be plain words, got %s", got(k))
		}
		if k.ShortTag() == "!!merge" {
			return nil, w.errAt(k, join(field, "<<"), "merge keys are not supported; write the keys out")
		}
		key := k.Value
		sub := join(field, fieldKey(key))
		if prev := keys[key]; prev != nil {
			return nil, w.errAt(k, sub, "duplicate key (first at line %d)", prev.Line)
		}
		keys[key] = k
		if allowed != nil && !slices.Contains(allowed, key) {
			hint := didYouMean(key, allowed)
			if hint == "" {
				hint = "; allowed: " + strings.Join(allowed, ", ")
			}
			return nil, w.errAt(k, sub, "unknown key%s", hint)
		}
		v, err := w.visit(n.Content[i+1], sub)
		if err != nil {
			return nil, err
		}
		if err := fn(key, k, v); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// str reads a scalar as text. Numbers and booleans are taken as written ("8000" stays "8000").
func (w *walker) str(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", w.errAt(n, field, "expected a string, got %s", got(n))
	}
	if isNull(n) {
		return "", w.errAt(n, field, "empty; set a value or remove the key")
	}
	return n.Value, nil
}

// checked reads a string with str and applies check to it.
func (w *walker) checked(n *yaml.Node, field string, check func(string) string) (string, error) {
	s, err := w.str(n, field)
	if err != nil {
		return "", err
	}
	if msg := check(s); msg != "" {
		return "", w.errAt(n, field, "%s", msg)
	}
	return s, nil
}

func (w *walker) int(n *yaml.Node, field string, check func(int) string) (int, error) {
	if isNull(n) {
		return 0, w.errAt(n, field, "empty; set a value or remove the key")
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		return 0, w.errAt(n, field, "expected an integer, got %s", got(n))
	}
	var i int
	if err := n.Decode(&i); err != nil {
		return 0, w.errAt(n, field, "%s is out of range", quote(n.Value))
	}
	if msg := check(i); msg != "" {
		return 0, w.errAt(n, field, "%s", msg)
	}
	return i, nil
}

func (w *walker) float(n *yaml.Node, field, what string) (float64, error) {
	if isNull(n) {
		return 0, w.errAt(n, field, "empty; expected %s", what)
	}
	if t := n.ShortTag(); n.Kind != yaml.ScalarNode || t != "!!int" && t != "!!float" {
		return 0, w.errAt(n, field, "expected %s, got %s", what, got(n))
	}
	var f float64
	if err := n.Decode(&f); err != nil {
		return 0, w.errAt(n, field, "%s is not %s", quote(n.Value), what)
	}
	return f, nil
}

func (w *walker) duration(n *yaml.Node, field string, zeroOK bool) (time.Duration, error) {
	if isNull(n) {
		return 0, w.errAt(n, field, "empty; set a duration like 2ms or remove the key")
	}
	if n.Kind != yaml.ScalarNode {
		return 0, w.errAt(n, field, "expected a duration like 2ms, got %s", got(n))
	}
	// Any scalar, so that a bare 0 (an int to YAML) is zero; "2" fails for want of a unit.
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		return 0, w.errAt(n, field, "%s is not a duration like 2ms (units: ns, us, ms, s, m, h)", quote(n.Value))
	}
	if msg := checkDuration(d, zeroOK); msg != "" {
		return 0, w.errAt(n, field, "%s", msg)
	}
	return d, nil
}

func (w *walker) scenario(root *yaml.Node) (*Scenario, error) {
	s := &Scenario{File: w.file}
	keys, err := w.mapping(root, "", scenarioKeys, func(key string, k, v *yaml.Node) (err error) {
		switch key {
		case "name":
			s.Name, err = w.checked(v, key, checkName)
		case "description":
			s.Description, err = w.checked(v, key, func(d string) string {
				if d == "" {
					return "empty; remove the key for no description"
				}
				return ""
			})
		case "target":
			err = w.target(v, &s.Target)
		case "workers":
			s.Workers, err = w.workers(v)
		case "balancer":
			err = w.balancer(v, &s.Balancer)
		case "load":
			err = w.load(v, &s.Load)
		case "redis":
			s.Redis, err = w.redis(v)
		case "restart":
			s.Restart, err = w.restart(v)
		case "faults":
			s.Faults, err = w.faults(v)
		case "slo":
			s.SLO, err = w.slo(v)
		case "scale":
			s.Scale, err = w.scale(v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if keys["target"] == nil {
		return nil, w.errAt(root, "target", "missing; set target."+targetKindsHelp, strings.Join(Workloads, ", "))
	}
	if keys["load"] == nil {
		return nil, w.errAt(root, "load", "missing; set load.rates (like [200, 400]) or load.search (like {p99: 50ms})")
	}
	if keys["name"] == nil {
		s.Name = defaultName(w.file)
	}
	if keys["workers"] == nil {
		s.Workers = slices.Clone(DefaultWorkers)
	}
	if keys["balancer"] == nil {
		w.balancerDefaults(nil, &s.Balancer)
	}
	if keys["restart"] == nil {
		s.Restart = Restart{Enabled: true, Max: DefaultRestartMax, Within: DefaultRestartWithin}
	}
	if s.Load.Clients == 0 && s.Target.Builtin == sessionWorkload {
		// The walker refuses an explicit 0, so 0 here means the key was left out.
		s.Load.Clients = DefaultSessionClients
	}
	if err := w.crossChecks(s, keys); err != nil {
		return nil, err
	}
	return s, nil
}

// crossChecks checks what spans sections, with positions, once the whole file is read and the
// defaults are in. Validate makes the same checks without positions.
func (w *walker) crossChecks(s *Scenario, keys keyNodes) error {
	if err := w.remoteChecks(s, keys); err != nil {
		return err
	}
	maxWorkers := s.Workers[len(s.Workers)-1]
	for _, i := range slices.Sorted(maps.Keys(w.slowdownKeys)) {
		if msg := checkWorkerIndex(i, maxWorkers); msg != "" {
			k := w.slowdownKeys[i]
			return w.errAt(k, "target.slowdown."+fieldKey(k.Value), "%s", msg)
		}
	}
	if w.cookieNode != nil && slices.Contains(s.Balancer.Strategies, cookieHash) {
		if msg := s.Target.checkHashedCookie(s.Balancer.Cookie); msg != "" {
			return w.errAt(w.cookieNode, "balancer.cookie", "%s", msg)
		}
	}
	if w.mixNode != nil && s.Load.Clients > 0 {
		return w.errAt(w.mixNode, "load."+w.mixNode.Value, "%s", notWithClients)
	}
	usesRedis := s.Target.UsesRedis()
	switch {
	case keys["redis"] != nil && s.Target.Builtin != "" && !usesRedis:
		return w.errAt(keys["redis"], "redis", "%s", notForRedis)
	case s.Redis == nil && usesRedis:
		s.Redis = &Redis{Addr: DefaultRedisAddr}
	}
	end := s.Load.stepEnd()
	for i, f := range s.Faults {
		fn := w.faultNodes[i]
		field := fmt.Sprintf("faults[%d].", i)
		worker, action := f.Kill, "kill"
		if f.Stop != 0 {
			worker, action = f.Stop, "stop"
		}
		if msg := checkWorkerIndex(worker, maxWorkers); msg != "" {
			return w.errAt(fn.worker, field+action, "%s", msg)
		}
		if msg := checkFaultAt(f.At, end); msg != "" {
			return w.errAt(fn.at, field+"at", "%s", msg)
		}
		if msg := checkFaultFor(f.At, f.For, end); msg != "" {
			return w.errAt(fn.dur, field+"for", "%s", msg)
		}
	}
	return nil
}

func (w *walker) target(n *yaml.Node, t *Target) error {
	const f = "target."
	keys, err := w.mapping(n, "target", targetKeys, func(key string, k, v *yaml.Node) (err error) {
		switch key {
		case "builtin":
			t.Builtin, err = typed[target.Workload](w.checked(v, f+key, checkWorkload))
		case "cost":
			t.Cost, err = w.duration(v, f+key, false)
		case "threads":
			t.Threads, err = w.int(v, f+key, checkThreads)
		case "concurrency":
			t.Concurrency, err = w.int(v, f+key, checkConcurrency)
		case "command":
			t.Command, err = w.command(v)
		case "port_env":
			t.PortEnv, err = w.checked(v, f+key, checkEnvName)
		case "env":
			t.Env, err = w.env(v)
		case "ready_path":
			t.ReadyPath, err = w.checked(v, f+key, checkPath)
		case "ready_timeout":
			t.ReadyTimeout, err = w.duration(v, f+key, false)
		case "path":
			t.Path, err = w.checked(v, f+key, checkPath)
		case "store":
			if t.Stores, err = typedList[target.Store](w.names(v, f+key, "store", checkStore)); err == nil {
				t.Store = t.Stores[0]
				if len(t.Stores) == 1 {
					t.Stores = nil // one store: Store says it all
				}
			}
		case "slowdown":
			t.Slowdown, err = w.slowdown(v)
		case "hold":
			t.Hold, err = w.duration(v, f+key, true)
		case "lock_key":
			t.LockKey, err = w.checked(v, f+key, checkLockKey)
		case "url":
			t.URL, err = w.checked(v, f+key, checkURL)
		case "endpoints":
			t.Endpoints, err = w.endpoints(v)
		}
		return err
	})
	if err != nil {
		return err
	}

	builtin, command := keys["builtin"], keys["command"]
	var kinds []string // what the target is, in file order
	for _, k := range []string{"builtin", "command", "url", "endpoints"} {
		if keys[k] != nil {
			kinds = append(kinds, k)
		}
	}
	slices.SortFunc(kinds, func(a, b string) int {
		if before(keys[a], keys[b]) {
			return -1
		}
		return 1
	})
	if len(kinds) > 1 {
		first, second := kinds[0], kinds[1]
		return w.errAt(keys[second], f+second, "cannot be combined with target.%s (line %d): a target is one of builtin, command, url or endpoints", first, keys[first].Line)
	}
	w.targetNode = n
	if len(kinds) == 1 {
		w.targetKind, w.targetKindNode = kinds[0], keys[kinds[0]]
	}
	switch {
	case builtin == nil && command == nil:
		// A running service, or the scale hook's replicas: nothing of a process applies.
		if k := keys.first("cost", "threads", "concurrency", "slowdown", "hold", "lock_key", "port_env", "env"); k != "" {
			return w.errAt(keys[k], f+k, notForRunning)
		}
		if keys["store"] != nil {
			return w.errAt(keys["store"], f+"store", notForSession)
		}
		if keys["url"] != nil {
			if keys["path"] != nil {
				return w.errAt(keys["path"], f+"path", "the path is part of target.url")
			}
			t.Path = urlPath(t.URL)
		}
	case builtin != nil:
		if keys["port_env"] != nil {
			return w.errAt(keys["port_env"], f+"port_env", notForBuiltin)
		}
		if keys["store"] != nil && t.Builtin != sessionWorkload {
			return w.errAt(keys["store"], f+"store", notForSession)
		}
	default:
		if k := keys.first("cost", "threads", "concurrency", "slowdown", "hold", "lock_key"); k != "" {
			return w.errAt(keys[k], f+k, notForCommand)
		}
		if keys["store"] != nil {
			return w.errAt(keys["store"], f+"store", notForSession)
		}
	}

	if builtin != nil {
		if keys["cost"] == nil {
			cost, ok := DefaultCost[t.Builtin]
			if !ok {
				return w.errAt(n, f+"cost", "required for workload %q, which has no default", t.Builtin)
			}
			t.Cost = cost
		}
		if keys["threads"] == nil {
			t.Threads = DefaultThreads
		}
		if keys["concurrency"] == nil {
			t.Concurrency = DefaultConcurrency
		}
		if keys["store"] == nil && t.Builtin == sessionWorkload {
			t.Store = DefaultStore
		}
		switch {
		case keys["lock_key"] != nil && t.Hold == 0:
			return w.errAt(keys["lock_key"], f+"lock_key", notWithoutHold)
		case keys["lock_key"] == nil && t.Hold > 0:
			t.LockKey = DefaultLockKey
		}
	} else if command != nil && keys["port_env"] == nil {
		t.PortEnv = DefaultPortEnv
	}

	// Only now is it known which variables bench sets itself (port_env may follow env).
	if keys["env"] != nil {
		if err := w.envKeys(n, t); err != nil {
			return err
		}
	}

	if keys["ready_path"] == nil {
		t.ReadyPath = DefaultCommandReadyPath
		if builtin != nil {
			t.ReadyPath = DefaultBuiltinReadyPath
		}
	}
	if keys["ready_timeout"] == nil {
		t.ReadyTimeout = DefaultReadyTimeout
	}
	if keys["path"] == nil && t.URL == "" {
		t.Path = DefaultPath
	}
	return nil
}

// envKeys checks the env keys against the variables bench sets, pointing at the first
// offending key in the file. n is the target mapping.
func (w *walker) envKeys(n *yaml.Node, t *Target) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "env" {
			continue
		}
		env, err := w.visit(n.Content[i+1], "target.env")
		if err != nil {
			return err
		}
		for j := 0; j+1 < len(env.Content); j += 2 {
			k, err := w.visit(env.Content[j], "target.env")
			if err != nil {
				return err
			}
			if msg := t.checkEnvKey(k.Value); msg != "" {
				return w.errAt(k, "target.env."+fieldKey(k.Value), "%s", msg)
			}
		}
	}
	return nil
}

func (w *walker) command(n *yaml.Node) ([]string, error) {
	return w.argv(n, "target.command")
}

// argv reads a program and its arguments: a non-empty list of non-empty strings.
func (w *walker) argv(n *yaml.Node, field string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		if isNull(n) {
			return nil, w.errAt(n, field, "empty; give the program and its arguments, like [node, server.mjs]")
		}
		return nil, w.errAt(n, field, "expected a list like [node, server.mjs] (run without a shell), got %s", got(n))
	}
	if len(n.Content) == 0 {
		return nil, w.errAt(n, field, "empty; give the program and its arguments, like [node, server.mjs]")
	}
	args := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		sub := fmt.Sprintf("%s[%d]", field, i)
		c, err := w.visit(c, sub)
		if err != nil {
			return nil, err
		}
		arg, err := w.str(c, sub)
		if err != nil {
			return nil, err
		}
		if arg == "" {
			return nil, w.errAt(c, sub, "empty argument")
		}
		args = append(args, arg)
	}
	return args, nil
}

func (w *walker) env(n *yaml.Node) (map[string]string, error) {
	env := map[string]string{}
	_, err := w.mapping(n, "target.env", nil, func(key string, k, v *yaml.Node) error {
		field := "target.env." + fieldKey(key)
		if msg := checkEnvName(key); msg != "" {
			return w.errAt(k, field, "%s", msg)
		}
		if isNull(v) {
			return w.errAt(v, field, `empty; write "" for an empty value`)
		}
		val, err := w.str(v, field)
		if err != nil {
			return err
		}
		env[key] = val
		return nil
	})
	if err != nil {
		return nil, err
	}
	return env, nil
}

func (w *walker) workers(n *yaml.Node) ([]int, error) {
	const field = "workers"
	items := []*yaml.Node{n}
	switch {
	case isNull(n):
		return nil, w.errAt(n, field, "empty; list worker counts like [1, 2, 4] or \"auto\"")
	case n.Kind == yaml.SequenceNode:
		if len(n.Content) == 0 {
			return nil, w.errAt(n, field, "empty list; list worker counts like [1, 2, 4] or \"auto\"")
		}
		items = n.Content
	case n.Kind != yaml.ScalarNode:
		return nil, w.errAt(n, field, "expected a list of worker counts like [1, 2, \"auto\"], got %s", got(n))
	}
	ns := make([]int, 0, len(items))
	for i, c := range items {
		sub := field
		if n.Kind == yaml.SequenceNode {
			sub = fmt.Sprintf("%s[%d]", field, i)
			var err error
			if c, err = w.visit(c, sub); err != nil {
				return nil, err
			}
		}
		if t := c.ShortTag(); c.Kind != yaml.ScalarNode || t != "!!int" && t != "!!str" {
			return nil, w.errAt(c, sub, "expected a worker count (N, \"auto\" or \"Kx\"), got %s", got(c))
		}
		count, err := parseWorkerItem(c.Value)
		if err != nil {
			return nil, w.errAt(c, sub, "%v", err)
		}
		ns = append(ns, count)
	}
	return normalizeWorkers(ns), nil
}

func (w *walker) balancer(n *yaml.Node, b *Balancer) error {
	const f = "balancer."
	keys, err := w.mapping(n, "balancer", balancerKeys, func(key string, k, v *yaml.Node) (err error) {
		switch key {
		case "strategy":
			if b.Strategies, err = w.strategies(v); err == nil {
				b.Strategy = b.Strategies[0]
			}
		case "cookie":
			b.Cookie, err = w.checked(v, f+key, checkCookie)
			w.cookieNode = v
		case "bounded_load":
			b.BoundedLoad, err = w.float(v, f+key, "a factor like 1.25 (0 = no bound)")
			if err == nil {
				if msg := checkBoundedLoad(b.BoundedLoad); msg != "" {
					err = w.errAt(v, f+key, "%s", msg)
				}
			}
		case "engine":
			b.Engine, err = typed[balancer.Engine](w.checked(v, f+key, checkEngine))
		case "max_conns":
			b.MaxConns, err = w.int(v, f+key, checkMaxConns)
		}
		return err
	})
	if err != nil {
		return err
	}
	return w.balancerDefaults(keys, b)
}

// balancerDefaults fills in what the balancer section (keys; nil when there is none) leaves
// out, and refuses the cookie-hash options without that strategy.
func (w *walker) balancerDefaults(keys keyNodes, b *Balancer) error {
	if keys["strategy"] == nil {
		b.Strategies = []balancer.Strategy{DefaultStrategy}
		b.Strategy = DefaultStrategy
	}
	if slices.Contains(b.Strategies, cookieHash) {
		if keys["cookie"] == nil {
			b.Cookie = DefaultCookie
		}
	} else if k := keys.first("cookie", "bounded_load"); k != "" {
		return w.errAt(keys[k], "balancer."+k, "%s", notForCookieHash)
	}
	if keys["engine"] == nil {
		b.Engine = DefaultEngine
	}
	if k := keys["max_conns"]; k != nil && b.MaxConns > 0 && !b.Engine.Queues() {
		return w.errAt(k, "balancer.max_conns", "engine %s does not queue requests; use engine fast or std", b.Engine)
	}
	return nil
}

// strategies reads balancer.strategy: one name, or a list of names to compare.
func (w *walker) strategies(n *yaml.Node) ([]balancer.Strategy, error) {
	return typedList[balancer.Strategy](w.names(n, "balancer.strategy", "strategy", checkStrategy))
}

// names reads one name, or a list of distinct names to compare, each passing check.
func (w *walker) names(n *yaml.Node, field, what string, check func(string) string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		s, err := w.checked(n, field, check)
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	if len(n.Content) == 0 {
		return nil, w.errAt(n, field, "empty list; name a %s, or list several to compare", what)
	}
	names := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		sub := fmt.Sprintf("%s[%d]", field, i)
		c, err := w.visit(c, sub)
		if err != nil {
			return nil, err
		}
		s, err := w.checked(c, sub, check)
		if err != nil {
			return nil, err
		}
		if j := slices.Index(names, s); j >= 0 {
			return nil, w.errAt(c, sub, "duplicate %s %s (also %s[%d])", what, quote(s), field, j)
		}
		names = append(names, s)
	}
	return names, nil
}

func (w *walker) load(n *yaml.Node, l *LoadSpec) error {
	const f = "load."
	var targetsFile *yaml.Node
	keys, err := w.mapping(n, "load", loadKeys, func(key string, k, v *yaml.Node) (err error) {
		switch key {
		case "rates":
			l.Rates, err = w.rates(v)
		case "search":
			l.Search, err = w.search(v)
		case "requests":
			l.Requests, err = w.requests(v)
			w.mixNode = k
		case "targets":
			targetsFile, w.mixNode = v, k // read once the whole section is known to allow it
		case "duration":
			l.Duration, err = w.duration(v, f+key, false)
		case "warmup":
			l.Warmup, err = w.duration(v, f+key, true)
		case "timeout":
			l.Timeout, err = w.duration(v, f+key, false)
		case "clients":
			l.Clients, err = w.int(v, f+key, func(n int) string { return checkClients(n, false) })
		case "connections":
			l.Connections, err = w.int(v, f+key, func(n int) string { return checkConnections(n, false) })
		case "repeat":
			l.Repeat, err = w.int(v, f+key, checkRepeat)
		case "noise_threshold":
			l.NoiseThreshold, err = w.success(v, f+key)
		}
		return err
	})
	if err != nil {
		return err
	}
	rates, search := keys["rates"], keys["search"]
	switch {
	case rates != nil && search != nil:
		first, second := "rates", "search"
		if before(search, rates) {
			first, second = second, first
		}
		return w.errAt(keys[second], f+second, "cannot be combined with load.%s (line %d): offer fixed rates or search for capacity", first, keys[first].Line)
	case rates == nil && search == nil:
		return w.errAt(n, "load", "set rates (like [200, 400]) or search (like {p99: 50ms})")
	}
	if requests, targets := keys["requests"], keys["targets"]; requests != nil && targets != nil {
		first, second := "requests", "targets"
		if before(targets, requests) {
			first, second = second, first
		}
		return w.errAt(keys[second], f+second, "cannot be combined with load.%s (line %d): write the requests inline or in a targets file", first, keys[first].Line)
	}
	if targetsFile != nil {
		if l.Targets, l.Requests, err = w.targets(targetsFile); err != nil {
			return err
		}
	}
	if keys["duration"] == nil {
		l.Duration = DefaultDuration
	}
	if keys["warmup"] == nil {
		l.Warmup = DefaultWarmup
	}
	if keys["timeout"] == nil {
		l.Timeout = DefaultTimeout
	}
	if keys["repeat"] == nil {
		l.Repeat = DefaultRepeat
	}
	if keys["connections"] == nil {
		l.Connections = DefaultConnections
	}
	if keys["noise_threshold"] == nil {
		l.NoiseThreshold = DefaultNoiseThreshold
	}
	return nil
}

func (w *walker) rates(n *yaml.Node) ([]float64, error) {
	const field = "load.rates"
	const what = "a rate in requests/s like 200"
	if n.Kind != yaml.SequenceNode {
		if isNull(n) {
			return nil, w.errAt(n, field, "empty; list offered rates like [200, 400]")
		}
		return nil, w.errAt(n, field, "expected a list of rates like [200, 400], got %s", got(n))
	}
	if len(n.Content) == 0 {
		return nil, w.errAt(n, field, "empty list; list offered rates like [200, 400]")
	}
	rates := make([]float64, 0, len(n.Content))
	for i, c := range n.Content {
		sub := fmt.Sprintf("%s[%d]", field, i)
		c, err := w.visit(c, sub)
		if err != nil {
			return nil, err
		}
		r, err := w.float(c, sub, what)
		if err != nil {
			return nil, err
		}
		if msg := checkRate(r); msg != "" {
			return nil, w.errAt(c, sub, "%s", msg)
		}
		if j := slices.Index(rates, r); j >= 0 {
			return nil, w.errAt(c, sub, "duplicate rate %g (also load.rates[%d])", r, j)
		}
		rates = append(rates, r)
	}
	return rates, nil
}

func (w *walker) search(n *yaml.Node) (*Search, error) {
	const f = "load.search."
	s := &Search{}
	keys, err := w.mapping(n, "load.search", searchKeys, func(key string, k, v *yaml.Node) (err error) {
		switch key {
		case "p99":
			s.P99, err = w.duration(v, f+key, false)
		case "success":
			s.Success, err = w.success(v, f+key)
		case "max_steps":
			s.MaxSteps, err = w.int(v, f+key, checkMaxSteps)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if keys["p99"] == nil {
		return nil, w.errAt(n, f+"p99", "missing; the search needs a latency SLO like {p99: 50ms}")
	}
	if keys["success"] == nil {
		s.Success = DefaultSuccess
	}
	if keys["max_steps"] == nil {
		s.MaxSteps = DefaultMaxSteps
	}
	return s, nil
}

// success reads a success ratio written as a fraction (0.999) or a percentage ("99.9%").
func (w *walker) success(n *yaml.Node, field string) (float64, error) {
	var f float64
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && strings.HasSuffix(n.Value, "%") {
		var ok bool
		if f, ok = parsePercent(n.Value); !ok {
			return 0, w.errAt(n, field, "%s is not %s", quote(n.Value), successWhat)
		}
	} else {
		var err error
		if f, err = w.float(n, field, successWhat); err != nil {
			return 0, err
		}
	}
	if msg := checkSuccess(f); msg != "" {
		return 0, w.errAt(n, field, "%s", msg)
	}
	return f, nil
}
