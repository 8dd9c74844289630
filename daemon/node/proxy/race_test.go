//go:build race

package proxy

// raceEnabled: the race detector slows rule generation about fourfold, so
// timing bounds are looser under it.
const raceEnabled = true
