package controller

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip/gossiptest"
	"github.com/shoal-dev/shoal/internal/poll"
	"github.com/shoal-dev/shoal/registry"
)

// watchPodAdds records the names of pods created after it starts.
func watchPodAdds(t *testing.T, store testStore) func() []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := store.Watch(ctx, api.KindPod, "default", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var added []string
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev := range ch {
			if ev.Type == api.Added {
				mu.Lock()
				added = append(added, ev.Object.GetObjectMeta().Name)
				mu.Unlock()
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(added)
	}
}

// A foreground delete of a Deployment keeps it, and its ReplicaSet, visible
// with the finalizer foregroundDeletion while its pods terminate; nothing
// makes pods or ReplicaSets again meanwhile; the collector removes the
// finalizers, and with them the objects, once the pods are gone.
func TestForegroundDeletionFinishesAfterThePodsAreGone(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	startFakeNode(t, store, 0, 700*time.Millisecond, nil)
	mustCreate(t, store, newDeployment("web", 3))
	waitDone(t, store, "web")
	rsName := listReplicaSets(t, store)[0].Name
	pods := names(listPods(t, store, nil))
	added := watchPodAdds(t, store)

	if _, err := store.Delete(t.Context(), api.KindDeployment, "default", "web",
		api.DeleteOptions{PropagationPolicy: api.DeletePropagationForeground}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		k    *api.Kind
		name string
	}{{api.KindDeployment, "web"}, {api.KindReplicaSet, rsName}} {
		obj, err := store.Get(t.Context(), c.k, "default", c.name)
		if err != nil {
			t.Fatalf("%s %s right after the delete: %v; want it visible", c.k.Kind, c.name, err)
		}
		if m := obj.GetObjectMeta(); m.DeletionTimestamp == nil || !api.HasFinalizer(m, api.FinalizerForeground) {
			t.Fatalf("%s %s: deletionTimestamp %v finalizers %v", c.k.Kind, c.name, m.DeletionTimestamp, m.Finalizers)
		}
	}
	// While a pod is still terminating, the owners stay.
	poll.True(t, 10*time.Second, "everything gone", func() (bool, string) {
		left := listPods(t, store, nil)
		_, derr := store.Get(t.Context(), api.KindDeployment, "default", "web")
		sets := listReplicaSets(t, store)
		if len(left) > 0 && (api.IsNotFound(derr) || len(sets) == 0) {
			t.Fatalf("an owner went while pods still terminate: %s", describePods(left))
		}
		return len(left) == 0 && len(sets) == 0 && api.IsNotFound(derr), describePods(left)
	})
	for _, name := range added() {
		if !slices.Contains(pods, name) {
			t.Fatalf("pod %s was made for owners being deleted (had %v)", name, pods)
		}
	}
}

// A ReplicaSet being deleted (held by someone else's finalizer) does not
// replace a pod that goes; its status still follows.
func TestReplicaSetBeingDeletedMakesNoPods(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	startFakeNode(t, store, 0, 0, nil)
	rs := newReplicaSet("hold", 2)
	rs.Finalizers = []string{"example.com/hold"}
	mustCreate(t, store, rs)
	poll.True(t, 10*time.Second, "two pods ready", func() (bool, string) {
		got := getRS(t, store, "hold")
		return got.Status.ReadyReplicas == 2, describePods(listPods(t, store, nil))
	})
	pods := names(listPods(t, store, nil))
	added := watchPodAdds(t, store)
	if _, err := store.Delete(t.Context(), api.KindReplicaSet, "default", "hold", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := getRS(t, store, "hold"); got.DeletionTimestamp == nil {
		t.Fatal("the ReplicaSet with a finalizer should be marked, not gone")
	}
	if _, err := store.Delete(t.Context(), api.KindPod, "default", pods[0], api.DeleteOptions{GracePeriodSeconds: api.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 10*time.Second, "the status counts the one pod left", func() (bool, string) {
		return getRS(t, store, "hold").Status.Replicas == 1, describePods(listPods(t, store, nil))
	})
	for _, name := range added() {
		if !slices.Contains(pods, name) {
			t.Fatalf("a ReplicaSet being deleted made pod %s", name)
		}
	}
}

// An object being deleted whose finalizers are all gone, as a merge of two
// agents' writes leaves it (a delete on one side of a partition, the
// removal of the finalizer on the other), is removed by the collector.
func TestCollectorRemovesAnObjectBeingDeletedWithNoFinalizerLeft(t *testing.T) {
	c := gossiptest.New(t, 2, gossiptest.Options{})
	ms := c.Members()
	regs := []*registry.Registry{registry.New(ms[0].Store), registry.New(ms[1].Store)}
	ctx := t.Context()
	if _, err := regs[0].Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, regs[0], &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "left", Namespace: "default", Finalizers: []string{"example.com/a"}}})
	c.WaitConverged(t, 20*time.Second)
	c.Partition(ms[:1], ms[1:])
	if _, err := regs[0].Delete(ctx, api.KindConfigMap, "default", "left", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the removal is the later write
	obj, err := regs[1].Get(ctx, api.KindConfigMap, "default", "left")
	if err != nil {
		t.Fatal(err)
	}
	obj.GetObjectMeta().Finalizers = nil
	if _, err := regs[1].Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	c.Heal()
	c.WaitMembers(t, 30*time.Second)
	c.WaitConverged(t, 30*time.Second)
	merged, err := regs[0].Get(ctx, api.KindConfigMap, "default", "left")
	if err != nil || merged.GetObjectMeta().DeletionTimestamp == nil || len(merged.GetObjectMeta().Finalizers) != 0 {
		t.Fatalf("the merge: %v %+v; want it marked with no finalizer", err, merged)
	}
	startManager(t, regs[0], fastOptions())
	poll.True(t, 20*time.Second, "the ConfigMap removed on both members", func() (bool, string) {
		_, e0 := regs[0].Get(ctx, api.KindConfigMap, "default", "left")
		_, e1 := regs[1].Get(ctx, api.KindConfigMap, "default", "left")
		return api.IsNotFound(e0) && api.IsNotFound(e1), ""
	})
}

// A foreground delete with nothing blocking marks the object, as
// Kubernetes does, and the collector removes it a moment later.
func TestForegroundDeleteWithNothingBlockingFinishesAMomentLater(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	mustCreate(t, store, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "alone", Namespace: "default"}})
	out, err := store.Delete(t.Context(), api.KindConfigMap, "default", "alone",
		api.DeleteOptions{PropagationPolicy: api.DeletePropagationForeground})
	if err != nil {
		t.Fatal(err)
	}
	if m := out.GetObjectMeta(); m.DeletionTimestamp == nil || !api.HasFinalizer(m, api.FinalizerForeground) {
		t.Fatalf("the delete answered deletion %v, finalizers %v; want it marked", m.DeletionTimestamp, m.Finalizers)
	}
	poll.True(t, 10*time.Second, "the ConfigMap removed by the collector", func() (bool, string) {
		_, err := store.Get(t.Context(), api.KindConfigMap, "default", "alone")
		return api.IsNotFound(err), ""
	})
}

