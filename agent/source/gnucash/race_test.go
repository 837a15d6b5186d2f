//go:build race

package gnucash

// raceEnabled: the race detector slows the read about tenfold.
const raceEnabled = true
