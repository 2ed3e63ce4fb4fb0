package scenario

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file walks the keys that shape a run beyond target, workers, balancer and load:
// target.slowdown and the top-level redis, restart, faults and slo sections.

// successWhat says how a success ratio is written, for messages.
const successWhat = `a fraction like 0.999 or a percentage like "99.9%"`

// parsePercent parses "99.9%" as 0.999. It does not range-check: checkSuccess does.
func parsePercent(s string) (float64, bool) {
	pct, ok := strings.CutSuffix(s, "%")
	if !ok {
		return 0, false
	}
	pct = strings.TrimSpace(pct)
	// Shifting the decimal point in the text gives the float nearest to 0.999; dividing the
	// float 99.9 by 100 gives 0.9990000000000001, which would not equal the fraction written
	// out. A number with its own exponent falls back to dividing.
	if f, err := strconv.ParseFloat(pct+"e-2", 64); err == nil {
		return f, true
	}
	p, err := strconv.ParseFloat(pct, 64)
	if err != nil {
		return 0, false
	}
	return p / 100, true
}

func (w *walker) bool(n *yaml.Node, field string) (bool, error) {
	if isNull(n) {
		return false, w.errAt(n, field, "empty; set true or false, or remove the key")
	}
	// Only YAML 1.2 booleans: "yes", "on" and "y" stay strings, as yaml.v3 resolves them, and
	// are refused rather than guessed at.
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		return false, w.errAt(n, field, "expected true or false, got %s", got(n))
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		return false, w.errAt(n, field, "expected true or false, got %s", got(n))
	}
	return b, nil
}

