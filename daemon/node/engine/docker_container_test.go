package engine_test

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
)

// waitEvent reads the stream until an event matches.
func waitEvent(t *testing.T, events <-chan engine.Event, errc <-chan error, match func(engine.Event) bool) engine.Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("event stream ended: %v", <-errc)
			}
			if match(ev) {
				return ev
			}
		case <-timeout:
			t.Fatal("no matching event within 30s")
		}
	}
}

// execOutput runs cmd in a running container and returns its stdout.
func execOutput(t *testing.T, d engine.Engine, id string, cmd ...string) string {
	t.Helper()
	ctx := testContext(t, 30*time.Second)
	sess, err := d.Exec(ctx, id, engine.ExecConfig{Cmd: cmd, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	var stdout, stderr strings.Builder
	code, err := sess.Stream(ctx, nil, &stdout, &stderr)
	if err != nil || code != 0 {
		t.Fatalf("exec %v: code %d, err %v, stderr %q", cmd, code, err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

func readLogs(t *testing.T, d engine.Engine, id string, opts engine.LogOptions) string {
	t.Helper()
	rc, err := d.Logs(testContext(t, 30*time.Second), id, opts)
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading logs: %v", err)
	}
	return string(data)
}

// TestDockerPodLifecycle runs a pod the way the agent does: a sandbox that
// owns the network, IPC and PID namespaces, and an app container joined to
// it with env, mounts, limits and labels.
func TestDockerPodLifecycle(t *testing.T) {
	d := enginetest.RequireDocker(t)
	ctx := testContext(t, 2*time.Minute)
	image := enginetest.ImportBusybox(t, d)
	cli := sdkClient(t)

	netName := enginetest.UniqueName("shoal-test-net-")
	t.Cleanup(func() { _ = cli.NetworkRemove(context.Background(), netName) })
	subnet := netip.MustParsePrefix("10.254.251.0/24")
	if _, err := d.EnsureNetwork(ctx, engine.NetworkSpec{Name: netName, Subnet: subnet.String()}); err != nil {
		t.Fatal(err)
	}
	volName := enginetest.UniqueName("shoal-test-vol-")
	t.Cleanup(func() { _ = cli.VolumeRemove(context.Background(), volName, true) })
	if err := d.EnsureVolume(ctx, volName, testLabels()); err != nil {
		t.Fatal(err)
	}
	hostDir := t.TempDir()
	if err := os.Chmod(hostDir, 0o755); err != nil { // the app runs as uid 1000
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hostDir, "in.txt"), []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	events, errc := d.Events(ctx)

	sandboxID := runContainer(t, d, engine.ContainerSpec{
		Name:         enginetest.UniqueName("shoal-test-sandbox-"),
		Image:        image,
		Cmd:          []string{"sleep", "300"},
		Labels:       testLabels(engine.LabelContainer, engine.SandboxContainerName),
		Hostname:     "sandbox-host",
		NetworkMode:  netName,
		IPCMode:      "shareable",
		DNS:          []string{"10.254.251.53"},
		DNSSearch:    []string{"default.svc.cluster.local"},
		DNSOptions:   []string{"ndots:5"},
		PortBindings: []engine.PortBinding{{ContainerPort: 8080, Protocol: "tcp", HostIP: "127.0.0.1"}},
	})
	sandbox, err := d.InspectContainer(ctx, sandboxID)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := netip.ParseAddr(sandbox.IPAddress)
	if err != nil || !subnet.Contains(ip) {
		t.Fatalf("sandbox IP %q not in %s", sandbox.IPAddress, subnet)
	}
	if !sandbox.Running || sandbox.Status != "running" || sandbox.StartedAt.IsZero() {
		t.Fatalf("sandbox state = %+v", sandbox)
	}
	if sandbox.Labels[engine.LabelContainer] != engine.SandboxContainerName || sandbox.Image != image {
		t.Fatalf("sandbox labels/image = %v / %q", sandbox.Labels, sandbox.Image)
	}
	if got := execOutput(t, d, sandboxID, "hostname"); got != "sandbox-host" {
		t.Fatalf("sandbox hostname = %q", got)
	}
	resolv := execOutput(t, d, sandboxID, "cat", "/etc/resolv.conf")
	if !strings.Contains(resolv, "search default.svc.cluster.local") || !strings.Contains(resolv, "ndots:5") {
		t.Fatalf("resolv.conf lacks the search path or options:\n%s", resolv)
	}

	const script = `echo "greeting=$GREETING"; echo "user=$(id -u)"; echo "cwd=$(pwd)"; cat /ro/in.txt
touch /ro/x 2>/dev/null || echo ro-bind
touch /rootfs-file 2>/dev/null || echo ro-rootfs
echo t > /scratch/f && grep -q " /scratch tmpfs " /proc/mounts && echo tmpfs
test -d /vol && echo volume
echo "mem=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
echo "net=$(readlink /proc/self/ns/net)"; echo "ipc=$(readlink /proc/self/ns/ipc)"; echo "pid=$(readlink /proc/self/ns/pid)"
exit 3`
	appID := runContainer(t, d, engine.ContainerSpec{
		Name:           enginetest.UniqueName("shoal-test-app-"),
		Image:          image,
		Entrypoint:     []string{"sh", "-c"},
		Cmd:            []string{script},
		Env:            []string{"GREETING=hello"},
		WorkingDir:     "/tmp",
		User:           "1000",
		Labels:         testLabels(engine.LabelContainer, "app"),
		NetworkMode:    "container:" + sandboxID,
		IPCMode:        "container:" + sandboxID,
		PIDMode:        "container:" + sandboxID,
		ReadOnlyRootfs: true,
		MemoryBytes:    64 << 20,
		NanoCPUs:       500_000_000,
		Mounts: []engine.Mount{
			{Type: "bind", Source: hostDir, Target: "/ro", ReadOnly: true},
			{Type: "volume", Source: volName, Target: "/vol"},
			{Type: "tmpfs", Target: "/scratch"},
		},
	})

	die := waitEvent(t, events, errc, func(ev engine.Event) bool {
		return ev.ContainerID == appID && ev.Action == "die"
	})
	if die.ExitCode != "3" || die.Labels[engine.LabelContainer] != "app" || die.Time.IsZero() {
		t.Fatalf("die event = %+v", die)
	}
	app := waitExited(t, d, appID)
	if app.ExitCode != 3 || app.Status != "exited" || app.FinishedAt.Before(app.StartedAt) {
		t.Fatalf("app state = %+v", app)
	}

	out := readLogs(t, d, appID, engine.LogOptions{})
	want := []string{
		"greeting=hello", "user=1000", "cwd=/tmp", "from-host", "ro-bind", "ro-rootfs", "tmpfs", "volume",
		"mem=67108864",
		"net=" + execOutput(t, d, sandboxID, "readlink", "/proc/self/ns/net"),
		"ipc=" + execOutput(t, d, sandboxID, "readlink", "/proc/self/ns/ipc"),
		"pid=" + execOutput(t, d, sandboxID, "readlink", "/proc/self/ns/pid"),
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("app output lacks %q; got:\n%s", w, out)
		}
	}
}

func TestDockerStopWithTimeoutAndSignal(t *testing.T) {
	d := enginetest.RequireDocker(t)
	ctx := testContext(t, time.Minute)
	image := enginetest.ImportBusybox(t, d)

	// As PID 1 without a handler, sleep ignores SIGTERM: only the kill at
	// the end of the timeout stops it.
	stubborn := runContainer(t, d, engine.ContainerSpec{Image: image, Cmd: []string{"sleep", "300"}})
	start := time.Now()
	if err := d.StopContainer(ctx, stubborn, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	st, err := d.InspectContainer(ctx, stubborn)
	if err != nil {
		t.Fatal(err)
	}
	if st.Running || st.ExitCode != 137 {
		t.Fatalf("after stop: running=%v exit=%d, want killed (137)", st.Running, st.ExitCode)
	}
	// 1.5 s rounds up to 2 s.
	if elapsed < 2*time.Second || elapsed > 15*time.Second {
		t.Fatalf("stop took %s, want about 2s", elapsed)
	}

	// The stop signal of the spec is what the engine sends.
	graceful := runContainer(t, d, engine.ContainerSpec{
		Image:      image,
		Cmd:        []string{"sh", "-c", `trap "exit 42" USR1; while true; do sleep 0.1; done`},
		StopSignal: "SIGUSR1",
	})
	if err := d.StopContainer(ctx, graceful, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := waitExited(t, d, graceful); st.ExitCode != 42 {
		t.Fatalf("exit code after SIGUSR1 = %d, want 42", st.ExitCode)
	}
	// Stopping a stopped container is fine.
	if err := d.StopContainer(ctx, graceful, time.Second); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

func TestDockerRemove(t *testing.T) {
	d := enginetest.RequireDocker(t)
	ctx := testContext(t, time.Minute)
	image := enginetest.ImportBusybox(t, d)
	id := runContainer(t, d, engine.ContainerSpec{Image: image, Cmd: []string{"sleep", "300"}})

	if err := d.RemoveContainer(ctx, id); err != nil {
		t.Fatalf("remove running container: %v", err)
	}
	if _, err := d.InspectContainer(ctx, id); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("inspect after remove: %v, want ErrNotFound", err)
	}
	if err := d.RemoveContainer(ctx, id); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("second remove: %v, want ErrNotFound", err)
	}
}

func TestDockerListByLabel(t *testing.T) {
	d := enginetest.RequireDocker(t)
	ctx := testContext(t, time.Minute)
	image := enginetest.ImportBusybox(t, d)
	run := enginetest.UniqueName("")
	nameA := enginetest.UniqueName("shoal-test-a-")
	idA := createContainer(t, d, engine.ContainerSpec{Name: nameA, Image: image, Cmd: []string{"true"},
		Labels: testLabels("io.shoal.testrun", run, "role", "a")})
	idB := createContainer(t, d, engine.ContainerSpec{Image: image, Cmd: []string{"true"},
		Labels: testLabels("io.shoal.testrun", run, "role", "b")})

	ids := func(labels map[string]string) []string {
		t.Helper()
		list, err := d.ListContainers(ctx, labels)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range list {
			out = append(out, s.ID)
		}
		slices.Sort(out)
		return out
	}
	both := []string{idA, idB}
	slices.Sort(both)
	if got := ids(map[string]string{"io.shoal.testrun": run}); !slices.Equal(got, both) {
		t.Fatalf("list by run = %v, want %v", got, both)
	}
	if got := ids(map[string]string{"io.shoal.testrun": run, "role": ""}); !slices.Equal(got, both) {
		t.Fatalf("list by run and any role = %v, want %v", got, both)
	}
	if got := ids(map[string]string{"io.shoal.testrun": run, "role": "a"}); !slices.Equal(got, []string{idA}) {
		t.Fatalf("list by role a = %v, want [%s]", got, idA)
	}

	list, err := d.ListContainers(ctx, map[string]string{"io.shoal.testrun": run, "role": "a"})
	if err != nil {
		t.Fatal(err)
	}
	s := list[0]
	if !slices.Equal(s.Names, []string{nameA}) || s.State != "created" || s.Image != image ||
		s.Labels["role"] != "a" || time.Since(s.Created) > time.Minute {
		t.Fatalf("summary = %+v", s)
	}
}
