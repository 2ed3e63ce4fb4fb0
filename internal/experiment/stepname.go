package experiment

import (
	"fmt"
	"strings"
)

// stepName labels a step's raw results (load.Step.Name, vegeta's attack name), so that `vegeta
// plot` over several steps' files draws one series per step, named as the row of summary.csv it
// belongs to: "step 3: 2 workers, round-robin, 400 rps".
func stepName(row int, id Step) string {
	var b strings.Builder
	workers := "workers"
	if id.Workers == 1 {
		workers = "worker"
	}
	fmt.Fprintf(&b, "step %d: %d %s, %s", row, id.Workers, workers, id.Strategy)
	if id.Store != "" {
		b.WriteString(", " + id.Store)
	}
	if id.Rep > 1 {
		fmt.Fprintf(&b, ", rep %d", id.Rep)
	}
	fmt.Fprintf(&b, ", %s rps", strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", id.Offered), "0"), "."))
	return b.String()
}
