package runtime

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/podnet"
	"github.com/shoal-dev/shoal/daemon/node/sandbox"
	"github.com/shoal-dev/shoal/internal/poll"
)

const testGate = "/var/lib/shoal/bin/netwait"

// newSoloFixture is a runner with the network gate and a recording wiring
// over a real IPAM, as the agent runs it.
func newSoloFixture(t *testing.T, subnet string, adjust func(*fixture)) (*fixture, *recordingWiring) {
	t.Helper()
	var wr *recordingWiring
	f := newFixtureWith(t, func(f *fixture) {
		ipam, err := podnet.OpenIPAM(f.cfg.DataDir, netip.MustParsePrefix(subnet))
		if err != nil {
			t.Fatal(err)
		}
		wr = &recordingWiring{SimulatedWiring: podnet.SimulatedWiring{IPAM: ipam},
			attached: map[string][]int{}, detached: map[string]int{}, ports: map[string][]podnet.HostPort{}}
		f.cfg.Wiring, f.cfg.HostPorts = wr, wr
		f.cfg.NetWaitPath = testGate
		f.cfg.DNSServers = func() []string { return []string{"10.244.9.1"} }
		f.cfg.DNSSearch = func(ns string) []string { return []string{ns + ".svc.cluster.local"} }
		if adjust != nil {
			adjust(f)
		}
	})
	return f, wr
}

