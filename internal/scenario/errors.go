package scenario

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Error is one problem with a scenario, printed as a single line:
//
//	FILE:LINE:COL: FIELD: MSG   (problem found in the file)
//	FILE: FIELD: MSG            (Line 0: found by Validate, or not tied to a position)
//
// Empty parts are left out with their separator.
type Error struct {
	// File is the scenario's path; empty for a scenario built in code.
	File string
	// Line and Col are 1-based; 0 means unknown (Col 0 alone: only the line is known).
	Line, Col int
	// Field is the path of the offending key, like "target.cost" or "load.rates[2]";
	// empty when the problem is the file as a whole.
	Field string
	// Msg says what is wrong, and where it helps, what is expected.
	Msg string
	// Err is the underlying cause, if any (e.g. the *fs.PathError of an unreadable file).
	Err error
}

// Error formats e as one line.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Col > 0 {
			b.WriteString(":" + strconv.Itoa(e.Col))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying cause, so errors.Is(err, fs.ErrNotExist) works.
func (e *Error) Unwrap() error { return e.Err }

// oneLine escapes control characters (newlines above all) in text that came from the input,
// so that an error stays one line whatever the file holds.
func oneLine(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// quote quotes a value from the input for a message, shortened so that a huge value cannot
// flood the terminal.
func quote(s string) string {
	const max = 40
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return strconv.Quote(s)
}

// error turns p into an *Error. With the nodes of a file, it points at the field's line and
// column (for a field the file leaves out, at the section that should hold it), and a
// conflict names the field written last and the line of the other.
func (p problem) error(file string, nodes map[string]located) *Error {
	field, other := p.field, p.other
	if a, b := nodes[field], nodes[other]; other != "" && a.key != nil && b.key != nil && before(a.key, b.key) {
		field, other = other, field
	}
	msg := p.err.Error()
	if other != "" {
		if b := nodes[other]; b.key != nil {
			other += fmt.Sprintf(" (line %d)", b.key.Line)
		}
		msg = "cannot be combined with " + other + ": " + msg
	}
	e := &Error{File: file, Field: field, Msg: msg}
	if nodes != nil {
		n := where(nodes, field, p.atKey)
		e.Line, e.Col = n.Line, n.Column
	}
	return e
}

// where returns the node a problem with field points at: its key or its value, or, for a field
// the file leaves out, the value of the nearest field enclosing it.
func where(nodes map[string]located, field string, atKey bool) *yaml.Node {
	if l, ok := nodes[field]; ok {
		if atKey {
			return l.key
		}
		return l.val
	}
	for field != "" {
		field = field[:max(strings.LastIndexAny(field, ".["), 0)]
		if l, ok := nodes[field]; ok {
			return l.val
		}
	}
	return nodes[""].val
}
