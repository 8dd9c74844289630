package controller

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/compose"
	"github.com/shoal-dev/shoal/internal/poll"
	"github.com/shoal-dev/shoal/registry"
)

// The controller reads what the converter writes: the same names.
func TestComposeDepsNamesMatchTheConverter(t *testing.T) {
	mine := []string{composeLabelProject, composeLabelService, composeDependsOn, composeDependsOn}
	theirs := []string{compose.LabelProject, compose.LabelService, compose.AnnotationDependsOn, compose.GateDependsOn}
	for i := range mine {
		if mine[i] != theirs[i] {
			t.Errorf("the controller reads %q where package compose writes %q", mine[i], theirs[i])
		}
	}
}

const shopDeps = `
name: shop
services:
  db:
    image: img:db
    healthcheck:
      test: ["CMD", "/check"]
  migrate:
    image: img:migrate
    depends_on:
      db:
        condition: service_started
  web:
    image: img:web
    scale: 2
    depends_on:
      db:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
      cache:
        condition: service_started
        required: false
  cache:
    image: img:cache
    profiles: [never]
`

// convertProject loads and converts a compose file, as shoal compose up
// does, and creates its objects.
func convertProject(t *testing.T, store *registry.Registry, yaml string) {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := compose.Load(context.Background(), compose.LoadOptions{Files: []string{f}, Environment: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := compose.Convert(p, compose.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects {
		mustCreate(t, store, o)
	}
}

func servicePods(t *testing.T, store *registry.Registry, svc string) []*api.Pod {
	t.Helper()
	objs, _, err := store.List(context.Background(), api.KindPod, "shop", api.SelectorFromSet(map[string]string{composeLabelService: svc}))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*api.Pod, len(objs))
	for i, o := range objs {
		out[i] = o.(*api.Pod)
	}
	return out
}

func gatedCount(pods []*api.Pod) int {
	n := 0
	for _, p := range pods {
		if hasGate(p) {
			n++
		}
	}
	return n
}

// Pods of a service with depends_on are released in dependency order:
// migrate once db runs, web once db is healthy and migrate has completed
// (the optional cache, left out by its profile, is not waited for).
func TestComposeDepsReleasePodsInOrder(t *testing.T) {
	store := newTestStore(t)
	convertProject(t, store, shopDeps)
	rec := startManager(t, store, fastOptions())

	var db, migrate, web []*api.Pod
	poll.True(t, 5*time.Second, "pods of db, migrate and 2 of web", func() (bool, string) {
		db, migrate, web = servicePods(t, store, "db"), servicePods(t, store, "migrate"), servicePods(t, store, "web")
		return len(db) == 1 && len(migrate) == 1 && len(web) == 2, fmt.Sprint(len(db), len(migrate), len(web))
	})
	if gatedCount(db) != 0 || gatedCount(migrate) != 1 || gatedCount(web) != 2 {
		t.Fatalf("gates at start: db %d migrate %d web %d, want 0 1 2", gatedCount(db), gatedCount(migrate), gatedCount(web))
	}
	stillGated := func(svc string, want int) {
		t.Helper()
		time.Sleep(300 * time.Millisecond) // more than one resync
		if got := gatedCount(servicePods(t, store, svc)); got != want {
			t.Fatalf("%s: %d pods gated, want %d", svc, got, want)
		}
	}
	stillGated("migrate", 1)

	// db runs, not healthy yet: migrate (service_started) goes, web stays.
	setPodStatus(t, store, db[0], api.PodRunning, false, 0)
	poll.True(t, 5*time.Second, "migrate released", func() (bool, string) {
		n := gatedCount(servicePods(t, store, "migrate"))
		return n == 0, fmt.Sprint(n)
	})
	stillGated("web", 2)
	// The last word on web (migrate's events come in any order with it).
	var webWaits []string
	for _, e := range rec.Find(ReasonDependencyWait) {
		if e.Name == "web" {
			webWaits = append(webWaits, e.Message)
		}
	}
	if len(webWaits) == 0 || !strings.Contains(webWaits[len(webWaits)-1], "db (service_healthy): 0 of 1 healthy") {
		t.Fatalf("web's waiting events: %q", webWaits)
	}

	// migrate completes; db still not healthy: web stays.
	migrate = servicePods(t, store, "migrate")
	setPodStatus(t, store, migrate[0], api.PodSucceeded, false, 0)
	poll.True(t, 5*time.Second, "migrate Complete", func() (bool, string) {
		o, err := store.Get(context.Background(), api.KindJob, "shop", "migrate")
		if err != nil {
			return false, err.Error()
		}
		complete, _ := jobFinished(o.(*api.Job))
		return complete, fmt.Sprintf("%+v", o.(*api.Job).Status)
	})
	stillGated("web", 2)

	// db healthy: web goes, both pods, without its other fields changed.
	setPodStatus(t, store, servicePods(t, store, "db")[0], api.PodRunning, true, 0)
	poll.True(t, 5*time.Second, "web released", func() (bool, string) {
		n := gatedCount(servicePods(t, store, "web"))
		return n == 0, fmt.Sprint(n)
	})
	for _, p := range servicePods(t, store, "web") {
		if len(p.Spec.SchedulingGates) != 0 || p.Spec.Containers[0].Image != "img:web" || p.Spec.NodeName != "" {
			t.Fatalf("released pod %+v", p.Spec)
		}
	}
	if ev := rec.Find(ReasonDependenciesMet); len(ev) < 2 {
		t.Fatalf("DependenciesMet events: %+v", ev)
	}
}

// A failed required dependency keeps its dependents held; an optional one
// lets them go, as docker compose goes on with a warning.
func TestComposeDepsFailedDependency(t *testing.T) {
	for _, required := range []bool{true, false} {
		t.Run(fmt.Sprint("required=", required), func(t *testing.T) {
			store := newTestStore(t)
			convertProject(t, store, fmt.Sprintf(`
name: shop
services:
  migrate:
    image: img:migrate
    restart: "no"
  web:
    image: img:web
    depends_on:
      migrate:
        condition: service_completed_successfully
        required: %v
`, required))
			startManager(t, store, fastOptions())
			var migrate []*api.Pod
			poll.True(t, 5*time.Second, "pods", func() (bool, string) {
				migrate = servicePods(t, store, "migrate")
				return len(migrate) == 1 && len(servicePods(t, store, "web")) == 1, ""
			})
			time.Sleep(300 * time.Millisecond)
			if gatedCount(servicePods(t, store, "web")) != 1 {
				t.Fatal("web released before migrate ended")
			}
			setPodStatus(t, store, migrate[0], api.PodFailed, false, 0)
			poll.True(t, 5*time.Second, "migrate Failed", func() (bool, string) {
				o, err := store.Get(context.Background(), api.KindJob, "shop", "migrate")
				if err != nil {
					return false, err.Error()
				}
				_, failed := jobFinished(o.(*api.Job))
				return failed, fmt.Sprintf("%+v", o.(*api.Job).Status)
			})
			if required {
				time.Sleep(300 * time.Millisecond)
				if gatedCount(servicePods(t, store, "web")) != 1 {
					t.Fatal("web released although its required dependency failed")
				}
				return
			}
			poll.True(t, 5*time.Second, "web released", func() (bool, string) {
				return gatedCount(servicePods(t, store, "web")) == 0, ""
			})
		})
	}
}

// A global service with depends_on: the DaemonSet controller makes one
// gated pod per node, unbound (a gated pod may not have a node) and
// pinned to its node by node affinity, and makes no second one while it
// waits; the dependency controller releases them once the dependency
// holds, and each is then bound to its own node only.
func TestComposeDepsHoldAGlobalService(t *testing.T) {
	store := newTestStore(t)
	addNodes(t, store, newNode("n1", nil, true), newNode("n2", nil, true))
	convertProject(t, store, `
name: shop
services:
  migrate:
    image: img:migrate
    restart: "no"
  agent:
    image: img:agent
    deploy: {mode: global}
    depends_on:
      migrate: {condition: service_completed_successfully}
`)
	startManager(t, store, fastOptions())
	var agents []*api.Pod
	poll.True(t, 5*time.Second, "one agent pod per node", func() (bool, string) {
		agents = servicePods(t, store, "agent")
		return len(agents) == 2, describePods(agents)
	})
	pinned := map[string]bool{}
	for _, p := range agents {
		if p.Spec.NodeName != "" || !hasGate(p) {
			t.Fatalf("agent pod %s: node %q gates %v, want unbound and gated", p.Name, p.Spec.NodeName, p.Spec.SchedulingGates)
		}
		pinned[api.NodeNameOfAffinity(&p.Spec)] = true
		if !api.ToleratesForever(p.Spec.Tolerations, api.TaintNotReady) {
			t.Errorf("agent pod %s lost the daemon tolerations: %+v", p.Name, p.Spec.Tolerations)
		}
	}
	if !pinned["n1"] || !pinned["n2"] {
		t.Fatalf("agent pods pinned to %v, want n1 and n2", pinned)
	}
	time.Sleep(300 * time.Millisecond) // several syncs: no second pod for a node whose pod waits
	if got := servicePods(t, store, "agent"); len(got) != 2 || gatedCount(got) != 2 {
		t.Fatalf("while waiting: %s", describePods(got))
	}

	setPodStatus(t, store, servicePods(t, store, "migrate")[0], api.PodSucceeded, false, 0)
	poll.True(t, 5*time.Second, "agent released", func() (bool, string) {
		got := servicePods(t, store, "agent")
		return len(got) == 2 && gatedCount(got) == 0, describePods(got)
	})
	// As the scheduler does once the gate is gone: each pod bound to the
	// node it is pinned to. Still one pod per node.
	for _, p := range servicePods(t, store, "agent") {
		node := api.NodeNameOfAffinity(&p.Spec)
		if _, err := store.Bind(context.Background(), "shop", p.Name, &api.Binding{ObjectMeta: api.ObjectMeta{Name: p.Name},
			Target: api.ObjectReference{Kind: "Node", Name: node}}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if got := servicePods(t, store, "agent"); placed(got) != "n1:1 n2:1" || len(got) != 2 {
		t.Fatalf("after binding: %s", describePods(got))
	}
}
