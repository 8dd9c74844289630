package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

const clusterComposeV1 = `
name: multi
services:
  migrate:
    image: shoal-testapp:v1
    command: ["sleep", "3s"]
    restart: "no"
  agent:
    image: shoal-testapp:v1
    command: ["serve", "--port", "9100"]
    stop_grace_period: 1s
    deploy: {mode: global}
    depends_on:
      migrate: {condition: service_completed_successfully}
  web:
    image: shoal-testapp:v1
    command: ["serve", "--port", "8080"]
    scale: 3
    stop_grace_period: 1s
`

// TestClusterComposeGlobalServiceAndRollback runs a project on three
// hosts: the global service waits for the migration, then runs one pod on
// each host (each bound to the host it was pinned to); an up of an edited
// web and a rollback return web's pods on every host to v1's image.
func TestClusterComposeGlobalServiceAndRollback(t *testing.T) {
	c := startCluster(t, 3)
	h1 := c.agent(1)
	file := filepath.Join(t.TempDir(), "compose.yaml")
	write := func(text string) {
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(clusterComposeV1)
	h1.shoal("compose", "-f", file, "up", "-d")
	poll.Until(t, 120*time.Second, "one agent pod running on each host, after the migration", func() error {
		pods := h1.pods(t, "multi", "com.docker.compose.service=agent")
		var nodes []string
		for _, p := range pods {
			if p.Status.Phase != "Running" {
				return fmt.Errorf("agent pod %s: %s (node %q)", p.Name, p.Status.Phase, p.Spec.NodeName)
			}
			nodes = append(nodes, p.Spec.NodeName)
		}
		sort.Strings(nodes)
		if strings.Join(nodes, ",") != "h1,h2,h3" {
			return fmt.Errorf("agent pods on %v", nodes)
		}
		return nil
	})
	mig := h1.pods(t, "multi", "com.docker.compose.service=migrate")
	agents := h1.pods(t, "multi", "com.docker.compose.service=agent")
	if len(mig) != 1 || mig[0].Status.Phase != "Succeeded" {
		t.Fatalf("migrate: %d pods", len(mig))
	}
	var migEnd time.Time
	for _, cs := range mig[0].Status.ContainerStatuses {
		if cs.State.Terminated != nil {
			migEnd = cs.State.Terminated.FinishedAt.Time
		}
	}
	for _, p := range agents {
		for _, cs := range p.Status.ContainerStatuses {
			if r := cs.State.Running; r != nil && !migEnd.IsZero() && r.StartedAt.Time.Before(migEnd) {
				t.Errorf("agent on %s started at %s, before the migration ended at %s", p.Spec.NodeName, r.StartedAt.Time, migEnd)
			}
		}
	}

	webImages := func() []string {
		var out []string
		for _, p := range h1.pods(t, "multi", "com.docker.compose.service=web") {
			if p.DeletionTimestamp == nil && p.Status.Phase == "Running" {
				out = append(out, p.Spec.Containers[0].Image)
			}
		}
		sort.Strings(out)
		return out
	}
	write(strings.Replace(clusterComposeV1, "image: shoal-testapp:v1\n    command: [\"serve\", \"--port\", \"8080\"]", "image: shoal-testapp:v2\n    command: [\"serve\", \"--port\", \"8080\"]", 1))
	h1.shoal("compose", "-f", file, "up", "--wait-timeout", "3m")
	if got := strings.Join(webImages(), ","); got != strings.Repeat("shoal-testapp:v2,", 2)+"shoal-testapp:v2" {
		t.Fatalf("web after up of v2: %s", got)
	}
	// The rollback goes through another host's agent, without the file.
	out := c.agent(2).shoal("compose", "-p", "multi", "rollback", "--wait-timeout", "3m")
	if !strings.Contains(out, "deployment.apps/web configured") || !strings.Contains(out, "daemonset.apps/agent unchanged") {
		t.Fatalf("rollback:\n%s", out)
	}
	poll.Until(t, 60*time.Second, "web on v1 everywhere", func() error {
		if got := strings.Join(webImages(), ","); got != strings.Repeat("shoal-testapp:v1,", 2)+"shoal-testapp:v1" {
			return fmt.Errorf("web runs %s", got)
		}
		return nil
	})
	if hist := h1.shoal("compose", "-p", "multi", "history"); !strings.Contains(hist, "Rollback to 1") {
		t.Fatalf("history:\n%s", hist)
	}
}
