package httpwire

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseContentLength(t *testing.T) {
	t.Parallel()
	max := strconv.FormatInt(MaxContentLength, 10)
	over := strconv.FormatInt(MaxContentLength+1, 10)
	for _, tc := range []struct {
		in   string
		want int64 // -1: not ok
	}{
		// happy
		{"0", 0},
		{"1", 1},
		{"000123", 123},
		{"1048576", 1 << 20},
		{max, MaxContentLength},
		// sad
		{"", -1},
		{over, -1},
		{"99999999999999999999", -1}, // overflows int64
		{"+1", -1},
		{"-1", -1},
		{" 1", -1},
		{"1 ", -1},
		{"1,1", -1},
		{"0x10", -1},
		{"1.0", -1},
	} {
		got, ok := ParseContentLength([]byte(tc.in))
		if !ok {
			got = -1
		}
		if got != tc.want {
			t.Errorf("ParseContentLength(%q) = %d, %v; want %d", tc.in, got, ok, tc.want)
		}
	}
}

func TestTrimOWS(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":              "",
		"x":             "x",
		"  \t ":         "",
		" a b ":         "a b",
		"\tchunked\t":   "chunked",
		"\r\nx\r\n":     "\r\nx\r\n", // only spaces and tabs are OWS
		"\v x":          "\v x",
		" keep-alive,":  "keep-alive,",
		"close \t\t \t": "close",
	} {
		if got := string(TrimOWS([]byte(in))); got != want {
			t.Errorf("TrimOWS(%q) = %q, want %q", in, got, want)
		}
	}
	if got := TrimOWS([]byte(nil)); len(got) != 0 {
		t.Errorf("TrimOWS(nil) = %q, want empty", got)
	}
}

func TestBytesString(t *testing.T) {
	// Not parallel: AllocsPerRun refuses to run in a parallel test.
	if got := BytesString(nil); got != "" {
		t.Errorf("BytesString(nil) = %q", got)
	}
	if got := BytesString([]byte{}); got != "" {
		t.Errorf("BytesString(empty) = %q", got)
	}
	b := []byte("Host")
	s := BytesString(b)
	if s != "Host" {
		t.Errorf("BytesString(%q) = %q", b, s)
	}
	b[0] = 'G' // a view, not a copy
	if s != "Gost" {
		t.Errorf("after writing b, string is %q, want the view %q", s, "Gost")
	}
	if n := testing.AllocsPerRun(100, func() { _ = BytesString(b) }); n != 0 {
		t.Errorf("BytesString allocates %v times, want 0", n)
	}
}

