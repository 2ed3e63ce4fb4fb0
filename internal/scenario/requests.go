package scenario

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/bench-dev/bench/internal/httpwire"
)

// This file reads the request mix: load.requests written inline, or load.targets, a vegeta
// targets file.

// Request is one request of the load's mix (LoadSpec.Requests): Method to Path with Header and
// Body, Weight times as often as a request of weight 1.
type Request struct {
	// Method is the HTTP method, an HTTP token; Parse defaults it to GET.
	Method string `yaml:"method"`
	// Path is the request target, a path from "/" with an optional query; it replaces
	// Target.Path.
	Path string `yaml:"path"`
	// Header holds the request's headers as written (names keep their case); nil means none.
	Header http.Header `yaml:"headers"`
	// Body is sent with a Content-Length; nil means none.
	Body []byte `yaml:"body"`
	// Weight is the request's share of the mix, 1..MaxWeight; Parse defaults it to 1.
	Weight int `yaml:"weight"`
}

const (
	// MaxRequests bounds the requests of a mix (load.requests, or the targets of load.targets).
	MaxRequests = 100_000
	// MaxWeight bounds a request's weight.
	MaxWeight = 1000
	// MaxTargetsSize bounds a targets file, each body file it names, and all the bodies of a
	// mix together (the mix is kept in memory for the whole run).
	MaxTargetsSize = 64 << 20
	// MaxTotalWeight bounds the sum of a mix's weights: the generator keeps one cycle of the
	// mix as a list of that length.
	MaxTotalWeight = 1 << 20
)

// targets reads the vegeta targets file load.targets names, relative to the scenario file, into
// l.Requests. A problem in the targets file is reported at its own line.
func (d *decoder) targets(l *LoadSpec) error {
	const field = "load.targets"
	n := d.nodes[field].val
	if l.Targets == "" {
		return d.errAt(n, field, "empty; name a vegeta targets file, or remove the key")
	}
	if !filepath.IsAbs(l.Targets) && d.file != "" && d.file != "-" {
		l.Targets = filepath.Join(filepath.Dir(d.file), l.Targets)
	}
	data, err := readBounded(l.Targets)
	if err != nil {
		return d.errAt(n, field, "%s", err)
	}
	l.Requests, err = ReadTargets(l.Targets, data)
	return err
}

// readBounded reads a regular file of at most MaxTargetsSize bytes. Anything else (a device, a
// FIFO, a folder) is refused before it is opened for reading, so that nothing blocks or runs on.
func readBounded(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return nil, fmt.Errorf("cannot read %s: %w", path, pathCause(err))
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", path)
	case fi.Size() > MaxTargetsSize:
		return nil, fmt.Errorf("%s is %d bytes; at most %d", path, fi.Size(), MaxTargetsSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, pathCause(err))
	}
	return data, nil
}

