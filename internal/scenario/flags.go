package scenario

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// The parsers of the flags that replace a scenario's keys. They read values with the same types
// and checks as the file (types.go, rules.go), so that a flag and a key get the same words.
// Their errors carry no file position; the caller prefixes the flag name.

// numCPU is runtime.NumCPU, the "core" that "auto" and "Kx" count in.
var numCPU = runtime.NumCPU

// ParseWorkers parses worker counts as the --workers flag writes them: comma-separated items,
// each a count ("4"), "auto" (one worker per core, runtime.NumCPU) or "Kx" (K workers per
// core), mixable: "1,2,auto,2x". The result is ascending without duplicates.
func ParseWorkers(s string) ([]int, error) {
	items := strings.Split(s, ",")
	ns := make([]int, 0, len(items))
	for _, item := range items {
		n, err := parseWorkerItem(strings.TrimSpace(item))
		if err != nil {
			return nil, err
		}
		ns = append(ns, n)
	}
	return normalizeWorkers(ns), nil
}

// parseWorkerItem parses one worker count: "4", "auto" or "Kx".
func parseWorkerItem(item string) (int, error) {
	if item == "" {
		return 0, errors.New(`empty worker count; want N, "auto" or "Kx", comma-separated`)
	}
	lower := strings.ToLower(item)
	if lower == "auto" {
		return numCPU(), nil
	}
	if k, ok := strings.CutSuffix(lower, "x"); ok {
		mult, err := strconv.Atoi(k)
		if err != nil || mult < 1 {
			return 0, fmt.Errorf("%s is not a worker count: %q before x must be a positive integer (2x = 2 per core)", quote(item), k)
		}
		cores := numCPU()
		if mult > MaxWorkers/cores {
			return 0, fmt.Errorf("%s means %d × %d cores = more than %d workers", quote(item), mult, cores, MaxWorkers)
		}
		return mult * cores, nil
	}
	n, err := strconv.Atoi(item)
	if err != nil {
		return 0, fmt.Errorf("%s is not a worker count; want N, \"auto\" or \"Kx\"", quote(item))
	}
	return n, checkWorkers(n)
}

// normalizeWorkers sorts ns and drops duplicates ("auto" may equal an explicit count).
func normalizeWorkers(ns []int) []int {
	slices.Sort(ns)
	return slices.Compact(ns)
}

// ParseRates parses offered rates as the --rates flag writes them: comma-separated requests/s,
// like "100,200.5". Each must be positive, finite, at most MaxRate, and distinct; the order is
// kept.
func ParseRates(s string) ([]float64, error) {
	items := strings.Split(s, ",")
	rates := make([]float64, 0, len(items))
	for i, item := range items {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, errors.New("empty rate; want requests/s like 100,200")
		}
		r, err := strconv.ParseFloat(item, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not %s", quote(item), rateWhat)
		}
		if err := checkRate(r); err != nil {
			return nil, fmt.Errorf("%s: %w", quote(item), err)
		}
		if slices.Contains(rates, r) {
			return nil, fmt.Errorf("rate %g given twice (item %d)", r, i+1)
		}
		rates = append(rates, r)
	}
	return rates, nil
}

// ParseSLO parses an SLO as the --slo flag writes it: comma-separated key=value items,
// "p99=50ms,success=99.9%", either key optional but not both. success is a fraction (0.999) or
// a percentage (99.9%).
func ParseSLO(s string) (SLO, error) {
	var o SLO
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return SLO{}, errors.New("empty item; want p99=DURATION and/or success=RATIO, like p99=50ms,success=99.9%")
		}
		key, val, ok := strings.Cut(item, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if !ok {
			return SLO{}, fmt.Errorf("%s is not key=value; want p99=50ms or success=99.9%%", quote(item))
		}
		if !slices.Contains(sloKeys, key) {
			return SLO{}, fmt.Errorf("unknown key %s%s (keys: %s)", quote(key), didYouMean(key, sloKeys), strings.Join(sloKeys, ", "))
		}
		if seen[key] {
			return SLO{}, fmt.Errorf("%s given twice", key)
		}
		seen[key] = true
		var err error
		switch key {
		case "p99":
			if err = (*Duration)(&o.P99).Set(val); err == nil {
				err = checkDuration(o.P99, false)
			}
		case "success":
			if err = (*Share)(&o.Success).Set(val); err == nil {
				err = checkSuccess(o.Success)
			}
		}
		if err != nil {
			return SLO{}, fmt.Errorf("%s: %w", key, err)
		}
	}
	return o, nil
}

// ParseShare parses a share of something, written as a fraction (0.05) or a percentage (5%), in
// (0, 1], as --noise-threshold takes it.
func ParseShare(s string) (float64, error) {
	var f Share
	if err := f.Set(s); err != nil {
		return 0, err
	}
	return float64(f), checkSuccess(float64(f))
}
