package cluster

import (
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	stat := "cpu  166099 10 20005 101830 355 7 5004 40 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1 2 3\nctxt 5696486\n"
	m, err := parseProcStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	tick := time.Second / userHZ
	// Interrupt time (irq 7, softirq 5004) is not a process's: it stays out of Busy, which the
	// experiment counts as other processes' CPU.
	if want := (166099 + 10 + 20005 + 40) * tick; m.Busy != want {
		t.Errorf("Busy = %v, want %v (user, nice, system and steal)", m.Busy, want)
	}
	if want := (7 + 5004) * tick; m.Interrupts != want {
		t.Errorf("Interrupts = %v, want %v", m.Interrupts, want)
	}
	if want := 40 * tick; m.Steal != want {
		t.Errorf("Steal = %v, want %v", m.Steal, want)
	}
	if m.Ctxt != 5696486 {
		t.Errorf("Ctxt = %d, want 5696486", m.Ctxt)
	}
	for _, bad := range []string{"", "cpu 1 2 3\n", "cpu 1 2 x 4 5 6 7 8\n"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q) = nil error, want one", bad)
		}
	}
}
