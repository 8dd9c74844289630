package podnet

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
)

func TestEnsureBridgeSpec(t *testing.T) {
	f := enginetest.New()
	ctx := testContext(t)
	gw, err := EnsureBridge(ctx, f, mustCIDR(t, "10.244.3.0/24"))
	if err != nil || gw.String() != "10.244.3.1" {
		t.Fatalf("EnsureBridge = %v, %v", gw, err)
	}
	spec, ok := f.NetworkSpec(NetworkName)
	if !ok || spec.Subnet != "10.244.3.0/24" || spec.Gateway != "10.244.3.1" || spec.BridgeName != BridgeDevice ||
		spec.Options["com.docker.network.bridge.enable_ip_masquerade"] != "true" ||
		spec.Options["com.docker.network.bridge.enable_icc"] != "true" {
		t.Fatalf("network spec = %+v", spec)
	}
	// A moved claim: unused, the network follows.
	if gw, err := EnsureBridge(ctx, f, mustCIDR(t, "10.244.4.0/24")); err != nil || gw.String() != "10.244.4.1" {
		t.Fatalf("EnsureBridge after a move = %v, %v", gw, err)
	}
	// In use, it cannot.
	f.AddImage("pause")
	if _, err := f.CreateContainer(ctx, engine.ContainerSpec{Name: "sandbox", Image: "pause", NetworkMode: NetworkName}); err != nil {
		t.Fatal(err)
	}
	_, err = EnsureBridge(ctx, f, mustCIDR(t, "10.244.3.0/24"))
	if !errors.Is(err, ErrNetworkInUse) || !errors.Is(err, engine.ErrInUse) || !strings.Contains(err.Error(), "sandbox") {
		t.Fatalf("EnsureBridge of a network in use: %v", err)
	}
	if _, err := EnsureBridge(ctx, f, &net.IPNet{IP: net.ParseIP("fd00::"), Mask: net.CIDRMask(64, 128)}); !errors.Is(err, ErrInvalidCIDR) {
		t.Fatalf("EnsureBridge with IPv6: %v", err)
	}
	if _, err := EnsureBridge(ctx, f, nil); !errors.Is(err, ErrInvalidCIDR) {
		t.Fatalf("EnsureBridge without a subnet: %v", err)
	}
}

func TestEngineRunsPods(t *testing.T) {
	f := enginetest.New()
	ctx := testContext(t)
	f.AddImage("pause")
	runs := EngineRunsPods(f, "n1")
	if busy, err := runs(ctx); err != nil || busy {
		t.Fatalf("empty engine: %v, %v", busy, err)
	}
	notAPod := map[string]string{engine.LabelNode: "n1"}
	if _, err := f.CreateContainer(ctx, engine.ContainerSpec{Name: "agent-helper", Image: "pause", Labels: notAPod}); err != nil {
		t.Fatal(err)
	}
	if busy, _ := runs(ctx); busy {
		t.Fatal("a container of no pod counted")
	}
	other := map[string]string{engine.LabelNode: "n2", engine.LabelPodUID: "u0", engine.LabelContainer: engine.SandboxContainerName}
	if _, err := f.CreateContainer(ctx, engine.ContainerSpec{Name: "other", Image: "pause", Labels: other}); err != nil {
		t.Fatal(err)
	}
	if busy, _ := runs(ctx); busy {
		t.Fatal("another node's sandbox counted")
	}
	// A pod without a sandbox: its only container holds its address.
	solo := map[string]string{engine.LabelNode: "n1", engine.LabelPodUID: "u1", engine.LabelContainer: "web", engine.LabelSandbox: ""}
	id, err := f.CreateContainer(ctx, engine.ContainerSpec{Name: "solo", Image: "pause", Labels: solo})
	if err != nil {
		t.Fatal(err)
	}
	if busy, err := runs(ctx); err != nil || !busy {
		t.Fatalf("with a pod's only container, stopped: %v, %v", busy, err)
	}
	if err := f.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	mine := map[string]string{engine.LabelNode: "n1", engine.LabelPodUID: "u2", engine.LabelContainer: engine.SandboxContainerName}
	if _, err := f.CreateContainer(ctx, engine.ContainerSpec{Name: "mine", Image: "pause", Labels: mine}); err != nil {
		t.Fatal(err)
	}
	if busy, err := runs(ctx); err != nil || !busy {
		t.Fatalf("with a sandbox, stopped: %v, %v", busy, err)
	}
}

// docker runs the docker CLI (the package itself talks to the engine only
// through engine.Engine).
func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestEnsureBridgeDocker runs against the local engine with a network and
// a bridge device of its own, clear of a running agent's.
func TestEnsureBridgeDocker(t *testing.T) {
	d := enginetest.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := Bridge{Network: enginetest.UniqueName("shoal-test-podnet-"), Device: enginetest.UniqueName("shnt")[:12]}
	t.Cleanup(func() { _ = exec.Command("docker", "network", "rm", b.Network).Run() })

	check := func(subnet, gateway string) {
		t.Helper()
		gw, err := b.Ensure(ctx, d, mustCIDR(t, subnet))
		if err != nil || gw.String() != gateway {
			t.Fatalf("Ensure(%s) = %v, %v", subnet, gw, err)
		}
		got := docker(t, "network", "inspect", b.Network, "--format",
			`{{.Driver}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}} {{end}}`+
				`{{index .Options "com.docker.network.bridge.name"}} `+
				`{{index .Options "com.docker.network.bridge.enable_ip_masquerade"}} `+
				`{{index .Options "com.docker.network.bridge.enable_icc"}}`)
		if want := "bridge " + subnet + " " + gateway + " " + b.Device + " true true"; got != want {
			t.Fatalf("network %s: %q, want %q", b.Network, got, want)
		}
	}
	check("10.254.240.0/24", "10.254.240.1")
	check("10.254.240.0/24", "10.254.240.1") // idempotent
	check("10.254.241.0/24", "10.254.241.1") // re-created: nothing attached

	image := enginetest.ImportBusybox(t, d)
	id, err := d.CreateContainer(ctx, engine.ContainerSpec{Name: enginetest.UniqueName("shoal-test-"), Image: image,
		Cmd: []string{"sleep", "300"}, NetworkMode: b.Network, Labels: map[string]string{enginetest.TestLabel: "1"}})
	if err != nil {
		t.Fatal(err)
	}
	enginetest.RemoveContainerAtCleanup(t, d, id)
	if err := d.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	state, err := d.InspectContainer(ctx, id)
	if err != nil || !strings.HasPrefix(state.IPAddress, "10.254.241.") {
		t.Fatalf("container address %q, %v", state.IPAddress, err)
	}
	// The engine in this namespace made the device, with the gateway on it.
	if iface, err := net.InterfaceByName(b.Device); err != nil {
		t.Errorf("bridge device %s: %v", b.Device, err)
	} else if addrs, _ := iface.Addrs(); len(addrs) == 0 || addrs[0].String() != "10.254.241.1/24" {
		t.Errorf("bridge device %s addresses %v", b.Device, addrs)
	}
	_, err = b.Ensure(ctx, d, mustCIDR(t, "10.254.240.0/24"))
	if !errors.Is(err, ErrNetworkInUse) || !strings.Contains(err.Error(), "docker rm") {
		t.Fatalf("Ensure with another subnet while in use: %v, want ErrNetworkInUse", err)
	}
	t.Logf("in use: %v", err)
	check("10.254.241.0/24", "10.254.241.1") // the same subnet is fine while in use
}
