package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/bench-dev/bench/internal/experiment"
)

// Extensions of the per-step files in a results folder.
const (
	// RawExt is a step's raw results: every measured request in vegeta's own gob encoding, as
	// `vegeta attack` writes it (`vegeta report step-01-….bin`, `vegeta plot`).
	RawExt = ".bin"
	// HDRExt is a step's latency histogram in microseconds, HdrHistogram's compressed V2 encoding
	// in base64 (it starts with "HIST"), on one line.
	HDRExt = ".hdr"
)

// StepFile names a step's file in a results folder: "step-NN-wW-STRATEGY[-STORE][-repR]-RATErps"
// followed by ext, e.g. "step-03-w2-round-robin-400rps.bin". row is the step's 1-based row in
// summary.csv, which alone makes the name unique; the rest says what the step was at a glance.
func StepFile(row int, st experiment.Step, ext string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "step-%02d-w%d-%s", row, st.Workers, safeName(st.Strategy))
	if st.Store != "" {
		b.WriteString("-" + safeName(st.Store))
	}
	if st.Rep > 1 {
		fmt.Fprintf(&b, "-rep%d", st.Rep)
	}
	fmt.Fprintf(&b, "-%srps%s", rateText(st.Offered), ext)
	return b.String()
}

// safeName keeps a name to letters, digits, dots and dashes, so that it is a file name anywhere.
func safeName(s string) string {
	if s == "" {
		return "none"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return '_'
	}, s)
}

// WriteHDR writes st's latency histogram to dir as StepFile(row, st, HDRExt) and returns the
// path; through a temporary file and a rename, like summary.csv. A step without a histogram (one
// read back from summary.csv, or one that measured nothing) writes nothing and returns "".
func WriteHDR(dir string, row int, st experiment.Step) (string, error) {
	if st.Latency == nil || st.Latency.TotalCount() == 0 {
		return "", nil
	}
	enc, err := st.Latency.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("encoding the latency histogram of step %d: %w", row, err)
	}
	path := filepath.Join(dir, StepFile(row, st, HDRExt))
	err = writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(enc, '\n'))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return path, nil
}

// ReadHDR reads a histogram WriteHDR wrote.
func ReadHDR(path string) (*hdrhistogram.Histogram, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h, err := hdrhistogram.Decode(bytes.TrimSpace(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// RawFile returns the writer of step row's raw results in dir, StepFile(row, st, RawExt). The file
// is created on the first write, so that a step that measured nothing leaves no file; Close closes
// it if it was created. Errors name the file.
func RawFile(dir string, row int, st experiment.Step) io.WriteCloser {
	return &lazyFile{path: filepath.Join(dir, StepFile(row, st, RawExt))}
}

type lazyFile struct {
	path string
	f    *os.File
	err  error // a failed create, returned by every later call
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.f == nil && l.err == nil {
		l.f, l.err = os.Create(l.path)
	}
	if l.err != nil {
		return 0, l.err // *PathError names the file
	}
	return l.f.Write(p)
}

func (l *lazyFile) Close() error {
	if l.f == nil {
		return l.err
	}
	err := l.f.Close()
	l.f, l.err = nil, errors.Join(l.err, errClosed)
	return err
}

var errClosed = errors.New("file already closed")
