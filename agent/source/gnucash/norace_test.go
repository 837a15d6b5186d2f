//go:build !race

package gnucash

const raceEnabled = false
