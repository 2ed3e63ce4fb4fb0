package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/scaling"
	"github.com/bench-dev/bench/internal/scenario"
)

func TestWriteSummary_table(t *testing.T) {
	t.Parallel()
	var got, want bytes.Buffer
	if err := WriteSummary(&got, testResult(), Options{Format: FormatTable}); err != nil {
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
	if err := WriteSummary(&buf, res, Options{Format: FormatMarkdown}); err != nil {
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
		case line == "", strings.HasPrefix(line, "### "), strings.HasPrefix(line, "- "),
			strings.HasPrefix(line, "_") && strings.HasSuffix(line, "_"):
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
	if err := WriteSummary(&buf, res, Options{Format: FormatJSON}); err != nil {
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
	counts := map[string]bool{"row": true, "workers": true, "rep": true, "requests": true, "restarts": true, "retries": true, "speedup": true, "efficiency": true,
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
	if err := WriteSummary(&bytes.Buffer{}, testResult(), Options{Format: "yaml"}); err == nil {
		t.Error("WriteSummary(yaml) succeeded")
	}
}

// Every format carries what the table shows: the errors of each step, the fitted models and the
// verdict.
func TestWriteSummary_fitsAndErrors(t *testing.T) {
	t.Parallel()
	res := &experiment.Result{Cores: 2}
	for _, p := range []scaling.Point{{Workers: 1, Capacity: 100}, {Workers: 2, Capacity: 190}, {Workers: 4, Capacity: 330}, {Workers: 8, Capacity: 420}} {
		res.Steps = append(res.Steps, experiment.Step{Workers: p.Workers, Strategy: "round-robin", Offered: p.Capacity, Sent: p.Capacity,
			Throughput: p.Capacity, Success: 1, Requests: 1000, Elapsed: 2 * time.Second, Cores: 2})
		res.Capacity = append(res.Capacity, p)
	}
	res.Steps[2].Errors = map[string]int{"503 Service Unavailable": 35, "EOF": 2}
	res.Scaling, _ = scaling.Table(res.Capacity, 2)
	verdict := Verdict(res)

	var text, md, js bytes.Buffer
	for buf, f := range map[*bytes.Buffer]string{&text: FormatTable, &md: FormatMarkdown, &js: FormatJSON} {
		if err := WriteSummary(buf, res, Options{Format: f}); err != nil {
			t.Fatal(err)
		}
	}
	for name, out := range map[string]string{"table": text.String(), "markdown": md.String()} {
		for _, want := range []string{"503 Service Unavailable", "USL fit: σ=", "verdict: " + verdict} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, out)
			}
		}
		// The commonest error first, with its row.
		if i, j := strings.Index(out, "503 Service"), strings.Index(out, "EOF"); i < 0 || j < i {
			t.Errorf("%s: the commonest error is not first:\n%s", name, out)
		}
	}
	if !strings.Contains(md.String(), "### Errors\n\n|") || !strings.Contains(md.String(), "- verdict: ") {
		t.Errorf("markdown lacks the errors table or the verdict item:\n%s", md.String())
	}

	var doc struct {
		Steps []struct {
			Row    int            `json:"row"`
			Errors map[string]int `json:"errors"`
		} `json:"steps"`
		Fits *struct {
			Model string `json:"model"`
			USL   struct {
				Sigma, Kappa, LambdaRPS, R2 float64
				WorstWorkers                int `json:"worst_workers"`
			} `json:"usl"`
		} `json:"fits"`
		Verdict string `json:"verdict"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, js.String())
	}
	if doc.Fits == nil || doc.Fits.Model != "usl" || doc.Fits.USL.WorstWorkers == 0 {
		t.Errorf("json fits = %+v:\n%s", doc.Fits, js.String())
	}
	if doc.Verdict != verdict {
		t.Errorf("json verdict %q, want %q", doc.Verdict, verdict)
	}
	if got := doc.Steps[2].Errors; doc.Steps[2].Row != 3 || got["503 Service Unavailable"] != 35 || got["EOF"] != 2 {
		t.Errorf("json steps[2] = %+v", doc.Steps[2])
	}
	if doc.Steps[0].Errors != nil {
		t.Errorf("json steps[0].errors = %v, want absent", doc.Steps[0].Errors)
	}
}