// slowdown reads target.slowdown, a mapping from worker index to factor: {1: 3}.
func (w *walker) slowdown(n *yaml.Node) (map[int]float64, error) {
	const field = "target.slowdown"
	const what = "a factor like 3 (= three times slower)"
	slow := map[int]float64{}
	w.slowdownKeys = map[int]*yaml.Node{}
	_, err := w.mapping(n, field, nil, func(key string, k, v *yaml.Node) error {
		sub := field + "." + fieldKey(key)
		if k.ShortTag() != "!!int" {
			return w.errAt(k, sub, "expected a worker index (an integer ≥ 1, like {1: 3}), got %s", got(k))
		}
		var i int
		if err := k.Decode(&i); err != nil {
			return w.errAt(k, sub, "%s is out of range", quote(k.Value))
		}
		if msg := checkWorkerIndex(i, unknownWorkers); msg != "" {
			return w.errAt(k, sub, "%s", msg)
		}
		// The mapping rejects repeated text; 1 and 0x1 are different text for one worker.
		if prev := w.slowdownKeys[i]; prev != nil {
			return w.errAt(k, sub, "worker %d is already slowed down at line %d", i, prev.Line)
		}
		f, err := w.float(v, sub, what)
		if err != nil {
			return err
		}
		if msg := checkSlowdown(f); msg != "" {
			return w.errAt(v, sub, "%s", msg)
		}
		slow[i] = f
		w.slowdownKeys[i] = k
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(slow) == 0 {
		return nil, w.errAt(n, field, "empty; map worker indexes to factors like {1: 3}, or remove the key")
	}
	return slow, nil
}

func (w *walker) redis(n *yaml.Node) (*Redis, error) {
	const f = "redis."
	r := &Redis{}
	var addr *yaml.Node
	_, err := w.mapping(n, "redis", redisKeys, func(key string, k, v *yaml.Node) (err error) {
		switch key {
		case "start":
			r.Start, err = w.bool(v, f+key)
		case "addr":
			// Checked below: what it may be depends on start, which may follow it.
			r.Addr, err = w.str(v, f+key)
			addr = v
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if addr != nil {
		if msg := checkRedisAddr(r.Addr, r.Start); msg != "" {
			return nil, w.errAt(addr, f+"addr", "%s", msg)
		}
	} else if !r.Start {
		r.Addr = DefaultRedisAddr
	}
	return r, nil
}

// restart reads the restart policy: a mapping, or a bare true or false.
func (w *walker) restart(n *yaml.Node) (Restart, error) {
	const f = "restart."
	r := Restart{Enabled: true, Max: DefaultRestartMax, Within: DefaultRestartWithin}
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		enabled, err := w.bool(n, "restart")
		if err != nil {
			return Restart{}, w.errAt(n, "restart", "expected true, false or a mapping with keys %s, got %s", strings.Join(restartKeys, ", "), got(n))
		}
		if !enabled {
			return Restart{}, nil
		}
		return r, nil
	}
	keys, err := w.mapping(n, "restart", restartKeys, func(key string, k, v *yaml.Node) (err error) {
		switch key {
		case "enabled":
			r.Enabled, err = w.bool(v, f+key)
		case "max":
			r.Max, err = w.int(v, f+key, checkRestartMax)
		case "within":
			r.Within, err = w.duration(v, f+key, false)
		}
		return err
	})
	if err != nil {
		return Restart{}, err
	}
	if !r.Enabled {
		if k := keys.first("max", "within"); k != "" {
			return Restart{}, w.errAt(keys[k], f+k, "%s (restart.enabled is false at line %d)", notWhenDisabled, keys["enabled"].Line)
		}
		return Restart{}, nil
	}
	return r, nil
}

// faultNodes keeps where a fault's values are, for the checks against workers and load.
type faultNodes struct {
	at, worker, dur *yaml.Node
}

func (w *walker) faults(n *yaml.Node) ([]Fault, error) {
	const field = "faults"
	const example = "like [{at: 3s, kill: 1}, {at: 5s, stop: 2, for: 1s}]"
	if n.Kind != yaml.SequenceNode {
		if isNull(n) {
			return nil, w.errAt(n, field, "empty; list faults %s, or remove the key", example)
		}
		return nil, w.errAt(n, field, "expected a list of faults %s, got %s", example, got(n))
	}
	if len(n.Content) == 0 {
		return nil, w.errAt(n, field, "empty list; list faults %s, or remove the key", example)
	}
	faults := make([]Fault, 0, len(n.Content))
	w.faultNodes = make([]faultNodes, 0, len(n.Content))
	for i, c := range n.Content {
		sub := fmt.Sprintf("%s[%d]", field, i)
		c, err := w.visit(c, sub)
		if err != nil {
			return nil, err
		}
		f, nodes, err := w.fault(c, sub)
		if err != nil {
			return nil, err
		}
		faults = append(faults, f)
		w.faultNodes = append(w.faultNodes, nodes)
	}
	return faults, nil
}

// fault reads one fault. Its worker index and times are checked against the workers and the
// load later, in crossChecks, when both are known.
func (w *walker) fault(n *yaml.Node, field string) (Fault, faultNodes, error) {
	var f Fault
	var nodes faultNodes
	index := func(n int) string { return checkWorkerIndex(n, unknownWorkers) }
	keys, err := w.mapping(n, field, faultKeys, func(key string, k, v *yaml.Node) (err error) {
		sub := field + "." + key
		switch key {
		case "at":
			f.At, err = w.duration(v, sub, true)
			nodes.at = v
		case "kill":
			f.Kill, err = w.int(v, sub, index)
			nodes.worker = v
		case "stop":
			f.Stop, err = w.int(v, sub, index)
			nodes.worker = v
		case "for":
			f.For, err = w.duration(v, sub, false)
			nodes.dur = v
		}
		return err
	})
	if err != nil {
		return Fault{}, nodes, err
	}
	if keys["at"] == nil {
		return Fault{}, nodes, w.errAt(n, field+".at", "missing; when the fault strikes, from the start of each step (warmup included), like 3s")
	}
	kill, stop := keys["kill"], keys["stop"]
	switch {
	case kill != nil && stop != nil:
		first, second := "kill", "stop"
		if before(stop, kill) {
			first, second = second, first
		}
		return Fault{}, nodes, w.errAt(keys[second], field+"."+second, "cannot be combined with %s.%s (line %d): one action per fault", field, first, keys[first].Line)
	case kill == nil && stop == nil:
		return Fault{}, nodes, w.errAt(n, field, "%s", faultAction)
	case kill != nil && keys["for"] != nil:
		return Fault{}, nodes, w.errAt(keys["for"], field+".for", "%s", notForKill)
	case stop != nil && keys["for"] == nil:
		return Fault{}, nodes, w.errAt(n, field+".for", "missing; stop needs for: DURATION, the time until SIGCONT")
	}
	return f, nodes, nil
}

func (w *walker) slo(n *yaml.Node) (*SLO, error) {
	const f = "slo."
	o := &SLO{}
	_, err := w.mapping(n, "slo", sloKeys, func(key string, k, v *yaml.Node) (err error) {
		switch key {
		case "p99":
			o.P99, err = w.duration(v, f+key, false)
		case "success":
			o.Success, err = w.success(v, f+key)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if o.P99 == 0 && o.Success == 0 {
		return nil, w.errAt(n, "slo", "%s", sloEmpty)
	}
	return o, nil
}
