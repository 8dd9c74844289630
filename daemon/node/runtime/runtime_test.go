package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/internal/poll"
	"github.com/shoal-dev/shoal/registry"
)

type nopRecorder struct {
	mu      sync.Mutex
	reasons []string
}

func (r *nopRecorder) Eventf(_ api.Object, _, reason, _ string, _ ...any) {
	r.mu.Lock()
	r.reasons = append(r.reasons, reason)
	r.mu.Unlock()
}

func (r *nopRecorder) count(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, got := range r.reasons {
		if got == reason {
			n++
		}
	}
	return n
}

type fixture struct {
	t      *testing.T
	eng    *enginetest.Fake
	objs   *registry.Registry
	store  Store // what the runner reads: objs unless a test wraps it
	rec    *nopRecorder
	cancel context.CancelFunc
	done   chan struct{}
	cfg    Config
	rt     *Runtime
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

// newFixtureWith lets a test change the runner's configuration or wrap its
// store before it starts.
func newFixtureWith(t *testing.T, adjust func(*fixture)) *fixture {
	t.Helper()
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	objs := registry.New(st)
	ctx := context.Background()
	objs.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}})
	eng := enginetest.New()
	eng.AddImage("pause:1")
	eng.AddImage("app:1")
	f := &fixture{t: t, eng: eng, objs: objs, store: objs, rec: &nopRecorder{},
		cfg: Config{NodeName: "n1", HostIP: "10.0.0.1", SandboxImage: "pause:1", Network: "shoal",
			DataDir: t.TempDir(), ResyncPeriod: 200 * time.Millisecond,
			Backoff: BackoffPolicy{Initial: 300 * time.Millisecond, Max: time.Second, ResetAfter: time.Minute}}}
	if adjust != nil {
		adjust(f)
	}
	f.start()
	t.Cleanup(f.stop)
	return f
}

func (f *fixture) start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.done = make(chan struct{})
	r := New(f.cfg, f.eng, f.store, f.rec, slog.New(slog.DiscardHandler))
	f.rt = r
	go func() { r.Run(ctx); close(f.done) }()
}

func (f *fixture) stop() {
	if f.cancel != nil {
		f.cancel()
		<-f.done
		f.cancel = nil
	}
}

func (f *fixture) createPod(name string, policy string, containers ...api.Container) *api.Pod {
	f.t.Helper()
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.PodSpec{NodeName: "n1", RestartPolicy: policy, Containers: containers,
			TerminationGracePeriodSeconds: api.Int64(1)}}
	obj, err := f.objs.Create(context.Background(), p)
	if err != nil {
		f.t.Fatal(err)
	}
	return obj.(*api.Pod)
}

func (f *fixture) pod(name string) *api.Pod {
	obj, err := f.objs.Get(context.Background(), api.KindPod, "default", name)
	if err != nil {
		return nil
	}
	return obj.(*api.Pod)
}

func (f *fixture) containers(uid string, running bool) []engine.Summary {
	list, _ := f.eng.ListContainers(context.Background(), map[string]string{engine.LabelPodUID: uid})
	var out []engine.Summary
	for _, c := range list {
		if !running || c.State == "running" {
			out = append(out, c)
		}
	}
	return out
}

func appContainer(f *fixture, uid, name string) engine.Summary {
	for _, c := range f.containers(uid, true) {
		if c.Labels[engine.LabelContainer] == name {
			return c
		}
	}
	return engine.Summary{}
}

func TestPodRunsWithSandboxAndReportsStatus(t *testing.T) {
	f := newFixture(t)
	p := f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1",
		Env: []api.EnvVar{{Name: "POD", ValueFrom: &api.EnvVarSource{FieldRef: &api.ObjectFieldSelector{FieldPath: "metadata.name"}}}}})
	poll.Until(t, 5*time.Second, "pod running and ready", func() error {
		got := f.pod("web")
		if got.Status.Phase != api.PodRunning || !api.IsPodReady(got) || got.Status.PodIP == "" {
			return fmt.Errorf("status %+v", got.Status)
		}
		return nil
	})
	app := appContainer(f, p.UID, "app")
	spec, _ := f.eng.Spec(app.ID)
	sb := appContainer(f, p.UID, engine.SandboxContainerName)
	if spec.NetworkMode != "container:"+sb.ID || spec.Labels[engine.LabelPodName] != "web" || spec.Labels[engine.LabelNode] != "n1" {
		t.Fatalf("app container not joined to its sandbox: %+v", spec)
	}
	found := false
	for _, e := range spec.Env {
		found = found || e == "POD=web"
	}
	if !found {
		t.Fatalf("fieldRef env missing: %v", spec.Env)
	}
}

