package cluster

import (
	"runtime"
	"testing"
	"time"
)

// The probe measures real round trips: positive, below a bound no working machine reaches, and
// the pause is not counted in them.
func TestMeasureWake(t *testing.T) {
	if runtime.NumCPU() < 2 {
		if _, err := MeasureWake(100, time.Millisecond); err == nil {
			t.Fatal("one core: no error")
		}
		t.Skip("needs 2 cores")
	}
	w, err := MeasureWake(100, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if w.Hot <= 0 || w.Idle <= 0 || w.Hot > 50*time.Millisecond || w.Idle > 50*time.Millisecond {
		t.Errorf("round trips %v and %v, want positive and under 50ms", w.Hot, w.Idle)
	}
	if w.Idle >= w.Pause {
		t.Errorf("idle round trip %v holds the %v pause", w.Idle, w.Pause)
	}
}
