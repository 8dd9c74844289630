package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// historyV1 and historyV2 are two states of one project: v2 changes web
// (image and environment), removes cache, adds worker and keeps db.
const historyV1 = `
name: hist
services:
  db:
    image: shoal-testapp:v1
    command: ["serve", "--port", "5432"]
    stop_grace_period: 1s
  web:
    image: shoal-testapp:v1
    command: ["serve", "--port", "8080"]
    scale: 2
    stop_grace_period: 1s
    environment:
      MODE: one
  cache:
    image: shoal-testapp:v1
    command: ["serve", "--port", "6379"]
    stop_grace_period: 1s
`

const historyV2 = `
name: hist
services:
  db:
    image: shoal-testapp:v1
    command: ["serve", "--port", "5432"]
    stop_grace_period: 1s
  web:
    image: shoal-testapp:v2
    command: ["serve", "--port", "8080"]
    scale: 2
    stop_grace_period: 1s
    environment:
      MODE: two
  worker:
    image: shoal-testapp:v1
    command: ["serve", "--port", "9000"]
    stop_grace_period: 1s
`

// runningContainers maps each app container running for the project to
// its image, keyed by container id.
func runningContainers(t *testing.T, node, ns, name string) map[string]string {
	out := map[string]string{}
	for _, c := range projectContainers(t, node, ns) {
		if c.State == "running" && c.Labels["io.shoal.container.name"] == name {
			out[c.ID] = c.Image
		}
	}
	return out
}

// TestComposeRollbackReturnsEveryService runs two revisions of a project
// on a real agent and engine and rolls the whole project back to the
// first: every service is as v1 had it (images, environment; the added
// service gone, the removed one back), in one apply, with db's container
// untouched; the history shows the three revisions.
func TestComposeRollbackReturnsEveryService(t *testing.T) {
	a := startAgent(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	write := func(text string) {
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(historyV1)
	out := a.shoal("compose", "-f", file, "up", "--wait-timeout", "3m")
	if !strings.Contains(out, "revision 1 recorded") || !strings.Contains(out, "web: running, 2/2 ready") {
		t.Fatalf("up of v1:\n%s", out)
	}
	dbContainers := runningContainers(t, a.name, "hist", "db")
	if len(dbContainers) != 1 {
		t.Fatalf("db containers after v1: %v", dbContainers)
	}

	write(historyV2)
	out = a.shoal("compose", "-f", file, "up", "--wait-timeout", "3m")
	for _, want := range []string{"deployment.apps/web configured", "deployment.apps/worker created", "deployment.apps/cache deleted",
		"deployment.apps/db unchanged", "revision 2 recorded: Upgrade complete", "worker: running, 1/1 ready"} {
		if !strings.Contains(out, want) {
			t.Fatalf("up of v2 lacks %q:\n%s", want, out)
		}
	}
	hist := a.shoal("compose", "-p", "hist", "history")
	if !strings.Contains(hist, "web, +worker, -cache") || strings.Count(hist, "\n") != 3 {
		t.Fatalf("history after v2:\n%s", hist)
	}

	out = a.shoal("compose", "-p", "hist", "rollback", "--wait-timeout", "3m")
	for _, want := range []string{"deployment.apps/db unchanged", "deployment.apps/web configured", "deployment.apps/cache created",
		"deployment.apps/worker deleted (not in revision 1)", "revision 3 recorded: Rollback to 1", "web: running, 2/2 ready", "cache: running, 1/1 ready"} {
		if !strings.Contains(out, want) {
			t.Errorf("rollback lacks %q:\n%s", want, out)
		}
	}
	// One apply: every object line, the pruned worker's included, comes
	// from one answer, before anything else is printed.
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "namespace/hist unchanged") || strings.Count(out, "namespace/hist") != 1 {
		t.Errorf("rollback's first line is not its one apply's answer:\n%s", out)
	}

	poll.Until(t, 90*time.Second, "every service as v1 had it", func() error {
		for _, p := range a.pods(t, "hist", "com.docker.compose.service=web") {
			if p.DeletionTimestamp != nil {
				return fmt.Errorf("web pod %s still stopping", p.Name)
			}
			if c := p.Spec.Containers[0]; c.Image != "shoal-testapp:v1" || c.Env[0].Value != "one" {
				return fmt.Errorf("web pod %s runs %s with MODE=%s", p.Name, c.Image, c.Env[0].Value)
			}
		}
		web := runningContainers(t, a.name, "hist", "web")
		if len(web) != 2 {
			return fmt.Errorf("%d web containers running", len(web))
		}
		if n := len(runningContainers(t, a.name, "hist", "worker")); n != 0 {
			return fmt.Errorf("%d worker containers running", n)
		}
		if n := len(runningContainers(t, a.name, "hist", "cache")); n != 1 {
			return fmt.Errorf("%d cache containers running", n)
		}
		return nil
	})
	if _, err := a.client.Get(ctx(t), api.KindDeployment, "hist", "worker"); !api.IsNotFound(err) {
		t.Errorf("worker after rollback: %v", err)
	}
	for id := range runningContainers(t, a.name, "hist", "db") {
		if _, ok := dbContainers[id]; !ok {
			t.Errorf("db's container was replaced (%s): rollback restarted an unchanged service", id[:12])
		}
	}

	var rows []struct {
		Revision    int      `json:"revision"`
		Status      string   `json:"status"`
		Changed     []string `json:"servicesChanged"`
		Description string   `json:"description"`
	}
	if err := json.Unmarshal([]byte(a.shoal("compose", "-p", "hist", "history", "-o", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[2].Description != "Rollback to 1" || rows[2].Status != "deployed" || rows[1].Status != "superseded" {
		t.Fatalf("history after rollback: %+v", rows)
	}
	// The revisions are Secrets, kept encrypted at rest like the others.
	sel, _ := api.ParseSelector("compose.shoal.io/revision")
	secrets, _, err := a.client.List(ctx(t), api.KindSecret, "hist", api.ListOptions{LabelSelector: sel})
	if err != nil || len(secrets) != 3 {
		t.Fatalf("revision secrets: %d %v", len(secrets), err)
	}

	out = a.shoal("compose", "-p", "hist", "down")
	if !strings.Contains(out, "namespace/hist deleted") {
		t.Fatalf("down:\n%s", out)
	}
}
