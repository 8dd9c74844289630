//go:build race

package ui_test

// raceEnabled: the race detector slows every agent several times over;
// the 1,000-pod step then waits for the pods to exist, not to run.
const raceEnabled = true
