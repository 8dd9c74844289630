//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// buildStandin compiles testdata/standin, a static program that runs Pause
// like `shoal pause` does, to stand in for the shoal binary.
func buildStandin(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build the stand-in binary: %v", err)
	}
	out := filepath.Join(t.TempDir(), "shoal")
	cmd := exec.Command(goTool, "build", "-o", out, "./testdata/standin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in: %v\n%s", err, output)
	}
	return out
}

// TestSandboxImageInDocker imports the sandbox image the agent makes on
// this machine (the tiny pause) into the real engine and runs it: the
// process holds a few kilobytes, the pod's containers share the hosts
// entry the agent adds through the process's root, and the container stops
// at once on SIGTERM, which PID 1 only gets when it has asked for it.
func TestSandboxImageInDocker(t *testing.T) {
	d := enginetest.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	ref, err := EnsureImage(ctx, d, filepath.Join(t.TempDir(), "no-binary-needed"))
	if err != nil {
		t.Fatal(err)
	}
	if again, err := EnsureImage(ctx, d, "/also/not/needed"); err != nil || again != ref {
		t.Fatalf("second EnsureImage = %q, %v", again, err)
	}
	id, pid := runSandbox(t, ctx, d, ref, engine.ContainerSpec{NetworkMode: "none", Hostname: "web-0"}, func(_ string, pid int) {
		waitInSigtimedwait(t, pid)
	})
	if rss := statusKB(pid, "VmRSS"); rss <= 0 || rss > 100 {
		t.Fatalf("the sandbox's process holds %d kB, want a few", rss)
	}

	// A container of the pod shares the sandbox's hosts file.
	app, appPid := runSandbox(t, ctx, d, ref, engine.ContainerSpec{NetworkMode: "container:" + id}, func(_ string, pid int) {
		waitInSigtimedwait(t, pid)
	})
	if err := AddHostsEntry(pid, netip.MustParseAddr("10.244.3.7"), "web-0"); err != nil {
		t.Fatal(err)
	}
	hosts, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/etc/hosts", appPid))
	if err != nil || !strings.Contains(string(hosts), "\n10.244.3.7\tweb-0\n") {
		t.Fatalf("the app container's hosts file: %v\n%s", err, hosts)
	}
	stopSandbox(t, ctx, d, app)
	if st, took := stopSandbox(t, ctx, d, id); st.ExitCode != 0 || st.OOMKilled || took > 8*time.Second {
		t.Fatalf("sandbox exited with %d after a stop of %s, want 0 at once (the pause handles SIGTERM)", st.ExitCode, took)
	}
}

// TestBinarySandboxImageInDocker runs the image made of the agent's binary,
// the sandbox of machines with no tiny pause: its entrypoint must be
// `/shoal pause`, and the container must stop at once on SIGTERM.
func TestBinarySandboxImageInDocker(t *testing.T) {
	d := enginetest.RequireDocker(t)
	exe := buildStandin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	ref, err := ensureBinaryImage(ctx, d, exe)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.RemoveImage(context.Background(), ref); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if again, err := ensureBinaryImage(ctx, d, exe); err != nil || again != ref {
		t.Fatalf("second import = %q, %v", again, err)
	}

	// A stop that lands in the microseconds between the program's start-up
	// line and Pause's handler makes the Go runtime exit with 2; that race
	// is the test's, not the sandbox's, so such a run is repeated.
	for attempt := 1; ; attempt++ {
		id, _ := runSandbox(t, ctx, d, ref, engine.ContainerSpec{IPCMode: "shareable"}, func(id string, _ int) {
			waitLogLine(t, ctx, d, id, "ready")
		})
		st, took := stopSandbox(t, ctx, d, id)
		if st.ExitCode == 2 && attempt < 3 {
			continue
		}
		if st.ExitCode != 0 || st.OOMKilled {
			t.Fatalf("sandbox exited with %d after stop, want 0 (Pause handles SIGTERM)", st.ExitCode)
		}
		if took > 8*time.Second {
			t.Fatalf("stop took %s: SIGTERM was not handled, the engine had to kill", took)
		}
		return
	}
}

// runSandbox creates and starts a container of the image with spec and
// returns once ready says the container's process is in place.
func runSandbox(t *testing.T, ctx context.Context, d engine.Engine, ref string, spec engine.ContainerSpec, ready func(id string, pid int)) (string, int) {
	t.Helper()
	spec.Name = enginetest.UniqueName("shoal-test-sandbox-")
	spec.Image = ref
	spec.Labels = map[string]string{enginetest.TestLabel: "1"}
	id, err := d.CreateContainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	enginetest.RemoveContainerAtCleanup(t, d, id)
	if err := d.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	st, err := d.InspectContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running || st.Pid <= 0 {
		t.Fatalf("sandbox not running: %+v", st)
	}
	ready(id, st.Pid)
	return id, st.Pid
}

// stopSandbox stops the container and says how it ended and how long the
// stop took.
func stopSandbox(t *testing.T, ctx context.Context, d engine.Engine, id string) (engine.State, time.Duration) {
	t.Helper()
	start := time.Now()
	if err := d.StopContainer(ctx, id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	st, err := d.InspectContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Running {
		t.Fatal("sandbox still running after stop")
	}
	return st, took
}

func waitLogLine(t *testing.T, ctx context.Context, d engine.Engine, id, line string) {
	t.Helper()
	poll.Until(t, 30*time.Second, fmt.Sprintf("%q in the sandbox's log", line), func() error {
		rc, err := d.Logs(ctx, id, engine.LogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), line+"\n") {
			return fmt.Errorf("got %q", data)
		}
		return nil
	})
}

// TestOldSandboxImagesAreRemovedUnlessUsed leaves two sandbox images of
// "earlier builds" in the real engine, one of them used by a container:
// the unused one goes, the used one and the current one stay.
func TestOldSandboxImagesAreRemovedUnlessUsed(t *testing.T) {
	d := enginetest.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	current, err := EnsureImage(ctx, d, "")
	if err != nil {
		t.Fatal(err)
	}
	program, _ := TinyPause(runtime.GOARCH)
	old := func(tag string, variant byte) string {
		// Another content, so another image, not another tag of one.
		rootfs, err := tinyRootfs(append(slices.Clone(program), variant))
		if err != nil {
			t.Fatal(err)
		}
		ref := ImageRepository + ":" + tag
		if err := d.ImportImage(ctx, bytes.NewReader(rootfs), ref, []string{TinyEntrypoint}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.RemoveImage(context.Background(), ref) })
		return ref
	}
	unused, used := old("test-old-unused", 1), old("test-old-used", 2)
	id, err := d.CreateContainer(ctx, engine.ContainerSpec{Name: enginetest.UniqueName("shoal-test-old-sandbox-"), Image: used,
		Labels: map[string]string{enginetest.TestLabel: "1"}})
	if err != nil {
		t.Fatal(err)
	}
	enginetest.RemoveContainerAtCleanup(t, d, id)

	removed := RemoveOldImages(ctx, d, current, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if !slices.Contains(removed, unused) || slices.Contains(removed, used) || slices.Contains(removed, current) {
		t.Fatalf("removed %v; want %s and neither %s nor %s", removed, unused, used, current)
	}
	for ref, want := range map[string]bool{unused: false, used: true, current: true} {
		if got, err := d.ImageExists(ctx, ref); err != nil || got != want {
			t.Errorf("%s present = %v (%v), want %v", ref, got, err, want)
		}
	}
}
