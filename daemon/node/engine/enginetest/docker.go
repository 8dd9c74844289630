package enginetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// DockerTestEnv is the environment variable that turns on tests against the
// local Docker Engine. With it set to "1" a missing engine fails the test
// instead of skipping it.
const DockerTestEnv = "SHOAL_TEST_DOCKER"

// TestLabel marks every container, volume and image a test makes, so that
// leftovers of an interrupted run can be found:
// docker rm -f $(docker ps -aq -f label=io.shoal.test=1).
const TestLabel = "io.shoal.test"

// RequireDocker returns a driver for the engine at $DOCKER_HOST (or the
// default socket) when SHOAL_TEST_DOCKER=1, and skips the test otherwise.
func RequireDocker(t testing.TB) *engine.Docker {
	t.Helper()
	if os.Getenv(DockerTestEnv) != "1" {
		t.Skipf("set %s=1 to run against the local Docker Engine", DockerTestEnv)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := engine.NewDocker("", log)
	if err != nil {
		t.Fatalf("%s=1 but no Docker client: %v", DockerTestEnv, err)
	}
	t.Cleanup(func() { _ = d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.Info(ctx); err != nil {
		t.Fatalf("%s=1 but the Docker Engine does not answer: %v", DockerTestEnv, err)
	}
	return d
}

// RemoveContainerAtCleanup removes the container when the test ends.
func RemoveContainerAtCleanup(t testing.TB, eng engine.Engine, id string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := eng.RemoveContainer(ctx, id); err != nil && !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// UniqueName returns prefix followed by random hex, so that concurrent test
// runs do not collide on names.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