// ReadTargets parses data, the vegeta targets file file, with vegeta's own targeters: the json
// format (one JSON object per line) when its first line that is neither blank nor a comment
// starts with "{", the http format otherwise. A body file (@FILE in the http format) is read
// relative to the targets file. Each target's URL gives the request's path and query; its scheme
// and host are the balancer's. Every target has weight 1, so a target listed twice is sent twice
// as often. A problem is an *Error "FILE:LINE: problem".
func ReadTargets(file string, data []byte) ([]Request, error) {
	jsonFormat := isJSONTargets(data)
	lines := bytes.SplitAfter(data, []byte("\n"))
	if !jsonFormat {
		for i, l := range lines {
			if len(l) >= bufio.MaxScanTokenSize {
				// The http targeter's bufio.Scanner would cut the line and read on.
				return nil, &Error{File: file, Line: i + 1, Msg: fmt.Sprintf("line longer than %d bytes", bufio.MaxScanTokenSize-1)}
			}
			if err := resolveBodyFile(file, i+1, l, &lines[i]); err != nil {
				return nil, err
			}
		}
	}
	src := &lineReader{lines: slices.Clone(lines)} // it shortens its lines as it reads them
	var next vegeta.Targeter
	if jsonFormat {
		next = vegeta.NewJSONTargeter(src, nil, nil)
	} else {
		next = vegeta.NewHTTPTargeter(src, nil, nil)
	}
	var rs []Request
	bodies := 0
	for {
		var t vegeta.Target
		err := next(&t)
		if errors.Is(err, vegeta.ErrNoTargets) {
			if !src.done() {
				return nil, &Error{File: file, Line: src.line, Msg: "unreadable line"}
			}
			break
		}
		if err != nil {
			msg := oneLine(err.Error())
			if jsonFormat && !errors.Is(err, vegeta.ErrNoMethod) && !errors.Is(err, vegeta.ErrNoURL) {
				msg = "bad JSON target: " + msg
			}
			return nil, &Error{File: file, Line: src.line, Msg: msg}
		}
		r, msg := targetRequest(t)
		if msg != "" {
			line := src.line
			if !jsonFormat {
				line = targetLine(lines, line, t)
			}
			return nil, &Error{File: file, Line: line, Msg: msg}
		}
		if len(rs) == MaxRequests {
			return nil, &Error{File: file, Line: src.line, Msg: fmt.Sprintf("more than %d targets", MaxRequests)}
		}
		if bodies += len(r.Body); bodies > MaxTargetsSize {
			return nil, &Error{File: file, Line: src.line, Msg: fmt.Sprintf("the bodies so far add up to %d bytes; at most %d", bodies, MaxTargetsSize)}
		}
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return nil, &Error{File: file, Msg: "no targets; write one per line like: POST http://localhost/orders"}
	}
	return rs, nil
}

// targetLine returns the line of the http format's target t, read by line read (the targeter
// reads on past a target's line for its headers and body, and one line ahead).
func targetLine(lines [][]byte, read int, t vegeta.Target) int {
	for i := min(read, len(lines)) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(string(lines[i])); strings.HasPrefix(l, t.Method+" ") && strings.TrimSpace(l[len(t.Method):]) == t.URL {
			return i + 1
		}
	}
	return read
}

// isJSONTargets reports whether a targets file is in vegeta's json format.
func isJSONTargets(data []byte) bool {
	for _, l := range bytes.Split(data, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) == 0 || l[0] == '#' {
			continue
		}
		return l[0] == '{'
	}
	return false
}

// resolveBodyFile rewrites a body line (@FILE) of the http format so that a relative FILE is
// read from the targets file's folder, and refuses a body file that is not a regular file of
// at most MaxTargetsSize bytes (vegeta would read all of it).
func resolveBodyFile(file string, line int, l []byte, out *[]byte) error {
	t := bytes.TrimSpace(l)
	if len(t) < 2 || t[0] != '@' {
		return nil
	}
	p := string(t[1:])
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(file), p)
	}
	if _, err := os.Stat(p); err == nil {
		if _, err := readBounded(p); err != nil {
			return &Error{File: file, Line: line, Msg: "bad body: " + err.Error()}
		}
	} // a missing file is vegeta's to report
	*out = []byte("@" + p + "\n")
	return nil
}

// targetRequest turns a vegeta target into a Request, or says what is wrong with it.
func targetRequest(t vegeta.Target) (Request, string) {
	if err := checkMethod(t.Method); err != nil {
		return Request{}, err.Error()
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		return Request{}, oneLine(err.Error())
	}
	path := u.RequestURI()
	if u.Opaque != "" || !strings.HasPrefix(path, "/") {
		return Request{}, fmt.Sprintf("URL %s has no path from /", quote(t.URL))
	}
	r := Request{Method: t.Method, Path: path, Body: t.Body, Weight: 1}
	if len(t.Header) > 0 {
		r.Header = t.Header
	}
	if len(r.Body) == 0 {
		r.Body = nil
	}
	rs := &rules{given: func(string) bool { return false }}
	r.rules(rs, "")
	if len(rs.problems) > 0 {
		p := rs.problems[0]
		return Request{}, strings.TrimPrefix(p.field, ".") + ": " + p.err.Error()
	}
	return r, ""
}

