package controller

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/events"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
	"github.com/shoal-dev/shoal/registry/informer"
)

var _ Store = (*registry.Registry)(nil)

// testStore is the registry as the tests use it: written to, and listed
// and watched by the informer and by the tests themselves.
type testStore interface {
	Store
	informer.Source
}

// newTestInformer runs an informer over store until the test ends; it
// fails the test if a controller changed one of its shared objects.
func newTestInformer(t *testing.T, store informer.Source) *informer.Informer {
	t.Helper()
	inf := informer.New(store, informer.Options{Log: testLogger(t), CheckMutations: true,
		RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		inf.Run(ctx)
	}()
	t.Cleanup(func() {
		if err := inf.Verify(); err != nil {
			t.Error(err)
		}
		cancel()
		<-done
	})
	return inf
}

// newTestStore opens an in-memory store with the default namespace.
func newTestStore(t *testing.T) *registry.Registry {
	t.Helper()
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o := registry.New(st)
	if _, err := o.Create(context.Background(), &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	return o
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// fastOptions are timings that let the suite run in seconds.
func fastOptions() Options {
	return Options{Workers: 4, ResyncPeriod: 200 * time.Millisecond, GCGracePeriod: 100 * time.Millisecond,
		BackoffMax: 200 * time.Millisecond}
}

// startManager runs a Manager until the test ends.
func startManager(t *testing.T, store testStore, opts Options) *events.FakeRecorder {
	t.Helper()
	rec := &events.FakeRecorder{}
	m := NewManager(store, newTestInformer(t, store), rec, testLogger(t), opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return rec
}

func listPods(t *testing.T, store testStore, sel api.Selector) []*api.Pod {
	t.Helper()
	objs, _, err := store.List(context.Background(), api.KindPod, "default", sel)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*api.Pod, len(objs))
	for i, o := range objs {
		out[i] = o.(*api.Pod)
	}
	return out
}

func activePods(pods []*api.Pod) []*api.Pod {
	var out []*api.Pod
	for _, p := range pods {
		if isPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

func listReplicaSets(t *testing.T, store testStore) []*api.ReplicaSet {
	t.Helper()
	objs, _, err := store.List(context.Background(), api.KindReplicaSet, "default", nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*api.ReplicaSet, len(objs))
	for i, o := range objs {
		out[i] = o.(*api.ReplicaSet)
	}
	sortByRevision(out)
	return out
}

func getRS(t *testing.T, store testStore, name string) *api.ReplicaSet {
	t.Helper()
	o, err := store.Get(context.Background(), api.KindReplicaSet, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*api.ReplicaSet)
}

func getDeployment(t *testing.T, store testStore, name string) *api.Deployment {
	t.Helper()
	o, err := store.Get(context.Background(), api.KindDeployment, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*api.Deployment)
}

func podTemplate(app, image string) api.PodTemplateSpec {
	return api.PodTemplateSpec{
		ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "app", Image: image}}},
	}
}

func newReplicaSet(name string, replicas int32) *api.ReplicaSet {
	return &api.ReplicaSet{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.ReplicaSetSpec{
			Replicas: api.Int32(replicas),
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, "img:v1"),
		},
	}
}

func newDeployment(name string, replicas int32) *api.Deployment {
	return &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.DeploymentSpec{
			Replicas: api.Int32(replicas),
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, "img:v1"),
		},
	}
}

func mustCreate(t *testing.T, store testStore, obj api.Object) api.Object {
	t.Helper()
	got, err := store.Create(context.Background(), obj)
	if err != nil {
		t.Fatalf("create %s: %v", obj.GetObjectMeta().Name, err)
	}
	return got
}

