package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/bench-dev/bench/internal/scenario"
)

// RunInfo is what summary.csv does not say about a run: its settings and the machine it ran on.
// `bench run` saves it as run.json next to summary.csv; the HTML report shows it.
type RunInfo struct {
	Bench   string    `json:"bench_version"`
	Started time.Time `json:"started"`
	// File is the scenario file the run read; Settings are the scenario as run, after the flags
	// that override it.
	File     string    `json:"scenario_file,omitempty"`
	Settings []Setting `json:"settings"`
	Machine  Machine   `json:"machine"`
}

// Setting is one key of the scenario as run, e.g. {"load.duration", "2s"}.
type Setting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Machine is the machine a run measured on.
type Machine struct {
	Cores  int    `json:"cores"`
	CPU    string `json:"cpu"`    // the model name from /proc/cpuinfo; "" where it has none
	Kernel string `json:"kernel"` // the kernel release, e.g. 6.1.0-18-amd64
	OS     string `json:"os"`     // GOOS/GOARCH
	Go     string `json:"go"`     // the Go version bench was built with
}

// RunInfoFile is the name of the file SaveRunInfo writes in a results folder.
const RunInfoFile = "run.json"

// NewRunInfo describes a run of sc by bench version benchVersion, started at started, on this
// machine.
func NewRunInfo(sc *scenario.Scenario, benchVersion string, started time.Time) RunInfo {
	info := RunInfo{Bench: benchVersion, Started: started.UTC(), Machine: ThisMachine()}
	if sc != nil {
		info.File = sc.File
		info.Settings = settingsOf(sc)
	}
	return info
}

// ThisMachine reads the machine's core count, CPU model and kernel release.
func ThisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		m.CPU = cpuModel(f)
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// cpuModel returns the first "model name" of a /proc/cpuinfo; "" when there is none (some ARM
// kernels print none).
func cpuModel(r io.Reader) string {
	s := bufio.NewScanner(r)
	for s.Scan() {
		key, value, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.Join(strings.Fields(value), " ")
		}
	}
	return ""
}

// SaveRunInfo writes info as dir/run.json.
func SaveRunInfo(dir string, info RunInfo) error {
	path := filepath.Join(dir, RunInfoFile)
	return writeAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	})
}

// LoadRunInfo reads dir/run.json; nil without an error when the folder has none (a folder written
// before bench saved it).
func LoadRunInfo(dir string) (*RunInfo, error) {
	path := filepath.Join(dir, RunInfoFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var info RunInfo
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&info); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &info, nil
}

// settingsOf flattens a scenario into its keys, named as a scenario file names them
// (load.max_steps for Load.MaxSteps), in the order of the fields. Zero values (empty strings,
// lists and maps, unset sections, 0, 0s, false) are left out: after the defaults are applied they
// are settings that do not apply to this run, such as a built-in's cost for a command target.
func settingsOf(sc *scenario.Scenario) []Setting {
	var out []Setting
	flatten(&out, "", reflect.ValueOf(sc).Elem())
	return out
}

func flatten(out *[]Setting, key string, v reflect.Value) {
	add := func(value string) { *out = append(*out, Setting{key, value}) }
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		if v.Int() != 0 {
			add(time.Duration(v.Int()).String())
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			flatten(out, key, v.Elem())
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() {
				flatten(out, join(key, snake(f.Name)), v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Len() == 0 {
			return
		}
		if k := v.Type().Elem().Kind(); k == reflect.Struct || k == reflect.Pointer {
			for i := range v.Len() {
				flatten(out, fmt.Sprintf("%s[%d]", key, i), v.Index(i))
			}
			return
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = scalar(v.Index(i))
		}
		add("[" + strings.Join(parts, ", ") + "]")
	case reflect.Map:
		if v.Len() == 0 {
			return
		}
		parts := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			parts = append(parts, scalar(k)+": "+scalar(v.MapIndex(k)))
		}
		sort.Strings(parts)
		add("{" + strings.Join(parts, ", ") + "}")
	case reflect.String:
		if v.String() != "" {
			add(v.String())
		}
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		// not settings
	default:
		if !v.IsZero() {
			add(scalar(v))
		}
	}
}

func scalar(v reflect.Value) string {
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		return time.Duration(v.Int()).String()
	}
	return fmt.Sprint(v.Interface())
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// snake turns a Go field name into a scenario key: MaxSteps → max_steps, SLO → slo, P99 → p99.
func snake(name string) string {
	var b strings.Builder
	runes := []rune(name)
	for i, r := range runes {
		if unicode.IsUpper(r) {
			// A new word starts at an upper-case letter after a lower-case one, or at the last
			// upper-case letter of an acronym followed by a lower-case one (HTTPPort → http_port).
			if i > 0 && (unicode.IsLower(runes[i-1]) || i+1 < len(runes) && unicode.IsLower(runes[i+1]) && unicode.IsUpper(runes[i-1])) {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
