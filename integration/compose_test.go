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

// composeShop is a project where the test image plays a database (healthy
// only once the test creates /tmp/healthy in it: its start_period keeps
// the unhealthy container from being restarted meanwhile), a one-shot
// migration and a web service that needs both.
const composeShop = `
name: shop
services:
  db:
    image: shoal-testapp:v1
    command: ["serve", "--port", "5432"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/healthy"]
      interval: 1s
      retries: 2
      start_period: 10m
      start_interval: 1s
  migrate:
    image: shoal-testapp:v1
    command: ["sleep", "2s"]
    restart: "no"
  web:
    image: shoal-testapp:v1
    command: ["serve", "--port", "8080"]
    scale: 2
    stop_grace_period: 1s
    environment:
      MODE: one
    depends_on:
      db:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
`

// projectContainers lists the node's containers of the project's pods
// (sandboxes included), by the container name label.
func projectContainers(t *testing.T, node, ns string) []container {
	var out []container
	for _, c := range dockerPS(t, node) {
		if c.Labels["io.shoal.pod.namespace"] == ns {
			out = append(out, c)
		}
	}
	return out
}

func containersOf(cs []container, name string) int {
	n := 0
	for _, c := range cs {
		if c.Labels["io.shoal.container.name"] == name {
			n++
		}
	}
	return n
}

func generationOf(t *testing.T, a *agent, k *api.Kind, name string) int64 {
	t.Helper()
	o, err := a.client.Get(ctx(t), k, "shop", name)
	if err != nil {
		t.Fatal(err)
	}
	return o.GetObjectMeta().Generation
}

