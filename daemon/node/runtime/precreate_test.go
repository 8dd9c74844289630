package runtime

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/internal/poll"
)

// slowSandboxStarts is an engine whose sandbox starts take until an app
// container of the same pod has been created, or 500 ms: it notes, by
// pod name, whether the app container was created while the sandbox was
// starting.
type slowSandboxStarts struct {
	engine.Engine
	mu      sync.Mutex
	names   map[string]string // container id -> name
	created map[string]bool   // names of created containers
	overlap map[string]bool   // pod name -> app created during its sandbox's start
}

func (e *slowSandboxStarts) CreateContainer(ctx context.Context, spec engine.ContainerSpec) (string, error) {
	id, err := e.Engine.CreateContainer(ctx, spec)
	if err == nil {
		e.mu.Lock()
		e.names[id] = spec.Name
		e.created[spec.Name] = true
		e.mu.Unlock()
	}
	return id, err
}

func (e *slowSandboxStarts) StartContainer(ctx context.Context, id string) error {
	e.mu.Lock()
	name := e.names[id]
	e.mu.Unlock()
	if pod, ok := strings.CutPrefix(name, "shoal_POD_"); ok {
		// shoal_POD_<pod>_<ns>_<uid>_<attempt>; the app is shoal_app_<pod>_...
		app := "shoal_app_" + pod
		deadline := time.Now().Add(500 * time.Millisecond)
		for time.Now().Before(deadline) {
			e.mu.Lock()
			done := e.created[app]
			e.mu.Unlock()
			if done {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		e.mu.Lock()
		e.overlap[strings.Split(pod, "_")[0]] = e.created[app]
		e.mu.Unlock()
	}
	return e.Engine.StartContainer(ctx, id)
}

// A pod's app container is created while the engine starts its sandbox,
// and started once the sandbox runs; one whose environment holds the pod's
// address waits for the address.
func TestAppContainersAreCreatedWhileTheSandboxStarts(t *testing.T) {
	slow := &slowSandboxStarts{names: map[string]string{}, created: map[string]bool{}, overlap: map[string]bool{}}
	f := newFixtureWith(t, func(f *fixture) {
		f.wrap = func(e engine.Engine) engine.Engine { slow.Engine = e; return slow }
	})
	early := f.createPod("early", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	late := f.createPod("late", api.RestartAlways, api.Container{Name: "app", Image: "app:1",
		Env: []api.EnvVar{{Name: "IP", ValueFrom: &api.EnvVarSource{FieldRef: &api.ObjectFieldSelector{FieldPath: "status.podIP"}}}}})
	for _, p := range []*api.Pod{early, late} {
		poll.Until(t, 5*time.Second, p.Name+" running", func() error {
			got := f.pod(p.Name)
			if got.Status.Phase != api.PodRunning || len(got.Status.ContainerStatuses) != 1 || got.Status.ContainerStatuses[0].State.Running == nil {
				return fmt.Errorf("phase %s, %+v", got.Status.Phase, got.Status.ContainerStatuses)
			}
			return nil
		})
		if c := appContainer(f, p.UID, "app"); c.ID == "" {
			t.Fatalf("%s: no running app container", p.Name)
		}
	}
	slow.mu.Lock()
	defer slow.mu.Unlock()
	if !slow.overlap["early"] {
		t.Errorf("the app container of pod early was not created while its sandbox started")
	}
	if slow.overlap["late"] {
		t.Errorf("the app container of pod late was created before its address was known")
	}
	// One create and one start per container, as before.
	if n := f.eng.CallCount("CreateContainer"); n != 4 {
		t.Errorf("%d creates for 2 pods of one container, want 4", n)
	}
	if n := f.eng.CallCount("StartContainer"); n != 4 {
		t.Errorf("%d starts for 2 pods of one container, want 4", n)
	}
}
