package scenario

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The values a scenario is written in. Each decodes itself from a YAML scalar (UnmarshalYAML) and
// from a flag's text (Set), with the same words, so that a file and a flag read alike:
// `"5" is not a duration like 2ms` whichever it came from. Ranges are the rules' business.

// Duration is a time.Duration written as Go writes it: 500ms, 2s, 1m30s; a bare 0 is zero.
type Duration time.Duration

// UnmarshalYAML decodes any scalar, so that a bare 0 (an int to YAML) is zero; "2" fails for want
// of a unit.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	switch {
	case isNull(n):
		return errors.New("empty; set a duration like 2ms or remove the key")
	case n.Kind != yaml.ScalarNode:
		return fmt.Errorf("expected a duration like 2ms, got %s", got(n))
	}
	return d.Set(n.Value)
}

// Set parses s, as flag.Value does.
func (d *Duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%s is not a duration like 2ms (units: ns, us, ms, s, m, h)", quote(s))
	}
	*d = Duration(v)
	return nil
}

// String formats d as Go does, as flag.Value needs.
func (d Duration) String() string { return time.Duration(d).String() }

// successWhat says how a share is written, for messages.
const successWhat = `a fraction like 0.999 or a percentage like "99.9%"`

// Share is a fraction written as one (0.999) or as a percentage ("99.9%").
type Share float64

// UnmarshalYAML decodes a number, or a string ending in %.
func (f *Share) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && strings.HasSuffix(n.Value, "%") {
		return f.Set(n.Value)
	}
	v, err := decodeNumber(n, successWhat)
	*f = Share(v)
	return err
}

// Set parses s, as flag.Value does. A percentage is read by shifting the decimal point in the
// text, which gives the float nearest to 0.999 for "99.9%"; dividing the float 99.9 by 100 gives
// 0.9990000000000001, which would not equal the fraction written out. A number with its own
// exponent falls back to dividing.
func (f *Share) Set(s string) error {
	s = strings.TrimSpace(s)
	v, err := strconv.ParseFloat(s, 64)
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		pct = strings.TrimSpace(pct)
		if v, err = strconv.ParseFloat(pct+"e-2", 64); err != nil {
			v, err = strconv.ParseFloat(pct, 64)
			v /= 100
		}
	}
	if err != nil {
		return fmt.Errorf("%s is not %s", quote(s), successWhat)
	}
	*f = Share(v)
	return nil
}

// String formats f as a fraction, as flag.Value needs.
func (f Share) String() string { return strconv.FormatFloat(float64(f), 'g', -1, 64) }

// rateWhat says how a rate is written, for messages.
const rateWhat = "a rate in requests/s like 200"

// decodeWorkerCount reads one worker count as --workers writes it: N, "auto" or "Kx".
func decodeWorkerCount(n *yaml.Node) (int, error) {
	if t := n.ShortTag(); n.Kind != yaml.ScalarNode || t != "!!int" && t != "!!str" {
		return 0, fmt.Errorf("expected a worker count (N, \"auto\" or \"Kx\"), got %s", got(n))
	}
	return parseWorkerItem(n.Value)
}

// decodeString reads a scalar as text. Numbers and booleans are taken as written ("8000" stays
// "8000").
func decodeString(n *yaml.Node) (string, error) {
	switch {
	case n.Kind != yaml.ScalarNode:
		return "", fmt.Errorf("expected a string, got %s", got(n))
	case isNull(n):
		return "", errors.New("empty; set a value or remove the key")
	}
	return n.Value, nil
}

func decodeInt(n *yaml.Node) (int, error) {
	switch {
	case isNull(n):
		return 0, errors.New("empty; set a value or remove the key")
	case n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int":
		return 0, fmt.Errorf("expected an integer, got %s", got(n))
	}
	var i int
	if err := n.Decode(&i); err != nil {
		return 0, fmt.Errorf("%s is out of range", quote(n.Value))
	}
	return i, nil
}

// decodeBool accepts YAML 1.2 booleans only: "yes", "on" and "y" stay strings, as yaml.v3
// resolves them, and are refused rather than guessed at.
func decodeBool(n *yaml.Node) (bool, error) {
	if isNull(n) {
		return false, errors.New("empty; set true or false, or remove the key")
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		return false, fmt.Errorf("expected true or false, got %s", got(n))
	}
	return b, nil
}

// decodeNumber reads an integer or a float; what says what is expected, for messages.
func decodeNumber(n *yaml.Node, what string) (float64, error) {
	if isNull(n) {
		return 0, fmt.Errorf("empty; expected %s", what)
	}
	if t := n.ShortTag(); n.Kind != yaml.ScalarNode || t != "!!int" && t != "!!float" {
		return 0, fmt.Errorf("expected %s, got %s", what, got(n))
	}
	var f float64
	if err := n.Decode(&f); err != nil {
		return 0, fmt.Errorf("%s is not %s", quote(n.Value), what)
	}
	return f, nil
}

// workers decodes worker counts: one, or a list; sorted, without duplicates.
func workers(p *[]int) decodeFunc {
	const example = `[1, 2, 4] or "auto"`
	all := oneOrMore(p, func(w *int) decodeFunc { return scalar(w, decodeWorkerCount) })
	return func(d *decoder, n *yaml.Node, path string) error {
		switch {
		case isNull(n):
			return d.errAt(n, path, "empty; list worker counts like %s", example)
		case n.Kind == yaml.SequenceNode && len(n.Content) == 0:
			return d.errAt(n, path, "empty list; list worker counts like %s", example)
		case n.Kind == yaml.MappingNode:
			return d.errAt(n, path, "expected a list of worker counts like [1, 2, \"auto\"], got %s", got(n))
		}
		err := all(d, n, path)
		*p = normalizeWorkers(*p)
		return err
	}
}

// slowdown decodes target.slowdown, a mapping from worker index to factor: {1: 3}. A worker's
// field is written with its index as a number: target.slowdown.1.
func slowdown(p *map[int]float64) decodeFunc {
	return func(d *decoder, n *yaml.Node, path string) error {
		*p = map[int]float64{}
		return d.mapping(n, path, nil, func(key string, k, v *yaml.Node) error {
			sub := path + "." + fieldKey(key)
			if k.ShortTag() != "!!int" {
				return d.errAt(k, sub, "expected a worker index (an integer ≥ 1, like {1: 3}), got %s", got(k))
			}
			var i int
			if err := k.Decode(&i); err != nil {
				return d.errAt(k, sub, "%s is out of range", quote(k.Value))
			}
			// The mapping rejects repeated text; 1 and 0x1 are different text for one worker.
			canon := path + "." + strconv.Itoa(i)
			if prev, ok := d.nodes[canon]; ok {
				return d.errAt(k, sub, "worker %d is already slowed down at line %d", i, prev.key.Line)
			}
			d.nodes[canon] = located{k, v}
			f, err := decodeNumber(v, "a factor like 3 (= three times slower)")
			if err != nil {
				return d.errAt(v, sub, "%v", err)
			}
			(*p)[i] = f
			return nil
		})
	}
}