func TestAPodOfOneContainerRunsWithoutASandbox(t *testing.T) {
	f, wr := newSoloFixture(t, "10.244.9.0/24", nil)
	f.eng.SetImageCommand("app:1", []string{"/entry"}, []string{"serve", "--port", "8080"})
	p := f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1",
		Env:   []api.EnvVar{{Name: "POD_IP", ValueFrom: &api.EnvVarSource{FieldRef: &api.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
		Ports: []api.ContainerPort{{ContainerPort: 8080, HostPort: 18080, Protocol: "TCP"}}})
	var ip string
	poll.Until(t, 5*time.Second, "pod running with an address of the wiring", func() error {
		got := f.pod("web")
		if got.Status.Phase != api.PodRunning || got.Status.PodIP == "" || !api.IsPodReady(got) {
			return fmt.Errorf("status %+v", got.Status)
		}
		ip = got.Status.PodIP
		return nil
	})
	if held, _ := wr.Address(p.UID); held.String() != ip {
		t.Fatalf("status podIP %s, wiring holds %s", ip, held)
	}
	all := f.containers(p.UID, false)
	if len(all) != 1 || all[0].Labels[engine.LabelContainer] != "app" {
		t.Fatalf("containers %+v: want the app container alone, no sandbox", all)
	}
	first := all[0]
	if sb, ok := first.Labels[engine.LabelSandbox]; !ok || sb != "" {
		t.Fatalf("sandbox label %q (present %v): want present and empty", sb, ok)
	}
	spec, _ := f.eng.Spec(first.ID)
	if !slices.Equal(spec.Entrypoint, []string{sandbox.NetWaitMount}) || !slices.Equal(spec.Cmd, []string{"/entry", "serve", "--port", "8080"}) {
		t.Fatalf("entrypoint %q cmd %q: want the gate, then the image's ENTRYPOINT and CMD", spec.Entrypoint, spec.Cmd)
	}
	gate := engine.Mount{Type: "bind", Source: testGate, Target: sandbox.NetWaitMount, ReadOnly: true}
	if !slices.Contains(spec.Mounts, gate) {
		t.Fatalf("mounts %+v lack the gate, read-only", spec.Mounts)
	}
	if spec.NetworkMode != "none" || spec.IPCMode != "" || spec.Hostname != "web" || len(spec.PortBindings) != 0 {
		t.Fatalf("network %q ipc %q hostname %q bindings %v", spec.NetworkMode, spec.IPCMode, spec.Hostname, spec.PortBindings)
	}
	if !slices.Equal(spec.DNS, []string{"10.244.9.1"}) || !slices.Equal(spec.DNSSearch, []string{"default.svc.cluster.local"}) || !slices.Equal(spec.DNSOptions, []string{"ndots:5"}) {
		t.Fatalf("dns %v search %v options %v", spec.DNS, spec.DNSSearch, spec.DNSOptions)
	}
	if !slices.Equal(spec.ExtraHosts, []string{"web:" + ip}) {
		t.Fatalf("extra hosts %v: want the pod's own name at its address, from the create (a read-only root file system makes /etc/hosts read-only)", spec.ExtraHosts)
	}
	if !slices.Contains(spec.Env, "POD_IP="+ip) {
		t.Fatalf("env %v lacks POD_IP=%s: the address must be known before the create", spec.Env, ip)
	}
	st, _ := f.eng.State(first.ID)
	attached, _, ports := wr.snapshot(p.UID)
	if !slices.Equal(attached, []int{st.Pid}) {
		t.Fatalf("attach calls %v: want one, with the container's pid %d", attached, st.Pid)
	}
	if len(ports) != 1 || ports[0].HostPort != 18080 || ports[0].ContainerPort != 8080 {
		t.Fatalf("host ports %+v", ports)
	}

	// A crashed container comes back as a new container, wired again with
	// the same address.
	f.eng.Kill(first.ID, 1)
	poll.Until(t, 5*time.Second, "restarted, wired again, same address", func() error {
		got := f.pod("web")
		attached, _, _ := wr.snapshot(p.UID)
		if len(attached) < 2 || got.Status.PodIP != ip || !api.IsPodReady(got) || got.Status.ContainerStatuses[0].RestartCount != 1 {
			return fmt.Errorf("attaches %v, status %s ready %v", attached, got.Status.PodIP, api.IsPodReady(got))
		}
		return nil
	})
	second := appContainer(f, p.UID, "app")
	if second.ID == first.ID {
		t.Fatal("no new container")
	}
	if st2, _ := f.eng.State(second.ID); !slices.Contains(mustAttached(wr, p.UID), st2.Pid) {
		t.Fatalf("the new container (pid %d) was not wired: %v", st2.Pid, mustAttached(wr, p.UID))
	}

	// A runner that starts again (agent restart) wires the running
	// container once more, which adopts it; nothing else changes.
	f.stop()
	f.start()
	time.Sleep(500 * time.Millisecond)
	if got := f.pod("web"); got.Status.PodIP != ip || appContainer(f, p.UID, "app").ID != second.ID {
		t.Fatalf("after a restart the pod has %s and container %s; had %s and %s", got.Status.PodIP, appContainer(f, p.UID, "app").ID, ip, second.ID)
	}
	if n := len(f.containers(p.UID, false)); n != 2 {
		t.Fatalf("%d containers after the restart: want the running one and the previous", n)
	}

	deleteAndWaitUnwired(t, f, wr, p)
}

func mustAttached(wr *recordingWiring, uid string) []int {
	a, _, _ := wr.snapshot(uid)
	return a
}

func TestTheCommandFollowsKubernetesRules(t *testing.T) {
	img := engine.ImageInfo{Entrypoint: []string{"/entry"}, Cmd: []string{"default"}}
	for _, tc := range []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"neither: the image's entrypoint and cmd", nil, nil, []string{"/entry", "default"}},
		{"args: the image's entrypoint, the args", nil, []string{"a", "b"}, []string{"/entry", "a", "b"}},
		{"command: it alone, no image cmd", []string{"/bin/app"}, nil, []string{"/bin/app"}},
		{"both: command and args", []string{"/bin/app"}, []string{"-v"}, []string{"/bin/app", "-v"}},
		{"empty args: the entrypoint alone", nil, []string{}, []string{"/entry"}},
	} {
		c := &api.Container{Command: tc.command, Args: tc.args}
		if got := argv(c, img); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestAnImageWithoutACommandIsAClearError(t *testing.T) {
	f, _ := newSoloFixture(t, "10.244.10.0/24", nil)
	f.eng.SetImageCommand("app:1", nil, nil)
	p := f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	poll.Until(t, 5*time.Second, "CreateContainerConfigError", func() error {
		got := f.pod("web")
		if len(got.Status.ContainerStatuses) == 0 || got.Status.ContainerStatuses[0].State.Waiting == nil {
			return fmt.Errorf("status %+v", got.Status)
		}
		w := got.Status.ContainerStatuses[0].State.Waiting
		if w.Reason != "CreateContainerConfigError" || !strings.Contains(w.Message, "neither ENTRYPOINT nor CMD") || !strings.Contains(w.Message, "give the container a command") {
			return fmt.Errorf("waiting %+v", w)
		}
		return nil
	})
	if n := len(f.containers(p.UID, false)); n != 0 {
		t.Fatalf("%d containers made for a pod with no command", n)
	}
}

func TestPodsOfSeveralContainersAndOlderPodsKeepTheirSandbox(t *testing.T) {
	f, _ := newSoloFixture(t, "10.244.11.0/24", func(f *fixture) { f.cfg.NetWaitPath = "" })
	old := f.createPod("old", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	poll.Until(t, 5*time.Second, "old pod running with a sandbox", func() error {
		if n := len(f.containers(old.UID, true)); n != 2 || !api.IsPodReady(f.pod("old")) {
			return fmt.Errorf("%d containers", n)
		}
		return nil
	})
	sb := appContainer(f, old.UID, engine.SandboxContainerName).ID

	// The agent is upgraded to one with the gate.
	f.stop()
	f.cfg.NetWaitPath = testGate
	f.start()
	two := f.createPod("two", api.RestartAlways, api.Container{Name: "a", Image: "app:1"}, api.Container{Name: "b", Image: "app:1"})
	one := f.createPod("one", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	poll.Until(t, 5*time.Second, "new pods running", func() error {
		for _, name := range []string{"two", "one"} {
			if !api.IsPodReady(f.pod(name)) {
				return fmt.Errorf("%s not ready", name)
			}
		}
		return nil
	})
	if n, sbNow := len(f.containers(old.UID, true)), appContainer(f, old.UID, engine.SandboxContainerName).ID; n != 2 || sbNow != sb {
		t.Fatalf("the older pod has %d containers and sandbox %s (had %s): it must keep its sandbox", n, sbNow, sb)
	}
	if appContainer(f, two.UID, engine.SandboxContainerName).ID == "" || len(f.containers(two.UID, true)) != 3 {
		t.Fatalf("a pod of two containers runs %d containers: want a sandbox and two", len(f.containers(two.UID, true)))
	}
	if got := f.containers(one.UID, true); len(got) != 1 {
		t.Fatalf("a new pod of one container runs %d containers: want one", len(got))
	}
	// A crash of the older pod's app container leaves it in its sandbox.
	f.eng.Kill(appContainer(f, old.UID, "app").ID, 1)
	poll.Until(t, 5*time.Second, "restarted in its sandbox", func() error {
		app := appContainer(f, old.UID, "app")
		if app.ID == "" || app.Labels[engine.LabelSandbox] != sb {
			return fmt.Errorf("app %+v", app)
		}
		return nil
	})
}

func TestAPodOnTheHostNetworkNeedsNoGate(t *testing.T) {
	f, wr := newSoloFixture(t, "10.244.12.0/24", nil)
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "hostnet", Namespace: "default"},
		Spec: api.PodSpec{NodeName: "n1", RestartPolicy: api.RestartAlways, HostNetwork: true, HostPID: true,
			Containers: []api.Container{{Name: "agent", Image: "app:1", Command: []string{"/bin/agent"}}}}}
	obj, err := f.objs.Create(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	uid := obj.(*api.Pod).UID
	poll.Until(t, 5*time.Second, "running at the node's address", func() error {
		got := f.pod("hostnet")
		if !api.IsPodReady(got) || got.Status.PodIP != "10.0.0.1" {
			return fmt.Errorf("status %+v", got.Status)
		}
		return nil
	})
	all := f.containers(uid, false)
	if len(all) != 1 {
		t.Fatalf("%d containers: want one", len(all))
	}
	spec, _ := f.eng.Spec(all[0].ID)
	if spec.NetworkMode != "host" || spec.PIDMode != "host" || spec.Hostname != "" || !slices.Equal(spec.Entrypoint, []string{"/bin/agent"}) || len(spec.DNS) != 0 {
		t.Fatalf("spec %+v: want the host's network and PID namespaces, its own command, no gate", spec)
	}
	for _, m := range spec.Mounts {
		if m.Target == sandbox.NetWaitMount {
			t.Fatal("the gate is mounted into a pod on the host's network")
		}
	}
	if a := mustAttached(wr, uid); len(a) != 0 {
		t.Fatalf("a pod on the host's network was wired: %v", a)
	}
	if _, held := wr.Address(uid); held {
		t.Fatal("a pod on the host's network holds an address of the subnet")
	}
}

// A container that may remount (privileged, CAP_SYS_ADMIN) could make the
// gate's mount writable and change the file every pod starts through: it
// keeps a sandbox.
func TestAContainerThatMayRemountKeepsASandbox(t *testing.T) {
	f, _ := newSoloFixture(t, "10.244.14.0/24", nil)
	pods := map[string]*api.SecurityContext{
		"privileged": {Privileged: api.Bool(true)},
		"sysadmin":   {Capabilities: &api.Capabilities{Add: []string{"NET_ADMIN", "cap_sys_admin"}}},
		"all":        {Capabilities: &api.Capabilities{Add: []string{"ALL"}}},
		"netadmin":   {Capabilities: &api.Capabilities{Add: []string{"NET_ADMIN"}}},
	}
	uids := map[string]string{}
	for name, sc := range pods {
		uids[name] = f.createPod(name, api.RestartAlways, api.Container{Name: "app", Image: "app:1", SecurityContext: sc}).UID
	}
	poll.Until(t, 5*time.Second, "pods running", func() error {
		for name := range pods {
			if !api.IsPodReady(f.pod(name)) {
				return fmt.Errorf("%s not ready", name)
			}
		}
		return nil
	})
	for name, want := range map[string]int{"privileged": 2, "sysadmin": 2, "all": 2, "netadmin": 1} {
		if n := len(f.containers(uids[name], true)); n != want {
			t.Errorf("pod %s runs %d containers, want %d", name, n, want)
		}
	}
}
