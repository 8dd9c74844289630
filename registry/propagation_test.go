package registry

import (
	"context"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

// ownedChain stores a Deployment owning a ReplicaSet owning a bound pod and
// an unbound pod, and a ConfigMap owned by the ReplicaSet and by another
// owner.
func ownedChain(t *testing.T, o *Registry) (d *api.Deployment, rs *api.ReplicaSet) {
	t.Helper()
	ctx := context.Background()
	created, err := o.Create(ctx, testDeployment("web", 1))
	if err != nil {
		t.Fatal(err)
	}
	d = created.(*api.Deployment)
	ref := func(kind, name, uid string) []api.OwnerReference {
		return []api.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: uid, Controller: new(true)}}
	}
	r := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{"app": "web"},
		OwnerReferences: ref("Deployment", "web", d.UID)},
		Spec: api.ReplicaSetSpec{Replicas: api.Int32(1), Selector: d.Spec.Selector, Template: d.Spec.Template}}
	created, err = o.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	rs = created.(*api.ReplicaSet)
	for _, p := range []*api.Pod{
		{ObjectMeta: api.ObjectMeta{Name: "web-1-a", Namespace: "default", OwnerReferences: ref("ReplicaSet", "web-1", rs.UID)},
			Spec: api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "c", Image: "i:1"}}}},
		{ObjectMeta: api.ObjectMeta{Name: "web-1-b", Namespace: "default", OwnerReferences: ref("ReplicaSet", "web-1", rs.UID)},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "i:1"}}}},
	} {
		if _, err := o.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "shared", Namespace: "default",
		OwnerReferences: append(ref("ReplicaSet", "web-1", rs.UID), api.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "other", UID: "other-uid"})}}
	if _, err := o.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	return d, rs
}

