package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/scenario"
)

// formatFaults writes a step's fault results in summary.csv's faults column: one
// "kind:worker@at[/for]:downtime_ms:dip:ejected_ms" entry per fault, separated by ";", e.g.
// "kill:1@5s:7.250:0.180:0.000;stop:2@12s/3s:0.000:0.950:412.000".
func formatFaults(faults []experiment.FaultResult) string {
	parts := make([]string, len(faults))
	for i, f := range faults {
		var b strings.Builder
		if f.Fault.Kill > 0 {
			fmt.Fprintf(&b, "kill:%d@%v", f.Fault.Kill, f.Fault.At)
		} else {
			fmt.Fprintf(&b, "stop:%d@%v/%v", f.Fault.Stop, f.Fault.At, f.Fault.For)
		}
		fmt.Fprintf(&b, ":%s:%s:%s", ms(f.Downtime), f3(f.Dip), ms(f.Ejected))
		parts[i] = b.String()
	}
	return strings.Join(parts, ";")
}

// parseFaults reads formatFaults's output back.
func parseFaults(s string) ([]experiment.FaultResult, error) {
	if s == "" {
		return nil, nil
	}
	var out []experiment.FaultResult
	for _, part := range strings.Split(s, ";") {
		fields := strings.Split(part, ":")
		if len(fields) != 4 && len(fields) != 5 { // ejected_ms came later
			return nil, fmt.Errorf("%q is not kind:worker@at:downtime_ms:dip:ejected_ms", part)
		}
		var r experiment.FaultResult
		who, when, _ := strings.Cut(fields[1], "@")
		idx, err := strconv.Atoi(who)
		if err != nil {
			return nil, fmt.Errorf("%q: bad worker %q", part, who)
		}
		at, dur, _ := strings.Cut(when, "/")
		if r.Fault.At, err = time.ParseDuration(at); err != nil {
			return nil, fmt.Errorf("%q: %w", part, err)
		}
		switch fields[0] {
		case "kill":
			r.Fault.Kill = idx
		case "stop":
			r.Fault.Stop = idx
			if r.Fault.For, err = time.ParseDuration(dur); err != nil {
				return nil, fmt.Errorf("%q: %w", part, err)
			}
		default:
			return nil, fmt.Errorf("%q: unknown fault %q", part, fields[0])
		}
		d, err1 := strconv.ParseFloat(fields[2], 64)
		dip, err2 := strconv.ParseFloat(fields[3], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%q: bad downtime or dip", part)
		}
		r.Downtime = time.Duration(d * float64(time.Millisecond))
		if len(fields) == 5 {
			e, err := strconv.ParseFloat(fields[4], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: bad ejected_ms", part)
			}
			r.Ejected = time.Duration(e * float64(time.Millisecond))
		}
		r.Dip = dip
		r.Injected = r.Fault.At // not saved: the schedule stands in for it
		out = append(out, r)
	}
	return out, nil
}

// WriteFaults prints one row per injected fault: what the clients saw and how fast the
// supervisor brought a replacement. It prints nothing for a run without faults.
func WriteFaults(w io.Writer, res *experiment.Result) error { return writeFaults(w, res, textTable) }

func writeFaults(w io.Writer, res *experiment.Result, style tableStyle) error {
	var any bool
	for _, st := range res.Steps {
		any = any || len(st.Faults) > 0
	}
	if !any {
		return nil
	}
	t := newTable(w, style)
	t.Header("workers", "offered rps", "fault", "failed requests", "retried", "restarts", "down → serving ms", "hung → ejected ms", "capacity dip")
	for _, st := range res.Steps {
		failed := st.Requests - uint64(float64(st.Requests)*st.Success+0.5)
		for _, f := range st.Faults {
			down, ejected := "-", "-"
			if f.Downtime > 0 {
				down = fmtMS(f.Downtime)
			}
			if f.Ejected > 0 {
				ejected = fmtMS(f.Ejected)
			}
			if err := t.Append(strconv.Itoa(st.Workers), fmt.Sprintf("%.0f", st.Offered), faultName(f.Fault),
				strconv.FormatUint(failed, 10), strconv.FormatUint(st.Retries, 10), strconv.Itoa(st.Restarts),
				down, ejected, fmt.Sprintf("%.0f%%", 100*f.Dip)); err != nil {
				return err
			}
		}
	}
	return t.Render()
}

func faultName(f scenario.Fault) string {
	if f.Kill > 0 {
		return fmt.Sprintf("SIGKILL worker %d at %v", f.Kill, f.At)
	}
	return fmt.Sprintf("SIGSTOP worker %d at %v for %v", f.Stop, f.At, f.For)
}
