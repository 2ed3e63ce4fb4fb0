package cluster

import (
	"fmt"
	"strings"
	"testing"
)

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		writes []string
		want   string
	}{
		{"empty", nil, ""},
		{"blank lines dropped", []string{"\n\n  \r\n"}, ""},
		{"lines joined", []string{"a\r\n", "\n", "b", " c\n"}, "a | b c"},
		{"last five lines", []string{"1\n2\n3\n4\n5\n6\n7"}, "3 | 4 | 5 | 6 | 7"},
		{"control characters", []string{"\x1b[31mred\x1b[0m\tx\n"}, "[31mred [0m x"},
		{"invalid utf-8", []string{"ok\xff\xfeok\n"}, "okok"},
	} {
		b := newTailBuffer()
		for _, w := range tc.writes {
			b.Write([]byte(w))
		}
		if got := b.Tail(); got != tc.want {
			t.Errorf("%s: Tail() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestTailBuffer_Bounded(t *testing.T) {
	t.Parallel()
	b := newTailBuffer()
	for i := range 10000 {
		fmt.Fprintf(b, "line %05d é\n", i)
	}
	b.Write([]byte(strings.Repeat("x", 3*tailKeep) + "\nend\n")) // one write larger than the buffer
	got := b.Tail()
	if !strings.HasSuffix(got, " | end") || !strings.HasPrefix(got, "…") {
		t.Errorf("Tail() = %.60q…, want it cut at the front and ending in the last line", got)
	}
	if len(got) > tailBytes+len("…") {
		t.Errorf("len(Tail()) = %d, want at most %d", len(got), tailBytes+len("…"))
	}
	if len(b.buf) > tailKeep {
		t.Errorf("buffer holds %d bytes, want at most %d", len(b.buf), tailKeep)
	}

	b = newTailBuffer()
	for i := range 10000 {
		fmt.Fprintf(b, "line %05d é\n", i)
	}
	if got, want := b.Tail(), "line 09995 é | line 09996 é | line 09997 é | line 09998 é | line 09999 é"; got != want {
		t.Errorf("Tail() = %q, want %q", got, want)
	}
}
