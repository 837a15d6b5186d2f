//go:build race

package hub

// raceEnabled: the race detector's instrumentation changes how much stack
// every goroutine uses.
const raceEnabled = true
