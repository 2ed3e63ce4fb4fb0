package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bench-dev/bench/internal/scenario"
)

// flagSet is a command's flags with its usage text.
type flagSet struct {
	*flag.FlagSet
	synopsis, help string
	out            io.Writer
	// badValue is the last flag value that did not parse: the flag package folds the reason into
	// "parse error", which does not tell the user what to write instead.
	badValue *valueError
}

// valueError is a flag value that did not parse.
type valueError struct {
	name, value string
	v           flag.Value // the flag's own value, which says what it holds
	err         error
}

// formError is an error from a flag value of bench's own that already says what to write
// instead; it is shown as it is.
type formError struct{ msg string }

func (e formError) Error() string { return e.msg }

// newFlagSet returns a flag set that returns errors instead of printing them: bench prints one line
// for a bad flag, and the full usage only when asked with -h.
func newFlagSet(name, synopsis, help string, out io.Writer) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, synopsis: synopsis, help: help, out: out}
}

// parse parses args; -h prints the usage and returns flag.ErrHelp; any other problem is bad input.
func (fs *flagSet) parse(args []string) error {
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := f.Value.(checkedValue); !ok {
			f.Value = checkedValue{Value: f.Value, name: f.Name, fs: fs}
		}
	})
	fs.badValue = nil
	err := fs.FlagSet.Parse(args)
	return fs.check(err)
}

func (fs *flagSet) check(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fs.printUsage(fs.out)
		return err
	}
	msg := err.Error()
	if bv := fs.badValue; bv != nil {
		msg = bv.message()
	} else if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		msg = fmt.Sprintf("unknown flag --%s", name)
		if s := suggest(name, fs.names()); s != "" {
			msg += fmt.Sprintf("; did you mean --%s?", s)
		}
	} else if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		name = strings.TrimLeft(name, "-")
		msg = fmt.Sprintf("--%s needs a value", name)
		if f := fs.Lookup(name); f != nil {
			msg += ", e.g. --" + name + " " + example(f.Value)
		}
	}
	return badInput{fmt.Errorf("%s: %s (see `bench help %s`)", fs.Name(), msg, fs.Name())}
}

// isSet reports whether the flag name was given on the command line.
func (fs *flagSet) isSet(name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// names lists the command's flags.
func (fs *flagSet) names() []string {
	var out []string
	fs.VisitAll(func(f *flag.Flag) { out = append(out, f.Name) })
	return out
}

// printUsage prints the synopsis, the help text and the flags, written --name as the examples write
// them, with a default only where it says something.
func (fs *flagSet) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: bench %s %s\n\n%s", fs.Name(), fs.synopsis, fs.help)
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprintf(w, "\nFlags:\n")
			first = false
		}
		name, usage := flagType(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		if d := shownDefault(f, usage); d != "" {
			usage += " (default " + d + ")"
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
	})
}

// flagType returns the word naming what a flag takes ("duration", "int"; "" for a switch) and its
// usage with any `name` quotes removed.
func flagType(f *flag.Flag) (name, usage string) {
	v := f.Value
	if c, ok := v.(checkedValue); ok {
		v = c.Value
	}
	if t, ok := v.(interface{ typeName() string }); ok {
		_, usage = flag.UnquoteUsage(f)
		return t.typeName(), usage
	}
	return flag.UnquoteUsage(&flag.Flag{Name: f.Name, Usage: f.Usage, Value: v, DefValue: f.DefValue})
}

// shownDefault is the default worth printing: none for a zero value (the usage says what zero
// means) or when the usage already names the default in its own words.
func shownDefault(f *flag.Flag, usage string) string {
	switch f.DefValue {
	case "", "0", "0s", "false":
		return ""
	}
	if strings.Contains(usage, "(default") {
		return ""
	}
	return f.DefValue
}

// checkedValue records a value that did not parse, so that the message can say what to write.
type checkedValue struct {
	flag.Value
	name string
	fs   *flagSet
}

func (c checkedValue) Set(s string) error {
	err := c.Value.Set(s)
	if err != nil {
		c.fs.badValue = &valueError{name: c.name, value: s, v: c.Value, err: err}
	}
	return err
}

