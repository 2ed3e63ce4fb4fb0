package report

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/bench-dev/bench/internal/experiment"
)

func TestStepFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		row  int
		st   experiment.Step
		want string
	}{
		{3, experiment.Step{Workers: 2, Strategy: "round-robin", Rep: 1, Offered: 400}, "step-03-w2-round-robin-400rps.bin"},
		// A search's bisected rate keeps the pacer's three decimals.
		{12, experiment.Step{Workers: 4, Strategy: "least-conn", Offered: 1234.56789}, "step-12-w4-least-conn-1234.568rps.bin"},
		{7, experiment.Step{Workers: 1, Strategy: "cookie-hash", Store: "redis", Rep: 2, Offered: 50}, "step-07-w1-cookie-hash-redis-rep2-50rps.bin"},
		// Whatever a strategy is called, the name stays a plain file name.
		{1, experiment.Step{Workers: 1, Strategy: "a/b c", Offered: 1}, "step-01-w1-a_b_c-1rps.bin"},
		{100, experiment.Step{Workers: 1, Offered: 1}, "step-100-w1-none-1rps.bin"},
	} {
		if got := StepFile(tc.row, tc.st, RawExt); got != tc.want {
			t.Errorf("StepFile(%d, %+v) = %q, want %q", tc.row, tc.st, got, tc.want)
		}
	}
}

func TestWriteHDR_roundTrip(t *testing.T) {
	t.Parallel()
	h := hdrhistogram.New(1, 60_000_000, 3)
	for i := int64(1); i <= 10_000; i++ {
		h.RecordValue(i * 7) // 7 µs .. 70 ms
	}
	st := experiment.Step{Workers: 2, Strategy: "round-robin", Offered: 100, Latency: h}
	dir := t.TempDir()
	path, err := WriteHDR(dir, 5, st)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filepath.Base(path), "step-05-w2-round-robin-100rps.hdr"; got != want {
		t.Errorf("file %q, want %q", got, want)
	}
	data, _ := os.ReadFile(path)
	if len(data) < 4 || string(data[:4]) != "HIST" {
		t.Errorf("file starts %.10q, want HdrHistogram's base64 HIST", data)
	}
	got, err := ReadHDR(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.TotalCount() != h.TotalCount() || got.ValueAtQuantile(99) != h.ValueAtQuantile(99) || got.Max() != h.Max() {
		t.Errorf("read back count %d p99 %d max %d, wrote %d %d %d",
			got.TotalCount(), got.ValueAtQuantile(99), got.Max(), h.TotalCount(), h.ValueAtQuantile(99), h.Max())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %v, want the .hdr file only", entries)
	}

	// Nothing to write: no file.
	for _, st := range []experiment.Step{{Workers: 1}, {Workers: 1, Latency: hdrhistogram.New(1, 10, 1)}} {
		if path, err := WriteHDR(dir, 6, st); path != "" || err != nil {
			t.Errorf("WriteHDR of an empty step = %q, %v; want no file", path, err)
		}
	}
}

func TestRawFile_createdOnFirstWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := experiment.Step{Workers: 1, Strategy: "round-robin", Offered: 10}

	unused := RawFile(dir, 1, st)
	if err := unused.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, StepFile(1, st, RawExt))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an unused raw file exists (stat: %v)", err)
	}

	w := RawFile(dir, 2, st)
	if _, err := w.Write([]byte("gob")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, StepFile(2, st, RawExt))); err != nil || string(b) != "gob" {
		t.Errorf("raw file holds %q, %v", b, err)
	}
	if _, err := w.Write([]byte("late")); err == nil {
		t.Error("write after Close succeeded")
	}

	bad := RawFile(filepath.Join(dir, "no-such-folder"), 3, st)
	if _, err := bad.Write([]byte("x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("write into a missing folder: %v, want ErrNotExist", err)
	}
}
