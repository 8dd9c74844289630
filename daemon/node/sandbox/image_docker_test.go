package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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

// TestSandboxImageInDocker imports the sandbox image into the real engine and
// runs it: the entrypoint must be `/shoal pause`, and the container must
// stop at once on SIGTERM, which PID 1 only gets through a handler.
func TestSandboxImageInDocker(t *testing.T) {
	d := enginetest.RequireDocker(t)
	exe := buildStandin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	ref, err := EnsureImage(ctx, d, exe)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.RemoveImage(context.Background(), ref); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if again, err := EnsureImage(ctx, d, exe); err != nil || again != ref {
		t.Fatalf("second EnsureImage = %q, %v", again, err)
	}

	// A stop that lands in the microseconds between the program's start-up
	// line and Pause's handler makes the Go runtime exit with 2; that race
	// is the test's, not the sandbox's, so such a run is repeated.
	for attempt := 1; ; attempt++ {
		st, took := runAndStop(t, ctx, d, ref)
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

func runAndStop(t *testing.T, ctx context.Context, d engine.Engine, ref string) (engine.State, time.Duration) {
	t.Helper()
	id, err := d.CreateContainer(ctx, engine.ContainerSpec{
		Name:    enginetest.UniqueName("shoal-test-sandbox-"),
		Image:   ref,
		Labels:  map[string]string{enginetest.TestLabel: "1"},
		IPCMode: "shareable",
	})
	if err != nil {
		t.Fatal(err)
	}
	enginetest.RemoveContainerAtCleanup(t, d, id)
	if err := d.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitLogLine(t, ctx, d, id, "ready")
	st, err := d.InspectContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running {
		t.Fatalf("sandbox not running: %+v", st)
	}

	start := time.Now()
	if err := d.StopContainer(ctx, id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	st, err = d.InspectContainer(ctx, id)
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
