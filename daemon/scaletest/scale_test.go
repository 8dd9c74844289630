package scaletest

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

func TestMain(m *testing.M) {
	RunChild()   // when this binary is a separate agent of a run
	PrintTable() // when scripts/bench-scale asks for the table
	os.Exit(m.Run())
}

// TestScaleSmall is the reduced form of the scale benchmark that CI runs:
// 5 agents (one in its own process) and 100 pods (4 and 40 under the race
// detector), then the separate agent
// killed and started again. It asserts only correctness: every pod
// Running, on a node, with its container running in that node's engine,
// every agent holding the same state, the killed agent seen dead and then
// back with its pods running.
func TestScaleSmall(t *testing.T) {
	agents, pods := 5, 100
	if raceEnabled { // CI's unit tests run with -race, beside other packages
		agents, pods = 4, 40
	}
	// Deadlines are generous: a loaded 2-core machine binds 100 pods in
	// 5 to 20 s, and under the race detector 40 in up to a minute.
	r := Run(t, Options{Agents: agents, Pods: pods, PodsPerDeployment: 50, SeparateAgent: true,
		IdleWindow: time.Second, Writes: 5, Timeout: 5 * time.Minute, Dir: os.Getenv("SHOAL_SCALE_DIR")})
	if r.Records == 0 || r.Running <= 0 || r.WriteP99 <= 0 || r.Formed <= 0 || r.Detected <= 0 || r.Healed < r.Rejoined {
		t.Fatalf("a run that measured nothing: %+v", r)
	}
	c := r.cluster
	ctx := context.Background()
	perNode := map[string]int{}
	for _, a := range c.agents {
		list, _, err := a.Client.List(ctx, api.KindPod, podNamespace, api.ListOptions{})
		if err != nil {
			t.Fatalf("pods on %s: %v", a.Name, err)
		}
		if len(list) != pods {
			t.Fatalf("%s holds %d pods, want %d", a.Name, len(list), pods)
		}
		for _, o := range list {
			p := o.(*api.Pod)
			if p.Status.Phase != api.PodRunning || p.Spec.NodeName == "" {
				t.Fatalf("%s shows pod %s %s on node %q", a.Name, p.Name, p.Status.Phase, p.Spec.NodeName)
			}
			if a == c.agents[0] {
				perNode[p.Spec.NodeName]++
			}
		}
	}
	// Each node's engine runs the containers of the pods bound to it.
	running := 0
	for _, a := range c.agents {
		n := 0
		if a.child != nil {
			rep, err := a.child.measure()
			if err != nil {
				t.Fatal(err)
			}
			n = rep.Running
		} else {
			n = runningApps(ctx, a.Engine)
		}
		if n != perNode[a.Name] {
			t.Errorf("%s's engine runs %d application containers; %d pods are bound to it", a.Name, n, perNode[a.Name])
		}
		running += n
	}
	if running != pods {
		t.Fatalf("%d application containers running for %d pods", running, pods)
	}
	if r.ChildMemPods.RSS == 0 || r.MemPods.HeapLive == 0 || r.TrafficRollout <= 0 || r.CPUPods <= 0 {
		t.Fatalf("memory or traffic not measured: %+v", r)
	}
}

// BenchmarkScale is one run of the scale benchmark; scripts/bench-scale
// runs it for each size. Sizes and output come from the environment:
// SHOAL_SCALE_AGENTS (default 10), SHOAL_SCALE_PODS (1000),
// SHOAL_SCALE_IDLE (idle traffic window, 30s), SHOAL_SCALE_WRITES (100),
// SHOAL_SCALE_MAX_RSS_MIB (12288), SHOAL_SCALE_OUT (a result file for the
// table), SHOAL_BIN (the CLI, to time `shoal get pods -A`),
// SHOAL_SCALE_DIR (the agents' directories, kept: agents.log holds their
// warnings) and SHOAL_SCALE_LOG (the agents' log level). Run with
//
//	go test ./daemon/scaletest -run '^$' -bench Scale -benchtime 1x -timeout 2h
func BenchmarkScale(b *testing.B) {
	opts := Options{Agents: envInt(b, "SHOAL_SCALE_AGENTS", 10), Pods: envInt(b, "SHOAL_SCALE_PODS", 1000),
		Writes: envInt(b, "SHOAL_SCALE_WRITES", 100), SeparateAgent: true, ShoalBin: os.Getenv("SHOAL_BIN"),
		MaxRSS: uint64(envInt(b, "SHOAL_SCALE_MAX_RSS_MIB", 12<<10)) << 20, Dir: os.Getenv("SHOAL_SCALE_DIR")}
	if v := os.Getenv("SHOAL_SCALE_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("SHOAL_SCALE_IDLE=%q: %v", v, err)
		}
		opts.IdleWindow = d
	}
	r := Run(b, opts)
	b.ReportMetric(r.Running.Seconds(), "running-s")
	b.ReportMetric(r.BindRate, "bound-pods/s")
	b.ReportMetric(float64(r.WriteP99.Milliseconds()), "write-p99-ms")
	b.ReportMetric(float64(r.MemPods.RSS>>20), "rss-MiB/agent")
	b.ReportMetric(r.TrafficPods/1000, "idle-KB/s/agent")
	if out := os.Getenv("SHOAL_SCALE_OUT"); out != "" {
		if err := r.WriteFile(out); err != nil {
			b.Fatal(err)
		}
	}
}

func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		tb.Fatalf("%s=%q: give a number", name, v)
	}
	return n
}
