package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// A global service (a DaemonSet) that depends on a one-shot migration:
// its pod waits unbound and no container of it exists until the
// migration has completed; then the scheduler binds it to its node and
// it runs.
const composeGlobal = `
name: glob
services:
  migrate:
    image: shoal-testapp:v1
    command: ["sleep", "4s"]
    restart: "no"
  agent:
    image: shoal-testapp:v1
    command: ["serve", "--port", "9100"]
    stop_grace_period: 1s
    deploy:
      mode: global
    depends_on:
      migrate:
        condition: service_completed_successfully
`

func TestComposeGlobalServiceWaitsForItsDependencies(t *testing.T) {
	a := startAgent(t)
	file := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(file, []byte(composeGlobal), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := a.shoalIn(nil, "compose", "-f", file, "up", "-d")
	if err != nil {
		t.Fatalf("up: %v\n%s", err, stderr)
	}
	if strings.Contains(stderr, "depends_on") {
		t.Errorf("up warns about depends_on on a global service:\n%s", stderr)
	}
	migrateDone := func() bool {
		o, err := a.client.Get(ctx(t), api.KindJob, "glob", "migrate")
		if err != nil {
			return false
		}
		j := o.(*api.Job)
		return api.IsJobFinished(j) && j.Status.Succeeded == 1
	}
	// Until the migration completes, the agent's pod is gated, unbound,
	// pinned to this node, and has no container.
	sawWaiting := false
	for !migrateDone() {
		pods := a.pods(t, "glob", "com.docker.compose.service=agent")
		if len(pods) == 1 && len(pods[0].Spec.SchedulingGates) == 1 {
			p := pods[0]
			if p.Spec.NodeName != "" || api.NodeNameOfAffinity(&p.Spec) != a.name {
				t.Fatalf("gated agent pod: node %q, pinned to %q", p.Spec.NodeName, api.NodeNameOfAffinity(&p.Spec))
			}
			sawWaiting = true
		}
		if n := containersOf(projectContainers(t, a.name, "glob"), "agent"); n != 0 && !migrateDone() {
			t.Fatalf("%d agent containers exist before the migration completed", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !sawWaiting {
		t.Fatal("never saw the agent's pod waiting for the migration")
	}
	poll.Until(t, 60*time.Second, "agent running on this node", func() error {
		pods := a.pods(t, "glob", "com.docker.compose.service=agent")
		if len(pods) != 1 || pods[0].Spec.NodeName != a.name || readyOrRunning(pods) != 1 {
			return fmt.Errorf("agent pods: %d", len(pods))
		}
		if n := len(runningContainers(t, a.name, "glob", "agent")); n != 1 {
			return fmt.Errorf("%d agent containers running", n)
		}
		return nil
	})
	if ps := a.shoal("compose", "-p", "glob", "ps"); !strings.Contains(ps, "1/1") {
		t.Errorf("ps:\n%s", ps)
	}
	a.shoal("compose", "-p", "glob", "down")
}