// lineReader hands out its lines one per Read and counts the lines begun, so that when a
// vegeta targeter fails, line is the line it was reading: both targeters read through a buffer
// (bufio.Scanner, bufio.Reader) that asks for more only when it holds no complete line, and the
// http targeter looks one line ahead only after a target line has parsed.
type lineReader struct {
	lines [][]byte
	line  int  // lines begun
	mid   bool // inside lines[0], which has begun
}

func (r *lineReader) Read(p []byte) (int, error) {
	for len(r.lines) > 0 && len(r.lines[0]) == 0 {
		r.lines, r.mid = r.lines[1:], false
	}
	if len(r.lines) == 0 {
		return 0, io.EOF
	}
	if !r.mid {
		r.line++
		r.mid = true
	}
	n := copy(p, r.lines[0])
	r.lines[0] = r.lines[0][n:]
	return n, nil
}

// done reports whether every line was read.
func (r *lineReader) done() bool {
	return !slices.ContainsFunc(r.lines, func(l []byte) bool { return len(l) > 0 })
}

// rules checks one request, at field.
func (q *Request) rules(r *rules, field string) {
	r.value(field+".method", checkMethod(q.Method))
	r.value(field+".path", checkPath(q.Path))
	for _, k := range slices.Sorted(maps.Keys(q.Header)) {
		r.key(field+".headers."+fieldKey(k), errUnless(httpwire.IsToken(k),
			"%s is not a header name (letters, digits and !#$%%&'*+-.^_`|~)", quote(k)))
		for _, v := range q.Header[k] {
			// CR, LF, NUL and the other control characters but tab would end or split the line.
			r.value(field+".headers."+fieldKey(k), errUnless(strings.IndexFunc(v, controlNotTab) < 0,
				"%s contains control characters", quote(v)))
		}
	}
	r.value(field+".body", errUnless(len(q.Body) <= MaxTargetsSize, "%d bytes; at most %d", len(q.Body), MaxTargetsSize))
	r.value(field+".weight", checkBetween(q.Weight, 1, MaxWeight))
}

// requestsRules checks the request mix against the rest of the load.
func (l *LoadSpec) requestsRules(r *rules) {
	if l.Requests == nil {
		r.value("load.targets", errUnless(l.Targets == "", "not read; scenario.Parse reads it into Requests"))
		return
	}
	field := "load.requests"
	if l.Targets != "" && !r.given("load.requests") {
		field = "load.targets"
	}
	switch {
	case len(l.Requests) == 0:
		r.value(field, errors.New("empty list; remove the key to send GET target.path"))
	case len(l.Requests) > MaxRequests:
		r.value(field, fmt.Errorf("%d requests; at most %d", len(l.Requests), MaxRequests))
	}
	r.key(field, errUnless(l.Clients <= 0,
		"cannot be combined with load.clients: the simulated clients send their own requests (the session workload)"))
	weights, bodies := 0, 0
	for i := range l.Requests {
		l.Requests[i].rules(r, fmt.Sprintf("%s[%d]", field, i))
		weights += l.Requests[i].Weight
		bodies += len(l.Requests[i].Body)
	}
	switch {
	case weights > MaxTotalWeight:
		r.value(field, fmt.Errorf("the weights add up to %d; at most %d", weights, MaxTotalWeight))
	case bodies > MaxTargetsSize:
		r.value(field, fmt.Errorf("the bodies add up to %d bytes; at most %d", bodies, MaxTargetsSize))
	}
}

func checkMethod(s string) error {
	return errUnless(httpwire.IsToken(s), "%s is not an HTTP method (a token like GET or POST)", quote(s))
}

func controlNotTab(r rune) bool { return r != '\t' && unicode.IsControl(r) }