// TestComposeUpHoldsDependentsUntilTheirDependenciesHold runs a project
// with depends_on on a real agent and engine: web's pods stay gated, and
// no web container exists, until the migration has completed and the
// database is healthy; `up` of an edited file changes only the edited
// service; ps shows the services; down leaves no container, object or
// namespace.
func TestComposeUpHoldsDependentsUntilTheirDependenciesHold(t *testing.T) {
	a := startAgent(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(composeShop), 0o644); err != nil {
		t.Fatal(err)
	}
	out := a.shoal("compose", "-f", file, "up", "-d")
	for _, want := range []string{"namespace/shop created", "deployment.apps/db created", "job.batch/migrate created", "deployment.apps/web created"} {
		if !strings.Contains(out, want) {
			t.Fatalf("up -d lacks %q:\n%s", want, out)
		}
	}

	webGated := func() error {
		pods := a.pods(t, "shop", "com.docker.compose.service=web")
		if len(pods) != 2 {
			return fmt.Errorf("%d web pods, want 2", len(pods))
		}
		for _, p := range pods {
			c := api.FindCondition(p.Status.Conditions, api.PodScheduled)
			if len(p.Spec.SchedulingGates) != 1 || p.Spec.NodeName != "" || c == nil || c.Reason != "SchedulingGated" {
				return fmt.Errorf("pod %s: gates %v node %q PodScheduled %+v", p.Name, p.Spec.SchedulingGates, p.Spec.NodeName, c)
			}
		}
		if n := containersOf(projectContainers(t, a.name, "shop"), "web"); n != 0 {
			return fmt.Errorf("%d web containers exist", n)
		}
		return nil
	}
	poll.Until(t, 60*time.Second, "db running, web gated", func() error {
		if n := readyOrRunning(a.pods(t, "shop", "com.docker.compose.service=db")); n != 1 {
			return fmt.Errorf("%d db pods running", n)
		}
		return webGated()
	})
	poll.Until(t, 60*time.Second, "migrate completed", func() error {
		o, err := a.client.Get(ctx(t), api.KindJob, "shop", "migrate")
		if err != nil {
			return err
		}
		if j := o.(*api.Job); !api.IsJobFinished(j) || j.Status.Succeeded != 1 {
			return fmt.Errorf("migrate %+v", j.Status)
		}
		return nil
	})
	// The migration completed, the database is not healthy: web waits.
	for range 5 {
		time.Sleep(time.Second)
		if err := webGated(); err != nil {
			t.Fatalf("web released while db is not healthy: %v", err)
		}
	}
	if ps := a.shoal("compose", "-p", "shop", "ps"); !strings.Contains(ps, "waiting for db, migrate") || !strings.Contains(ps, "completed") {
		t.Fatalf("ps while web waits:\n%s", ps)
	}

	dbPods := a.pods(t, "shop", "com.docker.compose.service=db")
	var dbID string
	for _, c := range projectContainers(t, a.name, "shop") {
		if c.Labels["io.shoal.container.name"] == "db" && c.State == "running" && c.Labels["io.shoal.pod.name"] == dbPods[0].Name {
			dbID = c.ID
		}
	}
	if dbID == "" {
		t.Fatal("no running db container")
	}
	docker(t, "exec", dbID, "/bin/busybox", "touch", "/tmp/healthy")
	poll.Until(t, 90*time.Second, "web running and ready", func() error {
		pods := a.pods(t, "shop", "com.docker.compose.service=web")
		if n := readyPods(pods); n != 2 {
			return fmt.Errorf("%d of 2 web pods ready", n)
		}
		return nil
	})

	// An edited web: only web changes.
	gens := map[string]int64{"db": generationOf(t, a, api.KindDeployment, "db"), "web": generationOf(t, a, api.KindDeployment, "web"),
		"migrate": generationOf(t, a, api.KindJob, "migrate")}
	if err := os.WriteFile(file, []byte(strings.Replace(composeShop, "MODE: one", "MODE: two", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out = a.shoal("compose", "-f", file, "up", "--wait-timeout", "3m")
	if !strings.Contains(out, "deployment.apps/web configured") || strings.Count(out, "configured") != 1 || strings.Contains(out, "created") {
		t.Fatalf("up of an edited web:\n%s", out)
	}
	for _, want := range []string{"web: running, 2/2 ready", "db: running, 1/1 ready", "migrate: completed"} {
		if !strings.Contains(out, want) {
			t.Errorf("up's progress lacks %q:\n%s", want, out)
		}
	}
	if g := generationOf(t, a, api.KindDeployment, "db"); g != gens["db"] {
		t.Errorf("db generation %d -> %d: rewritten although unchanged", gens["db"], g)
	}
	if g := generationOf(t, a, api.KindJob, "migrate"); g != gens["migrate"] {
		t.Errorf("migrate generation %d -> %d: rewritten although unchanged", gens["migrate"], g)
	}
	if g := generationOf(t, a, api.KindDeployment, "web"); g != gens["web"]+1 {
		t.Errorf("web generation %d -> %d, want one more", gens["web"], g)
	}
	for _, p := range a.pods(t, "shop", "com.docker.compose.service=web") {
		if p.DeletionTimestamp == nil && p.Spec.Containers[0].Env[0].Value != "two" {
			t.Errorf("web pod %s runs the old definition after up returned", p.Name)
		}
	}

	ps := a.shoal("compose", "-p", "shop", "ps")
	for _, want := range []string{"db        Deployment", "migrate   Job", "web       Deployment", "2/2"} {
		if !strings.Contains(ps, want) {
			t.Errorf("ps lacks %q:\n%s", want, ps)
		}
	}
	if logs := a.shoal("compose", "-p", "shop", "logs", "migrate"); logs != "" && !strings.HasPrefix(logs, "migrate-") {
		t.Errorf("logs of migrate not prefixed by its pod:\n%s", logs)
	}

	out = a.shoal("compose", "-f", file, "down")
	if !strings.Contains(out, "namespace/shop deleted") {
		t.Fatalf("down:\n%s", out)
	}
	// down returns once no app container of the project runs; the node's
	// reaper removes the stopped containers and the sandboxes right after.
	for _, c := range projectContainers(t, a.name, "shop") {
		if c.State == "running" && c.Labels["io.shoal.container.name"] != "POD" {
			t.Errorf("down returned with container %s running", c.Names)
		}
	}
	poll.Until(t, 60*time.Second, "no container of the project left", func() error {
		if cs := projectContainers(t, a.name, "shop"); len(cs) != 0 {
			return fmt.Errorf("%d containers left, such as %s (%s)", len(cs), cs[0].Names, cs[0].State)
		}
		return nil
	})
	for _, k := range []*api.Kind{api.KindDeployment, api.KindJob, api.KindReplicaSet, api.KindPod, api.KindService, api.KindEndpoints} {
		objs, _, err := a.client.List(ctx(t), k, "shop", api.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) != 0 {
			t.Errorf("down left %d %s", len(objs), k.Resource)
		}
	}
	if _, err := a.client.Get(ctx(t), api.KindNamespace, "", "shop"); !api.IsNotFound(err) {
		t.Errorf("namespace shop after down: %v", err)
	}
}

func readyOrRunning(pods []*api.Pod) int {
	n := 0
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase == api.PodRunning {
			n++
		}
	}
	return n
}
