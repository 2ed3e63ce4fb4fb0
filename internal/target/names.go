package target

import (
	"fmt"
	"slices"
	"strings"
)

// entry is one name of a registry (workloads, stores) with what it does in a few words, so
// that the help lists every registered name and none is forgotten there.
type entry[T ~string] struct {
	name  T
	about string
}

// names returns a registry's names, in its order.
func names[T ~string](registry []entry[T]) []T {
	out := make([]T, len(registry))
	for i, e := range registry {
		out[i] = e.name
	}
	return out
}

// describe lists a registry for help: "cpu (burn CPU), sleep (wait) or session (…)".
func describe[T ~string](registry []entry[T]) string {
	parts := make([]string, len(registry))
	for i, e := range registry {
		parts[i] = string(e.name) + " (" + e.about + ")"
	}
	return orList(parts)
}

// setName is Set for a flag that takes one of known: it stores s in *dst, or fails with
// unknown's error so that a mistyped name fails as the flags are parsed.
func setName[T ~string](dst *T, s string, known []T, err error) error {
	if !slices.Contains(known, T(s)) {
		return unknown(T(s), known, err)
	}
	*dst = T(s)
	return nil
}

// unknown is the error for a name that is not one of known, the same from a flag as from a
// Config: `unknown store "disk" (known: memory, redis)`, wrapping err (ErrUnknownStore), worded as
// the scenario words it.
func unknown[T ~string](name T, known []T, err error) error {
	return fmt.Errorf("%w %q (known: %s)", err, string(name), join(known))
}

// join lists names for a message: "a, b, c".
func join[T ~string](names []T) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = string(n)
	}
	return strings.Join(parts, ", ")
}

// orList lists names for a message or help: "a", "a or b", "a, b or c".
func orList[T ~string](names []T) string {
	last := len(names) - 1
	if last <= 0 {
		return join(names)
	}
	return join(names[:last]) + " or " + string(names[last])
}