func TestCrashedContainerRestartsWithBackoff(t *testing.T) {
	f := newFixture(t)
	p := f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	poll.Until(t, 5*time.Second, "running", func() error {
		if appContainer(f, p.UID, "app").ID == "" {
			return fmt.Errorf("no app container")
		}
		return nil
	})
	first := appContainer(f, p.UID, "app")
	f.eng.Kill(first.ID, 1)
	poll.Until(t, 5*time.Second, "restarted at once", func() error {
		st := f.pod("web").Status
		if len(st.ContainerStatuses) == 0 || st.ContainerStatuses[0].RestartCount != 1 || st.ContainerStatuses[0].State.Running == nil {
			return fmt.Errorf("%+v", st.ContainerStatuses)
		}
		return nil
	})
	second := appContainer(f, p.UID, "app")
	killed := time.Now()
	f.eng.Kill(second.ID, 2)
	poll.Until(t, 5*time.Second, "CrashLoopBackOff shown", func() error {
		cs := f.pod("web").Status.ContainerStatuses[0]
		if cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" || cs.LastState.Terminated == nil || cs.LastState.Terminated.ExitCode != 2 {
			return fmt.Errorf("%+v", cs)
		}
		return nil
	})
	poll.Until(t, 5*time.Second, "restarted after the back-off", func() error {
		cs := f.pod("web").Status.ContainerStatuses[0]
		if cs.RestartCount != 2 || cs.State.Running == nil {
			return fmt.Errorf("%+v", cs)
		}
		return nil
	})
	if d := time.Since(killed); d < 250*time.Millisecond {
		t.Fatalf("second restart after %s, before the back-off of 300ms", d)
	}
}

