package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/target"
)

// This file turns YAML into a Scenario. It checks the shape of the file only (known keys, values
// of the right kind, required keys present) and records where every field is, so that a problem
// the rules of rules.go find later points at its line and column. It knows no rule between fields.

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

// located is where a field is in the file: its key and its value (the same node for a list item).
type located struct{ key, val *yaml.Node }

// decoder walks a yaml.Node tree into a Scenario.
type decoder struct {
	file string
	// visits counts the nodes looked at, aliases once per use: the bound on the work an input
	// can cause however its anchors are arranged.
	visits int
	// nodes maps the path of every field the file writes ("load.rates[1]") to where it is;
	// "" is the root.
	nodes map[string]located
}

// given reports whether the file writes field.
func (d *decoder) given(field string) bool {
	_, ok := d.nodes[field]
	return ok
}

func (d *decoder) errAt(n *yaml.Node, field, format string, args ...any) error {
	return &Error{File: d.file, Line: n.Line, Col: n.Column, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// visit resolves an alias to the node it names and counts the visit. The resolved node is a
// shallow copy placed at the alias, so an error about it points where it is used.
func (d *decoder) visit(n *yaml.Node, field string) (*yaml.Node, error) {
	d.visits++
	if d.visits > maxNodes {
		return nil, d.errAt(n, field, "more than %d YAML nodes, aliases expanded; a scenario is small (alias bomb?)", maxNodes)
	}
	if n.Kind != yaml.AliasNode {
		return n, nil
	}
	if n.Alias == nil || n.Alias.Kind == yaml.AliasNode {
		// yaml.v3 never builds these; refuse rather than loop.
		return nil, d.errAt(n, field, "unresolvable alias *%s", oneLine(n.Value))
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

func before(a, b *yaml.Node) bool {
	return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
}

// mapping walks the mapping n at field, calling fn for each key/value in file order. allowed
// lists the keys accepted; nil accepts any key (env). It rejects non-mappings, non-scalar and
// merge keys, duplicates and unknown keys, with a did-you-mean for a near miss.
func (d *decoder) mapping(n *yaml.Node, field string, allowed []string, fn func(key string, k, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		want := "NAME: value pairs"
		if allowed != nil {
			want = "keys " + strings.Join(allowed, ", ")
		}
		if isNull(n) {
			return d.errAt(n, field, "empty; expected a mapping with %s", want)
		}
		return d.errAt(n, field, "expected a mapping with %s, got %s", want, got(n))
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, err := d.visit(n.Content[i], field)
		if err != nil {
			return err
		}
		if k.Kind != yaml.ScalarNode {
			return d.errAt(k, field, "keys must be plain words, got %s", got(k))
		}
		if k.ShortTag() == "!!merge" {
			return d.errAt(k, join(field, "<<"), "merge keys are not supported; write the keys out")
		}
		key := k.Value
		sub := join(field, fieldKey(key))
		if prev := seen[key]; prev != nil {
			return d.errAt(k, sub, "duplicate key (first at line %d)", prev.Line)
		}
		seen[key] = k
		if allowed != nil && !slices.Contains(allowed, key) {
			hint := didYouMean(key, allowed)
			if hint == "" {
				hint = "; allowed: " + strings.Join(allowed, ", ")
			}
			return d.errAt(k, sub, "unknown key%s", hint)
		}
		v, err := d.visit(n.Content[i+1], sub)
		if err != nil {
			return err
		}
		if err := fn(key, k, v); err != nil {
			return err
		}
	}
	return nil
}

// The sections of a scenario file are the structs of scenario.go, a key per field with a yaml
// tag, in the order docs/scenario.md lists them (error messages list them in this order too;
// doc_test.go checks the two agree). A field's type says how its value is read; the tag's
// option does for the types that are read in more than one way.

// decodeFunc decodes the value n of the field at path.
type decodeFunc func(d *decoder, n *yaml.Node, path string) error

// A nodeDecoder is a section that may also be written as a scalar (restart: true, scale: local).
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string) error
}

// A finisher is a section with more to do once its keys are decoded.
type finisher interface {
	finish(d *decoder) error
}

// fieldsOf returns the keys of the section t, a struct type, and their fields.
func fieldsOf(t reflect.Type) (keys []string, fields []reflect.StructField) {
	for f := range t.Fields() {
		if tag, ok := f.Tag.Lookup("yaml"); ok {
			key, _, _ := strings.Cut(tag, ",")
			keys, fields = append(keys, key), append(fields, f)
		}
	}
	return keys, fields
}

// keysOf lists the keys of the section T, in order.
func keysOf[T any]() []string {
	keys, _ := fieldsOf(reflect.TypeFor[T]())
	return keys
}

// required says what to write for each key a section must have, by path ("[]" for any index).
var required = map[string]string{
	"target":                  "set target." + targetKinds(),
	"load":                    "set load.rates (like [200, 400]) or load.search (like {p99: 50ms})",
	"load.search.p99":         "the search needs a latency SLO like {p99: 50ms}",
	"load.requests[].path":    "every request needs a path like /orders",
	"faults[].at":             "when the fault strikes, from the start of each step (warmup included), like 3s",
	"scale.compose.file":      composeNeeds,
	"scale.compose.service":   composeNeeds,
	"scale.compose.port":      composeNeeds,
	"scale.command.scale":     commandNeeds,
	"scale.command.endpoints": commandNeeds,
}

const (
	composeNeeds = "scale.compose needs file, service and port (the container port each replica publishes on 127.0.0.1)"
	commandNeeds = "scale.command needs scale (brings the replicas to {n}) and endpoints (prints them, one per line)"
)

var index = regexp.MustCompile(`\[\d+\]`)

// section decodes the mapping n at path into the struct p points to, checks that the required
// keys are there, and finishes the section.
func (d *decoder) section(n *yaml.Node, path string, p any) error {
	v := reflect.ValueOf(p).Elem()
	keys, fields := fieldsOf(v.Type())
	err := d.mapping(n, path, keys, func(key string, k, val *yaml.Node) error {
		sub := join(path, key)
		d.nodes[sub] = located{k, val}
		f := fields[slices.Index(keys, key)]
		_, how, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		return decoderOf(v.FieldByIndex(f.Index).Addr().Interface(), how)(d, val, sub)
	})
	if err != nil {
		return err
	}
	for _, key := range keys {
		sub := join(path, key)
		if msg, ok := required[index.ReplaceAllString(sub, "[]")]; ok && !d.given(sub) {
			return d.errAt(n, sub, "missing; %s", msg)
		}
	}
	if f, ok := p.(finisher); ok {
		return f.finish(d)
	}
	return nil
}

// decoderOf returns the decoder of the field p points to: by how, its tag's option, or else by
// its type.
func decoderOf(p any, how string) decodeFunc {
	switch how {
	case "argv": // a program and its arguments
		return listOf(p.(*[]string), "", "[node, server.mjs] (run without a shell)", text)
	case "replicas":
		return listOf(p.(*[]string), "replicas", "[http://127.0.0.1:8081, http://127.0.0.1:8082]", text)
	case "share":
		return self((*Share)(p.(*float64)))
	case "factor":
		return number(p.(*float64), "a factor like 1.25 (0 = no bound)")
	}
	switch p := p.(type) {
	case nodeDecoder:
		return p.decodeNode
	case *string:
		return text(p)
	case *target.Workload:
		return text(p)
	case *balancer.Engine:
		return text(p)
	case *int:
		return scalar(p, decodeInt)
	case *bool:
		return scalar(p, decodeBool)
	case *time.Duration:
		return self((*Duration)(p))
	case *[]byte:
		return scalar(p, func(n *yaml.Node) ([]byte, error) { s, err := decodeString(n); return []byte(s), err })
	case *map[string]string:
		return pairs(p, func(v string) string { return v })
	case *http.Header:
		return pairs(p, func(v string) []string { return []string{v} })
	case *[]string: // names: one, or a list to compare
		return oneOrMore(p, text)
	case *[]target.Store:
		return oneOrMore(p, text)
	case *[]balancer.Strategy:
		return oneOrMore(p, text)
	case *[]int:
		return workers(p)
	case *[]float64: // load.rates, in requests/s
		return listOf(p, "rates", "[200, 400]", func(r *float64) decodeFunc { return number(r, rateWhat) })
	case *map[int]float64:
		return slowdown(p)
	case *[]Request:
		return sections(p, "requests", "[{method: POST, path: /orders, body: '{}'}]")
	case *[]Fault:
		return faults(p)
	}
	v := reflect.ValueOf(p).Elem()
	if v.Kind() == reflect.Pointer { // an optional section, nil when the file leaves it out
		return func(d *decoder, n *yaml.Node, path string) error {
			v.Set(reflect.New(v.Type().Elem()))
			return d.section(n, path, v.Interface())
		}
	}
	return func(d *decoder, n *yaml.Node, path string) error { return d.section(n, path, p) }
}

// pairs decodes a mapping of NAME: string (env, headers) into *p, each value converted by conv.
func pairs[M ~map[string]V, V any](p *M, conv func(string) V) decodeFunc {
	return func(d *decoder, n *yaml.Node, path string) error {
		*p = M{}
		return d.mapping(n, path, nil, func(key string, k, v *yaml.Node) error {
			sub := path + "." + fieldKey(key)
			d.nodes[sub] = located{k, v}
			if isNull(v) {
				return d.errAt(v, sub, `empty; write "" for an empty value`)
			}
			val, err := decodeString(v)
			if err != nil {
				return d.errAt(v, sub, "%v", err)
			}
			(*p)[key] = conv(val)
			return nil
		})
	}
}

// scalar decodes a scalar with dec into *p.
func scalar[T any](p *T, dec func(*yaml.Node) (T, error)) decodeFunc {
	return func(d *decoder, n *yaml.Node, path string) error {
		v, err := dec(n)
		if err != nil {
			return d.errAt(n, path, "%v", err)
		}
		*p = v
		return nil
	}
}

// self decodes a value that decodes itself.
func self(u yaml.Unmarshaler) decodeFunc {
	return func(d *decoder, n *yaml.Node, path string) error {
		if err := u.UnmarshalYAML(n); err != nil {
			return d.errAt(n, path, "%v", err)
		}
		return nil
	}
}

func text[T ~string](p *T) decodeFunc {
	return scalar(p, func(n *yaml.Node) (T, error) { v, err := decodeString(n); return T(v), err })
}

func number(p *float64, what string) decodeFunc {
	return scalar(p, func(n *yaml.Node) (float64, error) { return decodeNumber(n, what) })
}

// listOf decodes a list into *p, each item, at path[i], with the decodeFunc elem gives for it.
// noun and example say what the list holds, for messages.
func listOf[T any](p *[]T, noun, example string, elem func(*T) decodeFunc) decodeFunc {
	if noun != "" {
		noun = " of " + noun
	}
	return func(d *decoder, n *yaml.Node, path string) error {
		*p = []T{}
		switch {
		case isNull(n):
			return d.errAt(n, path, "empty; expected a list%s like %s", noun, example)
		case n.Kind != yaml.SequenceNode:
			return d.errAt(n, path, "expected a list%s like %s, got %s", noun, example, got(n))
		}
		for i, c := range n.Content {
			sub := fmt.Sprintf("%s[%d]", path, i)
			c, err := d.visit(c, sub)
			if err != nil {
				return err
			}
			d.nodes[sub] = located{c, c}
			*p = append(*p, *new(T))
			if err := elem(&(*p)[i])(d, c, sub); err != nil {
				return err
			}
		}
		return nil
	}
}

// oneOrMore decodes one item, or a list of them, into *p, each with the decodeFunc elem gives.
func oneOrMore[T any](p *[]T, elem func(*T) decodeFunc) decodeFunc {
	return func(d *decoder, n *yaml.Node, path string) error {
		if n.Kind == yaml.SequenceNode {
			return listOf(p, "", "", elem)(d, n, path)
		}
		*p = make([]T, 1)
		return elem(&(*p)[0])(d, n, path)
	}
}

// sections decodes a list of sections (faults, requests).
func sections[T any](p *[]T, noun, example string) decodeFunc {
	return listOf(p, noun, example, func(x *T) decodeFunc { return decoderOf(x, "") })
}

// finish reads the targets file load.targets names (unless the section also has inline
// requests, which the rules refuse).
func (l *LoadSpec) finish(d *decoder) error {
	if d.given("load.targets") && !d.given("load.requests") {
		return d.targets(l)
	}
	return nil
}

// finish keeps Store, the first store, alone when target.store names one.
func (t *Target) finish(*decoder) error {
	if len(t.Stores) > 0 {
		t.Store = t.Stores[0]
	}
	if len(t.Stores) == 1 {
		t.Stores = nil
	}
	return nil
}

// finish sets Strategy, the first of the strategies.
func (b *Balancer) finish(*decoder) error {
	b.SetStrategies(b.Strategies)
	return nil
}

// finish makes File relative to the scenario file's folder.
func (c *Compose) finish(d *decoder) error {
	if c.File != "" && !filepath.IsAbs(c.File) {
		c.File = filepath.Join(filepath.Dir(d.file), c.File)
	}
	return nil
}

// decodeNode decodes the restart policy: a mapping, or a bare true or false (restart.enabled).
func (r *Restart) decodeNode(d *decoder, n *yaml.Node, path string) error {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return d.section(n, path, r)
	}
	b, err := decodeBool(n)
	if err != nil {
		return d.errAt(n, path, "expected true, false or a mapping with keys %s, got %s", strings.Join(restartKeys, ", "), got(n))
	}
	d.nodes[path+".enabled"] = located{n, n}
	r.Enabled = b
	return nil
}

// faults decodes the faults list; a stop must say for how long.
func faults(p *[]Fault) decodeFunc {
	all := sections(p, "faults", "[{at: 3s, kill: 1}, {at: 5s, stop: 2, for: 1s}]")
	return func(d *decoder, n *yaml.Node, path string) error {
		if err := all(d, n, path); err != nil {
			return err
		}
		for i := range *p {
			sub := fmt.Sprintf("%s[%d]", path, i)
			if d.given(sub+".stop") && !d.given(sub+".for") {
				return d.errAt(d.nodes[sub].val, sub+".for", "missing; stop needs for: DURATION, the time until SIGCONT")
			}
		}
		return nil
	}
}

// decodeNode decodes the scale section: `local`, or a mapping with compose or command.
func (s *Scale) decodeNode(d *decoder, n *yaml.Node, path string) error {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		if n.Value != scaleLocal {
			return d.errAt(n, path, "unknown scale %s; write local, or a mapping with compose or command", quote(n.Value))
		}
		return nil
	}
	if err := d.section(n, path, s); err != nil {
		return err
	}
	if len(n.Content) == 0 {
		return d.errAt(n, path, "empty; write local, or a mapping with compose or command")
	}
	return nil
}

// The keys of the sections whose messages list them.
var (
	scenarioKeys = keysOf[Scenario]()
	restartKeys  = keysOf[Restart]()
	sloKeys      = keysOf[SLO]()
)
