package engine

import (
	"testing"

	"github.com/docker/docker/api/types/container"
)

func TestStatsWorkingSet(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stats map[string]uint64
		usage uint64
		want  uint64
	}{
		{"cgroup v1 subtracts total_inactive_file", map[string]uint64{"total_inactive_file": 300, "inactive_file": 100}, 1000, 700},
		{"cgroup v2 subtracts inactive_file", map[string]uint64{"inactive_file": 250}, 1000, 750},
		{"no cache counters: usage", nil, 1000, 1000},
		{"more inactive than usage: zero, not a wrap", map[string]uint64{"inactive_file": 2000}, 1000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := statsOf(&container.StatsResponse{MemoryStats: container.MemoryStats{Usage: tc.usage, Stats: tc.stats},
				CPUStats: container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 42}}})
			if got := s.WorkingSet(); got != tc.want {
				t.Errorf("working set %d, want %d", got, tc.want)
			}
			if s.CPUUsageNanos != 42 {
				t.Errorf("cpu usage %d, want 42", s.CPUUsageNanos)
			}
		})
	}
}