// A dependent made after its owner's foreground delete (by a writer that
// had not seen it) is deleted by the collector, and the owner goes only
// after it: the removal of foregroundDeletion is checked against the store.
func TestForegroundDeletionWaitsForADependentMadeAfterTheDelete(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	owner := mustCreate(t, store, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "owner", Namespace: "default"}})
	ref := func() []api.OwnerReference {
		return []api.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner",
			UID: owner.GetObjectMeta().UID, BlockOwnerDeletion: api.Bool(true)}}
	}
	mustCreate(t, store, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "held", Namespace: "default",
		OwnerReferences: ref(), Finalizers: []string{"example.com/hold"}}})
	if _, err := store.Delete(t.Context(), api.KindConfigMap, "default", "owner",
		api.DeleteOptions{PropagationPolicy: api.DeletePropagationForeground}); err != nil {
		t.Fatal(err)
	}
	// held is marked and blocks the owner; late comes after the delete.
	mustCreate(t, store, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "late", Namespace: "default",
		OwnerReferences: ref(), Finalizers: []string{"example.com/hold"}}})
	removeHold := func(name string) {
		t.Helper()
		obj, err := store.Get(t.Context(), api.KindConfigMap, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		obj.GetObjectMeta().Finalizers = nil
		if _, err := store.Update(t.Context(), obj); err != nil {
			t.Fatal(err)
		}
	}
	poll.True(t, 10*time.Second, "late marked for deletion by the collector", func() (bool, string) {
		obj, err := store.Get(t.Context(), api.KindConfigMap, "default", "late")
		return err == nil && obj.GetObjectMeta().DeletionTimestamp != nil, ""
	})
	removeHold("held")
	time.Sleep(300 * time.Millisecond) // the collector looks at the owner again
	if _, err := store.Get(t.Context(), api.KindConfigMap, "default", "owner"); err != nil {
		t.Fatalf("the owner went while late still blocks it: %v", err)
	}
	removeHold("late")
	poll.True(t, 10*time.Second, "the owner removed after late", func() (bool, string) {
		_, err := store.Get(t.Context(), api.KindConfigMap, "default", "owner")
		return api.IsNotFound(err), ""
	})
}
