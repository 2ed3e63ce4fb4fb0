package target

import "strings"

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