func (c checkedValue) IsBoolFlag() bool {
	b, ok := c.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func (c checkedValue) Get() any {
	if g, ok := c.Value.(flag.Getter); ok {
		return g.Get()
	}
	return nil
}

// message says what was wrong with the value and how to write it.
func (e *valueError) message() string {
	var fe formError
	if errors.As(e.err, &fe) {
		return fmt.Sprintf("--%s: %s", e.name, fe.msg)
	}
	what := "is not valid"
	if g, ok := e.v.(flag.Getter); ok {
		switch g.Get().(type) {
		case time.Duration:
			// The scenario's own words for a bad duration, so that --duration 5 reads like
			// duration: 5 in the file.
			if err := new(scenario.Duration).Set(e.value); err != nil {
				return fmt.Sprintf("--%s: %v", e.name, err)
			}
			what = "is not a duration"
		case int, int64, uint, uint64:
			what = "is not a whole number"
			if errors.Is(e.err, strconv.ErrRange) || strings.Contains(e.err.Error(), "out of range") {
				what = "is out of range"
			}
		case float64:
			what = "is not a number"
		case bool:
			what = "is not true or false"
		}
	}
	ex := example(e.v)
	if what == "is not valid" && ex == "VALUE" {
		// A value of a kind not known here (the worker's --workload, --store) says itself what
		// it accepts.
		return fmt.Sprintf("--%s: %v", e.name, e.err)
	}
	if what == "is not true or false" {
		ex = "--" + e.name + "=false"
	}
	return fmt.Sprintf("--%s: %q %s; write it like %s", e.name, e.value, what, ex)
}

// example is a value of the kind v holds, to show in a message.
func example(v flag.Value) string {
	if c, ok := v.(checkedValue); ok {
		v = c.Value
	}
	if ex, ok := v.(interface{ example() string }); ok {
		return ex.example()
	}
	if g, ok := v.(flag.Getter); ok {
		switch g.Get().(type) {
		case time.Duration:
			return "5s or 500ms"
		case int, int64, uint, uint64:
			return "4"
		case float64:
			return "0.5"
		}
	}
	return "VALUE"
}

// rateValue is a request rate in requests/s: a number with an optional k (thousands) or M
// (millions) suffix, "10k", "1.5k", "2M".
type rateValue float64

func (r *rateValue) String() string {
	if r == nil || *r == 0 {
		return "0"
	}
	return strconv.FormatFloat(float64(*r), 'g', -1, 64)
}

func (r *rateValue) Set(s string) error {
	v, err := parseRate(s)
	if err != nil {
		return err
	}
	*r = rateValue(v)
	return nil
}

func (r *rateValue) Get() any         { return float64(*r) }
func (r *rateValue) typeName() string { return "rate" }
func (r *rateValue) example() string  { return "10000 or 10k" }

// parseRate parses one request rate: "500", "1.5k", "10k", "2M". It checks the form only; the
// caller checks the range.
func parseRate(s string) (float64, error) {
	t := strings.TrimSpace(s)
	mult := 1.0
	switch {
	case strings.HasSuffix(t, "k") || strings.HasSuffix(t, "K"):
		t, mult = t[:len(t)-1], 1e3
	case strings.HasSuffix(t, "M"):
		t, mult = t[:len(t)-1], 1e6
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || t != strings.TrimSpace(t) {
		return 0, formError{fmt.Sprintf("%q is not a request rate; write it like 500, 1.5k or 10k", s)}
	}
	return v * mult, nil
}

// expandRates rewrites a comma-separated list of rates with k or M suffixes as plain numbers, so
// that "1k,2.5k" reaches the scenario's own parser as "1000,2500". Items that are not rates are
// passed on as they are, for that parser to name.
func expandRates(s string) string {
	items := strings.Split(s, ",")
	for i, item := range items {
		if v, err := parseRate(item); err == nil {
			items[i] = strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	return strings.Join(items, ",")
}

// suggest returns the option closest to s when it is close enough to be a typo (scenario.Suggest),
// or the option s is a prefix of (--work for --workers), or "".
func suggest(s string, options []string) string {
	if best := scenario.Suggest(s, options); best != "" {
		return best
	}
	if len(s) >= 3 {
		for _, o := range options {
			if strings.HasPrefix(o, s) {
				return o
			}
		}
	}
	return ""
}
