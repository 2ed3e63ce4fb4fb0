package scenario

import (
	"fmt"
	"strings"
)

// didYouMean returns `; did you mean "x"?` for the option closest to s, when it is close enough
// to be a typo, or "".
func didYouMean(s string, options []string) string {
	best, bestDist := "", 0
	for _, o := range options {
		d := distance(strings.ToLower(s), o)
		if best == "" || d < bestDist {
			best, bestDist = o, d
		}
	}
	// A third of the word (at least 1, at most 3 edits) catches typos and case slips without
	// suggesting "path" for "name".
	limit := min(max(len(best)/3, 1), 3)
	if best == "" || bestDist > limit {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// distance is the Levenshtein edit distance between a and b, in bytes. Both are short: keys
// and names from the schema, and input quoted in messages is truncated before it gets here.
func distance(a, b string) int {
	if len(a) > 64 {
		// Nothing in the schema is this long; don't spend quadratic time on a huge key.
		return len(a)
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// fieldKey renders a key from the file as one segment of a field path: plain when it is a
// plain word, quoted otherwise, so that a key holding dots or newlines cannot fake a path or
// break the one-line error.
func fieldKey(k string) string {
	if k == "" {
		return `""`
	}
	for _, r := range k {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return quote(k)
		}
	}
	return k
}