func TestOrphanDeleteKeepsDependentsAndDropsTheirReference(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	_, rs := ownedChain(t, o)
	if _, err := o.Delete(ctx, api.KindReplicaSet, "default", "web-1", api.DeleteOptions{PropagationPolicy: api.DeletePropagationOrphan}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Get(ctx, api.KindReplicaSet, "default", "web-1"); !api.IsNotFound(err) {
		t.Fatalf("the owner is still there: %v", err)
	}
	for _, name := range []string{"web-1-a", "web-1-b"} {
		p, err := o.Get(ctx, api.KindPod, "default", name)
		if err != nil {
			t.Fatalf("orphaned pod %s: %v", name, err)
		}
		if m := p.GetObjectMeta(); len(m.OwnerReferences) != 0 || m.DeletionTimestamp != nil {
			t.Fatalf("pod %s kept %+v, deletion %v", name, m.OwnerReferences, m.DeletionTimestamp)
		}
	}
	cm, err := o.Get(ctx, api.KindConfigMap, "default", "shared")
	if err != nil {
		t.Fatal(err)
	}
	if refs := cm.GetObjectMeta().OwnerReferences; len(refs) != 1 || refs[0].UID != "other-uid" || refs[0].UID == rs.UID {
		t.Fatalf("the other owner's reference should stay alone: %+v", refs)
	}
	// The Deployment still owns nothing it lost: it was not touched.
	if d, _ := o.Get(ctx, api.KindDeployment, "default", "web"); d == nil {
		t.Fatal("the Deployment went too")
	}
}

func TestForegroundDeleteRemovesDependentsFirst(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	ownedChain(t, o)
	if _, err := o.Delete(ctx, api.KindDeployment, "default", "web", api.DeleteOptions{PropagationPolicy: api.DeletePropagationForeground}); err != nil {
		t.Fatal(err)
	}
	if list, _, _ := o.List(ctx, api.KindReplicaSet, "default", nil); len(list) != 0 {
		t.Fatalf("ReplicaSets left: %d", len(list))
	}
	// The owner itself stays, marked, for the collector to finish.
	if m := mustGet(t, o, api.KindDeployment, "web"); !api.HasFinalizer(m, api.FinalizerForeground) {
		t.Fatalf("the Deployment: finalizers %v, want %s", m.Finalizers, api.FinalizerForeground)
	}
	// The bound pod terminates gracefully on its node; the unbound one
	// is gone at once.
	p, err := o.Get(ctx, api.KindPod, "default", "web-1-a")
	if err != nil || p.GetObjectMeta().DeletionTimestamp == nil {
		t.Fatalf("bound pod: %v, want it terminating", err)
	}
	if _, err := o.Get(ctx, api.KindPod, "default", "web-1-b"); !api.IsNotFound(err) {
		t.Fatalf("unbound pod: %v", err)
	}
	cm, err := o.Get(ctx, api.KindConfigMap, "default", "shared")
	if err != nil || len(cm.GetObjectMeta().OwnerReferences) != 1 {
		t.Fatalf("a dependent with another owner is kept without the deleted one's reference: %v %+v", err, cm)
	}
}

func TestBackgroundDeleteLeavesDependentsToTheCollector(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	ownedChain(t, o)
	if _, err := o.Delete(ctx, api.KindReplicaSet, "default", "web-1", api.DeleteOptions{PropagationPolicy: api.DeletePropagationBackground}); err != nil {
		t.Fatal(err)
	}
	p, err := o.Get(ctx, api.KindPod, "default", "web-1-b")
	if err != nil || len(p.GetObjectMeta().OwnerReferences) != 1 {
		t.Fatalf("the collector, not the delete, removes dependents: %v %+v", err, p)
	}
}

func TestDeletePreconditions(t *testing.T) {
	ctx := context.Background()
	o := newTestObjects(t, "")
	created, err := o.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", Namespace: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	m := created.GetObjectMeta()
	if _, err := o.Delete(ctx, api.KindConfigMap, "default", "c", api.DeleteOptions{ResourceVersion: m.ResourceVersion + "0"}); !api.IsConflict(err) {
		t.Fatalf("stale resourceVersion: want Conflict, got %v", err)
	}
	if _, err := o.Delete(ctx, api.KindConfigMap, "default", "c", api.DeleteOptions{UID: m.UID, ResourceVersion: m.ResourceVersion}); err != nil {
		t.Fatalf("matching preconditions: %v", err)
	}
}

func TestDryRunChecksEverythingAndStoresNothing(t *testing.T) {
	o := newTestObjects(t, "")
	dry := api.WithDryRun(context.Background())
	ctx := context.Background()
	if _, err := o.Create(dry, testDeployment("web", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Get(ctx, api.KindDeployment, "default", "web"); !api.IsNotFound(err) {
		t.Fatalf("a dry-run create stored the object: %v", err)
	}
	bad := testDeployment("bad", 1)
	bad.Spec.Template.Spec.Containers[0].Image = ""
	if _, err := o.Create(dry, bad); !api.IsInvalid(err) {
		t.Fatalf("a dry run validates: %v", err)
	}
	d, rs := ownedChain(t, o)
	edit := *d
	edit.Spec.Replicas = api.Int32(9)
	out, err := o.Update(dry, &edit)
	if err != nil {
		t.Fatal(err)
	}
	if *out.(*api.Deployment).Spec.Replicas != 9 || out.GetObjectMeta().ResourceVersion != d.ResourceVersion {
		t.Fatalf("dry-run update answered %+v", out.GetObjectMeta())
	}
	st := *rs
	st.Status.Replicas = 7
	if out, err := o.UpdateStatus(dry, &st); err != nil || out.(*api.ReplicaSet).Status.Replicas != 7 {
		t.Fatalf("dry-run status: %v %+v", err, out)
	}
	if _, err := o.Delete(dry, api.KindDeployment, "default", "web", api.DeleteOptions{PropagationPolicy: api.DeletePropagationForeground}); err != nil {
		t.Fatal(err)
	}
	got, err := o.Get(ctx, api.KindDeployment, "default", "web")
	if err != nil || *got.(*api.Deployment).Spec.Replicas != 1 || got.GetObjectMeta().ResourceVersion != d.ResourceVersion {
		t.Fatalf("after dry runs the Deployment is %v %+v", err, got)
	}
	if r, _ := o.Get(ctx, api.KindReplicaSet, "default", "web-1"); r == nil || r.(*api.ReplicaSet).Status.Replicas == 7 {
		t.Fatalf("a dry run wrote the ReplicaSet: %+v", r)
	}
	if pods, _, _ := o.List(ctx, api.KindPod, "default", nil); len(pods) != 2 || pods[0].GetObjectMeta().DeletionTimestamp != nil {
		t.Fatalf("a dry-run foreground delete touched the pods")
	}
}