func TestEqualFold(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		// happy
		{"", "", true},
		{"Content-Length", "content-length", true},
		{"CONNECTION", "Connection", true},
		{"keep-alive", "Keep-Alive", true},
		{"x-1_~", "X-1_~", true},
		// sad
		{"close", "closed", false},
		{"close", "clos", false},
		{"chunked", "chunkeD ", false},
		{"a", "b", false},
		{"@", "`", false}, // 0x40 and 0x60 differ by the case bit but are not letters
		{"[", "{", false},
		{"-", "\r", false},
	} {
		if got := EqualFold(tc.a, tc.b); got != tc.want {
			t.Errorf("EqualFold(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := EqualFold(tc.b, tc.a); got != tc.want {
			t.Errorf("EqualFold(%q, %q) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestIsToken(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		// happy
		"GET": true, "Content-Length": true, "X-Custom_1": true, "!#$%&'*+-.^_`|~": true, "a": true,
		// sad
		"": false, "Host:": false, " Host": false, "Ho st": false, "Host\t": false, "a\r": false,
		"a/b": false, "(a)": false, `"a"`: false, "é": false, "a\x00": false, "a\x7f": false,
	} {
		if got := IsToken(in); got != want {
			t.Errorf("IsToken(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestNextLine(t *testing.T) {
	t.Parallel()
	const buf = "HTTP/1.1 200 OK\r\nA: 1\nB: 2\r\r\n\r\npartial"
	for _, tc := range []struct {
		off  int
		line string
		next int
		ok   bool
	}{
		{0, "HTTP/1.1 200 OK", 17, true},
		{17, "A: 1", 22, true},   // bare LF
		{22, "B: 2\r", 29, true}, // only one CR is the line end
		{29, "", 31, true},       // the blank line
		{31, "", 0, false},       // no LF yet
		{len(buf), "", 0, false}, // nothing left
	} {
		line, next, ok := NextLine([]byte(buf), tc.off)
		if string(line) != tc.line || next != tc.next || ok != tc.ok {
			t.Errorf("NextLine(buf, %d) = %q, %d, %v; want %q, %d, %v",
				tc.off, line, next, ok, tc.line, tc.next, tc.ok)
		}
	}
	if line, next, ok := NextLine([]byte("\n"), 0); len(line) != 0 || next != 1 || !ok {
		t.Errorf("NextLine(LF) = %q, %d, %v; want empty, 1, true", line, next, ok)
	}
}

func TestParseChunkLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line string
		want int64
		ok   bool
	}{
		{"0\r\n", 0, true},
		{"1a2B\r\n", 0x1a2b, true},
		{"ff;name=value\r\n", 0xff, true},
		{"ff; name = \"v\" \r\n", 0xff, true}, // extensions are not checked, as net/http does not
		{"10 \t\r\n", 0x10, true},
		{"000000000000000a\r\n", 10, true},       // 16 digits, as net/http takes
		{"fffffffffffffff\r\n", 1<<60 - 1, true}, // 15 digits
		{"\r\n", 0, false},                       // sad: no digits
		{";ext\r\n", 0, false},                   // sad: no digits before the extension
		{"1g\r\n", 0, false},                     // sad: not hex
		{"1 x\r\n", 0, false},                    // sad: junk after the size
		{"1 ;x\r\n", 0, false},                   // sad: space before the extension, as net/http
		{"a\n", 0, false},                        // sad: bare LF
		{"a\r", 0, false},                        // sad: bare CR, no LF
		{"0\r\r\n", 0, false},                    // sad: a CR before the line end
		{"a;\rx\r\n", 0, false},                  // sad: a CR in the extension
		{"a", 0, false},                          // sad: no line end
		{"00000000000000000\r\n", 0, false},      // sad: 17 digits
		{"8000000000000000\r\n", 0, false},       // sad: above MaxContentLength
		{"-1\r\n", 0, false},                     // sad: sign
		{"1" + strings.Repeat(" ", MaxChunkLine) + "\r\n", 0, false}, // sad: too long
	} {
		got, ok := ParseChunkLine([]byte(tc.line))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("ParseChunkLine(%q) = %d, %v; want %d, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestTrailerLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line    string
		end, ok bool
	}{
		{"\r\n", true, true},
		{"Expires: never\r\n", false, true},
		{"X-Empty:\r\n", false, true},
		{"\n", false, false},              // sad: bare LF ends nothing
		{"A: b\n", false, false},          // sad: bare LF
		{"A: b\rc\r\n", false, false},     // sad: CR in the value
		{"A: b\x00\r\n", false, false},    // sad: NUL in the value
		{" folded\r\n", false, false},     // sad: obs-fold
		{"No colon\r\n", false, false},    // sad
		{"Bad name: v\r\n", false, false}, // sad: space in the name
		{"\r", false, false},              // sad: no LF
	} {
		end, ok := TrailerLine([]byte(tc.line))
		if end != tc.end || ok != tc.ok {
			t.Errorf("TrailerLine(%q) = %v, %v; want %v, %v", tc.line, end, ok, tc.end, tc.ok)
		}
	}
}

func TestValidHeaderValue(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{
		"": true, "text/plain; q=1": true, "a\tb": true, "é": true,
		"a\x00b": false, "a\rb": false, "a\nb": false, "\x7f": false, "\x1f": false,
	} {
		if got := ValidHeaderValue(v); got != want {
			t.Errorf("ValidHeaderValue(%q) = %v, want %v", v, got, want)
		}
		if got := ValidHeaderValue([]byte(v)); got != want {
			t.Errorf("ValidHeaderValue([]byte %q) = %v, want %v", v, got, want)
		}
	}
}

func TestNextElement(t *testing.T) {
	for in, want := range map[string][]string{
		"close":               {"close"},
		"keep-alive, Upgrade": {"keep-alive", "Upgrade"},
		" close ,\tte ,":      {"close", "te"},
		"a,,b":                {"a", "", "b"},
		"":                    nil,
	} {
		var got []string
		for v := in; len(v) > 0; {
			var e string
			e, v = NextElement(v)
			got = append(got, e)
		}
		if !slices.Equal(got, want) {
			t.Errorf("elements of %q = %q, want %q", in, got, want)
		}
		var gotBytes []string
		for v := []byte(in); len(v) > 0; {
			var e []byte
			e, v = NextElement(v)
			gotBytes = append(gotBytes, string(e))
		}
		if !slices.Equal(gotBytes, want) {
			t.Errorf("elements of []byte %q = %q, want %q", in, gotBytes, want)
		}
	}
}
