//go:build race

package load

// raceEnabled: the race detector allocates and drops sync.Pool items at
// random, so allocation counts mean nothing.
const raceEnabled = true
