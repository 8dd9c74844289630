package resourceusage

import (
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// CPURate is the CPU a container used between two readings, in
// nanocores (billionths of a core), and the window it was measured over.
// ok is false when the readings cannot give a rate: the second is not
// later, or the counter went back (the container restarted).
func CPURate(prev, cur engine.ContainerStats) (nanocores uint64, window time.Duration, ok bool) {
	window = cur.Read.Sub(prev.Read)
	if window <= 0 || cur.CPUUsageNanos < prev.CPUUsageNanos {
		return 0, 0, false
	}
	used := cur.CPUUsageNanos - prev.CPUUsageNanos
	// used ns of CPU per window ns is cores; times 1e9 is nanocores. Float
	// keeps large counters from overflowing used*1e9.
	return uint64(float64(used) / window.Seconds()), window, true
}

// MilliCores rounds nanocores up to thousandths of a core, the unit
// shoal's quantities keep: a container that used anything shows 1m at
// least.
func MilliCores(nanocores uint64) int64 {
	return int64((nanocores + 999_999) / 1_000_000)
}
