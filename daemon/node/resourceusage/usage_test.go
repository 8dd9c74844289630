package resourceusage

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestCPURate(t *testing.T) {
	read := func(at time.Duration, ns uint64) engine.ContainerStats {
		return engine.ContainerStats{Read: t0.Add(at), CPUUsageNanos: ns}
	}
	for _, tc := range []struct {
		name      string
		prev, cur engine.ContainerStats
		want      uint64
		ok        bool
	}{
		{"half a core over 10 s", read(0, 1e9), read(10*time.Second, 6e9), 5e8, true},
		{"two cores over 2 s", read(0, 0), read(2*time.Second, 4e9), 2e9, true},
		{"idle", read(0, 7), read(time.Second, 7), 0, true},
		{"same instant: no rate", read(0, 0), read(0, 5), 0, false},
		{"counter went back (restart): no rate", read(0, 9e9), read(time.Second, 1e9), 0, false},
		{"a large counter does not overflow", read(0, 1<<62), read(10*time.Second, 1<<62+1e10), 1e9, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, ok := CPURate(tc.prev, tc.cur)
			if ok != tc.ok || got != tc.want {
				t.Errorf("CPURate = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	if m := MilliCores(1); m != 1 {
		t.Errorf("MilliCores(1) = %d, want 1 (round up)", m)
	}
	if m := MilliCores(5e8); m != 500 {
		t.Errorf("MilliCores(5e8) = %d, want 500", m)
	}
}

func TestParseProc(t *testing.T) {
	busy, err := parseProcStat([]byte("cpu  100 5 50 1000 20 3 2 1 7 0\ncpu0 1 2 3 4\n"))
	if err != nil || busy != 100+5+50+3+2+1 {
		t.Errorf("busy = %d, %v; want %d (idle, iowait and guest left out)", busy, err, 161)
	}
	if _, err := parseProcStat([]byte("intr 1 2\n")); err == nil {
		t.Error("a /proc/stat without the cpu line parsed")
	}
	total, avail, err := parseMeminfo([]byte("MemTotal:       2048 kB\nMemFree:  10 kB\nMemAvailable:   512 kB\n"))
	if err != nil || total != 2048*1024 || avail != 512*1024 {
		t.Errorf("meminfo = %d, %d, %v", total, avail, err)
	}
	if _, _, err := parseMeminfo([]byte("MemTotal: 1 kB\n")); err == nil {
		t.Error("a meminfo without MemAvailable parsed")
	}
}

// fakeEngine answers each container's stats from a script, one reading
// per call.
type fakeEngine struct {
	mu    sync.Mutex
	list  []engine.Summary
	stats map[string][]engine.ContainerStats
}

func (f *fakeEngine) ListContainers(context.Context, map[string]string) ([]engine.Summary, error) {
	return f.list, nil
}

func (f *fakeEngine) Stats(_ context.Context, id string) (engine.ContainerStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats[id][0]
	f.stats[id] = f.stats[id][1:]
	return s, nil
}

func container(id, pod, name, state string) engine.Summary {
	return engine.Summary{ID: id, State: state, Labels: map[string]string{engine.LabelPodNamespace: "ns", engine.LabelPodName: pod,
		engine.LabelPodUID: "uid-" + pod, engine.LabelContainer: name, engine.LabelNode: "n1"}}
}

func TestSamplerReportsPodsFromTheirSecondReading(t *testing.T) {
	proc := t.TempDir()
	writeProc := func(busy, availKB int) {
		t.Helper()
		stat := []byte("cpu  " + itoa(busy) + " 0 0 1000 0 0 0 0 0 0\n")
		mem := []byte("MemTotal: 4096 kB\nMemAvailable: " + itoa(availKB) + " kB\n")
		if os.WriteFile(filepath.Join(proc, "stat"), stat, 0o600) != nil || os.WriteFile(filepath.Join(proc, "meminfo"), mem, 0o600) != nil {
			t.Fatal("writing the fake /proc")
		}
	}
	now := t0
	eng := &fakeEngine{
		list: []engine.Summary{container("a", "web", "app", "running"), container("b", "web", "side", "running"),
			container("s", "web", engine.SandboxContainerName, "running"), container("x", "old", "app", "exited")},
		stats: map[string][]engine.ContainerStats{
			"a": {{Read: t0, CPUUsageNanos: 0, MemoryUsage: 10 << 20, InactiveFile: 2 << 20},
				{Read: t0.Add(10 * time.Second), CPUUsageNanos: 2.5e9, MemoryUsage: 12 << 20, InactiveFile: 2 << 20}},
			"b": {{Read: t0, CPUUsageNanos: 0}, {Read: t0.Add(10 * time.Second), CPUUsageNanos: 1e6, MemoryUsage: 1000}},
		},
	}
	s := New(Config{Node: "n1", Engine: eng, ProcRoot: proc, Now: func() time.Time { return now }})
	writeProc(0, 1024)
	s.Sample(context.Background())
	if snap := s.Snapshot(); len(snap.Pods) != 0 || snap.NodeUsage != nil {
		t.Fatalf("first round reported %+v; a rate needs two readings", snap)
	}
	now = now.Add(10 * time.Second)
	writeProc(500, 1024) // 500 jiffies = 5 s of CPU in 10 s
	s.Sample(context.Background())
	snap := s.Snapshot()
	if len(snap.Pods) != 1 {
		t.Fatalf("pods %+v, want web only (sandbox and exited containers left out)", snap.Pods)
	}
	pm := snap.Pods[0]
	if pm.Name != "web" || pm.Namespace != "ns" || pm.Window != "10s" || len(pm.Containers) != 2 {
		t.Fatalf("pod metrics %+v", pm)
	}
	app := pm.Containers[0]
	if cpu := app.Usage[api.ResourceCPU]; cpu.MilliValue() != 250 {
		t.Errorf("app cpu %s, want 250m", cpu.String())
	}
	if mem := app.Usage[api.ResourceMemory]; mem.Value() != 10<<20 || mem.String() != "10Mi" {
		t.Errorf("app memory %s, want 10Mi (usage minus inactive file)", mem.String())
	}
	side := pm.Containers[1]
	if cpu := side.Usage[api.ResourceCPU]; cpu.MilliValue() != 1 {
		t.Errorf("side cpu %s, want 1m (0.1m rounded up)", cpu.String())
	}
	if mem := side.Usage[api.ResourceMemory]; mem.Value() != 1024 {
		t.Errorf("side memory %s, want 1Ki (rounded up to Ki)", mem.String())
	}
	n := snap.NodeUsage
	if n == nil {
		t.Fatal("no node usage after two rounds")
	}
	if cpu := n.Usage[api.ResourceCPU]; cpu.MilliValue() != 500 {
		t.Errorf("node cpu %s, want 500m", cpu.String())
	}
	if mem := n.Usage[api.ResourceMemory]; mem.Value() != 3072*1024 {
		t.Errorf("node memory %s, want 3Mi (total minus available)", mem.String())
	}
	if len(s.prev) != 2 {
		t.Errorf("kept %d previous readings, want 2 (one per running app container)", len(s.prev))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
