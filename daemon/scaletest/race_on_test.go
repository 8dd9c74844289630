//go:build race

package scaletest

// raceEnabled: the race detector slows every agent several times over.
const raceEnabled = true