// updateDeployment changes a Deployment with a read-modify-write that
// retries on conflict, as a user's client would.
func updateDeployment(t *testing.T, store testStore, name string, change func(*api.Deployment)) {
	t.Helper()
	for range 20 {
		d := getDeployment(t, store, name)
		change(d)
		if _, err := store.Update(context.Background(), d); err == nil {
			return
		} else if !api.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatal("update kept conflicting")
}

func updateReplicaSet(t *testing.T, store testStore, name string, change func(*api.ReplicaSet)) {
	t.Helper()
	for range 20 {
		rs := getRS(t, store, name)
		change(rs)
		if _, err := store.Update(context.Background(), rs); err == nil {
			return
		} else if !api.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatal("update kept conflicting")
}

// setPodStatus writes a pod's status as its node would.
func setPodStatus(t *testing.T, store testStore, pod *api.Pod, phase string, ready bool, restarts int32) {
	t.Helper()
	pod.Status = runningStatus(phase, ready, restarts, time.Now())
	if _, err := store.UpdateStatus(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
}

func runningStatus(phase string, ready bool, restarts int32, at time.Time) api.PodStatus {
	st := api.PodStatus{Phase: phase,
		ContainerStatuses: []api.ContainerStatus{{Name: "app", Ready: ready, RestartCount: restarts}}}
	cond := api.ConditionFalse
	if ready {
		cond = api.ConditionTrue
	}
	st.Conditions = []api.Condition{{Type: api.PodReady, Status: cond, LastTransitionTime: api.NewTime(at)}}
	return st
}

func names(pods []*api.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	sort.Strings(out)
	return out
}

// fakeNode plays the node agent for every pod in the store: it binds
// unscheduled pods to itself, reports them Running, Ready once readyAfter
// has passed (if ready says so), and removes pods being deleted after
// removeAfter, as a node does once their containers stopped.
type fakeNode struct {
	store       testStore
	readyAfter  time.Duration
	removeAfter time.Duration
	ready       func(*api.Pod) bool

	mu      sync.Mutex
	started map[string]time.Time // pod uid -> when it was reported Running
	marked  map[string]time.Time // pod uid -> when its deletion was first seen
}

func startFakeNode(t *testing.T, store testStore, readyAfter, removeAfter time.Duration, ready func(*api.Pod) bool) *fakeNode {
	t.Helper()
	n := &fakeNode{store: store, readyAfter: readyAfter, removeAfter: removeAfter, ready: ready,
		started: map[string]time.Time{}, marked: map[string]time.Time{}}
	if n.ready == nil {
		n.ready = func(*api.Pod) bool { return true }
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			n.step(ctx)
			sleep(ctx, 10*time.Millisecond)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return n
}

func (n *fakeNode) step(ctx context.Context) {
	objs, _, err := n.store.List(ctx, api.KindPod, "", nil)
	if err != nil {
		return
	}
	now := time.Now()
	for _, o := range objs {
		p := o.(*api.Pod)
		switch {
		case p.DeletionTimestamp != nil:
			n.remove(ctx, p, now)
		case p.Spec.NodeName == "":
			p.Spec.NodeName = "node1"
			_, _ = n.store.Update(ctx, p) // a conflict is retried on the next step
		case api.IsPodTerminal(p):
		case p.Status.Phase == "":
			n.mu.Lock()
			n.started[p.UID] = now
			n.mu.Unlock()
			p.Status = runningStatus(api.PodRunning, false, 0, now)
			_, _ = n.store.UpdateStatus(ctx, p)
		case !api.IsPodReady(p) && n.ready(p):
			n.mu.Lock()
			since, ok := n.started[p.UID]
			n.mu.Unlock()
			if ok && now.Sub(since) >= n.readyAfter {
				p.Status = runningStatus(api.PodRunning, true, 0, now)
				_, _ = n.store.UpdateStatus(ctx, p)
			}
		}
	}
}

func (n *fakeNode) remove(ctx context.Context, p *api.Pod, now time.Time) {
	n.mu.Lock()
	since, ok := n.marked[p.UID]
	if !ok {
		n.marked[p.UID] = now
		since = now
	}
	n.mu.Unlock()
	if now.Sub(since) >= n.removeAfter {
		_, _ = n.store.Delete(ctx, api.KindPod, p.Namespace, p.Name, api.DeleteOptions{GracePeriodSeconds: api.Int64(0), UID: p.UID})
	}
}

func describePods(pods []*api.Pod) string {
	s := ""
	for _, p := range pods {
		s += fmt.Sprintf("%s(node=%q phase=%q ready=%v deleting=%v) ", p.Name, p.Spec.NodeName, p.Status.Phase,
			api.IsPodReady(p), p.DeletionTimestamp != nil)
	}
	return s
}
