package scenario

import (
	"fmt"
	"strings"
)

// didYouMean returns `; did you mean "x"?` for the option closest to s, when it is close enough
// to be a typo, or "".
func didYouMean(s string, options []string) string {
	best := Suggest(s, options)
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// Suggest returns the option closest to s when it is close enough to be a typo, or "": a third
// of the word (at least 1, at most 3 edits) catches typos and case slips without suggesting
// "path" for "name". The CLI's did-you-mean for flags and commands uses it too.
func Suggest(s string, options []string) string {
	best, bestDist := "", 0
	for _, o := range options {
		d := distance(strings.ToLower(s), o)
		if best == "" || d < bestDist {
			best, bestDist = o, d
		}
	}
	if best == "" || bestDist > min(max(len(best)/3, 1), 3) {
		return ""
	}
	return best
}

// distance is the Levenshtein edit distance between a and b, in bytes, with a swap of two
// neighbouring bytes counted as one edit ("plna" is one edit from "plan"). Both are short: keys,
// names, flags and commands; input quoted in messages is truncated before it gets here.
func distance(a, b string) int {
	if len(a) > 64 {
		// Nothing in the schema is this long; don't spend quadratic time on a huge key.
		return len(a)
	}
	// d[i][j] is the distance between a[:i] and b[:j].
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
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
