package cluster

import (
	"strings"
	"sync"
	"unicode"
)

// What a worker's error message quotes of its stderr.
const (
	tailKeep  = 4 << 10 // bytes of stderr remembered
	tailLines = 5
	tailBytes = 500
)

// tailBuffer remembers the last tailKeep bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func newTailBuffer() *tailBuffer { return &tailBuffer{buf: make([]byte, 0, tailKeep)} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= tailKeep {
		t.buf = append(t.buf[:0], p[len(p)-tailKeep:]...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - tailKeep; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// Tail returns the last non-blank lines, at most tailLines of them and tailBytes in all,
// joined by " | " so an error message that quotes them stays on one line.
func (t *tailBuffer) Tail() string {
	t.mu.Lock()
	s := string(t.buf)
	t.mu.Unlock()

	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = oneLine(l); l != "" {
			lines = append(lines, l)
		}
	}
	lines = lines[max(0, len(lines)-tailLines):]
	out := strings.Join(lines, " | ")
	if len(out) > tailBytes {
		out = "…" + strings.ToValidUTF8(out[len(out)-tailBytes:], "")
	}
	return out
}

// oneLine makes s safe to embed in a one-line message: valid UTF-8, control characters
// (newlines included) turned into spaces, outer space trimmed.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}
