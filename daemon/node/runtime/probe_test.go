package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
	"github.com/shoal-dev/shoal/internal/poll"
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
	poll.Until(t, 5*time.Second, "running but not ready", func() error {
		p := f.pod("web")
		if p.Status.Phase != api.PodRunning || api.IsPodReady(p) || len(p.Status.ContainerStatuses) == 0 {
			return fmt.Errorf("%s ready=%v", p.Status.Phase, api.IsPodReady(p))
		}
		return nil
	})
	code.Store(0)
	poll.Until(t, 5*time.Second, "ready once the probe passes", func() error {
		if !api.IsPodReady(f.pod("web")) {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	code.Store(1)
	poll.Until(t, 5*time.Second, "not ready again", func() error {
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
	poll.Until(t, 5*time.Second, "ready", func() error {
		if !api.IsPodReady(f.pod("web")) {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	code.Store(1)
	poll.Until(t, 5*time.Second, "restarted by the liveness probe", func() error {
		if cs := f.pod("web").Status.ContainerStatuses[0]; cs.RestartCount < 1 {
			return fmt.Errorf("%+v", cs)
		}
		return nil
	})
	code.Store(0)
	poll.Until(t, 5*time.Second, "running and ready again", func() error {
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
	poll.Until(t, 5*time.Second, "started and ready", func() error {
		cs := f.pod("web").Status.ContainerStatuses[0]
		if !cs.Ready || cs.Started == nil || !*cs.Started {
			return fmt.Errorf("%+v", cs)
		}
		return nil
	})
}

func TestProbeTargetsHTTPAndTCP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("X-Check") != "yes" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	}))
	defer srv.Close()
	host, portText, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	port, _ := strconv.Atoi(portText)
	target := probeTarget{podIP: host, ports: []api.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	ctx := context.Background()
	probe := func(p *api.Probe) *api.Probe { p.TimeoutSeconds = 1; return p }
	good := probe(&api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/ok", Port: api.FromString("http"),
		HTTPHeaders: []api.HTTPHeader{{Name: "X-Check", Value: "yes"}}}})
	if err := target.run(ctx, good); err != nil {
		t.Fatalf("httpGet to a healthy server: %v", err)
	}
	bad := probe(&api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/bad", Port: api.FromInt(int32(port))}})
	if err := target.run(ctx, bad); !errors.Is(err, errProbe) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("httpGet to a failing endpoint: %v", err)
	}
	if err := target.run(ctx, probe(&api.Probe{TCPSocket: &api.TCPSocketAction{Port: api.FromInt(int32(port))}})); err != nil {
		t.Fatalf("tcpSocket to a listening port: %v", err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	if err := target.run(ctx, probe(&api.Probe{TCPSocket: &api.TCPSocketAction{Port: api.FromInt(int32(closed)), Host: "127.0.0.1"}})); !errors.Is(err, errProbe) {
		t.Fatalf("tcpSocket to a closed port: %v", err)
	}
	if err := target.run(ctx, probe(&api.Probe{TCPSocket: &api.TCPSocketAction{Port: api.FromString("nope")}})); err == nil {
		t.Fatal("an unknown port name was accepted")
	}
}
