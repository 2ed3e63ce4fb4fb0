package scaling

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	t.Parallel()
	rows, err := Table([]Point{{Workers: 4, Capacity: 1600}, {Workers: 1, Capacity: 500}, {Workers: 2, Capacity: 900}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{Workers: 1, Capacity: 500, Linear: 500, Speedup: 1, Efficiency: 1, Note: "single process"},
		{Workers: 2, Capacity: 900, Linear: 1000, Speedup: 1.8, Efficiency: 0.9, Note: "2 workers (1 machine)"},
		{Workers: 4, Capacity: 1600, Linear: 2000, Speedup: 3.2, Efficiency: 0.8, Note: "> 2 cores: oversubscribed"},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		got := rows[i]
		if got.Workers != want[i].Workers || got.Note != want[i].Note ||
			!near(got.Linear, want[i].Linear) || !near(got.Speedup, want[i].Speedup) ||
			!near(got.Efficiency, want[i].Efficiency) {
			t.Errorf("row %d = %+v, want %+v", i, got, want[i])
		}
	}
}

func TestTable_noSingleWorker(t *testing.T) {
	t.Parallel()
	// Without N=1 the smallest count's per-worker capacity is the baseline.
	rows, err := Table([]Point{{Workers: 2, Capacity: 1000}, {Workers: 4, Capacity: 1500}}, 8)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rows[1].Linear, 2000.0; !near(got, want) {
		t.Errorf("linear at 4 = %v, want %v", got, want)
	}
	if got, want := rows[1].Speedup, 3.0; !near(got, want) {
		t.Errorf("speedup at 4 = %v, want %v", got, want)
	}
}

func TestTable_noBaseline(t *testing.T) {
	t.Parallel()
	if _, err := Table([]Point{{Workers: 1, Capacity: 0}, {Workers: 2, Capacity: 0}}, 2); !errors.Is(err, ErrNoBaseline) {
		t.Fatalf("err = %v, want ErrNoBaseline", err)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestPlateauAndDiagnose(t *testing.T) {
	t.Parallel()
	flat := []Point{{Workers: 1, Capacity: 74}, {Workers: 2, Capacity: 147}, {Workers: 4, Capacity: 297}, {Workers: 6, Capacity: 409}, {Workers: 8, Capacity: 418}, {Workers: 12, Capacity: 421}, {Workers: 16, Capacity: 416}}
	x, from, ok := Plateau(flat)
	if !ok || x != 421 || from != 6 {
		t.Errorf("Plateau = %v, %d, %v; want 421 from 6 workers", x, from, ok)
	}
	// With the USL alone (no better bottleneck fit), the plateau still names contention.
	if got := Diagnose(flat, FitResult{Model: Model{Lambda: 78, Kappa: 0.0084}}, BoundFit{}); !strings.HasPrefix(got, "contention-limited") {
		t.Errorf("Diagnose(plateau) = %q, want contention", got)
	}
	// Retrograde: the last count falls well below the peak.
	falling := []Point{{Workers: 1, Capacity: 100}, {Workers: 2, Capacity: 180}, {Workers: 4, Capacity: 250}, {Workers: 8, Capacity: 150}}
	if _, _, ok := Plateau(falling); ok {
		t.Error("Plateau(falling) = true, want false")
	}
	// Still rising: no plateau.
	rising := []Point{{Workers: 1, Capacity: 100}, {Workers: 2, Capacity: 200}, {Workers: 4, Capacity: 400}}
	if _, _, ok := Plateau(rising); ok {
		t.Error("Plateau(rising) = true, want false")
	}
}
