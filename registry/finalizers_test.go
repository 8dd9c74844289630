package registry

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// blockingChain stores a Deployment owning a ReplicaSet owning a pod bound
// to a node, each reference a controller's (blockOwnerDeletion true).
func blockingChain(t *testing.T, o *Registry) {
	t.Helper()
	ctx := context.Background()
	created, err := o.Create(ctx, testDeployment("web", 1))
	if err != nil {
		t.Fatal(err)
	}
	d := created.(*api.Deployment)
	created, err = o.Create(ctx, &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "web-1", Namespace: "default",
		Labels: map[string]string{"app": "web"}, OwnerReferences: []api.OwnerReference{api.NewControllerRef(d)}},
		Spec: api.ReplicaSetSpec{Replicas: api.Int32(1), Selector: d.Spec.Selector, Template: d.Spec.Template}})
	if err != nil {
		t.Fatal(err)
	}
	rs := created.(*api.ReplicaSet)
	if _, err := o.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: "web-1-a", Namespace: "default",
		OwnerReferences: []api.OwnerReference{api.NewControllerRef(rs)}},
		Spec: api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "c", Image: "i:1"}}}}); err != nil {
		t.Fatal(err)
	}
}

func mustGet(t *testing.T, o *Registry, k *api.Kind, name string) *api.ObjectMeta {
	t.Helper()
	obj, err := o.Get(context.Background(), k, "default", name)
	if err != nil {
		t.Fatalf("%s %s: %v", k.Kind, name, err)
	}
	return obj.GetObjectMeta()
}

