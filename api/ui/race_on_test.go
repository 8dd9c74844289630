//go:build race

package ui_test

// raceEnabled: the race detector slows every agent several times over:
// page waits stretch, and the 1,000-pod step is left to the run without it.
const raceEnabled = true
