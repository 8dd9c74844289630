package controller

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

func TestGarbageCollectorCascadesDeploymentToPods(t *testing.T) {
	store := newTestStore(t)
	// Record the pods seen being deleted gracefully (marked, then removed).
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := store.Watch(ctx, api.KindPod, "default", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	graceful := map[string]bool{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev := range ch {
			if ev.Object.GetObjectMeta().DeletionTimestamp != nil {
				mu.Lock()
				graceful[ev.Object.GetObjectMeta().Name] = true
				mu.Unlock()
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })

	startManager(t, store, fastOptions())
	startFakeNode(t, store, 0, 50*time.Millisecond, nil)
	mustCreate(t, store, newDeployment("web", 3))
	waitDone(t, store, "web")
	pods := listPods(t, store, nil)
	if _, err := store.Delete(t.Context(), api.KindDeployment, "default", "web", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 10*time.Second, "replicasets and pods gone", func() (bool, string) {
		sets := listReplicaSets(t, store)
		left := listPods(t, store, nil)
		return len(sets) == 0 && len(left) == 0, describePods(left)
	})
	mu.Lock()
	defer mu.Unlock()
	for _, p := range pods {
		if !graceful[p.Name] {
			t.Fatalf("pod %s was removed without a graceful deletion", p.Name)
		}
	}
}

func configMap(name string, owners ...api.Object) *api.ConfigMap {
	cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}}
	for i, o := range owners {
		ref := api.NewControllerRef(o)
		if i > 0 {
			ref.Controller = nil
		}
		cm.OwnerReferences = append(cm.OwnerReferences, ref)
	}
	return cm
}

func exists(t *testing.T, store testStore, k *api.Kind, name string) bool {
	t.Helper()
	_, err := store.Get(t.Context(), k, "default", name)
	if err != nil && !api.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func TestGarbageCollectorComparesOwnerUID(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	owner := mustCreate(t, store, configMap("owner"))
	mustCreate(t, store, configMap("dependent", owner))
	time.Sleep(300 * time.Millisecond) // more than the grace period and a resync
	if !exists(t, store, api.KindConfigMap, "dependent") {
		t.Fatal("a dependent whose owner exists was deleted")
	}
	// Re-create the owner under the same name: a new uid owns nothing.
	if _, err := store.Delete(t.Context(), api.KindConfigMap, "default", "owner", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, store, configMap("owner"))
	poll.True(t, 5*time.Second, "the dependent of the old owner gone", func() (bool, string) {
		return !exists(t, store, api.KindConfigMap, "dependent"), ""
	})
	if !exists(t, store, api.KindConfigMap, "owner") {
		t.Fatal("the new owner was deleted")
	}
}

func TestGarbageCollectorWaitsOutTheGracePeriod(t *testing.T) {
	store := newTestStore(t)
	opts := fastOptions()
	opts.GCGracePeriod = time.Second
	startManager(t, store, opts)
	// An owner that this replica has not received yet.
	ghost := &api.ConfigMap{TypeMeta: api.TypeMeta{Kind: "ConfigMap", APIVersion: "v1"},
		ObjectMeta: api.ObjectMeta{Name: "late", Namespace: "default", UID: "uid-late"}}
	start := time.Now()
	mustCreate(t, store, configMap("early", ghost))
	time.Sleep(300 * time.Millisecond)
	if !exists(t, store, api.KindConfigMap, "early") {
		t.Fatal("deleted before the owner had its grace period to arrive")
	}
	poll.True(t, 5*time.Second, "the orphan deleted after the grace period", func() (bool, string) {
		return !exists(t, store, api.KindConfigMap, "early"), ""
	})
	if el := time.Since(start); el < time.Second {
		t.Fatalf("deleted after %v, inside the grace period", el)
	}
}

func TestGarbageCollectorDropsOnlyMissingOwners(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	a := mustCreate(t, store, configMap("a"))
	b := mustCreate(t, store, configMap("b"))
	mustCreate(t, store, configMap("shared", a, b))
	if _, err := store.Delete(t.Context(), api.KindConfigMap, "default", "a", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 5*time.Second, "the reference to the missing owner dropped", func() (bool, string) {
		o, err := store.Get(t.Context(), api.KindConfigMap, "default", "shared")
		if err != nil {
			return false, err.Error()
		}
		refs := o.GetObjectMeta().OwnerReferences
		return len(refs) == 1 && refs[0].UID == b.GetObjectMeta().UID, ""
	})
	// An owner of a kind shoal does not serve is never taken for missing.
	unknown := configMap("foreign")
	unknown.OwnerReferences = []api.OwnerReference{{APIVersion: "example.com/v1", Kind: "Widget", Name: "nightly", UID: "u1"}}
	mustCreate(t, store, unknown)
	time.Sleep(300 * time.Millisecond)
	if !exists(t, store, api.KindConfigMap, "foreign") {
		t.Fatal("an object owned by an unknown kind was deleted")
	}
}
