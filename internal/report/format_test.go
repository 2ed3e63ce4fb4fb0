package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/scenario"
)

func TestWriteSummary_table(t *testing.T) {
	t.Parallel()
	var got, want bytes.Buffer
	if err := WriteSummary(&got, testResult(), FormatTable); err != nil {
		t.Fatal(err)
	}
	// The layout bench has always printed: blank line, steps, blank line, scaling, blank line.
	want.WriteString("\n")
	WriteSteps(&want, testResult())
	want.WriteString("\n")
	WriteScaling(&want, testResult())
	want.WriteString("\n")
	if got.String() != want.String() {
		t.Errorf("table summary\n%s\nwant\n%s", got.String(), want.String())
	}
}

func TestWriteSummary_markdown(t *testing.T) {
	t.Parallel()
	res := testResult()
	res.Steps[0].Faults = []experiment.FaultResult{{Fault: scenario.Fault{At: time.Second, Kill: 1}, Downtime: 5 * time.Millisecond, Dip: 0.5}}
	var buf bytes.Buffer
	if err := WriteSummary(&buf, res, FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"### Steps\n\n|", "### Scaling\n\n|", "### Faults\n\n|", "| workers |", " 1.75× |", "SIGKILL worker 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	// Every table line is a Markdown row, and each table has its |---| separator under the header.
	var tables, seps int
	for _, line := range strings.Split(out, "\n") {
		switch {
		case line == "", strings.HasPrefix(line, "### "):
		case strings.HasPrefix(line, "|") && strings.HasSuffix(line, "|"):
			if strings.Contains(line, "---") {
				seps++
			}
		default:
			t.Errorf("line %q is neither a heading nor a table row", line)
		}
		if strings.HasPrefix(line, "### ") {
			tables++
		}
	}
	if tables != 3 || seps != 3 {
		t.Errorf("%d headings and %d header separators, want 3 and 3:\n%s", tables, seps, out)
	}
	if strings.ContainsAny(out, "┌│─") {
		t.Errorf("markdown has box-drawing characters:\n%s", out)
	}
}

func TestWriteSummary_json(t *testing.T) {
	t.Parallel()
	res := testResult()
	res.Steps[1].Errors = map[string]int{"503 Service Unavailable": 35}
	var buf bytes.Buffer
	if err := WriteSummary(&buf, res, FormatJSON); err != nil {
		t.Fatal(err)
	}
	// Decoded generically: the keys are the contract, not the Go struct.
	var doc struct {
		Cores   int
		Steps   []map[string]any
		Scaling []map[string]any
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, buf.String())
	}
	if got, want := len(doc.Steps), 2; got != want {
		t.Fatalf("%d steps, want %d", got, want)
	}
	if got, want := len(doc.Scaling), 2; got != want {
		t.Fatalf("%d scaling rows, want %d", got, want)
	}
	st := doc.Steps[1]
	for key, want := range map[string]any{
		"row": 2.0, "workers": 2.0, "offered_rps": 900.0, "throughput_rps": 870.0, "success_ratio": 0.98,
		"p99_ms": 40.0, "requests": 1760.0,
	} {
		if got := st[key]; got != want {
			t.Errorf("steps[1].%s = %v, want %v", key, got, want)
		}
	}
	if got := st["errors"].(map[string]any)["503 Service Unavailable"]; got != 35.0 {
		t.Errorf("steps[1].errors = %v", st["errors"])
	}
	if got := doc.Steps[0]["flags"]; got == nil {
		t.Error("steps[0].flags is null, want []")
	}
	sc := doc.Scaling[1]
	for key, want := range map[string]any{"workers": 2.0, "capacity_rps": 870.0, "linear_rps": 996.0, "note": "2 workers (1 machine)"} {
		if got := sc[key]; got != want {
			t.Errorf("scaling[1].%s = %v, want %v", key, got, want)
		}
	}
	// Units in the names: every numeric measure ends in one.
	units := []string{"_rps", "_ms", "_s", "_ratio", "_pct"}
	counts := map[string]bool{"row": true, "workers": true, "rep": true, "requests": true, "restarts": true, "speedup": true, "efficiency": true,
		"speedup_lo": true, "speedup_hi": true, "errors_target": true, "errors_balancer": true, "errors_generator": true}
	for _, obj := range append(doc.Steps, doc.Scaling...) {
		for key, v := range obj {
			if _, ok := v.(float64); !ok || counts[key] {
				continue
			}
			var ok bool
			for _, u := range units {
				ok = ok || strings.HasSuffix(key, u)
			}
			if !ok {
				t.Errorf("numeric key %q names no unit", key)
			}
		}
	}
}

func TestCheckFormat(t *testing.T) {
	t.Parallel()
	for _, f := range Formats {
		if err := CheckFormat(f); err != nil {
			t.Errorf("CheckFormat(%q) = %v", f, err)
		}
	}
	if err := CheckFormat("yaml"); err == nil || !strings.Contains(err.Error(), "markdown") {
		t.Errorf("CheckFormat(yaml) = %v, want an error listing the formats", err)
	}
	if err := WriteSummary(&bytes.Buffer{}, testResult(), "yaml"); err == nil {
		t.Error("WriteSummary(yaml) succeeded")
	}
}
