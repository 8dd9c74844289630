package engine_test

// Integration tests of the Docker driver. They run against the local engine
// when SHOAL_TEST_DOCKER=1 and are skipped otherwise.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
	"github.com/shoal-dev/shoal/internal/poll"
)

func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// sdkClient reaches the engine directly, for cleaning up what the Engine
// interface has no call to remove.
func sdkClient(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func testLabels(extra ...string) map[string]string {
	labels := map[string]string{enginetest.TestLabel: "1"}
	for i := 0; i+1 < len(extra); i += 2 {
		labels[extra[i]] = extra[i+1]
	}
	return labels
}

// runContainer creates and starts a container that is removed at cleanup.
func runContainer(t *testing.T, d engine.Engine, spec engine.ContainerSpec) string {
	t.Helper()
	id := createContainer(t, d, spec)
	if err := d.StartContainer(testContext(t, 30*time.Second), id); err != nil {
		t.Fatalf("start %s: %v", spec.Name, err)
	}
	return id
}

func createContainer(t *testing.T, d engine.Engine, spec engine.ContainerSpec) string {
	t.Helper()
	if spec.Name == "" {
		spec.Name = enginetest.UniqueName("shoal-test-")
	}
	if spec.Labels == nil {
		spec.Labels = testLabels()
	}
	id, err := d.CreateContainer(testContext(t, 30*time.Second), spec)
	if err != nil {
		t.Fatalf("create %s: %v", spec.Name, err)
	}
	enginetest.RemoveContainerAtCleanup(t, d, id)
	return id
}

// waitExited polls until the container has stopped and returns its state.
func waitExited(t *testing.T, d engine.Engine, id string) engine.State {
	t.Helper()
	var st engine.State
	poll.Until(t, 30*time.Second, "container "+id+" exited", func() error {
		var err error
		st, err = d.InspectContainer(testContext(t, 10*time.Second), id)
		if err != nil {
			t.Fatalf("inspect %s: %v", id, err)
		}
		if st.Running {
			return fmt.Errorf("still running")
		}
		return nil
	})
	return st
}

func TestDockerUnreachableEngineIsUnavailable(t *testing.T) {
	d, err := engine.NewDocker("unix:///nonexistent/shoal-test.sock", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := testContext(t, 10*time.Second)
	if _, err := d.Info(ctx); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("Info error = %v, want ErrUnavailable", err)
	}
	if err := d.Ping(ctx); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("Ping error = %v, want ErrUnavailable", err)
	}
	if _, err := d.InspectContainer(ctx, "x"); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("InspectContainer error = %v, want ErrUnavailable", err)
	}
	events, errc := d.Events(ctx)
	select {
	case err := <-errc:
		if !errors.Is(err, engine.ErrUnavailable) {
			t.Fatalf("Events error = %v, want ErrUnavailable", err)
		}
	case <-ctx.Done():
		t.Fatal("Events did not report the unreachable engine")
	}
	if _, open := <-events; open {
		t.Fatal("event channel still open after the stream failed")
	}
}

// An engine that accepts connections and never answers: Ping ends with
// its context, it does not hang.
func TestDockerPingOfAHungEngineEndsWithItsContext(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "hung.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	d, err := engine.NewDocker("unix://"+sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := d.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping of a hung engine: %v, want the context's deadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Ping took %s past its deadline", took)
	}
}

