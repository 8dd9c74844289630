//go:build linux

package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
)

// agentBinary is the agent's binary for the image made of it: SHOAL_BIN,
// else a build of the repository's main package.
func agentBinary(b *testing.B) string {
	if bin := os.Getenv("SHOAL_BIN"); bin != "" {
		return bin
	}
	out := filepath.Join(b.TempDir(), "shoal")
	cmd := exec.Command("go", "build", "-o", out, "../../..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building the agent: %v\n%s", err, output)
	}
	return out
}

// BenchmarkSandboxStart creates and starts sandboxes as the runner does
// (network none, shareable IPC, no capabilities), one after the other, from
// the tiny pause's image and from the image of the agent's binary, side by
// side. Besides the time of create and start it reports what each sandbox's
// process costs once started: its anonymous memory and the CPU time it used.
//
//	SHOAL_TEST_DOCKER=1 SHOAL_BIN=$PWD/bin/shoal go test ./daemon/node/sandbox -run '^$' -bench SandboxStart -benchtime 20x
func BenchmarkSandboxStart(b *testing.B) {
	d := enginetest.RequireDocker(b)
	ctx := context.Background()
	tiny, err := EnsureImage(ctx, d, "")
	if err != nil {
		b.Fatal(err)
	}
	binary, err := ensureBinaryImage(ctx, d, agentBinary(b))
	if err != nil {
		b.Fatal(err)
	}
	for _, image := range []struct{ name, ref string }{{"tiny", tiny}, {"binary", binary}} {
		b.Run(image.name, func(b *testing.B) {
			var rssKB, cpuNs float64
			for i := 0; i < b.N; i++ {
				id, err := d.CreateContainer(ctx, engine.ContainerSpec{
					Name: enginetest.UniqueName("shoal-bench-sandbox-"), Image: image.ref,
					Labels:      map[string]string{enginetest.TestLabel: "1"},
					NetworkMode: "none", IPCMode: "shareable", StopSignal: "SIGTERM",
					CapDrop: []string{"ALL"}, SecurityOpt: []string{"no-new-privileges"},
				})
				if err != nil {
					b.Fatal(err)
				}
				if err := d.StartContainer(ctx, id); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				st, err := d.InspectContainer(ctx, id)
				if err != nil || !st.Running {
					b.Fatalf("sandbox not running: %v %+v", err, st)
				}
				time.Sleep(300 * time.Millisecond) // its start-up done
				rssKB += float64(statusKB(st.Pid, "RssAnon"))
				cpuNs += float64(onCPU(b, st.Pid))
				if err := d.RemoveContainer(ctx, id); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(rssKB/float64(b.N), "anon-kB/sandbox")
			b.ReportMetric(cpuNs/float64(b.N)/1e6, "cpu-ms/sandbox")
		})
	}
}

// onCPU is the time in ns the process's threads have run, from their
// schedstat.
func onCPU(b *testing.B, pid int) int64 {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, task := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, task.Name()))
		if err != nil {
			b.Fatal(err)
		}
		n, err := strconv.ParseInt(strings.Fields(string(data))[0], 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		total += n
	}
	return total
}
