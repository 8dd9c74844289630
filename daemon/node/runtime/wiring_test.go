package runtime

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
	"github.com/shoal-dev/shoal/daemon/node/podnet"
	"github.com/shoal-dev/shoal/internal/poll"
)

// recordingWiring is a PodWiring over a real IPAM that records its calls.
type recordingWiring struct {
	podnet.SimulatedWiring
	mu       sync.Mutex
	attached map[string][]int // uid -> pids attached
	detached map[string]int
	ports    map[string][]podnet.HostPort
}

func (r *recordingWiring) Attach(ctx context.Context, uid string, pid int) (netip.Addr, error) {
	r.mu.Lock()
	r.attached[uid] = append(r.attached[uid], pid)
	r.mu.Unlock()
	if pid <= 0 {
		return netip.Addr{}, fmt.Errorf("no pid")
	}
	return r.SimulatedWiring.Attach(ctx, uid, pid)
}

func (r *recordingWiring) Detach(ctx context.Context, uid string) error {
	r.mu.Lock()
	r.detached[uid]++
	r.mu.Unlock()
	return r.SimulatedWiring.Detach(ctx, uid)
}

func (r *recordingWiring) Set(_ context.Context, uid string, _ netip.Addr, ports []podnet.HostPort) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ports[uid] = ports
	return nil
}

func (r *recordingWiring) Remove(_ context.Context, uid string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.ports, uid)
	return nil
}

func (r *recordingWiring) snapshot(uid string) (attached []int, detached int, ports []podnet.HostPort) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.attached[uid]...), r.detached[uid], r.ports[uid]
}

func TestWiredSandboxesGetTheirAddressFromTheWiringAndKeepIt(t *testing.T) {
	var wr *recordingWiring
	f := newFixtureWith(t, func(f *fixture) {
		ipam, err := podnet.OpenIPAM(f.cfg.DataDir, netip.MustParsePrefix("10.244.7.0/24"))
		if err != nil {
			t.Fatal(err)
		}
		wr = &recordingWiring{SimulatedWiring: podnet.SimulatedWiring{IPAM: ipam},
			attached: map[string][]int{}, detached: map[string]int{}, ports: map[string][]podnet.HostPort{}}
		f.cfg.Wiring, f.cfg.HostPorts = wr, wr
	})
	p := f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1",
		Ports: []api.ContainerPort{{ContainerPort: 8080, HostPort: 18080, Protocol: "TCP"}}})
	var ip string
	poll.Until(t, 5*time.Second, "pod running with an address of the wiring", func() error {
		got := f.pod("web")
		if got.Status.Phase != api.PodRunning || got.Status.PodIP == "" {
			return fmt.Errorf("status %+v", got.Status)
		}
		ip = got.Status.PodIP
		return nil
	})
	if held, _ := wr.Address(p.UID); held.String() != ip {
		t.Fatalf("status podIP %s, wiring holds %s", ip, held)
	}
	sb := appContainer(f, p.UID, engine.SandboxContainerName)
	spec, _ := f.eng.Spec(sb.ID)
	if spec.NetworkMode != "none" || len(spec.PortBindings) != 0 {
		t.Fatalf("sandbox network mode %q and bindings %v: want none, and no engine-published port", spec.NetworkMode, spec.PortBindings)
	}
	attached, _, ports := wr.snapshot(p.UID)
	if len(attached) != 1 || attached[0] <= 0 {
		t.Fatalf("attach calls %v: want one, with the sandbox's pid", attached)
	}
	if len(ports) != 1 || ports[0].HostPort != 18080 || ports[0].ContainerPort != 8080 || ports[0].Protocol != "tcp" {
		t.Fatalf("host ports %+v", ports)
	}

	// A re-created sandbox is wired again and gets the same address.
	f.eng.RemoveContainer(context.Background(), sb.ID)
	poll.Until(t, 5*time.Second, "a new sandbox, wired, same address", func() error {
		attached, _, _ := wr.snapshot(p.UID)
		got := f.pod("web")
		if len(attached) < 2 || got.Status.PodIP != ip || !api.IsPodReady(got) {
			return fmt.Errorf("attaches %v, status %s ready %v", attached, got.Status.PodIP, api.IsPodReady(got))
		}
		return nil
	})

	// A runner that starts again (agent restart) adopts: it asks the wiring,
	// which keeps the address.
	f.stop()
	f.start()
	time.Sleep(500 * time.Millisecond)
	if got := f.pod("web"); got.Status.PodIP != ip {
		t.Fatalf("after a restart the pod has %s, had %s", got.Status.PodIP, ip)
	}

	// Deleting the pod unwires it.
	deleteAndWaitUnwired(t, f, wr, p)
}

func TestAFinishedPodGivesItsAddressBack(t *testing.T) {
	for _, gate := range []string{"", testGate} {
		t.Run(fmt.Sprintf("gate %q", gate), func(t *testing.T) {
			f, wr := newSoloFixture(t, "10.244.8.0/24", func(f *fixture) { f.cfg.NetWaitPath = gate })
			f.eng.SetImageScript("app:1", enginetest.Script{ExitCode: 0, RunFor: 50 * time.Millisecond})
			p := f.createPod("job", api.RestartNever, api.Container{Name: "app", Image: "app:1"})
			poll.Until(t, 5*time.Second, "succeeded and unwired", func() error {
				got := f.pod("job")
				if got.Status.Phase != api.PodSucceeded {
					return fmt.Errorf("phase %s", got.Status.Phase)
				}
				if _, held := wr.Address(p.UID); held {
					return fmt.Errorf("address still held")
				}
				return nil
			})
			if got := f.pod("job"); got.Status.PodIP == "" {
				t.Fatal("the finished pod's status lost its address")
			}
			// With the gate, a pod of one container is that container alone.
			if n, want := len(f.containers(p.UID, false)), map[string]int{"": 2, testGate: 1}[gate]; n != want {
				t.Fatalf("%d containers for the finished pod, want %d", n, want)
			}
		})
	}
}

// deleteAndWaitUnwired deletes the pod and waits until its address, wiring
// and host ports are given back.
func deleteAndWaitUnwired(t *testing.T, f *fixture, wr *recordingWiring, p *api.Pod) {
	t.Helper()
	f.objs.Delete(context.Background(), api.KindPod, p.Namespace, p.Name, api.DeleteOptions{GracePeriodSeconds: api.Int64(0)})
	poll.Until(t, 5*time.Second, "unwired", func() error {
		_, detached, ports := wr.snapshot(p.UID)
		if _, held := wr.Address(p.UID); held || detached == 0 || len(ports) != 0 {
			return fmt.Errorf("address held %v, detaches %d, ports %v", held, detached, ports)
		}
		return nil
	})
}
