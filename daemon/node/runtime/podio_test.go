package runtime

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/internal/poll"
)

// TestPortForwardDialsTheSandboxAddress checks port-forward's address
// comes from the engine's sandbox, never from the pod's status.
func TestPortForwardDialsTheSandboxAddress(t *testing.T) {
	f := newFixture(t)
	p := f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	poll.Until(t, 5*time.Second, "pod running", func() error {
		if got := f.pod("web"); got.Status.Phase != api.PodRunning || got.Status.PodIP == "" {
			return fmt.Errorf("status %+v", got.Status)
		}
		return nil
	})
	sb := appContainer(f, p.UID, engine.SandboxContainerName)
	st, err := f.eng.InspectContainer(context.Background(), sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.rt.podAddress(context.Background(), f.pod("web"))
	if err != nil || got != st.IPAddress {
		t.Fatalf("address %q, %v; want the sandbox's %q", got, err, st.IPAddress)
	}
	// A pod whose status names an address but that has no sandbox here.
	ghost := f.pod("web")
	ghost.UID = "no-such-uid"
	ghost.Status.PodIP = "127.0.0.1"
	if addr, err := f.rt.podAddress(context.Background(), ghost); err == nil {
		t.Fatalf("a pod without a sandbox got the address %q", addr)
	}
	// A pod on the host's network is at the node's address.
	ghost.Spec.HostNetwork = true
	if addr, _ := f.rt.podAddress(context.Background(), ghost); addr != f.cfg.HostIP {
		t.Fatalf("host-network pod at %q, want %q", addr, f.cfg.HostIP)
	}
}

// TestStreamsOfPodsElsewhereAndEnginesWithoutAttach checks the errors the
// API turns into a forward or a clear refusal.
func TestStreamsOfPodsElsewhereAndEnginesWithoutAttach(t *testing.T) {
	f := newFixture(t)
	other := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "far", Namespace: "default"},
		Spec: api.PodSpec{NodeName: "n2", Containers: []api.Container{{Name: "app", Image: "app:1"}}}}
	if _, err := f.objs.Create(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	var nh *ErrNotHere
	if _, err := f.rt.DialPod(context.Background(), "default", "far", 80); !errors.As(err, &nh) || nh.Node != "n2" {
		t.Fatalf("dial a pod on n2: %v, want ErrNotHere", err)
	}
	// The fake engine has no attach: a clear 503, not a panic.
	err := f.rt.Attach(context.Background(), "default", "far", api.ExecOptions{}, nil, nil, nil, nil)
	var se *api.StatusError
	if !errors.As(err, &se) || se.ErrStatus.Code != 503 {
		t.Fatalf("attach without engine support: %v", err)
	}
}