func TestRestartPolicyNeverEndsThePod(t *testing.T) {
	f := newFixture(t)
	f.eng.SetImageScript("app:1", enginetest.Script{ExitCode: 3, RunFor: 50 * time.Millisecond})
	f.createPod("job", api.RestartNever, api.Container{Name: "app", Image: "app:1"})
	poll.Until(t, 5*time.Second, "pod failed", func() error {
		st := f.pod("job").Status
		if st.Phase != api.PodFailed || st.ContainerStatuses[0].State.Terminated == nil || st.ContainerStatuses[0].State.Terminated.ExitCode != 3 {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
	if n := f.eng.CallCount("CreateContainer"); n != 2 { // sandbox + one app attempt
		t.Fatalf("%d creates, want 2 (no restart under Never)", n)
	}
}

func TestDeletedPodIsStoppedRemovedAndFinalized(t *testing.T) {
	f := newFixture(t)
	p := f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	poll.Until(t, 5*time.Second, "running", func() error {
		if len(f.containers(p.UID, true)) != 2 {
			return fmt.Errorf("want sandbox and app running")
		}
		return nil
	})
	if _, err := f.objs.Delete(context.Background(), api.KindPod, "default", "web", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "containers removed and pod gone", func() error {
		if n := len(f.containers(p.UID, false)); n != 0 {
			return fmt.Errorf("%d containers left", n)
		}
		if f.pod("web") != nil {
			return fmt.Errorf("pod still stored")
		}
		return nil
	})
}

func TestRestartAdoptsRunningContainers(t *testing.T) {
	f := newFixture(t)
	p := f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	poll.Until(t, 5*time.Second, "running", func() error {
		if !api.IsPodReady(f.pod("web")) {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	f.stop()
	creates := f.eng.CallCount("CreateContainer")
	if len(f.containers(p.UID, true)) != 2 {
		t.Fatal("stopping the runner stopped containers")
	}
	f.start()
	time.Sleep(600 * time.Millisecond) // a few resync periods
	if n := f.eng.CallCount("CreateContainer"); n != creates {
		t.Fatalf("the restarted runner created %d containers", n-creates)
	}
}

func TestOrphanContainersAreRemoved(t *testing.T) {
	f := newFixture(t)
	p := f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	poll.Until(t, 5*time.Second, "running", func() error {
		if len(f.containers(p.UID, true)) != 2 {
			return fmt.Errorf("not running")
		}
		return nil
	})
	f.stop()
	// The pod disappears while the runner is down.
	f.objs.Delete(context.Background(), api.KindPod, "default", "web", api.DeleteOptions{GracePeriodSeconds: api.Int64(0)})
	f.start()
	poll.Until(t, 5*time.Second, "orphans removed", func() error {
		if n := len(f.containers(p.UID, false)); n != 0 {
			return fmt.Errorf("%d containers left", n)
		}
		return nil
	})
}

func TestMissingConfigMapIsAConfigError(t *testing.T) {
	f := newFixture(t)
	f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1",
		Env: []api.EnvVar{{Name: "X", ValueFrom: &api.EnvVarSource{ConfigMapKeyRef: &api.KeySelector{Name: "nope", Key: "k"}}}}})
	poll.Until(t, 5*time.Second, "CreateContainerConfigError", func() error {
		st := f.pod("web").Status
		if len(st.ContainerStatuses) == 0 || st.ContainerStatuses[0].State.Waiting == nil ||
			st.ContainerStatuses[0].State.Waiting.Reason != "CreateContainerConfigError" || st.Phase != api.PodPending {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
	f.objs.Create(context.Background(), &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "nope", Namespace: "default"}, Data: map[string]string{"k": "v"}})
	poll.Until(t, 5*time.Second, "starts once the ConfigMap exists", func() error {
		if f.pod("web").Status.Phase != api.PodRunning {
			return fmt.Errorf("not running")
		}
		return nil
	})
}

func TestImagePullPolicyNeverWithoutImage(t *testing.T) {
	f := newFixture(t)
	f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "absent:1", ImagePullPolicy: api.PullNever})
	poll.Until(t, 5*time.Second, "ErrImageNeverPull", func() error {
		st := f.pod("web").Status
		if len(st.ContainerStatuses) == 0 || st.ContainerStatuses[0].State.Waiting == nil || st.ContainerStatuses[0].State.Waiting.Reason != "ErrImageNeverPull" {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
}

func TestRestartPolicyOnFailure(t *testing.T) {
	f := newFixture(t)
	f.eng.SetImageScript("app:1", enginetest.Script{ExitCode: 1, RunFor: 30 * time.Millisecond},
		enginetest.Script{ExitCode: 0, RunFor: 30 * time.Millisecond})
	f.createPod("task", api.RestartOnFailure, api.Container{Name: "app", Image: "app:1"})
	poll.Until(t, 5*time.Second, "restarted after the failure, then succeeded", func() error {
		st := f.pod("task").Status
		if st.Phase != api.PodSucceeded || st.ContainerStatuses[0].RestartCount != 1 {
			return fmt.Errorf("%s %+v", st.Phase, st.ContainerStatuses)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	if n := f.eng.CallCount("CreateContainer"); n != 3 { // sandbox + 2 attempts
		t.Fatalf("%d creates, want 3", n)
	}
}

// The node owns its pod's Ready condition: node lifecycle marks it False
// while the node is silent, and once the node answers again its next sync
// restores it. A condition of a type the node does not own stays.
func TestNodeRestoresItsConditionsAndKeepsOthers(t *testing.T) {
	f := newFixture(t)
	f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	ready := func(what string, also func(*api.Pod) error) {
		t.Helper()
		poll.Until(t, 5*time.Second, what, func() error {
			got := f.pod("web")
			if got.Status.Phase != api.PodRunning || !api.IsPodReady(got) {
				return fmt.Errorf("status %+v", got.Status)
			}
			return also(got)
		})
	}
	ready("pod running and ready", func(*api.Pod) error { return nil })
	mark := func(c api.Condition) {
		t.Helper()
		p := f.pod("web")
		api.SetCondition(&p.Status.Conditions, c)
		if _, err := f.objs.UpdateStatus(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	mark(api.Condition{Type: api.PodReady, Status: api.ConditionFalse, Reason: "NodeNotReady"})
	ready("Ready restored by the node", func(*api.Pod) error { return nil })
	mark(api.Condition{Type: "example.com/Audited", Status: api.ConditionTrue})
	time.Sleep(3 * f.cfg.ResyncPeriod) // the node's syncs in between
	ready("the other owner's condition kept", func(got *api.Pod) error {
		if c := api.FindCondition(got.Status.Conditions, "example.com/Audited"); c == nil || c.Status != api.ConditionTrue {
			t.Fatalf("the other owner's condition is gone: %+v", got.Status.Conditions)
		}
		return nil
	})
}