func removeFinalizers(t *testing.T, o *Registry, k *api.Kind, name string) api.Object {
	t.Helper()
	obj, err := o.Get(context.Background(), k, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	obj.GetObjectMeta().Finalizers = nil
	out, err := o.Update(context.Background(), obj)
	if err != nil {
		t.Fatalf("removing the finalizers of %s %s: %v", k.Kind, name, err)
	}
	return out
}

func TestForegroundDeleteKeepsOwnersVisibleWhileABlockingDependentTerminates(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	blockingChain(t, o)
	fg := api.DeleteOptions{PropagationPolicy: api.DeletePropagationForeground}
	if _, err := o.Delete(ctx, api.KindDeployment, "default", "web", fg); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		k    *api.Kind
		name string
	}{{api.KindDeployment, "web"}, {api.KindReplicaSet, "web-1"}} {
		m := mustGet(t, o, c.k, c.name)
		if m.DeletionTimestamp == nil || !slices.Equal(m.Finalizers, []string{api.FinalizerForeground}) ||
			m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds != 0 {
			t.Fatalf("%s %s: deletionTimestamp %v, finalizers %v; want it being deleted with %s", c.k.Kind, c.name, m.DeletionTimestamp, m.Finalizers, api.FinalizerForeground)
		}
	}
	if m := mustGet(t, o, api.KindPod, "web-1-a"); m.DeletionTimestamp == nil || len(m.Finalizers) != 0 {
		t.Fatalf("the pod: deletion %v, finalizers %v; want it terminating, no finalizer", m.DeletionTimestamp, m.Finalizers)
	}
	// A second foreground delete changes nothing.
	before := mustGet(t, o, api.KindDeployment, "web").ResourceVersion
	if _, err := o.Delete(ctx, api.KindDeployment, "default", "web", fg); err != nil {
		t.Fatal(err)
	}
	if after := mustGet(t, o, api.KindDeployment, "web").ResourceVersion; after != before {
		t.Fatalf("a repeated delete rewrote the owner: %s -> %s", before, after)
	}

	// The node removes the pod; the collector then removes each finalizer.
	zero := int64(0)
	if _, err := o.Delete(ctx, api.KindPod, "default", "web-1-a", api.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	removeFinalizers(t, o, api.KindReplicaSet, "web-1")
	if _, err := o.Get(ctx, api.KindReplicaSet, "default", "web-1"); !api.IsNotFound(err) {
		t.Fatalf("the ReplicaSet with no finalizer left: %v, want it gone", err)
	}
	last := removeFinalizers(t, o, api.KindDeployment, "web")
	if last.GetObjectMeta().Name != "web" {
		t.Fatalf("the last update returned %+v, want the object as removed", last.GetObjectMeta())
	}
	if _, err := o.Get(ctx, api.KindDeployment, "default", "web"); !api.IsNotFound(err) {
		t.Fatalf("the Deployment with no finalizer left: %v, want it gone", err)
	}
}

func TestForegroundDeleteWithNothingBlockingMarksTheOwner(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	ownedChain(t, o) // references without blockOwnerDeletion
	out, err := o.Delete(ctx, api.KindDeployment, "default", "web", api.DeleteOptions{PropagationPolicy: api.DeletePropagationForeground})
	if err != nil {
		t.Fatal(err)
	}
	if m := out.GetObjectMeta(); m.DeletionTimestamp == nil || !slices.Equal(m.Finalizers, []string{api.FinalizerForeground}) {
		t.Fatalf("the delete answered deletion %v, finalizers %v; want the owner marked", m.DeletionTimestamp, m.Finalizers)
	}
	// As in Kubernetes the owner stays, marked, for the collector to
	// finish; its dependents (nothing blocks) are already gone.
	if m := mustGet(t, o, api.KindDeployment, "web"); m.DeletionTimestamp == nil || !slices.Equal(m.Finalizers, []string{api.FinalizerForeground}) {
		t.Fatalf("the Deployment: deletion %v, finalizers %v; want it marked with %s", m.DeletionTimestamp, m.Finalizers, api.FinalizerForeground)
	}
	if list, _, _ := o.List(ctx, api.KindReplicaSet, "default", nil); len(list) != 0 {
		t.Fatalf("ReplicaSets left: %d", len(list))
	}
	// The collector's removal of the finalizer passes (nothing blocks)
	// and removes the owner.
	d, _ := o.Get(ctx, api.KindDeployment, "default", "web")
	d.GetObjectMeta().Finalizers = []string{}
	if _, err := o.Update(api.WithFinishForeground(ctx), d); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Get(ctx, api.KindDeployment, "default", "web"); !api.IsNotFound(err) {
		t.Fatalf("the Deployment after its finalizer went: %v, want it gone", err)
	}
}

func TestFinishForegroundIsRefusedWhileTheStoreHoldsABlockingDependent(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	if _, err := o.Create(ctx, testDeployment("web", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Delete(ctx, api.KindDeployment, "default", "web", api.DeleteOptions{PropagationPolicy: api.DeletePropagationForeground}); err != nil {
		t.Fatal(err)
	}
	// A controller that had not seen the delete makes a ReplicaSet now.
	dep, _ := o.Get(ctx, api.KindDeployment, "default", "web")
	d := dep.(*api.Deployment)
	if _, err := o.Create(ctx, &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "web-late", Namespace: "default",
		Labels: map[string]string{"app": "web"}, OwnerReferences: []api.OwnerReference{api.NewControllerRef(d)}},
		Spec: api.ReplicaSetSpec{Replicas: api.Int32(1), Selector: d.Spec.Selector, Template: d.Spec.Template}}); err != nil {
		t.Fatal(err)
	}
	d.Finalizers = []string{}
	_, err := o.Update(api.WithFinishForeground(ctx), d)
	if !api.IsConflict(err) || !strings.Contains(err.Error(), "web-late") {
		t.Fatalf("finishing with a blocking dependent stored: %v, want a 409 naming web-late", err)
	}
	if m := mustGet(t, o, api.KindDeployment, "web"); !api.HasFinalizer(m, api.FinalizerForeground) {
		t.Fatalf("the refused update changed the owner: finalizers %v", m.Finalizers)
	}
	// A client may still remove the finalizer itself (the usual way to
	// unstick an object): only the collector's removal is checked.
	cur, _ := o.Get(ctx, api.KindDeployment, "default", "web")
	cur.GetObjectMeta().Finalizers = []string{}
	if _, err := o.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Get(ctx, api.KindDeployment, "default", "web"); !api.IsNotFound(err) {
		t.Fatalf("the Deployment after a client removed its finalizer: %v, want it gone", err)
	}
}

func TestWholeObjectWritesKeepTheFinalizersOfAnObjectBeingDeleted(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	blockingChain(t, o)
	if _, err := o.Delete(ctx, api.KindDeployment, "default", "web", api.DeleteOptions{PropagationPolicy: api.DeletePropagationForeground}); err != nil {
		t.Fatal(err)
	}
	marked := mustGet(t, o, api.KindDeployment, "web")
	// shoal apply of the file the Deployment came from (no finalizers).
	if _, err := o.Apply(ctx, []api.Object{testDeployment("web", 3)}); err != nil {
		t.Fatal(err)
	}
	m := mustGet(t, o, api.KindDeployment, "web")
	if !slices.Equal(m.Finalizers, []string{api.FinalizerForeground}) || m.DeletionTimestamp == nil || !m.DeletionTimestamp.Equal(marked.DeletionTimestamp.Time) {
		t.Fatalf("after shoal apply: finalizers %v, deletion %v; want %s and %v kept", m.Finalizers, m.DeletionTimestamp, api.FinalizerForeground, marked.DeletionTimestamp)
	}
	// A PUT of the whole object without finalizers keeps them too.
	put := testDeployment("web", 2)
	if _, err := o.Update(api.WithWholeObject(ctx), put); err != nil {
		t.Fatal(err)
	}
	if m := mustGet(t, o, api.KindDeployment, "web"); !slices.Equal(m.Finalizers, []string{api.FinalizerForeground}) || m.DeletionTimestamp == nil {
		t.Fatalf("after a PUT without finalizers: finalizers %v, deletion %v; want them kept", m.Finalizers, m.DeletionTimestamp)
	}
	// A PUT that names an empty list means it: the deletion finishes.
	put = testDeployment("web", 2)
	put.Finalizers = []string{}
	if _, err := o.Update(api.WithWholeObject(ctx), put); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Get(ctx, api.KindDeployment, "default", "web"); !api.IsNotFound(err) {
		t.Fatalf("after a PUT with finalizers: []: %v, want it gone", err)
	}
}

func TestFinalizersHoldADeleteUntilTheLastIsRemoved(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	if _, err := o.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "cfg", Namespace: "default",
		Finalizers: []string{"example.com/a", "example.com/b"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Delete(ctx, api.KindConfigMap, "default", "cfg", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	m := mustGet(t, o, api.KindConfigMap, "cfg")
	if m.DeletionTimestamp == nil || m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds != 0 {
		t.Fatalf("deleted with finalizers: deletionTimestamp %v grace %v; want it marked", m.DeletionTimestamp, m.DeletionGracePeriodSeconds)
	}

	// No finalizer can be added now; the refused update changes nothing.
	obj, _ := o.Get(ctx, api.KindConfigMap, "default", "cfg")
	obj.GetObjectMeta().Finalizers = append(obj.GetObjectMeta().Finalizers, "example.com/c")
	obj.GetObjectMeta().Labels = map[string]string{"x": "y"}
	_, err := o.Update(ctx, obj)
	if !api.IsInvalid(err) || !strings.Contains(err.Error(), "metadata.finalizers") || !strings.Contains(err.Error(), "example.com/c") {
		t.Fatalf("adding a finalizer while deleting: %v; want 422 naming metadata.finalizers", err)
	}
	if m := mustGet(t, o, api.KindConfigMap, "cfg"); len(m.Labels) != 0 || len(m.Finalizers) != 2 {
		t.Fatalf("a refused update changed the object: %+v", m)
	}

	// Other updates keep the deletion; removing one finalizer keeps it.
	obj, _ = o.Get(ctx, api.KindConfigMap, "default", "cfg")
	obj.GetObjectMeta().Finalizers = []string{"example.com/b"}
	obj.GetObjectMeta().DeletionTimestamp = nil // a client cannot undo it
	if _, err := o.Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	if m := mustGet(t, o, api.KindConfigMap, "cfg"); m.DeletionTimestamp == nil || !slices.Equal(m.Finalizers, []string{"example.com/b"}) {
		t.Fatalf("after removing one finalizer: %v %v", m.DeletionTimestamp, m.Finalizers)
	}
	removeFinalizers(t, o, api.KindConfigMap, "cfg")
	if _, err := o.Get(ctx, api.KindConfigMap, "default", "cfg"); !api.IsNotFound(err) {
		t.Fatalf("with its last finalizer removed: %v, want it gone", err)
	}

	// An object not being deleted takes finalizers and keeps them.
	if _, err := o.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "plain", Namespace: "default"}}); err != nil {
		t.Fatal(err)
	}
	obj, _ = o.Get(ctx, api.KindConfigMap, "default", "plain")
	obj.GetObjectMeta().Finalizers = []string{"example.com/a"}
	if _, err := o.Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	removeFinalizers(t, o, api.KindConfigMap, "plain")
	if m := mustGet(t, o, api.KindConfigMap, "plain"); m.DeletionTimestamp != nil {
		t.Fatal("an object not being deleted was marked")
	}
}

