package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/container"
)

// ContainerStats is one reading of a container's resource counters.
type ContainerStats struct {
	// Read is when the engine read the counters.
	Read time.Time
	// CPUUsageNanos is the CPU time the container has used since it
	// started, in nanoseconds (cumulative).
	CPUUsageNanos uint64
	// MemoryUsage is the cgroup's memory usage in bytes, page cache
	// included.
	MemoryUsage uint64
	// InactiveFile is the page cache the kernel may reclaim first, in
	// bytes: Kubernetes leaves it out of the working set.
	InactiveFile uint64
}

// WorkingSet is the memory Kubernetes reports for a container: usage
// minus the inactive file cache, never below zero (cAdvisor's
// working_set_bytes).
func (s ContainerStats) WorkingSet() uint64 {
	if s.InactiveFile >= s.MemoryUsage {
		return 0
	}
	return s.MemoryUsage - s.InactiveFile
}

// ContainerStatser is the optional ability to read a running container's
// CPU and memory counters.
type ContainerStatser interface {
	Stats(ctx context.Context, id string) (ContainerStats, error)
}

var _ ContainerStatser = (*Docker)(nil)

// maxStatsBytes bounds one stats answer (a few KiB in practice).
const maxStatsBytes = 1 << 20

// Stats reads the container's counters once (one-shot: no wait for a
// second sample; the caller keeps the previous reading for rates).
func (d *Docker) Stats(ctx context.Context, id string) (ContainerStats, error) {
	resp, err := d.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return ContainerStats{}, fmt.Errorf("stats of container %s: %w", id, mapErr(err, ErrNotFound))
	}
	defer resp.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxStatsBytes)).Decode(&s); err != nil {
		return ContainerStats{}, fmt.Errorf("stats of container %s: decode: %w", id, err)
	}
	return statsOf(&s), nil
}

// statsOf keeps the counters Kubernetes' resource metrics use. The
// inactive file cache is total_inactive_file under cgroup v1 (the
// hierarchy's total, as cAdvisor reads it) and inactive_file under v2.
func statsOf(s *container.StatsResponse) ContainerStats {
	inactive, ok := s.MemoryStats.Stats["total_inactive_file"]
	if !ok {
		inactive = s.MemoryStats.Stats["inactive_file"]
	}
	return ContainerStats{Read: s.Read, CPUUsageNanos: s.CPUStats.CPUUsage.TotalUsage,
		MemoryUsage: s.MemoryStats.Usage, InactiveFile: inactive}
}
