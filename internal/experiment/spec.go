package experiment

import (
	"github.com/bench-dev/bench/internal/cluster"
	"github.com/bench-dev/bench/internal/scenario"
	"github.com/bench-dev/bench/internal/target"
)

// WorkerSpec returns the cluster.Spec that starts sc's workers as Run does, restart policy
// included, with the built-in worker being this executable ("bench worker ..."). A session
// target comparing several stores runs with the first of them. OnEvent is left nil for the
// caller to set.
func WorkerSpec(sc *scenario.Scenario) (cluster.Spec, error) {
	var store target.Store
	if stores := sc.Target.StoreList(); len(stores) > 0 {
		store = stores[0]
	}
	return workerSpec(sc, store, Options{})
}
