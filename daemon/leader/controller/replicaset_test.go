package controller

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/events"
	"github.com/shoal-dev/shoal/internal/poll"

	"github.com/shoal-dev/shoal/api"
)

// slowWatchStore delivers pod watch events late, as a lagging replica would.
type slowWatchStore struct {
	testStore
	delay time.Duration
}

func (s *slowWatchStore) Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error) {
	in, err := s.testStore.Watch(ctx, k, ns, opts)
	if err != nil || k != api.KindPod {
		return in, err
	}
	out := make(chan api.WatchEvent)
	go func() {
		defer close(out)
		for ev := range in {
			if !sleep(ctx, s.delay) {
				return
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// maxActiveWatcher records the most active pods matching sel ever present.
func maxActiveWatcher(t *testing.T, store testStore, sel api.Selector) *atomic.Int32 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := store.Watch(ctx, api.KindPod, "default", api.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	var peak atomic.Int32
	var wg sync.WaitGroup
	wg.Go(func() {
		active := map[string]bool{}
		for ev := range ch {
			p := ev.Object.(*api.Pod)
			if ev.Type == api.Deleted || !isPodActive(p) {
				delete(active, p.Name)
			} else {
				active[p.Name] = true
			}
			if n := int32(len(active)); n > peak.Load() {
				peak.Store(n)
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &peak
}

func TestReplicaSetCreatesExactlyNEvenWithSlowWatchAndManySyncs(t *testing.T) {
	store := newTestStore(t)
	sel := api.SelectorFromSet(map[string]string{"app": "web"})
	peak := maxActiveWatcher(t, store, sel)
	opts := fastOptions()
	opts.Workers = 8
	opts.ResyncPeriod = 5 * time.Millisecond // syncs as often as it can
	startManager(t, &slowWatchStore{testStore: store, delay: 20 * time.Millisecond}, opts)

	rs := mustCreate(t, store, newReplicaSet("web", 5)).(*api.ReplicaSet)
	// Poke the ReplicaSet so that it is synced over and over while the
	// watch lags behind the creations.
	for i := range 30 {
		updateReplicaSet(t, store, "web", func(rs *api.ReplicaSet) {
			if rs.Annotations == nil {
				rs.Annotations = map[string]string{}
			}
			rs.Annotations["poke"] = strings.Repeat("x", i+1)
		})
		time.Sleep(5 * time.Millisecond)
	}
	poll.True(t, 10*time.Second, "5 pods", func() (bool, string) {
		pods := listPods(t, store, sel)
		return len(pods) == 5, describePods(pods)
	})
	for _, p := range listPods(t, store, sel) {
		ref := p.ControllerRef()
		if !strings.HasPrefix(p.Name, "web-") || p.GenerateName != "web-" || p.Namespace != "default" ||
			p.Labels["app"] != "web" || ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" {
			t.Fatalf("pod not made from the template and owned by the ReplicaSet: %+v", p.ObjectMeta)
		}
	}
	// Scale up and down while the watch still lags.
	updateReplicaSet(t, store, "web", func(rs *api.ReplicaSet) { rs.Spec.Replicas = api.Int32(8) })
	poll.True(t, 10*time.Second, "8 pods", func() (bool, string) {
		n := len(activePods(listPods(t, store, sel)))
		return n == 8, ""
	})
	time.Sleep(200 * time.Millisecond) // let any duplicate show up
	if p := peak.Load(); p != 8 {
		t.Fatalf("at some moment %d active pods existed for 8 replicas", p)
	}
	if n := len(activePods(listPods(t, store, sel))); n != 8 {
		t.Fatalf("%d active pods for 8 replicas", n)
	}
}

// staleListStore lists no pod and watches none, as a replica that has not
// seen the latest creations: an informer over it never shows the pods.
type staleListStore struct {
	testStore
}

func (s *staleListStore) List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error) {
	if k == api.KindPod {
		return nil, "1", nil
	}
	return s.testStore.List(ctx, k, ns, sel)
}

func (s *staleListStore) Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error) {
	if k == api.KindPod {
		return make(chan api.WatchEvent), nil // nothing, ever
	}
	return s.testStore.Watch(ctx, k, ns, opts)
}

// staleCache is an informer over a staleListStore, synced, with obj
// created in the store and seen by the cache.
func staleCache(t *testing.T, store testStore, obj api.Object) cache {
	t.Helper()
	inf := newTestInformer(t, &staleListStore{testStore: store})
	mustCreate(t, store, obj)
	m := obj.GetObjectMeta()
	poll.Cond(t, 5*time.Second, "the cache shows the owner", func() bool {
		_, ok := inf.Cache(api.KindOf(obj)).Get(m.Namespace, m.Name)
		return ok && inf.Cache(api.KindPod).HasSynced()
	})
	return newCache(inf)
}

func TestReplicaSetExpectationsStopDuplicatesFromAStaleList(t *testing.T) {
	store := newTestStore(t)
	opts := fastOptions().withDefaults()
	ctx := t.Context()
	c := newReplicaSetController(ctx, store, staleCache(t, store, newReplicaSet("web", 3)), events.NopRecorder{}, testLogger(t), opts)
	if err := c.sync(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	// The list still shows no pods; the expectations must hold the line.
	for range 3 {
		if err := c.sync(ctx, "default/web"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(listPods(t, store, nil)); n != 3 {
		t.Fatalf("%d pods after repeated syncs over a stale list, want 3", n)
	}
	// Once the watch shows the creations, the controller acts again.
	for _, p := range listPods(t, store, nil) {
		c.onPod(ctx, api.WatchEvent{Type: api.Added, Object: p})
	}
	if !c.exp.satisfied("default/web") {
		t.Fatal("expectations not satisfied after the watch showed every pod")
	}
}

func TestReplicaSetReplacesDeletedAndFailedPods(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	mustCreate(t, store, newReplicaSet("web", 3))
	sel := api.SelectorFromSet(map[string]string{"app": "web"})
	poll.True(t, 5*time.Second, "3 pods", func() (bool, string) { return len(listPods(t, store, sel)) == 3, "" })
	first := listPods(t, store, sel)

	// An unbound pod is removed at once; a new one replaces it.
	if _, err := store.Delete(t.Context(), api.KindPod, "default", first[0].Name, api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A pod its node marks Failed is replaced too, and kept for inspection.
	setPodStatus(t, store, first[1], api.PodFailed, false, 0)
	poll.True(t, 5*time.Second, "replacements", func() (bool, string) {
		pods := listPods(t, store, sel)
		return len(activePods(pods)) == 3 && len(pods) == 4, describePods(pods)
	})
	for _, p := range listPods(t, store, sel) {
		if p.Name == first[0].Name {
			t.Fatalf("the deleted pod %s came back", p.Name)
		}
	}
	rs := getRS(t, store, "web")
	poll.True(t, 5*time.Second, "status replicas 3", func() (bool, string) {
		rs = getRS(t, store, "web")
		return rs.Status.Replicas == 3, ""
	})
}

func TestReplicaSetScaleDownPicksLeastUsefulPods(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	mustCreate(t, store, newReplicaSet("web", 5))
	sel := api.SelectorFromSet(map[string]string{"app": "web"})
	poll.True(t, 5*time.Second, "5 pods", func() (bool, string) { return len(listPods(t, store, sel)) == 5, "" })
	pods := listPods(t, store, sel)
	// Give the pods distinct ranks: 0 unscheduled, 1 scheduled but pending,
	// 2 running not ready, 3 ready with restarts, 4 ready without.
	bind := func(p *api.Pod) *api.Pod {
		p.Spec.NodeName = "node1"
		got, err := store.Update(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		return got.(*api.Pod)
	}
	for i := 1; i < 5; i++ {
		pods[i] = bind(pods[i])
	}
	setPodStatus(t, store, pods[1], api.PodPending, false, 0)
	setPodStatus(t, store, pods[2], api.PodRunning, false, 0)
	setPodStatus(t, store, pods[3], api.PodRunning, true, 3)
	setPodStatus(t, store, pods[4], api.PodRunning, true, 0)
	poll.True(t, 5*time.Second, "2 ready", func() (bool, string) {
		return getRS(t, store, "web").Status.ReadyReplicas == 2, ""
	})

	updateReplicaSet(t, store, "web", func(rs *api.ReplicaSet) { rs.Spec.Replicas = api.Int32(2) })
	poll.True(t, 5*time.Second, "2 active pods", func() (bool, string) {
		a := activePods(listPods(t, store, sel))
		return len(a) == 2, describePods(a)
	})
	if got, want := names(activePods(listPods(t, store, sel))), names(pods[3:]); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("kept %v, want the two ready pods %v", got, want)
	}
	updateReplicaSet(t, store, "web", func(rs *api.ReplicaSet) { rs.Spec.Replicas = api.Int32(1) })
	poll.True(t, 5*time.Second, "1 active pod", func() (bool, string) {
		return len(activePods(listPods(t, store, sel))) == 1, ""
	})
	if got := names(activePods(listPods(t, store, sel))); got[0] != pods[4].Name {
		t.Fatalf("kept %v, want %s (the one without restarts)", got, pods[4].Name)
	}
	// Bound pods are deleted gracefully: they stay, marked, for their node.
	for _, p := range []*api.Pod{pods[1], pods[2], pods[3]} {
		got, err := store.Get(t.Context(), api.KindPod, "default", p.Name)
		if err != nil || got.GetObjectMeta().DeletionTimestamp == nil {
			t.Fatalf("pod %s: %v, want it marked for deletion", p.Name, err)
		}
	}
	if _, err := store.Get(t.Context(), api.KindPod, "default", pods[0].Name); !api.IsNotFound(err) {
		t.Fatalf("the unscheduled pod: %v, want it gone", err)
	}
}

func TestReplicaSetAdoptsOrphansAndReleasesPods(t *testing.T) {
	store := newTestStore(t)
	orphan := func(name string, labels map[string]string, refs ...api.OwnerReference) {
		mustCreate(t, store, &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: labels, OwnerReferences: refs},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "img:v1"}}}})
	}
	web := map[string]string{"app": "web"}
	orphan("o1", web)
	orphan("o2", web)
	orphan("other", map[string]string{"app": "db"})
	yes := true
	orphan("taken", web, api.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "else", UID: "u-else", Controller: &yes})
	startManager(t, store, fastOptions())
	rs := mustCreate(t, store, newReplicaSet("web", 3)).(*api.ReplicaSet)

	owned := func() []*api.Pod {
		var out []*api.Pod
		for _, p := range listPods(t, store, nil) {
			if isControlledBy(p, rs.UID) && isPodActive(p) {
				out = append(out, p)
			}
		}
		return out
	}
	poll.True(t, 5*time.Second, "3 owned pods", func() (bool, string) {
		o := owned()
		return len(o) == 3, describePods(o)
	})
	got := names(owned())
	if !contains(got, "o1") || !contains(got, "o2") {
		t.Fatalf("owned %v: the matching orphans were not adopted", got)
	}
	if n := len(listPods(t, store, nil)); n != 5 {
		t.Fatalf("%d pods: the ReplicaSet created more than the one missing", n)
	}
	for _, name := range []string{"other", "taken"} {
		p, _ := store.Get(t.Context(), api.KindPod, "default", name)
		if isControlledBy(p, rs.UID) {
			t.Fatalf("pod %s was adopted though it is not the ReplicaSet's to take", name)
		}
	}
	// A pod relabelled out of the selector is released and replaced.
	p, _ := store.Get(t.Context(), api.KindPod, "default", "o1")
	p.GetObjectMeta().Labels = map[string]string{"app": "debug"}
	if _, err := store.Update(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 5*time.Second, "o1 released and replaced", func() (bool, string) {
		p, _ := store.Get(t.Context(), api.KindPod, "default", "o1")
		return len(p.GetObjectMeta().OwnerReferences) == 0 && len(owned()) == 3, describePods(owned())
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestReplicaSetStatusCounts(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	rs := newReplicaSet("web", 3)
	rs.Spec.MinReadySeconds = 2 // ready times have second precision: at least 1 s of wait
	mustCreate(t, store, rs)
	sel := api.SelectorFromSet(map[string]string{"app": "web"})
	poll.True(t, 5*time.Second, "3 pods", func() (bool, string) { return len(listPods(t, store, sel)) == 3, "" })
	pods := listPods(t, store, sel)
	setPodStatus(t, store, pods[0], api.PodRunning, true, 0)
	setPodStatus(t, store, pods[1], api.PodRunning, true, 0)
	setPodStatus(t, store, pods[2], api.PodRunning, false, 0)

	poll.True(t, 5*time.Second, "ready 2", func() (bool, string) {
		st := getRS(t, store, "web").Status
		return st.Replicas == 3 && st.FullyLabeledReplicas == 3 && st.ReadyReplicas == 2 && st.ObservedGeneration == 1, ""
	})
	// Ready for less than minReadySeconds is not available yet; the
	// controller comes back by itself when the time has passed.
	if st := getRS(t, store, "web").Status; st.AvailableReplicas != 0 {
		t.Fatalf("available %d before minReadySeconds passed", st.AvailableReplicas)
	}
	poll.True(t, 5*time.Second, "available 2", func() (bool, string) {
		st := getRS(t, store, "web").Status
		return st.AvailableReplicas == 2, ""
	})
	updateReplicaSet(t, store, "web", func(rs *api.ReplicaSet) { rs.Spec.Template.Labels["tier"] = "front" })
	poll.True(t, 5*time.Second, "observed generation 2", func() (bool, string) {
		st := getRS(t, store, "web").Status
		// The old pods lack the new template label.
		return st.ObservedGeneration == 2 && st.FullyLabeledReplicas == 0 && st.Replicas == 3, ""
	})
}

func TestSlowStartBatchStopsAtFirstFailingBatch(t *testing.T) {
	var calls atomic.Int32
	boom := errors.New("boom")
	out, err := slowStartBatch(20, 1, func() (int, error) {
		n := calls.Add(1)
		if n == 5 { // in the third batch (calls 4..7)
			return 0, boom
		}
		return int(n), nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if c := calls.Load(); c != 7 {
		t.Fatalf("%d calls, want 1+2+4 = 7", c)
	}
	if len(out) != 6 {
		t.Fatalf("%d results, want the 6 successes", len(out))
	}
	calls.Store(0)
	out, err = slowStartBatch(10, 1, func() (int, error) { return int(calls.Add(1)), nil })
	if err != nil || len(out) != 10 || calls.Load() != 10 {
		t.Fatalf("all succeed: %d results, %d calls, %v", len(out), calls.Load(), err)
	}
}