func TestATerminatingPodWithAFinalizerStaysAfterItsNodeRemovesIt(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	if _, err := o.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default", Finalizers: []string{"example.com/a"}},
		Spec: api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "c", Image: "i:1"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Delete(ctx, api.KindPod, "default", "p", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Removing the finalizer while the grace period runs leaves the pod to its node.
	removeFinalizers(t, o, api.KindPod, "p")
	if m := mustGet(t, o, api.KindPod, "p"); m.DeletionTimestamp == nil {
		t.Fatal("the terminating pod lost its deletion")
	}
	zero := int64(0)
	if _, err := o.Delete(ctx, api.KindPod, "default", "p", api.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Get(ctx, api.KindPod, "default", "p"); !api.IsNotFound(err) {
		t.Fatalf("pod: %v, want it gone", err)
	}
}

// A watcher of the owner sees the foreground delete as MODIFIED (marked,
// with the finalizer), then DELETED once the finalizer is removed.
func TestForegroundDeleteIsWatchedAsModifiedThenDeleted(t *testing.T) {
	o := newTestObjects(t, "")
	blockingChain(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rv := mustGet(t, o, api.KindDeployment, "web").ResourceVersion
	ch, err := o.Watch(ctx, api.KindDeployment, "default", api.ListOptions{ResourceVersion: rv})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Delete(ctx, api.KindDeployment, "default", "web", api.DeleteOptions{PropagationPolicy: api.DeletePropagationForeground}); err != nil {
		t.Fatal(err)
	}
	next := func() api.WatchEvent {
		t.Helper()
		select {
		case ev := <-ch:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no watch event")
		}
		return api.WatchEvent{}
	}
	ev := next()
	for ev.Type == api.Added && ev.Object.GetObjectMeta().DeletionTimestamp == nil {
		ev = next() // the watch's start
	}
	if m := ev.Object.GetObjectMeta(); ev.Type != api.Modified || m.DeletionTimestamp == nil || !api.HasFinalizer(m, api.FinalizerForeground) {
		t.Fatalf("first event %s %+v; want MODIFIED with the mark and the finalizer", ev.Type, m)
	}
	removeFinalizers(t, o, api.KindDeployment, "web")
	if ev := next(); ev.Type != api.Deleted {
		t.Fatalf("second event %s; want DELETED", ev.Type)
	}
}
