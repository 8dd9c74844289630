package runtime

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/engine"
	"github.com/shoal-dev/shoal/daemon/engine/enginetest"
)

// scriptedExec makes exec probes answer with the exit code in *code.
func scriptedExec(f *fixture, code *atomic.Int32) {
	f.stop()
	f.eng.ExecFn = func(ctx context.Context, id string, cfg engine.ExecConfig) (engine.ExecSession, error) {
		return &enginetest.ExecSession{ExitCode: int(code.Load())}, nil
	}
	f.start()
}

func execProbe(cmd string) *api.Probe {
	return &api.Probe{Exec: &api.ExecAction{Command: []string{cmd}}, PeriodSeconds: 1, TimeoutSeconds: 1,
		SuccessThreshold: 1, FailureThreshold: 1}
}

func TestReadinessProbeGatesReadyWithoutRestart(t *testing.T) {
	f := newFixture(t)
	var code atomic.Int32
	code.Store(1)
	scriptedExec(f, &code)
	f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1", ReadinessProbe: execProbe("ready")})
	eventually(t, "running but not ready", func() error {
		p := f.pod("web")
		if p.Status.Phase != api.PodRunning || api.IsPodReady(p) || len(p.Status.ContainerStatuses) == 0 {
			return fmt.Errorf("%s ready=%v", p.Status.Phase, api.IsPodReady(p))
		}
		return nil
	})
	code.Store(0)
	eventually(t, "ready once the probe passes", func() error {
		if !api.IsPodReady(f.pod("web")) {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	code.Store(1)
	eventually(t, "not ready again", func() error {
		p := f.pod("web")
		if api.IsPodReady(p) {
			return fmt.Errorf("still ready")
		}
		if p.Status.ContainerStatuses[0].RestartCount != 0 {
			return fmt.Errorf("a readiness failure restarted the container")
		}
		return nil
	})
}

func TestLivenessProbeFailureRestartsTheContainer(t *testing.T) {
	f := newFixture(t)
	var code atomic.Int32
	scriptedExec(f, &code)
	f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1", LivenessProbe: execProbe("alive")})
	eventually(t, "ready", func() error {
		if !api.IsPodReady(f.pod("web")) {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	code.Store(1)
	eventually(t, "restarted by the liveness probe", func() error {
		if cs := f.pod("web").Status.ContainerStatuses[0]; cs.RestartCount < 1 {
			return fmt.Errorf("%+v", cs)
		}
		return nil
	})
	code.Store(0)
	eventually(t, "running and ready again", func() error {
		if cs := f.pod("web").Status.ContainerStatuses[0]; cs.State.Running == nil || !cs.Ready {
			return fmt.Errorf("%+v", cs)
		}
		return nil
	})
	f.rec.mu.Lock()
	defer f.rec.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range f.rec.reasons {
		seen[r] = true
	}
	if !seen["Unhealthy"] || !seen["Killing"] {
		t.Fatalf("events %v lack Unhealthy and Killing", f.rec.reasons)
	}
}

func TestStartupProbeHoldsOtherProbes(t *testing.T) {
	f := newFixture(t)
	var code atomic.Int32
	code.Store(1)
	scriptedExec(f, &code)
	startup := execProbe("started")
	startup.FailureThreshold = 30
	f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1", StartupProbe: startup})
	time.Sleep(1500 * time.Millisecond)
	cs := f.pod("web").Status.ContainerStatuses[0]
	if cs.Ready || cs.Started == nil || *cs.Started {
		t.Fatalf("ready before the startup probe passed: %+v", cs)
	}
	code.Store(0)
	eventually(t, "started and ready", func() error {
		cs := f.pod("web").Status.ContainerStatuses[0]
		if !cs.Ready || cs.Started == nil || !*cs.Started {
			return fmt.Errorf("%+v", cs)
		}
		return nil
	})
}