func TestDockerPing(t *testing.T) {
	d := enginetest.RequireDocker(t)
	if err := d.Ping(testContext(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestDockerInfo(t *testing.T) {
	d := enginetest.RequireDocker(t)
	info, err := d.Info(testContext(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if info.NCPU < 1 || info.MemTotal <= 0 || info.APIVersion == "" || info.ServerVersion == "" {
		t.Fatalf("incomplete info: %+v", info)
	}
}

func TestDockerImages(t *testing.T) {
	d := enginetest.RequireDocker(t)
	ctx := testContext(t, time.Minute)
	ref := enginetest.ImportBusybox(t, d)

	if ok, err := d.ImageExists(ctx, ref); err != nil || !ok {
		t.Fatalf("ImageExists(imported) = %v, %v; want true", ok, err)
	}
	if info, err := d.InspectImage(ctx, ref); err != nil || info.ID == "" || info.User != "" {
		t.Fatalf("InspectImage(imported) = %+v, %v; want an id and no user", info, err)
	}
	absent := enginetest.UniqueName("shoal-test-absent:")
	if _, err := d.InspectImage(ctx, absent); !errors.Is(err, engine.ErrImageNotFound) {
		t.Fatalf("InspectImage(absent): %v, want ErrImageNotFound", err)
	}
	if ok, err := d.ImageExists(ctx, absent); err != nil || ok {
		t.Fatalf("ImageExists(absent) = %v, %v; want false, nil", ok, err)
	}
	_, err := d.CreateContainer(ctx, engine.ContainerSpec{Image: absent, Labels: testLabels()})
	if !errors.Is(err, engine.ErrImageNotFound) {
		t.Fatalf("create from absent image: %v, want ErrImageNotFound", err)
	}
	// No registry listens there, so the pull must fail, and fail fast.
	if err := d.PullImage(ctx, "127.0.0.1:1/shoal-test/absent:1"); err == nil {
		t.Fatal("pull from an unreachable registry succeeded")
	}
	if err := d.RemoveImage(ctx, absent); !errors.Is(err, engine.ErrImageNotFound) {
		t.Fatalf("RemoveImage(absent) = %v, want ErrImageNotFound", err)
	}
}

func TestDockerEnsureNetwork(t *testing.T) {
	d := enginetest.RequireDocker(t)
	ctx := testContext(t, 2*time.Minute)
	name := enginetest.UniqueName("shoal-test-net-")
	cli := sdkClient(t)
	t.Cleanup(func() { _ = cli.NetworkRemove(context.Background(), name) })

	spec := engine.NetworkSpec{Name: name, Subnet: "10.254.252.0/24", Gateway: "10.254.252.1",
		BridgeName: enginetest.UniqueName("sht")[:12], Options: map[string]string{"com.docker.network.bridge.enable_icc": "true"}}
	id, err := d.EnsureNetwork(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	inspect, err := cli.NetworkInspect(ctx, id, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := inspect.IPAM.Config; len(c) != 1 || c[0].Subnet != spec.Subnet || c[0].Gateway != spec.Gateway ||
		inspect.Options["com.docker.network.bridge.name"] != spec.BridgeName {
		t.Fatalf("network = %+v, options %v", inspect.IPAM.Config, inspect.Options)
	}
	again, err := d.EnsureNetwork(ctx, spec)
	if err != nil || again != id {
		t.Fatalf("second EnsureNetwork = %q, %v; want %q", again, err, id)
	}
	anySubnet, err := d.EnsureNetwork(ctx, engine.NetworkSpec{Name: name})
	if err != nil || anySubnet != id {
		t.Fatalf("EnsureNetwork without details = %q, %v; want %q", anySubnet, err, id)
	}

	// Nothing attached: another subnet re-creates it.
	moved := spec
	moved.Subnet, moved.Gateway = "10.254.253.0/24", "10.254.253.1"
	movedID, err := d.EnsureNetwork(ctx, moved)
	if err != nil || movedID == id {
		t.Fatalf("EnsureNetwork with another subnet = %q, %v; want a new network", movedID, err)
	}
	// A container attached, even stopped, keeps it.
	image := enginetest.ImportBusybox(t, d)
	user := createContainer(t, d, engine.ContainerSpec{Image: image, Cmd: []string{"sleep", "300"},
		NetworkMode: name, Labels: testLabels()})
	if _, err := d.EnsureNetwork(ctx, spec); !errors.Is(err, engine.ErrInUse) {
		t.Fatalf("EnsureNetwork of a network in use: %v, want ErrInUse", err)
	}
	if err := d.RemoveContainer(ctx, user); err != nil {
		t.Fatal(err)
	}
	if back, err := d.EnsureNetwork(ctx, spec); err != nil || back == movedID {
		t.Fatalf("EnsureNetwork once unused = %q, %v; want a new network", back, err)
	}
}

func TestDockerEnsureVolume(t *testing.T) {
	d := enginetest.RequireDocker(t)
	ctx := testContext(t, time.Minute)
	name := enginetest.UniqueName("shoal-test-vol-")
	cli := sdkClient(t)
	t.Cleanup(func() { _ = cli.VolumeRemove(context.Background(), name, true) })

	labels := testLabels("purpose", "ensure")
	if err := d.EnsureVolume(ctx, name, labels); err != nil {
		t.Fatal(err)
	}
	if err := d.EnsureVolume(ctx, name, labels); err != nil {
		t.Fatalf("second EnsureVolume: %v", err)
	}
	vol, err := cli.VolumeInspect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if vol.Labels["purpose"] != "ensure" || vol.Labels[enginetest.TestLabel] != "1" {
		t.Fatalf("volume labels = %v", vol.Labels)
	}
}

func TestDockerNotFoundAndConflict(t *testing.T) {
	d := enginetest.RequireDocker(t)
	ctx := testContext(t, time.Minute)
	ref := enginetest.ImportBusybox(t, d)
	missing := enginetest.UniqueName("shoal-test-missing-")

	if _, err := d.InspectContainer(ctx, missing); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("inspect missing: %v", err)
	}
	if err := d.StartContainer(ctx, missing); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("start missing: %v", err)
	}
	if err := d.StopContainer(ctx, missing, time.Second); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("stop missing: %v", err)
	}
	if _, err := d.Logs(ctx, missing, engine.LogOptions{}); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("logs of missing: %v", err)
	}
	if _, err := d.Exec(ctx, missing, engine.ExecConfig{Cmd: []string{"true"}}); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("exec in missing: %v", err)
	}

	spec := engine.ContainerSpec{Name: enginetest.UniqueName("shoal-test-"), Image: ref, Cmd: []string{"true"}}
	createContainer(t, d, spec)
	spec.Labels = testLabels()
	_, err := d.CreateContainer(ctx, spec)
	if !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("create with a used name: %v, want ErrConflict", err)
	}
	if !strings.Contains(err.Error(), spec.Name) {
		t.Fatalf("error %q does not name the container", err)
	}
}
